"""The coverage gate: the lines the attempt changed that no test executes.

Passing tests say nothing about code they never run. The tests as the agent left them run under
coverage.py (suites.py); this gate reads which of the changed lines of Python source (test files
aside) are statements that never ran, and names them: "the tests pass, but none of them runs
calc.py lines 12-30". A warning, not a veto: it lowers the confidence and tells the agent what to
test.
"""

from __future__ import annotations

import bisect
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath

from overseer.domain import Evidence, FileChange, GateResult
from overseer.supervise.gates.base import STAGE, GateContext, GateOutcome
from overseer.supervise.gates.pytest_output import FAILING
from overseer.supervise.gates.suites import after_runs, has_tests
from overseer.supervise.policy import finding
from overseer.workspace.files import touches_tests
from overseer.workspace.local_host import is_local
from overseer.workspace.scratch import Scratch

MAX_MEASURED_BYTES = 1_000_000  # a larger changed file (generated code, a 50 MB diff) is not analysed
_MAX_NAMED = 10  # files named in one finding


def coverage_gate(ctx: GateContext) -> GateOutcome:
    evidence, scratch = ctx.evidence, ctx.scratch
    if scratch is None or not (evidence.checkpoint_before and evidence.checkpoint_after):
        return _not_applied("no snapshots of the attempt to compare")
    if not ctx.config.tests or ctx.config.test_command is not None:
        return _not_applied("only overseer's own pytest run is measured")
    changed = changed_source_lines(scratch, evidence)
    if not changed:
        return _not_applied("no Python source changed")
    if not has_tests(scratch, evidence.checkpoint_after):
        return _not_applied("no tests to run the changed lines")
    runs = after_runs(ctx)
    run = runs.agent
    if run.timed_out or run.report is None or run.coverage_file is None:
        return _not_applied("the tests did not run to the end")
    if not scratch.host.is_file(run.coverage_file):
        remote = "" if is_local(scratch.host) else f" (or coverage.py is not installed on {scratch.host.label})"
        return _not_applied("the tests did not run to the end" + remote)
    with measured_here(scratch, run.coverage_file, runs.agent_root, changed) as (data_file, root):
        uncovered, missed, measured = uncovered_lines(data_file, root, changed)
    if not measured:
        return _not_applied("no executable line changed")
    ratio = round((measured - missed) / measured, 3)
    details = {
        "uncovered": uncovered,
        "ratio": ratio,
        "uncovered_ratio": round(1 - ratio, 3),
        "changed_lines": measured,
        "uncovered_lines": missed,
    }
    summary = f"{measured - missed} of {measured} changed line(s) run by a test"
    if not uncovered:
        return GateResult("coverage", True, summary, details=details), ()
    passing = not any(outcome in FAILING for outcome in run.report.outcomes.values())
    message = _message(uncovered, passing)
    return GateResult("coverage", False, summary, details=details), (finding(STAGE, "uncovered_changes", message),)


def source_changes(changes: tuple[FileChange, ...]) -> list[FileChange]:
    """The Python source files the attempt added or modified: test files, conftest and anything
    under tests/ aside."""
    return [c for c in changes if c.sha_after and c.path.endswith(".py") and not touches_tests(c.path)]


def changed_source_lines(scratch: Scratch, evidence: Evidence) -> dict[str, set[int]]:
    """Path -> the changed lines of each changed source file that is small enough to analyse: a huge
    generated file (a 50 MB table) is neither diffed nor read."""
    git = scratch.checkpoints
    changes = source_changes(evidence.changes)
    paths = [c.path for c in changes if c.sha_after and git.blob_size(c.sha_after) <= MAX_MEASURED_BYTES]
    if not paths:
        return {}
    return git.changed_lines(evidence.checkpoint_before, evidence.checkpoint_after, paths)


