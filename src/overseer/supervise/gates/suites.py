"""The test runs after an attempt, in scratch copies the agent cannot touch.

- The originals run: the tests as they were before the attempt, against the new code. A copy of the
  after snapshot in which every test-related file the attempt changed (test files, conftest.py,
  pytest's configuration, anything under `tests/`) is put back as it was, and every one it added is
  removed. A test the agent edited, skipped or deleted still runs here in its original form.
- The agent's run: the after snapshot as it is, to see the agent's new and edited tests. It runs
  under coverage.py, which tells the coverage gate which changed lines some test executes.

An edit to pyproject.toml, setup.cfg or tox.ini counts only when it changes their pytest section: an
added dependency is not a test edit. When no test-related file changed the two runs are the same
run, and it runs once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath

from overseer.domain import FileChange
from overseer.supervise.gates.base import GateContext
from overseer.supervise.gates.commands import CommandRun, SuiteRun, run_pytest
from overseer.supervise.gates.pytest_output import PytestReport
from overseer.supervise.tamper import pytest_settings
from overseer.workspace.files import is_test_file, test_files, touches_tests
from overseer.workspace.host import Host
from overseer.workspace.local_host import is_local
from overseer.workspace.scratch import Scratch

_SHARED_CONFIGS = frozenset({"pyproject.toml", "setup.cfg", "tox.ini"})  # files with more than pytest in them
_KEY = "after_runs"  # where GateContext.shared keeps them
# What pytest would say of a tree without test files, without starting it (exit 5: no tests collected).
_NOTHING_COLLECTED = SuiteRun(CommandRun(5, ""), PytestReport({}, {}, (), "", 5), 0.0)


@dataclass(frozen=True)
class TestFileEdit:
    """A test-related file the attempt added, changed or deleted, both versions as bytes."""

    __test__ = False  # not a test class, whatever its name says

    path: str
    before: bytes | None  # None: the attempt added it
    after: bytes | None  # None: the attempt deleted it

    def text(self, side: bytes | None) -> str | None:
        return None if side is None else side.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class AfterRuns:
    originals: SuiteRun  # the original tests against the new code
    agent: SuiteRun  # the tests as the agent left them (the very same run when it changed none)
    agent_root: PurePath  # where the agent's run ran (on the scratch's host): coverage.py's file names point there
    originals_root: PurePath
    edits: tuple[TestFileEdit, ...]  # what the originals run put back

    @property
    def single(self) -> bool:
        return self.originals is self.agent


def after_runs(ctx: GateContext) -> AfterRuns:
    """The runs of this judgment, made by whichever gate asks first (the tests or the coverage gate)."""
    runs = ctx.shared.get(_KEY)
    if not isinstance(runs, AfterRuns):
        runs = ctx.shared[_KEY] = _run(ctx)
    return runs


def _run(ctx: GateContext) -> AfterRuns:
    scratch, evidence, timeout = ctx.scratch, ctx.evidence, ctx.config.test_timeout_s
    assert scratch is not None, "the after runs need scratch copies of the snapshots"
    edits = edits_to_tests(scratch, evidence.changes)
    agent_root = scratch.copy(evidence.checkpoint_after, "agent")
    agent = run_pytest(agent_root, timeout, private_dir(agent_root), coverage=True, scratch=scratch)
    if not edits:
        return AfterRuns(agent, agent, agent_root, agent_root, edits)
    originals_root = scratch.copy(evidence.checkpoint_after, "originals")
    put_back(originals_root, edits, scratch.host)
    if not original_test_files(scratch, originals_root, evidence.checkpoint_after, edits):
        return AfterRuns(_NOTHING_COLLECTED, agent, agent_root, originals_root, edits)  # all the tests are new
    originals = run_pytest(originals_root, timeout, private_dir(originals_root), scratch=scratch)
    return AfterRuns(originals, agent, agent_root, originals_root, edits)


def edits_to_tests(scratch: Scratch, changes: tuple[FileChange, ...]) -> tuple[TestFileEdit, ...]:
    """The attempt's changes that can change what the tests prove, with both versions."""
    edits = []
    for change in changes:
        if not touches_tests(change.path):
            continue
        edit = TestFileEdit(change.path, _blob(scratch, change.sha_before), _blob(scratch, change.sha_after))
        if PurePosixPath(change.path).name in _SHARED_CONFIGS and _same_pytest_section(edit):
            continue
        edits.append(edit)
    return tuple(edits)


def has_tests(scratch: Scratch, sha: str) -> bool:
    """Snapshot `sha` holds a test file (snapshots already leave ignored files out)."""
    return any(is_test_file(path) for path in scratch.checkpoints.files(sha))


def original_test_files(scratch: Scratch, root: PurePath, sha: str, edits: tuple[TestFileEdit, ...]) -> list[str]:
    """The test files of `root`, a copy of snapshot `sha` with `edits` put back (see `put_back`)."""
    if is_local(scratch.host):
        return list(test_files(Path(root)))
    # Another host's copy is not walked file by file: its files are the snapshot's, edits put back.
    present = set(scratch.checkpoints.files(sha))
    present -= {edit.path for edit in edits if edit.before is None}
    present |= {edit.path for edit in edits if edit.before is not None}
    return sorted(path for path in present if is_test_file(path))


def put_back(root: PurePath, edits: tuple[TestFileEdit, ...], host: Host) -> None:
    """Make the test-related files under `root` (on `host`) what they were before the attempt."""
    for edit in edits:
        _place(host, root / edit.path, edit.before)


def bring_in(root: PurePath, edits: tuple[TestFileEdit, ...], host: Host) -> None:
    """Make the test-related files under `root` (on `host`) what the attempt left (the fail-first gate's copy)."""
    for edit in edits:
        _place(host, root / edit.path, edit.after)


def _place(host: Host, target: PurePath, content: bytes | None) -> None:
    """`content` at `target`; None: no file there."""
    host.unlink(target)  # a symlink the agent put there is replaced, not written through
    if content is not None:
        host.mkdir(target.parent)
        host.write_bytes(target, content)


def _same_pytest_section(edit: TestFileEdit) -> bool:
    before = pytest_settings(edit.path, edit.text(edit.before))
    return before == pytest_settings(edit.path, edit.text(edit.after))


def _blob(scratch: Scratch, sha: str | None) -> bytes | None:
    return None if sha is None else scratch.checkpoints.blob_bytes(sha)


def private_dir(copy: PurePath) -> PurePath:
    """A directory of overseer's own beside a copy (inside the scratch area, outside the copy)."""
    return copy.with_name(copy.name + ".run")
