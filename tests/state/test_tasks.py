"""Projects and tasks: creation, dependencies, status, guidance and the attempt budget."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest

from overseer.domain import TaskStatus
from overseer.errors import UsageError
from overseer.state.models import Project
from overseer.state.store import Store


def test_ensure_project_gets_the_same_project_for_the_same_resolved_path(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ws").mkdir()
    monkeypatch.chdir(tmp_path)
    first = store.ensure_project(Path("ws"))
    again = store.ensure_project(tmp_path / "ws" / ".." / "ws")
    other = store.ensure_project(tmp_path)

    assert again.id == first.id
    assert first.workspace == str(tmp_path.resolve() / "ws")
    assert other.id != first.id


def test_add_get_and_list_tasks(store: Store, project: Project) -> None:
    first = store.add_task(project.id, "write the parser", priority=2)
    second = store.add_task(project.id, "test the parser", depends_on=[first.id])

    task = store.get_task(first.id)
    assert (task.text, task.priority, task.budget_start) == ("write the parser", 2, 1)
    assert task.status is TaskStatus.PENDING  # the enum member itself, not a bare string
    assert task.created_at.tzinfo == UTC
    assert [t.id for t in store.list_tasks(project.id)] == [first.id, second.id]


def test_dependencies_lists_every_task_of_the_project(store: Store, project: Project, tmp_path: Path) -> None:
    a = store.add_task(project.id, "a")
    b = store.add_task(project.id, "b", depends_on=[a.id])
    c = store.add_task(project.id, "c", depends_on=[a.id, b.id, a.id])
    elsewhere = store.ensure_project(tmp_path)
    store.add_task(elsewhere.id, "not in this project")

    assert store.dependencies(project.id) == {a.id: set(), b.id: {a.id}, c.id: {a.id, b.id}}


def test_unknown_dependency_is_named_and_no_task_is_created(store: Store, project: Project, tmp_path: Path) -> None:
    a = store.add_task(project.id, "a")
    foreign = store.add_task(store.ensure_project(tmp_path).id, "another project's task")

    with pytest.raises(UsageError) as caught:
        store.add_task(project.id, "b", depends_on=[a.id, 404, foreign.id])
    assert caught.value.message == f"unknown dependency task id {foreign.id}, 404"
    assert [t.text for t in store.list_tasks(project.id)] == ["a"]


def test_unknown_task_id_is_a_usage_error_with_a_hint(store: Store) -> None:
    with pytest.raises(UsageError) as caught:
        store.get_task(999)
    assert caught.value.message == "unknown task id 999"
    assert "overseer task list" in caught.value.hint
    with pytest.raises(UsageError, match="unknown task id 999"):
        store.set_task_status(999, TaskStatus.RUNNING)


def test_status_brief_session_and_guidance_are_saved(store: Store, project: Project) -> None:
    task = store.add_task(project.id, "t")
    store.set_task_status(task.id, TaskStatus.NEEDS_HUMAN, brief="which database?")
    store.set_task_session(task.id, "session-1")
    store.set_guidance(task.id, "use PostgreSQL")

    saved = store.get_task(task.id)
    assert (saved.status, saved.brief, saved.session_id, saved.guidance) == (
        TaskStatus.NEEDS_HUMAN,
        "which database?",
        "session-1",
        "use PostgreSQL",
    )
    assert saved.updated_at >= saved.created_at


def test_new_status_without_brief_clears_the_old_brief(store: Store, project: Project) -> None:
    task = store.add_task(project.id, "t")
    store.set_task_status(task.id, TaskStatus.NEEDS_HUMAN, brief="which database?")
    store.set_task_status(task.id, TaskStatus.PENDING)
    store.set_guidance(task.id, None)

    saved = store.get_task(task.id)
    assert (saved.status, saved.brief, saved.guidance) == (TaskStatus.PENDING, None, None)


def test_reset_budget_starts_counting_after_the_last_attempt(store: Store, project: Project) -> None:
    fresh = store.add_task(project.id, "never attempted")
    tried = store.add_task(project.id, "tried twice")
    for number in (1, 2):
        store.start_attempt(tried.id, number=number, prompt="p", checkpoint_before="c")

    store.reset_budget(fresh.id)
    store.reset_budget(tried.id)

    assert store.get_task(fresh.id).budget_start == 1
    assert store.get_task(tried.id).budget_start == 3
