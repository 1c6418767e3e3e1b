"""What an agent run's output means: finished, stalled, rate-limited, locked out, or crashed.

The same classifier serves every agent (claude-code, claude-docker, aider, command): it reads what
the agent emitted, the result it returned or the error it raised, and answers with a `Diagnosis`.
The orchestrator acts on it (`orchestrator/running.py`):

    signal        seen as                                               overseer then
    completed     a result, whatever the judge will make of it          judges the attempt
    stalled       no event for limits.silence_timeout_s, or past        ends the run; the attempt is
                  limits.attempt_timeout_s                              judged as timed out
    rate_limited  HTTP 429/529, "rate limit", "usage limit reached",    waits (retry-after, "resets at",
                  "too many requests", an SDK rate-limit event          else exponential backoff) and
                  that rejected the run                                 runs the same attempt again
    auth          HTTP 401/403, "invalid api key", "not logged in",    stops for a human, with a hint;
                  "authentication_error"                                no retry
    crashed       an error without a result (the CLI died, exit code   runs it again, up to
                  non-zero), a dropped connection, a 5xx                limits.agent_restarts times

The patterns are one table (`RULES`), tried in order on an error's text; an HTTP status the agent
reports (`api_error_status` of Claude Code's result) decides before any text does. A successful
result is never read for patterns: an agent may well write "429" in its answer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from overseer.agents.base import AgentEvent
from overseer.domain import AgentResult

AUTH_HINT = (
    "the agent's model service refused its credentials: log the agent in again (`claude login`, or set a "
    "valid API key in its environment), then `overseer run` carries on"
)


class Signal(StrEnum):
    COMPLETED = "completed"
    STALLED = "stalled"
    RATE_LIMITED = "rate_limited"
    AUTH = "auth"
    CRASHED = "crashed"


@dataclass(frozen=True)
class Diagnosis:
    signal: Signal
    reason: str
    wait_s: float | None = None  # how long the service asked to be left alone (retry-after, "resets at")
    limit: str = ""  # for a stall: "wall" (attempt_timeout_s) or "silence" (silence_timeout_s)

    def event(self, **extra: Any) -> AgentEvent:
        """The `monitor` event the store keeps and the console shows."""
        data: dict[str, Any] = {"signal": self.signal.value, "reason": self.reason, **extra}
        if self.wait_s is not None:
            data.setdefault("asked_wait_s", round(self.wait_s, 3))
        return AgentEvent("monitor", data)


@dataclass(frozen=True)
class Rule:
    signal: Signal
    pattern: re.Pattern[str]


def _rule(signal: Signal, pattern: str) -> Rule:
    return Rule(signal, re.compile(pattern, re.IGNORECASE))


RULES: tuple[Rule, ...] = (
    _rule(
        Signal.AUTH,
        r"\b(401|403)\b|invalid[ _-]?(x-)?api[ _-]?key|authentication[ _]?(error|failed)|not logged in"
        r"|please run /login|oauth token (has )?expired|permission_error|unauthori[sz]ed|forbidden",
    ),
    _rule(
        Signal.RATE_LIMITED,
        r"\b(429|529)\b|rate[ _-]?limit|usage limit|(hour|weekly|daily|opus|sonnet) limit reached"
        r"|too many requests|overloaded|quota exceeded"
        r"|resource[ _]exhausted",
    ),
    _rule(
        Signal.CRASHED,
        r"connection (dropped|reset|refused|error|closed)|econnreset|econnrefused|socket hang up"
        r"|\b50[0-4]\b|internal server error|bad gateway|service unavailable"
        r"|exited with code -?\d+|ended without a (reply|result)|killed by signal",
    ),
)
STATUSES: dict[int, Signal] = {401: Signal.AUTH, 403: Signal.AUTH, 429: Signal.RATE_LIMITED, 529: Signal.RATE_LIMITED}

_RETRY_AFTER = re.compile(r"retry[- _]?after\W{0,3}(\d+(?:\.\d+)?)", re.IGNORECASE)
_TRY_AGAIN = re.compile(r"(?:try again|retry) in (\d+(?:\.\d+)?)\s*(ms|s|sec|seconds?|m|min|minutes?|h|hours?)\b", re.I)
_EPOCH = re.compile(r"(?:\||resets?(?: at)?\s*)(\d{10})(?!\d)", re.IGNORECASE)  # "usage limit reached|1767225600"
_ISO = re.compile(r"resets?(?: at)?\s*(\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d)?(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)", re.I)
_CLOCK = re.compile(r"resets?(?: at)?\s*(\d{1,2})(?::(\d\d))?\s*(am|pm)?\b", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "minute": 60, "minutes": 60}


def classify_text(text: str) -> Signal | None:
    """The first rule whose pattern the text matches, or None."""
    return next((rule.signal for rule in RULES if rule.pattern.search(text)), None)


def asked_wait(text: str, now: datetime) -> float | None:
    """Seconds from `now` that the text asks to wait: a retry-after, a "try again in", a reset time."""
    if match := _RETRY_AFTER.search(text):
        return float(match[1])
    if match := _TRY_AGAIN.search(text):
        unit = match[2].lower()
        return float(match[1]) * _UNITS.get(unit, 3600 if unit.startswith("h") else 1)
    if match := _EPOCH.search(text):
        return max(0.0, float(match[1]) - now.timestamp())
    if match := _ISO.search(text):
        stamp = datetime.fromisoformat(match[1].replace("Z", "+00:00"))
        stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=now.tzinfo)
        return max(0.0, (stamp - now).total_seconds())
    if match := _CLOCK.search(text):
        return _until_clock(now, int(match[1]), int(match[2] or 0), (match[3] or "").lower())
    return None


def _until_clock(now: datetime, hour: int, minute: int, half: str) -> float | None:
    """Seconds until the next `hour:minute` on `now`'s clock ("resets 3pm", "resets at 15:30")."""
    if half:
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if at <= now:
        at += timedelta(days=1)
    return (at - now).total_seconds()


