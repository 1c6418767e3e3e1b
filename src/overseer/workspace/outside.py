"""What an attempt left outside its workspace: the after-attempt check, the third containment layer.

overseer looks for itself, without trusting the agent's account:

- symlinks in the workspace that point outside it: a later write through one lands outside, and a
  gate that follows one reads outside. Found by a scan of the workspace before and after the attempt
  (ignored directories included; git's and overseer's own excluded), and by `links_out` on any list
  of paths (the attempt's changed files, say).
- files created, modified or deleted under the workspace's parent and under the home directory while
  the attempt ran: needed when the OS sandbox is off. Found by comparing (mtime, size) before and after.

The file walk is bounded, so the check stays cheap on a large home directory: breadth first (shallow
paths such as ~/.bashrc, ~/.ssh or a neighbouring project's top level are always covered), at most
`budget` entries per root (10,000 by default: about 0.2 s per walk on a small VM), never through a symlink, never
into the workspace, the agent's own state or the disposable caches in `HOME_CACHES`. A root cut short
is named in `truncated`: a change deeper in it can go unseen, except that a directory whose entries
were not all listed is still reported when its own mtime moved.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from overseer.workspace.files import ALWAYS_IGNORED

DEFAULT_BUDGET = 10_000  # entries per root, for the file walk
LINK_SCAN_BUDGET = 200_000  # entries in the workspace, for the symlink scan (no stat: cheap)
# Disposable caches under the home directory that tools fill on their own (pip, npm, cargo, go).
HOME_CACHES: tuple[str, ...] = (".cache", ".npm", ".cargo/registry", ".cargo/git", "go/pkg/mod")
_OWN_DIRS = frozenset(name.rstrip("/") for name in ALWAYS_IGNORED)  # git's and overseer's, not the agent's


@dataclass(frozen=True)
class OutsideLink:
    """A symlink in the workspace (`path`, relative to it) that resolves outside it, to `target`."""

    path: str
    target: str


@dataclass(frozen=True)
class OutsideFile:
    """A path outside the workspace that the attempt created, modified or deleted."""

    path: Path
    kind: str  # created | modified | deleted


@dataclass(frozen=True)
class OutsideChanges:
    links: tuple[OutsideLink, ...] = ()
    files: tuple[OutsideFile, ...] = ()
    truncated: tuple[Path, ...] = ()  # roots whose walk stopped at the budget
    seconds: float = 0.0  # what the check cost, walks before and after together

    @property
    def clean(self) -> bool:
        return not self.links and not self.files


def link_target_outside(workspace: Path, link: Path) -> Path | None:
    """Where `link` leads when that is outside `workspace`; None for a non-link or a link that stays in."""
    if not link.is_symlink():
        return None
    target = link.resolve()  # follows the whole chain; a dangling link resolves to where it would lead
    return None if target.is_relative_to(workspace.resolve()) else target


def links_out(workspace: Path, paths: Iterable[str]) -> list[OutsideLink]:
    """Of `paths` (relative to the workspace), the symlinks that resolve outside it."""
    found = []
    for rel in paths:
        target = link_target_outside(workspace, workspace / rel)
        if target is not None and not _venv_interpreter(workspace / rel):
            found.append(OutsideLink(rel, str(target)))
    return found


def scan_links_out(workspace: Path, budget: int = LINK_SCAN_BUDGET) -> dict[str, str]:
    """Every symlink in the workspace that resolves outside it: {relative path: target}."""
    root = workspace.resolve()
    found: dict[str, str] = {}
    pending, seen = deque([str(root)]), 0
    while pending and seen < budget:
        for entry in _entries(pending.popleft()):
            seen += 1
            if entry.is_symlink():
                target = link_target_outside(root, Path(entry.path))
                if target is not None and not _venv_interpreter(Path(entry.path)):
                    found[os.path.relpath(entry.path, root)] = str(target)
            elif entry.is_dir() and entry.name not in _OWN_DIRS:
                pending.append(entry.path)
    return found


def _venv_interpreter(link: Path) -> bool:
    """A virtualenv's `bin/python*` links to the interpreter it was made from: a venv, not an escape."""
    venv = link.parent.parent
    return link.parent.name in ("bin", "Scripts") and link.name.startswith("python") and (venv / "pyvenv.cfg").is_file()


@dataclass
class _Tree:
    """One bounded walk of a root: (mtime, size) of each entry, and the directories listed in full."""

    stats: dict[str, tuple[int, int, bool]] = field(default_factory=dict)
    listed: set[str] = field(default_factory=set)
    truncated: bool = False


