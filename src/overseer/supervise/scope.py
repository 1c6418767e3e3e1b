"""Scope: what the attempt touched, held against what the task asked for.

Deleting or renaming a file the task never named is a human's call (a correct change plus
`rm -f NOTES.md` must not go through quietly). Also findings: CI configuration, lock files and
dependency lists, files that look like secrets, binary files no gate can read, and a diff far
larger than the task suggests.

"Named" means the task mentions the file's path, its file name, or a directory holding it written
with its slash ("legacy/"). What the task names is in scope and raises no finding.

Sizes, binaries and renames come from git's numstat of the two snapshots: a small listing, so a
50 MB diff costs git's time, not Python's. Without snapshots they come from the evidence's changes
and its (clipped) diff. The snapshots are the workspace's `Checkpoints`, on whichever host its
files are (this machine's unless the caller passes them).
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import PurePosixPath
from typing import Any

from overseer.domain import Evidence, FileChange, Finding
from overseer.errors import CheckpointError
from overseer.supervise.policy import finding
from overseer.workspace.checkpoints import Checkpoints

STAGE = "scope"
logger = logging.getLogger(__name__)

MIN_DIFF_LINES = 400  # a diff this size never counts as too large
DIFF_LINES_PER_TASK_WORD = 40  # above that, each word of the task allows this many changed lines
_SHOWN = 20  # paths listed in one finding
_MAX_PYPROJECT_BYTES = 1_000_000

CI_PATHS = (".github/workflows/*", ".circleci/*", ".gitlab-ci.yml", "Jenkinsfile", "azure-pipelines.yml", ".travis.yml")
LOCK_FILES = (
    "uv.lock", "poetry.lock", "pdm.lock", "Pipfile.lock", "package-lock.json", "yarn.lock", "pnpm-lock.yaml",
    "Cargo.lock", "Gemfile.lock", "composer.lock", "go.sum",
)  # fmt: skip
DEPENDENCY_LISTS = ("requirements*.txt", "requirements/*.txt", "constraints*.txt", "Pipfile")
SECRET_FILES = (
    ".env", ".env.*", "*.pem", "*.key", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", "*.p12", "*.pfx",
    "credentials.json", ".npmrc", ".pypirc", ".netrc",
)  # fmt: skip
NOT_SECRET_FILES = (".env.example", ".env.sample", ".env.template", ".env.dist", "*.pub")
# Caches tools write as they run: changing or deleting them loses nothing, and they are often binary.
_CACHE_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", ".nox"})
_CACHE_FILES = ("*.pyc", "*.pyo", ".coverage", ".coverage.*")


@dataclass(frozen=True)
class FileStat:
    """One changed file as git's numstat sees it."""

    path: str
    added: int | None  # lines; None for a binary file
    removed: int | None
    renamed_from: str | None = None

    @property
    def binary(self) -> bool:
        return self.added is None


def scope_findings(
    evidence: Evidence, *, max_diff_lines: int | None = None, checkpoints: Checkpoints | None = None
) -> tuple[Finding, ...]:
    """Every scope finding of the attempt; `max_diff_lines` None means `diff_budget(task)`.
    `checkpoints`: the workspace's snapshots (by default those of the evidence's workspace here)."""
    git = _snapshots_of(evidence, checkpoints)
    stats = diff_stats(evidence, git)
    changes = [change for change in evidence.changes if not is_cache(change.path)]
    named = Named(evidence.task)
    renames = _renames(stats, evidence.changes)
    renamed_from = {old for old, _ in renames}
    deleted = [c.path for c in changes if c.kind == "deleted" and c.path not in renamed_from]
    paths = [c.path for c in changes if not named(c.path)]
    findings = [
        _listed("unrequested_deletion", "deleted files the task did not name", [p for p in deleted if not named(p)]),
        _listed("unrequested_rename", "renamed files the task did not name", _unnamed_renames(renames, named)),
        _listed("ci_changed", "changed CI configuration", [p for p in paths if is_ci(p)]),
        _listed("dependencies_changed", "changed dependencies", _dependency_changes(evidence, git, changes, named)),
        _listed("secret_file_changed", "changed files that look like secrets", [p for p in paths if is_secret(p)]),
        _listed("binary_changed", "changed binary files no gate can read", [s.path for s in stats if _binary(s)]),
        _size_finding(evidence.task, stats, max_diff_lines),
    ]
    return tuple(f for f in findings if f is not None)


