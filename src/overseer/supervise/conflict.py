"""The judge's check of a conflict the agent reported: is the test really at odds with the spec?

An agent that says "the test and the spec cannot both be satisfied" (agents/honesty.py) names a test
and quotes the spec line it contradicts, as a `>>>` example. Its word alone is not enough: an agent
can call a test wrong to dodge it. So both sides are checked on the agent's own code, in scratch
copies of the after-snapshot:

- the test: its outcome in the run of the tests as they were before the attempt (the tests gate's
  own run, `gates/suites.py`; an edited test runs in its original form), with its failing assertion;
- the spec: the quoted example, run as the examples gate runs examples (`gates/examples.py`), after
  `from m import *` of the modules that define the names it uses.

Both run where the workspace's files are (the scratch's host), and the files are read through it.

The conflict holds when the test fails and the example gives what the spec says: the code does what
the spec says and the test wants something else. It goes to a person with both sides side by side
(`conflict_confirmed`, decided as `clarify`). When the test fails but the example cannot be run (none
was quoted, a name it uses is defined nowhere), the test side is confirmed and the spec side is the
agent's word: a person decides that too (`conflict_unchecked`). It does not hold when the named test
passes, is not among the tests that ran, or when the example fails on the code: that goes back to
the agent with what the check showed (`conflict_refuted`).
"""

from __future__ import annotations

import doctest
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

from overseer.domain import AgentReport, Finding
from overseer.supervise.gates.base import GateContext
from overseer.supervise.gates.commands import CANNOT_START, text_of
from overseer.supervise.gates.examples import (
    MAX_PYTHON_BYTES,
    ExampleGroup,
    importable,
    module_of,
    names_used,
    run_examples,
    top_level_names,
)
from overseer.supervise.gates.pytest_output import FAILING, PytestReport
from overseer.supervise.gates.suites import after_runs
from overseer.supervise.policy import finding
from overseer.supervise.tamper import source_of
from overseer.text import clip
from overseer.workspace.host import Host
from overseer.workspace.local_host import is_local

STAGE = "validate"
REPORT_CONFLICT = "report_conflict"  # AgentReport.kind (agents/honesty.py)
_NODE_ID = re.compile(r"(?P<id>[\w./-]+\.py::[\w.:\[\]-]+)")
_BARE = re.compile(r"\b(?P<name>test\w*)\b")
_SPEC = "the reported spec"
_MAX_SOURCE = 1500  # characters of the test's source in a brief
_MAX_MODULES = 20  # modules imported for the example's names
_MAX_FILES = 5000  # Python files looked through for them
_GREP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class TestSide:
    """The named test, as it ran on the agent's code."""

    __test__ = False  # not a test class, whatever its name says

    named: str  # what the report names ("" when it names no test)
    node: str = ""  # the test that ran, "" when none matches
    outcome: str = ""  # pytest's word (passed, failed, error...), "" when it did not run
    reason: str = ""  # the failing assertion, pytest's one line
    source: str = ""  # the test's code, as it ran

    @property
    def fails(self) -> bool:
        return self.outcome in FAILING


@dataclass(frozen=True)
class SpecSide:
    """The quoted example, run on the agent's code."""

    example: str  # ">>> mul(7, 0)  ->  0" ("" when none was quoted)
    holds: bool | None = None  # None: it could not run
    detail: str = ""  # what it gave, or why it could not run


def check_conflicts(ctx: GateContext, reports: Sequence[AgentReport], timeout_s: float) -> tuple[Finding, ...]:
    """One finding for each conflict the agent reported."""
    return tuple(check_conflict(ctx, report, timeout_s) for report in reports if report.kind == REPORT_CONFLICT)