class OutsideWatch:
    """Before an attempt: `OutsideWatch.start(workspace, home)`; after it: `.changes()`.

    `watch_files=False` keeps only the symlink check (the sandbox already confines the writes).
    `ignore` names paths the agent itself writes (its session store, for example).
    """

    def __init__(self, workspace: Path, roots: tuple[Path, ...], skip: frozenset[Path], budget: int) -> None:
        self.workspace = workspace
        self.roots = roots
        self.skip = skip
        self.budget = budget
        self.seconds = 0.0
        self.links_before: dict[str, str] = {}
        self.trees_before: dict[Path, _Tree] = {}

    @classmethod
    def start(
        cls,
        workspace: Path,
        home: Path,
        *,
        ignore: Iterable[Path] = (),
        watch_files: bool = True,
        budget: int = DEFAULT_BUDGET,
    ) -> OutsideWatch:
        workspace, home = workspace.resolve(), home.resolve()
        roots = _roots(workspace, home) if watch_files else ()
        skip = frozenset([workspace, *(home / cache for cache in HOME_CACHES), *(p.resolve() for p in ignore)])
        watch = cls(workspace, roots, skip, budget)
        watch._take_before()
        return watch

    def changes(self) -> OutsideChanges:
        started = time.perf_counter()
        after = scan_links_out(self.workspace)
        links = [OutsideLink(path, target) for path, target in after.items() if self.links_before.get(path) != target]
        files: list[OutsideFile] = []
        truncated: list[Path] = []
        for root, before in self.trees_before.items():
            now = self._walk(root)
            files.extend(_compare(before, now))
            if before.truncated or now.truncated:
                truncated.append(root)
        seconds = self.seconds + time.perf_counter() - started
        return OutsideChanges(tuple(sorted(links, key=lambda link: link.path)), tuple(files), tuple(truncated), seconds)

    def _take_before(self) -> None:
        started = time.perf_counter()
        self.links_before = scan_links_out(self.workspace)
        self.trees_before = {root: self._walk(root) for root in self.roots}
        self.seconds = time.perf_counter() - started

    def _walk(self, root: Path) -> _Tree:
        """Breadth first, on plain strings (pathlib costs more than the stat calls), up to the budget."""
        tree = _Tree()
        skip = {str(path) for path in self.skip} | {str(other) for other in self.roots if other != root}
        pending = deque([str(root)])
        while pending:
            directory = pending.popleft()
            for entry in _entries(directory):
                if entry.path in skip:
                    continue
                if len(tree.stats) >= self.budget:
                    tree.truncated = True
                    return tree
                stat = _stat(entry)
                if stat is None:
                    continue
                tree.stats[entry.path] = stat
                if stat[2]:
                    pending.append(entry.path)
            tree.listed.add(directory)
        return tree


def _roots(workspace: Path, home: Path) -> tuple[Path, ...]:
    """The workspace's parent and the home directory, less `/` (too big to walk) and the workspace's own."""
    candidates = dict.fromkeys((workspace.parent, home))
    return tuple(root for root in candidates if root != Path(root.anchor) and not root.is_relative_to(workspace))


def _entries(directory: str | Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except OSError:  # vanished, or not ours to read: nothing the agent could have written there either
        return []


def _stat(entry: os.DirEntry[str]) -> tuple[int, int, bool] | None:
    """(mtime, size, is a directory), without following a symlink; None when the entry just vanished."""
    try:
        stat = entry.stat(follow_symlinks=False)
        return stat.st_mtime_ns, stat.st_size, entry.is_dir(follow_symlinks=False)
    except OSError:
        return None


def _compare(before: _Tree, after: _Tree) -> list[OutsideFile]:
    changes = []
    for path in sorted(after.stats.keys() - before.stats.keys()):
        if os.path.dirname(path) in before.listed:  # had it been there before, the first walk would have seen it
            changes.append(OutsideFile(Path(path), "created"))
    for path in sorted(before.stats.keys() - after.stats.keys()):
        if os.path.dirname(path) in after.listed:
            changes.append(OutsideFile(Path(path), "deleted"))
    listed_both = before.listed & after.listed
    for path in sorted(before.stats.keys() & after.stats.keys()):
        old, new = before.stats[path], after.stats[path]
        if old != new and (not new[2] or path not in listed_both):
            changes.append(OutsideFile(Path(path), "modified"))  # a file, or a directory we could not list in full
    return changes
