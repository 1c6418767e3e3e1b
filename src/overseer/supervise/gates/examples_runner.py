"""Runs `>>>` examples for the examples gate, in a Python process of its own.

    python -P examples_runner.py SPEC.json RESULTS.jsonl

Started by `examples.py` in a scratch copy of the attempt, under a timeout and in its own process
group, so an example that hangs, exits or crashes the interpreter cannot hurt overseer. Standard
library only and run as a script (`-P`: its own directory stays off `sys.path`), so the workspace's
modules are imported without overseer's package in the way.

SPEC: {"sys_path": [dirs], "groups": [{"id", "name", "filename", "lineno", "text", "modules",
"star", "flags"}]}. A group is one docstring (run in a copy of its module's namespace, as doctest
does) or the task's examples (`star`: run after `from <module> import *` of each module).

RESULTS: one JSON object a line, written and flushed as the examples run, so what was running is
known even when the process is killed: "start" before each example, then "passed", "failed" (with
what it printed) or "raised" (with the exception); "import" before importing a module, then
"imported" or "import_error".
"""

from __future__ import annotations

import doctest
import importlib
import json
import sys
import traceback
import types
from typing import IO, Any

_TRACEBACK = "Traceback (most recent call last):"


class _Recorder(doctest.DocTestRunner):
    """A doctest runner that writes each example's outcome as a JSON line instead of a report."""

    def __init__(self, sink: IO[str], group: int, flags: int) -> None:
        super().__init__(verbose=False, optionflags=flags)
        self.sink, self.group = sink, group
        self.index: dict[int, int] = {}

    def emit(self, example: doctest.Example, event: str, **fields: Any) -> None:
        _write(self.sink, {"g": self.group, "i": self.index[id(example)], "event": event, **fields})

    def report_start(self, out: Any, test: doctest.DocTest, example: doctest.Example) -> None:
        self.emit(example, "start", source=example.source, want=example.want, lineno=example.lineno)

    def report_success(self, out: Any, test: doctest.DocTest, example: doctest.Example, got: str) -> None:
        self.emit(example, "passed")

    def report_failure(self, out: Any, test: doctest.DocTest, example: doctest.Example, got: str) -> None:
        if _TRACEBACK in got:  # an exception, but not the one the example expects: keep its last line
            got = got.strip().splitlines()[-1]
        self.emit(example, "failed", got=got)

    def report_unexpected_exception(
        self, out: Any, test: doctest.DocTest, example: doctest.Example, exc_info: Any
    ) -> None:
        error = traceback.format_exception_only(exc_info[0], exc_info[1])[-1].strip()
        self.emit(example, "raised", got=error, error=exc_info[0].__name__)


def run_group(group: dict[str, Any], sink: IO[str]) -> None:
    globs = _namespace(group, sink)
    if globs is None:
        return
    test = doctest.DocTestParser().get_doctest(group["text"], globs, group["name"], group["filename"], group["lineno"])
    recorder = _Recorder(sink, group["id"], group["flags"])
    recorder.index = {id(example): i for i, example in enumerate(test.examples)}
    recorder.run(test, out=lambda _text: None, clear_globs=False)


def _namespace(group: dict[str, Any], sink: IO[str]) -> dict[str, Any] | None:
    """The globals the examples run in; None when the docstring's own module cannot be imported."""
    globs: dict[str, Any] = {"__name__": "__examples__"}
    for name in group["modules"]:
        _write(sink, {"g": group["id"], "event": "import", "module": name})
        try:
            module = importlib.import_module(name)
        except BaseException as exc:  # a module may raise anything, SystemExit included
            _import_error(sink, group["id"], name, exc)
            if not group["star"]:
                return None
            continue
        _write(sink, {"g": group["id"], "event": "imported", "module": name})
        globs.update(_public(module) if group["star"] else vars(module))
    return globs


def _public(module: types.ModuleType) -> dict[str, Any]:
    """What `from module import *` would bind."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name in vars(module) if not name.startswith("_")]
    return {name: getattr(module, name) for name in names if hasattr(module, name)}


def _import_error(sink: IO[str], group: int, module: str, exc: BaseException) -> None:
    error = traceback.format_exception_only(type(exc), exc)[-1].strip()
    _write(sink, {"g": group, "event": "import_error", "module": module, "got": error, "missing": _missing(exc)})


def _write(sink: IO[str], record: dict[str, Any]) -> None:
    """One record a line, flushed at once: the process may be killed after any of them."""
    sink.write(json.dumps(record) + "\n")
    sink.flush()


def _missing(exc: BaseException) -> bool:
    """An ImportError: a package the workspace needs is not installed, rather than code that fails."""
    return isinstance(exc, ImportError)


def main(argv: list[str]) -> int:
    spec_path, results_path = argv
    with open(spec_path, encoding="utf-8") as file:
        spec = json.load(file)
    sys.path[:0] = spec["sys_path"]
    with open(results_path, "a", encoding="utf-8") as sink:
        for group in spec["groups"]:
            run_group(group, sink)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