def check_conflict(ctx: GateContext, report: AgentReport, timeout_s: float) -> Finding:
    claimed = f"The agent reports a conflict: {clip(report.text, 500)}"
    if ctx.scratch is None:  # no snapshots of the attempt (some unit tests): nothing safe to run the test in
        message = f"{claimed}\nEvidence given: {clip(report.evidence, 1000)}\noverseer could not run the test; decide."
        return finding(STAGE, "conflict_unchecked", message)
    test = named_test(ctx, f"{report.evidence}\n{report.text}")
    if not test.node:
        named = f"names {test.named}, which is not" if test.named else "names no test that is"
        message = (
            f"{claimed}\nThe check does not bear it out: the report {named} among the tests overseer ran. "
            "Name the failing test by its pytest node id (tests/test_x.py::test_name) and quote the spec line."
        )
        return finding(STAGE, "conflict_refuted", message)
    if not test.fails:
        message = f"{claimed}\nThe check does not bear it out: {test.node} {test.outcome} on your code."
        return finding(STAGE, "conflict_refuted", message)
    spec = quoted_spec(ctx, report.evidence or report.text, timeout_s)
    if spec.holds is False:
        message = (
            f"{claimed}\nThe check does not bear it out: the spec's own example fails on your code: "
            f"{spec.detail}. Make the code do what the spec says; if {test.node} still disagrees, report again."
        )
        return finding(STAGE, "conflict_refuted", message)
    sides = _side_by_side(test, spec)
    if spec.holds:
        return finding(STAGE, "conflict_confirmed", f"{claimed}\n{sides}\nDecide which side is right.")
    return finding(STAGE, "conflict_unchecked", f"{claimed}\n{sides}\nThe spec side is the agent's word only; decide.")


def _side_by_side(test: TestSide, spec: SpecSide) -> str:
    why = f": {test.reason}" if test.reason else ""
    code = f"\n{clip(test.source, _MAX_SOURCE)}" if test.source else ""
    if spec.holds:
        said = f"{spec.example} holds on the agent's code"
    else:
        said = f"{spec.example or 'no example was quoted'} (not run: {spec.detail})"
    return f"The test: {test.node} {test.outcome} on the agent's code{why}{code}\nThe spec: {said}"


# --- the test ----------------------------------------------------------------------------------------


def named_test(ctx: GateContext, text: str) -> TestSide:
    """The first test the text names that ran: in the run of the original tests, else the agent's."""
    names = [m["id"] for m in _NODE_ID.finditer(text)] or [m["name"] for m in _BARE.finditer(text)]
    if not names:
        return TestSide("")
    runs = after_runs(ctx)
    for name in names:
        for suite, root in ((runs.originals, runs.originals_root), (runs.agent, runs.agent_root)):
            node = _match(suite.report, name)
            if node is not None and suite.report is not None:
                outcome, reason = suite.report.outcomes[node], suite.report.reasons.get(node, "")
                return TestSide(name, node, outcome, reason.replace(f"{root}/", ""), _source(ctx, root, node))
    return TestSide(names[0])


def _match(report: PytestReport | None, named: str) -> str | None:
    """The node id a name means: the id itself, the id without a leading directory, or a bare test name."""
    if report is None:
        return None
    for node in report.outcomes:
        if node == named or node.endswith("/" + named) or named.endswith("/" + node):
            return node
        if "::" not in named and node.split("::")[-1].split("[", 1)[0] == named:
            return node
    return None


def _source(ctx: GateContext, root: PurePath, node: str) -> str:
    path, _, test = node.partition("::")
    try:
        text = text_of(ctx.host.read_bytes(root / path))
    except OSError:
        return ""
    return source_of(text, test.split("[", 1)[0])


# --- the spec ----------------------------------------------------------------------------------------


def quoted_spec(ctx: GateContext, text: str, timeout_s: float) -> SpecSide:
    """The quoted `>>>` examples that say what they expect, run on a copy of the agent's code."""
    examples = _quoted(text)
    if not examples:
        return SpecSide("", None, "the report quotes no `>>>` example with its expected output")
    shown = "; ".join(f">>> {e.source.strip()}  ->  {e.want.strip()}" for e in examples)
    evidence, scratch = ctx.evidence, ctx.scratch
    root: PurePath = evidence.workspace
    if scratch is not None and evidence.checkpoint_after:
        root = scratch.copy(evidence.checkpoint_after, "conflict")
    spec = "".join(_as_doctest(example) for example in examples)
    names = names_used(spec)
    modules = list(_modules_defining(root, _python_files(ctx, root, names), names, ctx.host))
    group = ExampleGroup(
        _SPEC, "", 0, spec, tuple(m for _, m in modules), star=True, flags=doctest.NORMALIZE_WHITESPACE
    )
    sys_path = sorted({str(root / base) for base, _ in modules} | {str(root)})
    try:
        run, records = run_examples([group], sys_path, root, timeout_s, scratch)
    except CANNOT_START as exc:
        return SpecSide(shown, None, f"the example runner could not start: {exc}")
    if run.exit_code is None:
        return SpecSide(shown, False, f"it did not finish within {timeout_s:g}s")
    return _read(shown, records)


