"""The examples gate: the `>>>` examples of the changed code and of the task, executed.

Examples written the way people write them in prose count too: a line that is only a call and its
result, `rounded_avg(1, 5) => "0b11"` (also `==>`, `->`, `==`), is run as
`>>> assert rounded_avg(1, 5) == "0b11", rounded_avg(1, 5)`, on the same line, when the result is a
Python literal. Anything else on such a line (a type after `->`, words) is left alone.

Where there are no tests, the examples are the specification at hand: a `mul` that adds, whose own
docstring says `>>> mul(4, 5)` / `20`, is caught here. Examples come from the docstrings of the
functions, methods and classes whose lines the attempt added or changed (a changed body counts even
when its examples did not change) and from the task text, run after `from <module> import *` of
each changed module. The standard library's doctest runs them in a subprocess (examples_runner.py),
in a scratch copy of the attempt, under a timeout: an example that hangs or kills its interpreter
is reported, and overseer carries on.
"""

from __future__ import annotations

import ast
import doctest
import json
import logging
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

from overseer.domain import Evidence, FileChange, Finding, GateResult
from overseer.errors import CheckpointError
from overseer.supervise.gates import examples_runner
from overseer.supervise.gates.base import STAGE, GateContext, GateOutcome
from overseer.supervise.gates.commands import CANNOT_START, CommandRun, gate_python, read_text, run_command
from overseer.supervise.policy import finding
from overseer.text import clip, clip_tail
from overseer.workspace.checkpoints import Checkpoints, parse_changed_lines
from overseer.workspace.files import is_test_config, is_test_file
from overseer.workspace.host import Host
from overseer.workspace.local_host import LOCAL, is_local
from overseer.workspace.scratch import Scratch

logger = logging.getLogger(__name__)

EXAMPLES_TIMEOUT_S = 60.0
MAX_PYTHON_BYTES = 1_000_000  # a larger changed .py file (generated data, a 50 MB diff) is not read
TASK = "the task"
_MAX_LISTED = 5  # refuted examples spelled out in one finding
_OUTPUT_TAIL = 4000
_RUNNER = Path(examples_runner.__file__)
_RUNS_ON_IMPORT = frozenset({"setup.py", "__main__.py"})


@dataclass(frozen=True)
class ExampleGroup:
    """One docstring's examples (or the task's): what doctest runs as one test, sharing globals."""

    name: str  # "mul", "Calc.mul", or TASK
    filename: str  # "calc.py"; "" for the task
    lineno: int  # 0-based line of `text` in `filename` (doctest's convention)
    text: str
    modules: tuple[str, ...]
    star: bool = False  # run after `from m import *` of each module, not in one module's namespace
    flags: int = 0

    def where(self, lineno: int) -> str:
        """Where example line `lineno` (0-based, within `text`) is, for a person to find it."""
        line = self.lineno + lineno + 1
        if self.name == TASK:
            return f"the example in the task, line {line}"
        return f"the example in {self.name}'s docstring, {self.filename} line {line}"


def examples_gate(ctx: GateContext, *, timeout_s: float = EXAMPLES_TIMEOUT_S) -> GateOutcome:
    evidence, host = ctx.evidence, ctx.host
    root = _attempt_tree(ctx, "examples")
    lines = changed_python_lines(evidence, root, ctx.scratch.checkpoints if ctx.scratch else None)
    modules = {path: module_of(root, path, host) for path in lines if importable(path)}
    groups = [
        group for path, (_, module) in modules.items() for group in docstring_groups(root, path, module, lines, host)
    ]
    names = {module: top_level_names(root / path, host) for path, (_, module) in modules.items()}
    groups += task_groups(evidence.task, names)
    groups = [group for group in groups if has_examples(group.text)]
    if not groups:
        return GateResult("examples", None, "no examples in the changed functions or the task"), ()
    sys_path = sorted({str(root / entry) for entry, _ in modules.values()} | {str(root)})
    try:
        run, records = run_examples(groups, sys_path, root, timeout_s, ctx.scratch)
    except CANNOT_START as exc:
        message = f"The examples could not be run: {exc}"
        return GateResult("examples", None, "could not run"), (finding(STAGE, "gate_unavailable", message),)
    return _outcome(Tally.of(groups, records, run, timeout_s), run)


def _attempt_tree(ctx: GateContext, name: str) -> PurePath:
    """A scratch copy of the attempt's result; the workspace itself when there are no snapshots."""
    evidence = ctx.evidence
    if ctx.scratch is None or not (evidence.checkpoint_before and evidence.checkpoint_after):
        return evidence.workspace
    return ctx.scratch.copy(evidence.checkpoint_after, name)


# --- what changed ------------------------------------------------------------------------------------


