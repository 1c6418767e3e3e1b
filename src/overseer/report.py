"""What a task came to, as plain data: the one shape `do --json`, `run --json` and `status` print."""

from __future__ import annotations

from typing import Any

from overseer.domain import TaskStatus
from overseer.state.models import Attempt
from overseer.state.store import Store


def attempt_summary(store: Store, attempt: Attempt) -> dict[str, Any]:
    decision = store.decision(attempt.id)
    verdict = store.verdict(attempt.id)
    sandbox = store.first_event(attempt.id, "sandbox")
    prompt = store.first_event(attempt.id, "prompt")
    return {
        "number": attempt.number,
        "status": attempt.status.value,
        "decision": decision.decision if decision else None,
        "confidence": decision.confidence if decision else None,
        "files_changed": [{"path": c.path, "kind": c.kind} for c in store.file_changes(attempt.id)],
        "findings": [
            {"stage": f.stage, "code": f.code, "severity": f.severity, "route": f.route, "message": f.message}
            for f in store.findings(attempt.id)
        ],
        "sandbox": sandbox.data if sandbox else None,  # None: the agent reports no sandbox of its own
        "refused": _refused_calls(store, attempt.id),
        "prompt": prompt.data if prompt else None,  # who wrote it: the supervisor or the templates
        "verified": verdict.verified if verdict else None,
        "claims": verdict.claims if verdict else [],
        "gates": [_gate_summary(g) for g in verdict.gates] if verdict else [],
        "review": verdict.review if verdict else None,
        "feedback": decision.feedback if decision else "",
        "checkpoint_before": attempt.checkpoint_before,
        "checkpoint_after": attempt.checkpoint_after,
        "error": attempt.error or "",
        "cost_usd": attempt.cost_usd,
    }


def _refused_calls(store: Store, attempt_id: int) -> list[dict[str, Any]]:
    """The tool calls overseer's guard refused, with the arbiter's class of each and its reason."""
    calls = (event.data for event in store.events(attempt_id) if event.kind == "tool_call")
    return [
        {
            "tool": call.get("tool", ""),
            "target": _target(call),
            "category": call.get("category") or "",
            "reason": call.get("reason") or "",
        }
        for call in calls
        if not call.get("allowed", True)
    ]


def _target(call: dict[str, Any]) -> str:
    tool_input = call.get("input") or {}
    return str(tool_input.get("command") or tool_input.get("file_path") or tool_input.get("url") or "")


def _gate_summary(gate: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "passed", "summary", "passed_count", "failed_count", "verifies", "details")
    return {key: gate.get(key) for key in keys}


def task_summary(store: Store, task_id: int) -> dict[str, Any]:
    task = store.get_task(task_id)
    attempts = [attempt_summary(store, a) for a in store.attempts(task_id)]
    last = attempts[-1] if attempts else None
    changed = sorted({c["path"] for a in attempts for c in a["files_changed"]})
    waiting_or_failed = task.status in (TaskStatus.FAILED, TaskStatus.NEEDS_HUMAN)
    error = (task.brief or "") if waiting_or_failed else ""
    return {
        "task_id": task.id,
        "text": task.text,
        "status": task.status.value,
        "priority": task.priority,
        "tags": task.tags,
        "attempts": len(attempts),
        "decision": last["decision"] if last else None,
        "confidence": last["confidence"] if last else None,
        "files_changed": changed,
        "findings": last["findings"] if last else [],
        "verified": last["verified"] if last else None,
        "claims": last["claims"] if last else [],
        "error": error or (last["error"] if last else ""),
        "session_id": task.session_id,
        "breakpoint": _open_breakpoint(store, task_id),
        "history": attempts,
    }


def _open_breakpoint(store: Store, task_id: int) -> dict[str, Any] | None:
    """The rule of the user's the task waits on, if one stopped it (`overseer breakpoints`)."""
    point = store.open_breakpoint_of(task_id)
    return None if point is None else {"id": point.id, "rule": point.rule, "kind": point.kind, "reason": point.reason}