class Named:
    """Does the task name this path? Its whole path, its file name, or a directory of it with the slash."""

    def __init__(self, task: str) -> None:
        self.task = re.sub(r"(?<![\w.])\./", "", task.lower())  # "./NOTES.md" names NOTES.md

    def __call__(self, path: str) -> bool:
        parts = PurePosixPath(path.lower()).parts
        dirs = ["/".join(parts[: i + 1]) + "/" for i in range(len(parts) - 1)]
        return any(self._mentions(text) for text in [path.lower(), parts[-1], *dirs])

    def _mentions(self, text: str) -> bool:
        # A whole word: "a.py" is not named by "data.py", but "NOTES.md." at a sentence's end is.
        return re.search(rf"(?<![\w./-]){re.escape(text)}(?![\w-])", self.task) is not None


def is_ci(path: str) -> bool:
    return any(fnmatch(path, pattern) or fnmatch(PurePosixPath(path).name, pattern) for pattern in CI_PATHS)


def is_lock_file(path: str) -> bool:
    return PurePosixPath(path).name in LOCK_FILES


def is_dependency_list(path: str) -> bool:
    name = PurePosixPath(path).name
    return is_lock_file(path) or any(fnmatch(name, p) or fnmatch(path, p) for p in DEPENDENCY_LISTS)


def is_secret(path: str) -> bool:
    name = PurePosixPath(path).name
    return _matches(name, SECRET_FILES) and not _matches(name, NOT_SECRET_FILES)


def is_cache(path: str) -> bool:
    pure = PurePosixPath(path)
    return any(part in _CACHE_DIRS or part.endswith(".egg-info") for part in pure.parts[:-1]) or _matches(
        pure.name, _CACHE_FILES
    )


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch(name, pattern) for pattern in patterns)


def diff_budget(task: str) -> int:
    """The most changed lines the task plausibly needs: 40 per word of the task, and never under 400.

    Crude on purpose: a one-line task that rewrites 3,000 lines should be looked at by a human, and
    a long specification may justify a long diff. Lock files (generated) and binaries do not count.
    """
    return max(MIN_DIFF_LINES, DIFF_LINES_PER_TASK_WORD * len(task.split()))


def _size_finding(task: str, stats: Sequence[FileStat], max_lines: int | None) -> Finding | None:
    counted = [s for s in stats if not s.binary and not is_lock_file(s.path) and not is_cache(s.path)]
    sizes = {s.path: (s.added or 0) + (s.removed or 0) for s in counted}
    total, budget = sum(sizes.values()), max_lines if max_lines is not None else diff_budget(task)
    if total <= budget:
        return None
    rule = "the configured maximum" if max_lines is not None else f"a task of {len(task.split())} words"
    largest = sorted(sizes, key=lambda path: -sizes[path])[:5]
    listed = ", ".join(f"{path} ({sizes[path]:,})" for path in largest)
    message = (
        f"The attempt added or removed {total:,} lines in {len(sizes)} files; {rule} allows {budget:,}. "
        f"Largest: {listed}."
    )
    return finding(STAGE, "diff_too_large", message)


def _binary(stat: FileStat) -> bool:
    return stat.binary and not is_cache(stat.path)


def _listed(code: str, what: str, paths: Sequence[str]) -> Finding | None:
    if not paths:
        return None
    shown = ", ".join(paths[:_SHOWN]) + (f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else "")
    return finding(STAGE, code, f"The attempt {what}: {shown}.")


# --- renames ---------------------------------------------------------------------------------------


def _renames(stats: Sequence[FileStat], changes: Sequence[FileChange]) -> list[tuple[str, str]]:
    """(old, new) pairs: git's rename detection when it ran, else a deleted and an added blob alike."""
    pairs = [(s.renamed_from, s.path) for s in stats if s.renamed_from]
    added = {c.sha_after: c.path for c in changes if c.kind == "added" and c.sha_after}
    pairs += [(c.path, added[c.sha_before]) for c in changes if c.kind == "deleted" and c.sha_before in added]
    return sorted({(old, new) for old, new in pairs if not is_cache(old)})


def _unnamed_renames(renames: Sequence[tuple[str, str]], named: Named) -> list[str]:
    return [f"{old} -> {new}" for old, new in renames if not (named(old) or named(new))]


# --- dependencies ----------------------------------------------------------------------------------


def _dependency_changes(
    evidence: Evidence, git: Checkpoints | None, changes: Sequence[FileChange], named: Named
) -> list[str]:
    paths = [c.path for c in changes if is_dependency_list(c.path) and not named(c.path)]
    pyprojects = [c for c in changes if PurePosixPath(c.path).name == "pyproject.toml" and not named(c.path)]
    return paths + [c.path for c in pyprojects if _pyproject_dependencies_changed(evidence, git, c)]


