"""A test hook: overseer waits at a named point of an attempt, so a test can kill it exactly there.

    TEST_OVERSEER_HOLD=agent,review TEST_OVERSEER_HOLD_DIR=/tmp/holds overseer run

On reaching a named point overseer creates `<dir>/<point>` and waits until that file is removed
(or the process is killed). The points:

- `agent`: the attempt is recorded and its checkpoint taken; the agent has not started;
- `review`: the gates are done and the judge is about to ask the supervisor for its review;
- `next_attempt`: a retry was decided and recorded; the next attempt has not begun.

Other moments need no hook, the test can see them: a tool call runs a process, a gate runs the
workspace's tests. The variables are read by the CLI; unset, a point costs one set lookup.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from overseer.llm.base import LLM, Window
from overseer.llm.tokens import TokenCounter

HOLD_ENV, HOLD_DIR_ENV = "TEST_OVERSEER_HOLD", "TEST_OVERSEER_HOLD_DIR"
POINTS = frozenset({"agent", "review", "next_attempt"})
_POLL_S = 0.05


@dataclass(frozen=True)
class Holds:
    points: frozenset[str] = frozenset()
    directory: Path = Path()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Holds:
        points = frozenset(p.strip() for p in environ.get(HOLD_ENV, "").split(",") if p.strip())
        if unknown := points - POINTS:
            raise ValueError(f"{HOLD_ENV}: unknown point {', '.join(sorted(unknown))}; known: {sorted(POINTS)}")
        if points and not environ.get(HOLD_DIR_ENV):
            raise ValueError(f"{HOLD_ENV} needs {HOLD_DIR_ENV}, the directory where the hold files go")
        return cls(points, Path(environ.get(HOLD_DIR_ENV, ".")))

    def reach(self, point: str) -> None:
        if point not in self.points:
            return
        flag = self.directory / point
        flag.touch()
        while flag.exists():
            time.sleep(_POLL_S)

    def around_review(self, llm: LLM) -> LLM:
        """The supervisor, holding at `review` before each question when that point is named."""
        return _HeldLLM(llm, self) if "review" in self.points else llm


class _HeldLLM:
    name: ClassVar[str] = "held"

    def __init__(self, llm: LLM, holds: Holds) -> None:
        self._llm = llm
        self._holds = holds

    @property
    def default_trust(self) -> float:
        return self._llm.default_trust

    def preflight(self) -> None:
        self._llm.preflight()

    def complete_json(self, system: str, user: str, schema: dict[str, Any]) -> dict[str, Any]:
        self._holds.reach("review")
        return self._llm.complete_json(system, user, schema)

    @property
    def window(self) -> Window:
        return self._llm.window

    def tokenizer(self) -> TokenCounter:
        return self._llm.tokenizer()