@contextmanager
def measured_here(
    scratch: Scratch, data_file: PurePath, root: PurePath, changed: dict[str, set[int]]
) -> Iterator[tuple[Path, Path]]:
    """coverage.py's data and the measured tree, on this machine: as they are when the tests ran here;
    from another host, the data and the changed files are fetched into a temp directory and the
    data's file names rewritten to point there (coverage.py reads the sources to find statements)."""
    if is_local(scratch.host):
        yield Path(data_file), Path(root)
        return
    import coverage  # only here: importing it costs overseer's start-up time for nothing

    with tempfile.TemporaryDirectory(prefix="overseer-coverage-") as tmp:
        here = Path(tmp).resolve()  # as coverage.py names files: symlinks resolved
        tree = here / "tree"
        for path in changed:
            try:
                content = scratch.host.read_bytes(root / path)
            except FileNotFoundError:
                continue
            (tree / path).parent.mkdir(parents=True, exist_ok=True)
            (tree / path).write_bytes(content)
        (here / "remote.db").write_bytes(scratch.host.read_bytes(data_file))
        remote = coverage.CoverageData(basename=str(here / "remote.db"))
        remote.read()
        local = coverage.CoverageData(basename=str(here / "coverage.db"))
        prefix = f"{root}/"
        local.update(
            remote, map_path=lambda name: str(tree / name.removeprefix(prefix)) if name.startswith(prefix) else name
        )
        yield here / "coverage.db", tree


def uncovered_lines(data_file: Path, root: Path, changed: dict[str, set[int]]) -> tuple[dict[str, str], int, int]:
    """Path -> the changed statements no test ran ("12-30"), how many they are, and how many
    changed statements there are in all."""
    import coverage  # only here: importing it costs overseer's start-up time for nothing

    measured = coverage.Coverage(data_file=str(data_file), config_file=False)
    measured.load()
    uncovered: dict[str, str] = {}
    missed_count = total = 0
    for path, lines in sorted(changed.items()):
        file = root / path
        if not file.is_file():
            continue
        try:
            _, statements, _, missing, _ = measured.analysis2(str(file))
        except (coverage.CoverageException, OSError, SyntaxError, ValueError):
            continue  # not Python coverage.py can read (the syntax gate reports why)
        relevant = lines & set(statements)
        total += len(relevant)
        if missed := sorted(relevant & set(missing)):
            uncovered[path] = line_ranges(missed, statements)
            missed_count += len(missed)
    return uncovered, missed_count, total


def line_ranges(lines: list[int], statements: list[int] | None = None) -> str:
    """Line numbers, compressed: [12, 13, 14, 20] -> "12-14, 20". Given the file's statements, a
    range also spans lines that are no statement (blank lines, comments, an `else:`)."""
    known = sorted(set(statements)) if statements is not None else None
    ranges: list[list[int]] = []
    for line in sorted(lines):
        if ranges and _adjacent(ranges[-1][1], line, known):
            ranges[-1][1] = line
        else:
            ranges.append([line, line])
    return ", ".join(f"{start}-{end}" if end > start else str(start) for start, end in ranges)


def _adjacent(end: int, line: int, statements: list[int] | None) -> bool:
    """No statement lies between the end of a range and the next line (or, without statements, no line)."""
    if statements is None:
        return line == end + 1
    index = bisect.bisect_right(statements, end)
    return index == len(statements) or statements[index] >= line


def _message(uncovered: dict[str, str], passing: bool) -> str:
    named = list(uncovered.items())
    where = "; ".join(f"{path} {_lines_word(ranges)} {ranges}" for path, ranges in named[:_MAX_NAMED])
    if len(named) > _MAX_NAMED:
        where += f"; and {len(named) - _MAX_NAMED} more file(s)"
    lead = "The tests pass, but none of them runs" if passing else "None of the tests runs"
    return f"{lead} {where}. Add tests that exercise these changed lines, or remove the lines if they are not needed."


def _lines_word(ranges: str) -> str:
    return "lines" if "-" in ranges or "," in ranges else "line"


def _not_applied(summary: str) -> GateOutcome:
    return GateResult("coverage", None, summary), ()
