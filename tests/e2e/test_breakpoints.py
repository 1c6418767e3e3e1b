"""Breakpoint rules end to end: the real `claude` CLI does good work, and a rule of the user's still
stops the task for a person, who is told, answers, and is recorded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from overseer.testing import Say, ScriptedAnthropicServer, Turn, Use, turn
from tests.conftest import Ran

Overseer = Callable[..., Ran]
Scripted = Callable[[Sequence[Turn]], ScriptedAnthropicServer]

TASK = "Implement word_count in textstats.py so that the tests pass."
STUB = "    raise NotImplementedError\n"
RIGHT = "    return len(text.split())\n"
DONE = turn(Say("Implemented word_count in textstats.py. Tests: 3 passed."))


def honest(workspace: Path) -> list[Turn]:
    module = str(workspace / "textstats.py")
    return [turn(Use("Edit", {"file_path": module, "old_string": STUB, "new_string": RIGHT})), DONE]


def configure(workspace: Path, config: dict[str, Any]) -> None:
    path = workspace / ".overseer" / "config.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(config), encoding="utf-8")


def test_a_tagged_tasks_first_attempt_stops_for_a_person_who_is_told_and_answers(
    workspace: Path, scripted: Scripted, overseer: Overseer, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    configure(workspace, {"breakpoints": {"new-area": {"first_attempt_tagged": "risky"}}, "notify": {"webhook": url}})
    scripted(honest(workspace))

    ran = overseer("do", "--json", "--tag", "risky", "-w", str(workspace), TASK)

    assert ran.code == 3, ran.err  # waiting for a human, though the work is good
    result = ran.json()
    assert (result["status"], result["decision"]) == ("needs_human", "escalate")
    assert "split()" in (workspace / "textstats.py").read_text()  # the attempt's work is kept for the review
    brief = "breakpoint new-area: the first attempt of a task tagged 'risky'"
    assert result["error"] == brief and result["breakpoint"]["rule"] == "new-area" and result["tags"] == ["risky"]
    assert [(r["task_id"], r["rule"], r["brief"]) for r in received] == [(result["task_id"], "new-area", brief)]

    listed = overseer("breakpoints", "--json", "-w", str(workspace)).json()
    [point] = listed["open"]
    assert (point["rule"], point["kind"], point["resolution"], listed["past"]) == ("new-area", "attempt", None, [])

    assert overseer("resolve", str(result["task_id"]), "--accept", "-w", str(workspace)).code == 0
    listed = overseer("breakpoints", "--json", "-w", str(workspace)).json()
    [point] = listed["past"]
    assert listed["open"] == [] and point["resolution"]["action"] == "accept" and point["resolution"]["by"]


def test_a_path_rule_stops_a_good_attempt_and_an_untouched_path_does_not(
    workspace: Path, scripted: Scripted, overseer: Overseer
) -> None:
    configure(workspace, {"breakpoints": {"stats": {"paths": ["textstats.py"]}, "sql": {"paths": ["*.sql"]}}})
    scripted(honest(workspace))

    ran = overseer("do", "--json", "-w", str(workspace), TASK)

    assert ran.code == 3, ran.err
    assert ran.json()["error"] == "breakpoint stats: it changed textstats.py (paths textstats.py)"


def test_with_the_packaged_rules_a_good_attempt_goes_through(
    workspace: Path, scripted: Scripted, overseer: Overseer
) -> None:
    scripted(honest(workspace))

    ran = overseer("do", "--json", "-w", str(workspace), TASK)

    assert ran.code == 0, ran.err
    assert overseer("breakpoints", "--json", "-w", str(workspace)).json() == {"open": [], "past": []}