class Monitor:
    """Follows one agent run: feed it every event (`saw`), ask it whether the run is stuck
    (`overdue`), then what its end means (`outcome` for a result, `failure` for an error)."""

    def __init__(
        self,
        *,
        attempt_timeout_s: float,
        silence_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.attempt_timeout_s = attempt_timeout_s
        self.silence_timeout_s = silence_timeout_s
        self._clock = clock
        self._wall = wall
        self.started = self.last = clock()
        self.session_id: str | None = None
        self.api_status: int | None = None
        self.rejected_until: float | None = None  # a rate-limit event's reset time (epoch seconds)
        self.said: list[str] = []  # error texts the agent emitted (its result's text on an error)
        self.acted = False  # the run made a tool call: a run again resumes its session rather than start over

    @property
    def session_to_resume(self) -> str | None:
        """The session a run of the same attempt again continues: the one this run worked in, if it did
        anything there (a lost link after edits); else None, and the attempt's request is sent as it was."""
        return self.session_id if self.acted else None

    def saw(self, event: AgentEvent) -> None:
        self.last = self._clock()
        data = event.data
        if event.kind == "session":
            self.session_id = data.get("session_id") or self.session_id
        elif event.kind == "tool_call":
            self.acted = True
        elif event.kind == "result":
            status = data.get("api_error_status")
            self.api_status = status if isinstance(status, int) else self.api_status
            if data.get("is_error") and data.get("text"):
                self.said.append(str(data["text"]))
        elif event.kind == "rate_limit" and data.get("status") == "rejected":
            resets = data.get("resets_at")
            self.rejected_until = float(resets) if isinstance(resets, int | float) else self.rejected_until

    def overdue(self) -> Diagnosis | None:
        """A run past its wall-clock limit, or silent too long: stalled, with the reason."""
        now = self._clock()
        if now - self.started > self.attempt_timeout_s:
            reason = f"the agent ran past {self.attempt_timeout_s:g} s (limits.attempt_timeout_s)"
            return Diagnosis(Signal.STALLED, reason, limit="wall")
        if now - self.last > self.silence_timeout_s:
            reason = f"no output or event from the agent for {self.silence_timeout_s:g} s (limits.silence_timeout_s)"
            return Diagnosis(Signal.STALLED, reason, limit="silence")
        return None

    def outcome(self, result: AgentResult) -> Diagnosis:
        """What a returned result means; a successful one is complete, whatever its text says."""
        if not result.is_error:
            return Diagnosis(Signal.COMPLETED, "the agent finished")
        return self._error_diagnosis(result.error or result.text, fallback=Signal.COMPLETED)

    def failure(self, error: BaseException) -> Diagnosis:
        """What an error raised by the agent means: a crash, unless it says it was a rate limit or auth."""
        return self._error_diagnosis(str(error), fallback=Signal.CRASHED)

    def _error_diagnosis(self, text: str, *, fallback: Signal) -> Diagnosis:
        seen = "\n".join([text, *self.said])
        signal = STATUSES.get(self.api_status or 0) or self._rejected() or classify_text(seen) or fallback
        if self.api_status and self.api_status >= 500 and signal is fallback:
            signal = Signal.CRASHED
        reason = _first_line(text) or f"the agent failed ({signal.value})"
        if signal is Signal.COMPLETED:  # an error result no rule knows: the judge weighs it as the agent's
            return Diagnosis(signal, reason)
        return Diagnosis(signal, reason, self._wait(seen) if signal is Signal.RATE_LIMITED else None)

    def _rejected(self) -> Signal | None:
        return Signal.RATE_LIMITED if self.rejected_until is not None else None

    def _wait(self, text: str) -> float | None:
        now = self._wall()
        if self.rejected_until is not None:
            return max(0.0, self.rejected_until - now.timestamp())
        return asked_wait(text, now)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:300]


@dataclass
class Backoff:
    """How long to wait at each rate limit of one attempt: what the service asked for, else
    `first_s` doubling up to `cap_s`; None once `budget_s` of waiting in all is spent."""

    first_s: float
    cap_s: float
    budget_s: float
    waited_s: float = 0.0
    waits: int = 0

    def next(self, asked_s: float | None) -> float | None:
        wait = asked_s if asked_s is not None else min(self.cap_s, self.first_s * 2**self.waits)
        if self.waited_s + wait > self.budget_s:
            return None
        self.waits += 1
        self.waited_s += wait
        return wait
