"""`overseer templates` through the real CLI entry, and overrides taking effect in the prompts rendered."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from overseer.domain import AgentResult, Evidence
from overseer.errors import ConfigError
from overseer.llm.embedded import EmbeddedLLM
from overseer.supervise.prompts import render
from overseer.supervise.review import Reviewer
from tests.conftest import Ran

Overseer = Callable[..., Ran]
PACKAGED = ["feedback.j2", "retry.j2", "review.j2", "review_system.j2", "task.j2"]


@pytest.fixture
def user_templates(isolated_user_config: Path) -> Path:
    folder = isolated_user_config / "overseer" / "templates"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def workspace_templates(workspace: Path) -> Path:
    folder = workspace / ".overseer" / "templates"
    folder.mkdir(parents=True)
    return folder


def listed(overseer: Overseer, workspace: Path) -> dict[str, dict[str, Any]]:
    ran = overseer("templates", "--json", "-w", str(workspace))
    assert ran.code == 0, ran.err
    return {template["name"]: template for template in ran.json()["templates"]}


def evidence(workspace: Path) -> Evidence:
    return Evidence(
        task="Add add(a, b) to calc.py.",
        attempt=1,
        workspace=workspace,
        result=AgentResult(session_id="s", is_error=False, text="Done."),
        diff="+def add(a, b):\n+    return a + b\n",
    )


def test_the_packaged_templates_are_in_force_by_default(overseer: Overseer, workspace: Path) -> None:
    templates = listed(overseer, workspace)
    assert set(PACKAGED) <= set(templates)
    assert {template["source"] for template in templates.values()} == {"package"}
    assert templates["retry.j2"]["variables"] == ["feedback", "guidance"]
    people = overseer("templates", "-w", str(workspace))
    assert people.code == 0 and "review_system.j2" in people.out and "package" in people.out


def test_the_workspace_wins_over_the_user_who_wins_over_the_package(
    overseer: Overseer, workspace: Path, user_templates: Path, workspace_templates: Path
) -> None:
    (user_templates / "review_system.j2").write_text("The user's reviewer.\n")
    (user_templates / "feedback.j2").write_text("The user's feedback: {{ problems }}\n")
    (workspace_templates / "review_system.j2").write_text("This project's reviewer.\n")
    templates = listed(overseer, workspace)
    assert (templates["review_system.j2"]["source"], templates["feedback.j2"]["source"]) == ("workspace", "user")
    assert templates["review_system.j2"]["shadows"][0] == str(user_templates / "review_system.j2")
    assert len(templates["review_system.j2"]["shadows"]) == 2  # the user's and the packaged one
    assert templates["task.j2"]["source"] == "package"


def test_an_override_takes_effect_in_the_prompt_the_reviewer_sends(
    workspace: Path, user_templates: Path, workspace_templates: Path
) -> None:
    (user_templates / "review.j2").write_text("USER REVIEW of: {{ task }}\n{{ diff }}")
    (workspace_templates / "review_system.j2").write_text("You review for the ACME project. Be strict.\n")
    system, user = Reviewer(EmbeddedLLM()).prompt(evidence(workspace), ())  # builds the prompt only
    assert system == "You review for the ACME project. Be strict.\n"
    assert user.startswith("USER REVIEW of: Add add(a, b) to calc.py.\n+def add(a, b):")
    # another workspace still gets the packaged system prompt, and the user's review template
    other_system, other_user = Reviewer(EmbeddedLLM()).prompt(evidence(workspace.parent), ())
    assert "ACME" not in other_system and other_user.startswith("USER REVIEW")


def test_an_edited_override_is_read_again(workspace: Path, workspace_templates: Path) -> None:
    override = workspace_templates / "retry.j2"
    override.write_text("first: {{ feedback }}")
    assert render("retry.j2", workspace, feedback="x", guidance="") == "first: x"
    override.write_text("second version: {{ feedback }}")
    mtime = override.stat().st_mtime + 2  # Jinja2 reloads on a changed mtime; some filesystems count whole seconds
    os.utime(override, (mtime, mtime))
    assert render("retry.j2", workspace, feedback="x", guidance="") == "second version: x"


def test_a_broken_override_is_a_config_error_naming_its_file(workspace: Path, workspace_templates: Path) -> None:
    (workspace_templates / "review_system.j2").write_text("Review {{ the_diff }} strictly.\n")
    with pytest.raises(ConfigError, match=r"review_system\.j2 cannot render") as caught:
        Reviewer(EmbeddedLLM()).prompt(evidence(workspace), ())
    assert caught.value.context["path"] == str(workspace_templates / "review_system.j2")


def test_a_misnamed_or_broken_override_is_listed_as_such(
    overseer: Overseer, workspace: Path, workspace_templates: Path
) -> None:
    (workspace_templates / "reveiw.j2").write_text("misnamed\n")
    (workspace_templates / "task.j2").write_text("{% if %}\n")
    templates = listed(overseer, workspace)
    assert templates["reveiw.j2"]["known"] is False
    assert "Expected an expression" in templates["task.j2"]["problem"]