def _pyproject_dependencies_changed(evidence: Evidence, git: Checkpoints | None, change: FileChange) -> bool:
    """Only the dependency tables count: an edit to `[tool.ruff]` changes no dependency."""
    if git is None:
        return False  # no old version to compare with
    try:
        old, new = _blob(git, change.sha_before), _blob(git, change.sha_after)
    except CheckpointError as exc:
        logger.warning("could not read %s's two versions (attempt %s): %s", change.path, evidence.attempt, exc)
        return True  # it changed, and what changed could not be read: let a human look
    return pyproject_dependencies(old) != pyproject_dependencies(new)


def pyproject_dependencies(text: str) -> dict[str, Any]:
    """The parts of a pyproject.toml that say what gets installed ({} for no file, or one that does not parse)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {"unparsable": text}
    project, poetry = data.get("project", {}), data.get("tool", {}).get("poetry", {})
    return {
        "dependencies": project.get("dependencies"),
        "optional-dependencies": project.get("optional-dependencies"),
        "dependency-groups": data.get("dependency-groups"),
        "build-system": data.get("build-system", {}).get("requires"),
        "poetry": poetry.get("dependencies"),
        "poetry-groups": {name: group.get("dependencies") for name, group in poetry.get("group", {}).items()},
    }


# --- what git says of the diff ---------------------------------------------------------------------


def diff_stats(evidence: Evidence, checkpoints: Checkpoints | None = None) -> tuple[FileStat, ...]:
    """Lines added and removed per file, binaries, and renames (git's `--find-renames`).
    `checkpoints`: the workspace's snapshots (by default those of the evidence's workspace here)."""
    git = _snapshots_of(evidence, checkpoints)
    if git is not None:
        try:
            return parse_numstat(git.numstat(evidence.checkpoint_before, evidence.checkpoint_after))
        except CheckpointError as exc:  # the shadow repository is gone: the diff still says most of it
            logger.warning(
                "scope reads the diff's text instead of the snapshots (attempt %s): %s", evidence.attempt, exc
            )
    return parse_diff_stats(evidence.diff)


def _snapshots_of(evidence: Evidence, checkpoints: Checkpoints | None) -> Checkpoints | None:
    """The snapshots to read the attempt from; None when it has none (some unit tests)."""
    if not (evidence.checkpoint_before and evidence.checkpoint_after):
        return None
    return checkpoints if checkpoints is not None else Checkpoints(evidence.workspace)


def _blob(git: Checkpoints, sha: str | None) -> str:
    """A file's content by its blob sha; "" for none, or one too large to be a pyproject."""
    return "" if sha is None else git.blob(sha, _MAX_PYPROJECT_BYTES) or ""


def parse_numstat(raw: str) -> tuple[FileStat, ...]:
    """`git diff --numstat -z`: "added TAB removed TAB path NUL", or for a rename
    "added TAB removed TAB NUL old NUL new NUL"; "-" counts for a binary file."""
    fields, stats, i = raw.split("\0"), [], 0
    while i < len(fields) and fields[i]:
        added, removed, path = fields[i].split("\t", 2)
        old = None
        if not path:  # a rename: the two paths follow
            old, path, i = fields[i + 1], fields[i + 2], i + 3
        else:
            i += 1
        stats.append(FileStat(path, _count(added), _count(removed), old))
    return tuple(stats)


def _count(text: str) -> int | None:
    return None if text == "-" else int(text)


def parse_diff_stats(diff: str) -> tuple[FileStat, ...]:
    """The same from a unified diff's text (`--no-renames`); a header line of a new file is told from
    an added line by the state: headers come before the first hunk of each file."""
    stats: dict[str, list[int | None]] = {}
    path, in_hunk = "", False
    for line in diff.splitlines():
        if line.startswith("diff --git a/"):
            rest = line[len("diff --git a/") :]  # "X b/X": both halves are the same path
            path, in_hunk = rest[: (len(rest) - 3) // 2], False
            stats[path] = [0, 0]
        elif not path:
            continue
        elif line.startswith("@@"):
            in_hunk = True
        elif in_hunk and line[:1] in ("+", "-"):
            counts = stats[path]
            index = 0 if line[0] == "+" else 1
            counts[index] = (counts[index] or 0) + 1
        elif not in_hunk and line.startswith("Binary files "):
            stats[path] = [None, None]
    return tuple(FileStat(p, added, removed) for p, (added, removed) in stats.items())