def _quoted(text: str) -> list[doctest.Example]:
    try:
        examples = doctest.DocTestParser().get_examples(text)
    except ValueError:  # inconsistent indentation
        return []
    return [example for example in examples if example.want.strip()]


def _as_doctest(example: doctest.Example) -> str:
    first, *more = example.source.rstrip("\n").split("\n")
    return "".join([f">>> {first}\n", *(f"... {line}\n" for line in more), example.want])


def _python_files(ctx: GateContext, root: PurePath, names: set[str]) -> list[str]:
    """The `.py` files under `root` that may define one of `names`, relative and sorted as paths: on
    this machine every one (a walk); on another host, the files of the snapshot copied to `root`
    that spell one of the names (one grep: each file read there is a round trip)."""
    if is_local(ctx.host):
        return [path.relative_to(root).as_posix() for path in sorted(Path(root).rglob("*.py"))]
    assert ctx.scratch is not None  # another host's files are only seen in scratch copies
    mentioning = _mentioning(root, names, ctx.host)
    listed = ctx.scratch.checkpoints.files(ctx.evidence.checkpoint_after)
    python = [path for path in listed if path.endswith(".py") and (mentioning is None or path in mentioning)]
    return sorted(python, key=lambda path: PurePosixPath(path).parts)


def _modules_defining(root: PurePath, files: list[str], names: set[str], host: Host) -> Iterator[tuple[str, str]]:
    """(sys.path entry, module) of the modules among `files` (relative to `root`, on `host`) that
    define one of `names` at top level."""
    found = 0
    for index, relative in enumerate(files):
        if index >= _MAX_FILES or found >= _MAX_MODULES:
            return
        if any(part.startswith(".") for part in PurePosixPath(relative).parts) or not importable(relative):
            continue
        if _small(root / relative, host) and top_level_names(root / relative, host) & names:
            found += 1
            yield module_of(root, relative, host)


def _mentioning(root: PurePath, names: set[str], host: Host) -> set[str] | None:
    """The `.py` files under `root` whose text holds one of `names` (a file cannot define a name it
    does not spell); None when grep could not tell (then every file is read)."""
    if not names:
        return set()
    needles = [arg for name in sorted(names) for arg in ("-e", name)]
    try:
        done = host.run(["grep", "-rlF", "--include=*.py", *needles, "--", "."], cwd=root, timeout_s=_GREP_TIMEOUT_S)
    except CANNOT_START:
        return None
    if done.exit_code not in (0, 1):  # 1: no file matched
        return None
    return {line.removeprefix("./") for line in text_of(done.stdout).splitlines() if line}


def _small(path: PurePath, host: Host) -> bool:
    """Not too large to read (a host other than this one has no stat: the file is read)."""
    size = Path(path).stat().st_size if is_local(host) else len(host.read_bytes(path))
    return size <= MAX_PYTHON_BYTES


def _read(shown: str, records: list[dict[str, Any]]) -> SpecSide:
    """The runner's records: held (every example passed), failed (with what it gave), or not run."""
    failed = [r for r in records if r.get("event") in ("failed", "raised") and r.get("error") != "NameError"]
    failed += [r for r in records if r.get("event") == "import_error" and not r.get("missing")]  # code that fails
    unknown = [r for r in records if r.get("error") == "NameError" or r.get("event") == "import_error"]
    if failed:
        got = clip(str(failed[0].get("got", "")).strip(), 300)
        verb = "gave" if failed[0]["event"] == "failed" else "raised"
        return SpecSide(shown, False, f"{shown}, but it {verb} {got}")
    if unknown:
        return SpecSide(shown, None, clip(str(unknown[0].get("got", "")).strip(), 300))
    if not any(r.get("event") == "passed" for r in records):
        return SpecSide(shown, None, "no example ran")
    return SpecSide(shown, True)
