"""The output monitor's classifier, on what agents really print.

The texts are the real `claude` CLI's (2.1.x, seen against the scripted server: a 429, a 401, a
dropped connection), Claude Code's subscription limit line, and what other CLIs and HTTP libraries
print for the same faults. The end-to-end tests (tests/orchestrator/test_monitor.py,
tests/e2e/test_monitor.py) run the same faults through the loop.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from overseer.agents.base import AgentEvent
from overseer.agents.monitor import Backoff, Monitor, Signal, asked_wait, classify_text
from overseer.domain import AgentResult
from overseer.errors import AgentError

NOW = datetime(2026, 1, 5, 13, 0, 0, tzinfo=UTC)


def monitor(clock: list[float] | None = None) -> Monitor:
    ticks = clock if clock is not None else [0.0]
    return Monitor(attempt_timeout_s=100, silence_timeout_s=10, clock=lambda: ticks[0], wall=lambda: NOW)


def error_result(text: str) -> AgentResult:
    return AgentResult(session_id="s", is_error=True, text=text, error=text)


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("API Error: Request rejected (429) · rate limited, slow down", Signal.RATE_LIMITED),
        ("Claude AI usage limit reached|1767618000", Signal.RATE_LIMITED),
        ("5-hour limit reached ∙ resets 3pm", Signal.RATE_LIMITED),  # Claude Code's subscription windows
        ("Reached max turns (40)", None),  # not a service's limit: the judge weighs it
        ("openai.RateLimitError: Error code: 429 - {'error': {'type': 'rate_limit_exceeded'}}", Signal.RATE_LIMITED),
        ("HTTP 529 overloaded_error: Overloaded", Signal.RATE_LIMITED),
        ("Invalid API key · Fix external API key", Signal.AUTH),
        ("Not logged in · Please run /login", Signal.AUTH),
        ("anthropic.AuthenticationError: Error code: 401 - authentication_error", Signal.AUTH),
        ("API Error: Connection dropped (ECONNRESET). Check the gateway set in ANTHROPIC_BASE_URL", Signal.CRASHED),
        ("502 Bad Gateway", Signal.CRASHED),
        ("aider exited with code 1", Signal.CRASHED),  # an error result that says the program died
        ("aider ended without a reply from the model", Signal.CRASHED),
        ("model API error (HTTP 429): RateLimitError: Please try again in 6.5s", Signal.RATE_LIMITED),
        ("Implemented word_count; 3 passed.", None),
    ],
)
def test_the_rules_table_on_real_texts(text: str, signal: Signal | None) -> None:
    assert classify_text(text) == signal


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("429 Too Many Requests; retry-after: 12", 12.0),
        ("Retry-After=0.5", 0.5),
        ("Rate limit reached for gpt-4o. Please try again in 20s.", 20.0),
        ("please try again in 1.5 minutes", 90.0),
        ("model API error (HTTP 429): RateLimitError: Please try again in 6.5s", 6.5),  # aider's, from OpenAI
        ("Claude AI usage limit reached|1767618000", 1767618000 - NOW.timestamp()),
        ("usage limit reached, resets at 2026-01-05T15:30:00Z", 2.5 * 3600),
        ("usage limit reached ∙ resets 3pm", 2 * 3600.0),
        ("usage limit reached, resets at 12:30", 23.5 * 3600),  # past on this clock: tomorrow's
        ("rate limited", None),
    ],
)
def test_the_wait_a_service_asks_for(text: str, seconds: float | None) -> None:
    assert asked_wait(text, NOW) == seconds


def test_a_successful_result_is_complete_whatever_it_says() -> None:
    diagnosis = monitor().outcome(AgentResult(session_id=None, is_error=False, text="Fixed the 429 handling."))
    assert diagnosis.signal is Signal.COMPLETED


def test_the_api_status_decides_before_the_text() -> None:
    watching = monitor()
    watching.saw(AgentEvent("result", {"is_error": True, "text": "API Error", "api_error_status": 429}))
    diagnosis = watching.outcome(error_result("API Error"))
    assert (diagnosis.signal, diagnosis.wait_s) == (Signal.RATE_LIMITED, None)


def test_a_rejected_rate_limit_event_gives_its_reset_time() -> None:
    watching = monitor()
    watching.saw(AgentEvent("rate_limit", {"status": "allowed_warning", "resets_at": 1}))
    assert watching.rejected_until is None  # a warning is no limit yet
    watching.saw(AgentEvent("rate_limit", {"status": "rejected", "resets_at": int(NOW.timestamp()) + 600}))
    diagnosis = watching.outcome(error_result("Claude AI usage limit reached"))
    assert (diagnosis.signal, diagnosis.wait_s) == (Signal.RATE_LIMITED, 600.0)


def test_an_unknown_error_result_goes_to_the_judge_and_an_unknown_error_is_a_crash() -> None:
    assert monitor().outcome(error_result("API Error: 400 invalid_request_error")).signal is Signal.COMPLETED
    crash = monitor().failure(AgentError("claude CLI ended without a result"))
    assert (crash.signal, crash.reason) == (Signal.CRASHED, "claude CLI ended without a result")


def test_a_server_error_status_is_a_crash() -> None:
    watching = monitor()
    watching.saw(AgentEvent("result", {"is_error": True, "text": "API Error", "api_error_status": 500}))
    assert watching.outcome(error_result("API Error")).signal is Signal.CRASHED


def test_silence_and_the_wall_clock_are_stalls_with_their_reason() -> None:
    clock = [0.0]
    watching = monitor(clock)
    clock[0] = 9.0
    assert watching.overdue() is None
    watching.saw(AgentEvent("text", {"text": "still here"}))
    clock[0] = 19.5
    silent = watching.overdue()
    assert silent is not None and silent.limit == "silence" and "limits.silence_timeout_s" in silent.reason
    watching.saw(AgentEvent("text", {"text": "here"}))
    clock[0] = 100.5
    wall = watching.overdue()
    assert wall is not None and wall.limit == "wall" and "limits.attempt_timeout_s" in wall.reason


def test_backoff_doubles_to_its_cap_takes_an_asked_wait_and_stops_at_its_budget() -> None:
    backoff = Backoff(first_s=1, cap_s=3, budget_s=20)
    waits = [backoff.next(None) for _ in range(4)]
    assert waits == [1, 2, 3, 3]
    assert backoff.next(12) is None  # 9 waited, 12 more would pass the budget of 20
    assert backoff.next(4.5) == 4.5
    assert backoff.waited_s == 13.5


def test_a_run_again_resumes_the_session_only_once_work_was_done_in_it() -> None:
    """A 429 before any tool call: the attempt's request again, as it was. A link lost after a tool
    call: the session the work was done in, so the agent carries on from it."""
    monitor = Monitor(attempt_timeout_s=60, silence_timeout_s=60)
    monitor.saw(AgentEvent("session", {"session_id": "s-1"}))
    assert monitor.session_to_resume is None
    monitor.saw(AgentEvent("tool_call", {"tool": "Bash", "input": {"command": "touch started"}}))
    assert monitor.session_to_resume == "s-1"
