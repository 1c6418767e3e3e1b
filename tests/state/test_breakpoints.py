"""Breakpoints in the store: which rule stopped a task, and who answered, when and how."""

from __future__ import annotations

from overseer.state.models import Project
from overseer.state.store import Store


def test_a_task_keeps_its_tags(store: Store, project: Project) -> None:
    task = store.add_task(project.id, "migrate the users table", tags=["risky", "db", "risky"])
    assert store.get_task(task.id).tags == ["db", "risky"]
    assert store.get_task(store.add_task(project.id, "untagged").id).tags == []


def test_a_breakpoint_stays_open_until_a_human_answers_it(store: Store, project: Project, secret: str) -> None:
    task = store.add_task(project.id, "add a migration")
    other = store.add_task(project.id, "something else")
    opened = store.open_breakpoint(
        task.id, None, rule="migrations", kind="attempt", reason=f"it changed db.sql {secret}", detail={"n": 1}
    )
    store.open_breakpoint(other.id, None, rule="big", kind="attempt", reason="its diff has 900 lines", detail={})

    assert store.open_breakpoint_of(task.id) is not None
    [(point, answer), _] = store.breakpoints(project.id)
    assert (point.id, point.rule, point.kind, point.detail, answer) == (
        opened.id,
        "migrations",
        "attempt",
        {"n": 1},
        None,
    )
    assert secret not in point.reason  # redacted like everything a person or an agent wrote

    store.add_resolution(task.id, "accept", "looked at it", by="ada")

    assert store.open_breakpoint_of(task.id) is None
    assert store.open_breakpoint_of(other.id) is not None  # another task's breakpoint is not answered
    [(point, answer), (_, still_open)] = store.breakpoints(project.id)
    assert answer is not None and (answer.action, answer.by, answer.guidance) == ("accept", "ada", "looked at it")
    assert still_open is None