def changed_python_lines(
    evidence: Evidence, root: PurePath, checkpoints: Checkpoints | None = None
) -> dict[str, set[int]]:
    """Added or modified `.py` files present in `root` (and not too large to read) -> their changed lines.

    From the snapshots when there are some; else from the evidence's diff, and a file the diff does
    not show counts as changed throughout. `checkpoints`: the workspace's (the scratch's), whose
    host `root` is on; by default those of the workspace on this machine.
    """
    host = checkpoints.host if checkpoints is not None else LOCAL
    changes = [c for c in evidence.changes if c.kind != "deleted" and c.path.endswith(".py")]
    paths = [c.path for c in changes if _readable(root, c, host, checkpoints)]
    if not paths:
        return {}
    if evidence.checkpoint_before and evidence.checkpoint_after:
        try:
            git = checkpoints or Checkpoints(evidence.workspace)
            exact = git.changed_lines(evidence.checkpoint_before, evidence.checkpoint_after, paths)
        except CheckpointError as exc:  # the shadow repository is gone: fall back on the diff's text
            logger.warning("changed lines read from the diff's text (attempt %s): %s", evidence.attempt, exc)
        else:
            return {path: exact.get(path, set()) for path in paths}
    shown = parse_changed_lines(evidence.diff)
    return {path: shown[path] if path in shown else _every_line(root / path, host) for path in paths}


def _readable(root: PurePath, change: FileChange, host: Host, checkpoints: Checkpoints | None) -> bool:
    """The changed file is in `root` and not too large to read."""
    path = root / change.path
    if is_local(host):
        local = Path(path)
        return local.is_file() and local.stat().st_size <= MAX_PYTHON_BYTES
    if not host.is_file(path):
        return False
    # Another host has no stat: `root` is a copy of the snapshot, so the file is the change's blob.
    if checkpoints is not None and change.sha_after is not None:
        size = checkpoints.blob_size(change.sha_after)
    else:
        size = len(host.read_bytes(path))
    return size <= MAX_PYTHON_BYTES


def importable(path: str) -> bool:
    """A module whose examples may run: importing a test, a conftest, setup.py or a `__main__.py`
    would run it (or is pytest's business)."""
    return not (is_test_file(path) or is_test_config(path) or PurePosixPath(path).name in _RUNS_ON_IMPORT)


def _every_line(path: PurePath, host: Host) -> set[int]:
    return set(range(1, host.read_bytes(path).count(b"\n") + 2))


def module_of(root: PurePath, path: str, host: Host = LOCAL) -> tuple[str, str]:
    """(the directory to put on sys.path, relative to root; the dotted module name) of a .py file:
    the package is as deep as its directories have `__init__.py` files (src layout included)."""
    pure = PurePosixPath(path)
    base = pure.parent
    while base != PurePosixPath(".") and host.is_file(root / base / "__init__.py"):
        base = base.parent
    parts = list(pure.with_suffix("").parts[len(base.parts) :])
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return base.as_posix(), ".".join(parts)


def docstring_groups(
    root: PurePath, path: str, module: str, lines: dict[str, set[int]], host: Host = LOCAL
) -> list[ExampleGroup]:
    """The docstrings of the module-level functions and classes (and their methods) whose lines,
    decorators included, overlap the changed lines. Nested functions are left out: their examples
    could not see their enclosing scope."""
    try:
        tree = ast.parse(host.read_bytes(root / path), path)
    except (SyntaxError, ValueError):
        return []  # the syntax gate reports it
    changed = lines[path]
    groups = []
    for node, name in _definitions(tree.body, ""):
        start = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
        end = node.end_lineno or node.lineno
        docstring = _docstring(node)
        if docstring and not changed.isdisjoint(range(start, end + 1)):
            text, lineno = docstring
            groups.append(ExampleGroup(name, path, lineno, with_arrow_examples(text), (module,)))
    return groups


Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _definitions(body: Sequence[ast.stmt], prefix: str) -> Iterator[tuple[Definition, str]]:
    for node in body:
        if isinstance(node, Definition):
            yield node, prefix + node.name
        if isinstance(node, ast.ClassDef):
            yield from _definitions(node.body, f"{prefix}{node.name}.")


def _docstring(node: Definition) -> tuple[str, int] | None:
    """The raw docstring (doctest reads `__doc__` uncleaned) and its 0-based first line."""
    first = node.body[0] if node.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first.value.value, first.lineno - 1
    return None


def task_groups(task: str, modules: dict[str, set[str]]) -> list[ExampleGroup]:
    """The task's `>>>` lines and the expected output under each, run after `from m import *` of the
    changed modules that define a name the examples use (importing any other could run a script).

    A Markdown fence ends an expected output (its line is blanked, so line numbers hold), and
    whitespace differences are forgiven: a person typed these.
    """
    text = "\n".join("" if line.strip().startswith("```") else line for line in task.splitlines())
    text = with_arrow_examples(text)
    used = names_used(text)
    wanted = tuple(module for module, names in modules.items() if names & used)
    return [ExampleGroup(TASK, "", 0, text, wanted, star=True, flags=doctest.NORMALIZE_WHITESPACE)]


