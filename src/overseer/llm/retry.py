"""A model server's transient failures, retried with exponential backoff and full jitter (tenacity).

A server restarting or loading a model (503), rate limiting (429), a refused or dropped connection, a
timeout: these usually pass, so the provider asks again. A model that is not there or a request the
server refuses (404, 400) never passes, so it fails at once. Each provider translates its client's
exceptions into `TransientError` or a plain `SupervisorError` at its boundary; this is the one retry
loop they share. Full jitter keeps several overseer processes from hammering a restarting server in step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, Field
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from overseer.llm.base import TransientError

logger = logging.getLogger(__name__)
T = TypeVar("T")
_MAX_DOUBLINGS = 4  # the longest wait is 16 x retry_wait_s: a server down longer than that is down


class RetryOptions(BaseModel):
    """The retry settings every network provider's options share (`supervisor.options.retries`, ...)."""

    retries: int = Field(default=3, ge=0, le=10)  # asked again this many times after a transient failure
    retry_wait_s: float = Field(default=1.0, ge=0)  # the first wait's upper bound; each later one doubles


def with_retries(call: Callable[[], T], options: RetryOptions) -> T:
    """`call()`, asked again on TransientError; the last failure says how many times it was asked."""
    retrying = Retrying(
        stop=stop_after_attempt(1 + options.retries),
        wait=wait_random_exponential(multiplier=options.retry_wait_s, max=options.retry_wait_s * 2**_MAX_DOUBLINGS),
        retry=retry_if_exception_type(TransientError),
        before_sleep=_log_retry,
        reraise=True,
    )
    try:
        return retrying(call)
    except TransientError as exc:
        exc.context["attempts"] = retrying.statistics.get("attempt_number", 1)
        raise


def _log_retry(state: RetryCallState) -> None:
    failure = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    logger.warning("supervisor call %d failed (%s); asking again in %.1f s", state.attempt_number, failure, wait)
