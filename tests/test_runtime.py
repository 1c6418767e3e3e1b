"""What `build_orchestrator` makes of the supervisor's configuration."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from overseer import demo
from overseer.errors import ConfigError
from overseer.orchestrator import Orchestrator
from overseer.plugins import Registry
from overseer.runtime import build_orchestrator, open_workspace


def orchestrator(workspace: Path, supervisor: dict[str, Any]) -> Orchestrator:
    demo.create_project(workspace)
    with open_workspace(workspace, os.environ, {"supervisor": supervisor}, create=True) as ws:
        return build_orchestrator(ws, Registry.from_entry_points())


def broken_model(tmp_path: Path, **choice: Any) -> dict[str, Any]:
    """An embedded model whose file is not a GGUF model: loading it fails, so a load shows."""
    path = tmp_path / "broken.gguf"
    path.write_text("not a model", encoding="utf-8")
    return {"name": "embedded", "options": {"model_path": str(path)}, **choice}


def test_an_untrusted_model_is_asked_nothing_and_never_loaded(tmp_path: Path) -> None:
    built = orchestrator(tmp_path / "project", broken_model(tmp_path, trust=0.0))
    assert built.judge.reviewer is None


def test_an_untrusted_model_reviews_when_asked_to(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):  # it is loaded (and fails) before any agent runs
        orchestrator(tmp_path / "project", broken_model(tmp_path, trust=0.0, review="always"))
    built = orchestrator(tmp_path / "packaged", {"name": "embedded", "review": "always"})
    assert built.judge.reviewer is not None and built.judge.reviewer.trust == 0.0


@pytest.mark.parametrize(("review", "reviews"), [("auto", True), ("off", False)])
def test_a_trusted_model_reviews_unless_switched_off(tmp_path: Path, review: str, reviews: bool) -> None:
    built = orchestrator(tmp_path / "project", {"name": "embedded", "trust": 0.6, "review": review})
    assert (built.judge.reviewer is not None) == reviews