_ARROW = re.compile(r"^(?P<indent>\s*)(?P<call>[A-Za-z_][\w.]*\(.*\))\s*(?:==>|=>|->|==)\s*(?P<value>\S.*?)\s*$")


def with_arrow_examples(text: str) -> str:
    """`text` with each prose example line (`f(x) => y`, y a literal) made a one-line doctest
    example, so line numbers hold. Left alone: lines inside a `>>>` example's expected output, and
    an example line followed by prose (doctest would take the prose for its expected output)."""
    lines = text.splitlines()
    examples: dict[int, str] = {}
    in_output = False
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith((">>>", "...")):
            in_output = True
        elif not stripped:
            in_output = False
        elif not in_output and (example := _arrow_example(line)) is not None:
            examples[number] = example
    for number in sorted(examples, reverse=True):  # from the end: whether the next line stays prose is known
        after = lines[number + 1].strip() if number + 1 < len(lines) else ""
        if not after or after.startswith(">>>") or number + 1 in examples:
            lines[number] = examples[number]
        else:
            del examples[number]
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def _arrow_example(line: str) -> str | None:
    match = _ARROW.match(line)
    if match is None:
        return None
    call, value = match["call"], match["value"]
    try:
        parsed = ast.parse(call, mode="eval").body
        ast.literal_eval(value)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return None
    if not isinstance(parsed, ast.Call):
        return None
    return f"{match['indent']}>>> assert {call} == {value}, {call}"


def names_used(text: str) -> set[str]:
    """The names the examples in `text` read."""
    names: set[str] = set()
    for source in _example_sources(text):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        names.update(node.id for node in ast.walk(tree) if isinstance(node, ast.Name))
    return names


def top_level_names(path: PurePath, host: Host = LOCAL) -> set[str]:
    """What a module defines at its top level (functions, classes, assignments, imports)."""
    try:
        tree = ast.parse(host.read_bytes(path))
    except (SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, Definition):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def _example_sources(text: str) -> list[str]:
    if ">>>" not in text:
        return []
    try:
        return [example.source for example in doctest.DocTestParser().get_examples(text)]
    except ValueError:  # inconsistent indentation: doctest itself could not run it
        return []


def has_examples(text: str) -> bool:
    return bool(_example_sources(text))


# --- running them --------------------------------------------------------------------------------------


def run_examples(
    groups: Sequence[ExampleGroup],
    sys_path: list[str],
    root: PurePath,
    timeout_s: float,
    scratch: Scratch | None = None,
) -> tuple[CommandRun, list[dict[str, Any]]]:
    """Run the runner script in `root` (on the scratch's host; this machine without a scratch); its
    results are read even when it was killed part way."""
    spec = {
        "sys_path": sys_path,
        "groups": [{"id": i, **asdict(group)} for i, group in enumerate(groups)],
    }
    if scratch is None:
        with tempfile.TemporaryDirectory(prefix="overseer-examples-") as tmp:
            return _run_runner(LOCAL, _RUNNER, Path(tmp), spec, root, timeout_s)
    return _run_runner(scratch.host, scratch.tool(_RUNNER), scratch.directory("examples"), spec, root, timeout_s)


def _run_runner(
    host: Host, runner: PurePath, work: PurePath, spec: dict[str, Any], root: PurePath, timeout_s: float
) -> tuple[CommandRun, list[dict[str, Any]]]:
    spec_path, results = work / "spec.json", work / "results.jsonl"
    host.write_bytes(spec_path, json.dumps(spec).encode())
    command = [gate_python(host), "-P", str(runner), str(spec_path), str(results)]
    run = run_command(command, root, timeout_s, host=host)
    text = read_text(host, results)
    return run, [record for line in text.splitlines() if (record := _record(line))]


# What each kind of record holds, as examples_runner.py writes it.
_FIELDS: dict[str, dict[str, type]] = {
    "start": {"i": int, "source": str, "want": str, "lineno": int},
    "passed": {"i": int},
    "failed": {"i": int, "got": str},
    "raised": {"i": int, "got": str},
    "import": {"module": str},
    "imported": {"module": str},
    "import_error": {"module": str, "got": str, "missing": bool},
}


def _valid(record: dict[str, Any], groups: int) -> bool:
    """A record as the runner writes it: code under test could write to the same file."""
    event, group = record.get("event"), record.get("g")
    fields = _FIELDS.get(event) if isinstance(event, str) else None
    if fields is None or not isinstance(group, int) or not 0 <= group < groups:
        return False
    return all(isinstance(record.get(name), kind) for name, kind in fields.items())


