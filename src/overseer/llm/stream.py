"""Answers read as they are written: each piece goes to a sink (the console), within one deadline.

Network providers always stream. A person watching sees a long answer come, and the timeout means
what a user expects: `timeout_s` for the whole answer (checked here, between pieces), while the
client's own timeout bounds each wait for the next piece. A deadline missed is a transient failure:
a busy server may well answer in time when asked again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from overseer.llm.base import TransientError

TextSink = Callable[[str], None]


@runtime_checkable
class Streams(Protocol):
    """A provider whose answers can be watched as they come: set `on_text` to see each piece."""

    on_text: TextSink | None


class Streamed:
    """The pieces of one answer: passed on, kept, and bounded by the answer's deadline."""

    def __init__(self, sink: TextSink | None, timeout_s: float, **context: Any) -> None:
        self._sink = sink
        self._timeout_s = timeout_s
        self._deadline = time.monotonic() + timeout_s
        self._context = context
        self._pieces: list[str] = []

    def add(self, piece: str) -> None:
        if time.monotonic() > self._deadline:
            raise TransientError(
                f"the answer took longer than {self._timeout_s:g} s",
                hint="raise supervisor.options.timeout_s",
                **self._context,
            )
        if piece:
            self._pieces.append(piece)
            if self._sink is not None:
                self._sink(piece)

    @property
    def text(self) -> str:
        return "".join(self._pieces)