def _record(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:  # the last line, cut short by a kill
        return None
    return record if isinstance(record, dict) else None


@dataclass
class Tally:
    """The runner's records, read: what passed, what was refuted, what could not run."""

    passed: int = 0
    refuted: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)  # not the agent's doing: a missing package, a name
    unavailable: list[str] = field(default_factory=list)  # overseer's problem: the runner itself failed
    starts: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(
        cls, groups: Sequence[ExampleGroup], records: list[dict[str, Any]], run: CommandRun, timeout: float
    ) -> Tally:
        tally = cls()
        running: dict[str, Any] | None = None  # what was running when the process ended, if anything
        for record in (record for record in records if _valid(record, len(groups))):
            tally.add(groups[record["g"]], record)
            running = record if record["event"] in ("start", "import") else None
        if running is not None:
            tally.refuted.append(_unfinished(groups[running["g"]], running, run, timeout))
        elif run.exit_code != 0:
            ended = "timed out" if run.exit_code is None else f"exited with code {run.exit_code}"
            tally.unavailable.append(f"The examples runner {ended}: {clip_tail(run.output.strip(), 500)}")
        return tally

    def add(self, group: ExampleGroup, record: dict[str, Any]) -> None:
        event = record["event"]
        if event == "start":
            self.starts[record["g"], record["i"]] = record
        elif event == "passed":
            self.passed += 1
        elif event == "import_error":
            self._import_error(group, record)
        elif event in ("failed", "raised"):
            self._failed(group, record)

    def _failed(self, group: ExampleGroup, record: dict[str, Any]) -> None:
        start = self.starts.get((record["g"], record["i"]), {})
        source, want = _inline(start.get("source", "")), _inline(start.get("want", ""))
        where = group.where(start.get("lineno", 0))
        if group.name == TASK and record.get("error") == "NameError":  # a name no changed module defines
            self.not_run.append(f"{source} ({where}): {record['got']}")
            return
        verb = "raised" if record["event"] == "raised" else "gave"
        got = _inline(record["got"]) or "nothing"
        self.refuted.append(f"{source} {verb} {got}, expected {want or 'no output'} ({where})")

    def _import_error(self, group: ExampleGroup, record: dict[str, Any]) -> None:
        message = f"Importing {record['module']} raised {record['got']}"
        if any(line.startswith(message) for line in self.refuted + self.not_run):
            return  # one module, imported for several docstrings
        whose = "the task's examples" if group.name == TASK else f"the examples in {group.name}'s docstring"
        (self.not_run if record["missing"] else self.refuted).append(f"{message}, so {whose} could not run")


def _unfinished(group: ExampleGroup, started: dict[str, Any], run: CommandRun, timeout: float) -> str:
    ended = f"did not finish within {timeout:g}s" if run.exit_code is None else "ended the Python process"
    if run.exit_code not in (None, 0):
        ended += f" (exit code {run.exit_code})"
    if started["event"] == "import":
        return f"Importing {started['module']} {ended}, so its examples could not run"
    return f"{_inline(started['source'])} {ended} ({group.where(started['lineno'])})"


def _inline(text: str) -> str:
    """A value on one line: multi-line output keeps its line breaks visible as \\n."""
    return clip(text.strip().replace("\n", "\\n"), 300)


def _outcome(tally: Tally, run: CommandRun) -> GateOutcome:
    findings: list[Finding] = []
    if tally.refuted:
        findings.append(finding(STAGE, "example_refuted", _refuted_message(tally.refuted)))
    if tally.unavailable:
        findings.append(finding(STAGE, "gate_unavailable", "\n".join(tally.unavailable)))
    ran = tally.passed + len(tally.refuted)
    passed = None if not ran else not tally.refuted
    summary = (
        f"{len(tally.refuted)} of {ran} example(s) refuted" if tally.refuted else f"{tally.passed} example(s) passed"
    )
    if not ran:
        summary = "no example could run"
    notes = [f"not run: {line}" for line in tally.not_run] + tally.unavailable
    output = "\n".join([*tally.refuted, *notes, clip_tail(run.output, _OUTPUT_TAIL)]).strip()
    details = {"refuted": tally.refuted, "not_run": tally.not_run}
    result = GateResult("examples", passed, summary, output, tally.passed, len(tally.refuted), bool(passed), details)
    return result, tuple(findings)


def _refuted_message(refuted: list[str]) -> str:
    if len(refuted) == 1:
        return refuted[0]
    lines = [f"- {line}" for line in refuted[:_MAX_LISTED]]
    if len(refuted) > _MAX_LISTED:
        lines.append(f"- ... and {len(refuted) - _MAX_LISTED} more")
    return "\n".join([f"{len(refuted)} examples give other results than they show:", *lines])
