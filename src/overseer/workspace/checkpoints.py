"""Snapshots of the workspace in a shadow git repository, and exact rollback to any of them.

The shadow repository has its own GIT_DIR (by default `<workspace>/.overseer/shadow.git`) and the
workspace as its work tree, so a snapshot captures every edit, shell commands' included, while the
user's own `.git`, index, HEAD and branch are never read or written. Snapshots honour the
workspace's `.gitignore` files; `.git` and `.overseer/` are never captured.

Each snapshot is a commit with no parent, kept alive by a ref of its own
(`refs/snapshots/<creation time in ns>-<sha>`), so `prune` can drop any of them: a chain of
parents would keep every older snapshot reachable. The ref names sort in creation order.

Git semantics worth knowing: a file stays in snapshots once captured even if a later `.gitignore`
covers it (nothing is lost silently), and a nested repository is captured as a gitlink, not its
files. One `Checkpoints` per workspace at a time: concurrent snapshots would contend for the index.

The workspace may be on another machine: git then runs there and the shadow repository's files are
read and written there, all through the workspace's `Host` (this machine's by default).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePath

from overseer.domain import FileChange
from overseer.errors import CheckpointError, ConfigError, UsageError
from overseer.text import clip
from overseer.workspace.host import Completed, Host
from overseer.workspace.local_host import LOCAL, is_local

_CONFIG = (
    "-c", "user.name=overseer",
    "-c", "user.email=overseer@localhost",
    "-c", "commit.gpgsign=false",
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.autocrlf=false",
    "-c", "core.quotePath=false",
    "-c", "advice.addEmbeddedRepo=false",
    "-c", "init.defaultBranch=snapshots",
    "-c", "core.logAllRefUpdates=false",  # a reflog would keep pruned snapshots alive
)  # fmt: skip
# Highest-precedence attributes: store bytes as they are (no eol conversion, no clean/smudge
# filters), so that a restored file is byte-for-byte the file that was snapshotted.
_ATTRIBUTES = "* -text -eol -filter -ident -working-tree-encoding\n"
_KINDS = {"A": "added", "D": "deleted"}  # anything else (M, T for a type change) is "modified"
_NULL_SHA = "0" * 40
_SHOWN_MISMATCHES = 20
_REFS = "refs/snapshots/"
# Written once every snapshot has a ref of its own (older shadow repositories chained parents).
_REFS_MARKER = "overseer-snapshot-refs"
_CHECKPOINT_ID = re.compile(r"[0-9a-f]{4,40}")
_OBJECT_GRACE_S = 3600  # objects younger than this survive a prune: a snapshot may be half-written


@dataclass(frozen=True)
class Snapshot:
    sha: str
    at: datetime  # when it was taken
    message: str  # its first line
    ref: str


class Checkpoints:
    """The snapshots of one workspace on `host`. `workspace` and `git_dir` are the host's paths;
    git runs there, and every file of the shadow repository is read and written through the host."""

    def __init__(self, workspace: PurePath, git_dir: PurePath | None = None, host: Host = LOCAL) -> None:
        self.host = host
        self.workspace = _absolute(workspace, host)
        self.git_dir = _absolute(git_dir or self.workspace / ".overseer" / "shadow.git", host)
        self._git_bin = _find_git(host)

    def snapshot(self, message: str) -> str:
        """Commit the whole work tree (even when nothing changed) and return the commit's full sha."""
        self._ensure_repo()
        self._git("add", "--all")
        tree = self._git("write-tree")
        taken = time.time_ns()
        # The time in the message makes every snapshot a commit of its own, even of the same tree
        # with the same message within one second (a commit's own date counts whole seconds).
        commit = self._git("commit-tree", tree, "-m", message, "-m", f"Snapshot-time-ns: {taken}")
        # One transaction: the snapshot's ref and HEAD (the latest snapshot) move together.
        refs = f"create {_REFS}{taken:020d}-{commit} {commit}\nupdate HEAD {commit}\n"
        self._git("update-ref", "--stdin", stdin=refs.encode())
        return commit

    def snapshots(self) -> list[Snapshot]:
        """Every snapshot, the newest first; none when the shadow repository does not exist yet."""
        if not self._ready():
            return []
        fields = "%(refname)%00%(objectname)%00%(subject)"
        listing = self._git("for-each-ref", "--sort=-refname", f"--format={fields}", _REFS.rstrip("/"))
        return [_snapshot(line) for line in listing.splitlines() if line]

    def find(self, checkpoint_id: str) -> Snapshot:
        """The one snapshot whose id is or starts with `checkpoint_id` (4 to 40 hex digits).

        Only snapshots that still have their ref count: a pruned one is gone even while git keeps
        its objects for a while. Reads only: a bad id leaves everything as it was.
        """
        wanted = checkpoint_id.strip().lower()
        hint = "see `overseer checkpoints` for the ids; `overseer gc` removes old ones"
        if not _CHECKPOINT_ID.fullmatch(wanted):
            raise UsageError(f"{checkpoint_id!r} is not a checkpoint id (4 to 40 hex digits)", hint=hint)
        matches = [snap for snap in self.snapshots() if snap.sha.startswith(wanted)]
        if not matches:
            raise UsageError(f"no checkpoint {checkpoint_id} in this workspace", hint=hint)
        if len(matches) > 1:
            raise UsageError(f"checkpoint id {checkpoint_id} is ambiguous ({len(matches)} match)", hint=hint)
        return matches[0]

    def prune(self, snapshots: Collection[Snapshot], *, object_grace_s: int = _OBJECT_GRACE_S) -> None:
        """Drop `snapshots` (never the latest one), then let git reclaim their space.

        git deletes an unreachable object only once it is `object_grace_s` old: a snapshot being
        taken by another process right now has objects that nothing references yet.
        """
        if not self._ready():
            return
        head = self._head()
        doomed = "".join(f"delete {snap.ref} {snap.sha}\n" for snap in snapshots if snap.sha != head)
        if doomed:
            self._git("update-ref", "--stdin", stdin=doomed.encode())
        self._git("reflog", "expire", "--expire=now", "--all")  # reflogs of older shadow repositories
        prune = "now" if object_grace_s <= 0 else f"{object_grace_s}.seconds.ago"
        self._git("gc", "--quiet", f"--prune={prune}")

    def changes(self, before: str, after: str) -> tuple[FileChange, ...]:
        raw = self._git_bytes("diff", "--raw", "-z", "--no-renames", "--abbrev=40", *_revs(before, after))
        fields = raw.decode("utf-8", errors="replace").split("\0")
        changes = [_file_change(meta, path) for meta, path in zip(fields[0::2], fields[1::2], strict=False)]
        return tuple(sorted(changes, key=lambda change: change.path))

    def diff(self, before: str, after: str, *, max_chars: int = 200_000) -> str:
        args = ("diff", "--no-color", "--no-ext-diff", "--no-renames", *_revs(before, after))
        return clip(self._git_bytes(*args).decode("utf-8", errors="replace"), max_chars)

    def export(self, sha: str, dest: PurePath) -> None:
        """Write snapshot `sha`'s files into the empty directory `dest` on the host (a throwaway copy).

        git writes them itself from a private index, so symlinks, modes and bytes come out exactly
        as snapshotted, and neither the workspace nor the shadow index is touched.
        """
        index = dest.parent / f".{dest.name}.index"
        try:
            self._git("read-tree", "--end-of-options", sha, index=index)
            self._git("checkout-index", "--all", "--force", f"--prefix={dest}/", index=index)
        finally:
            self.host.unlink(index)

    def changed_lines(self, before: str, after: str, paths: Sequence[str] = ()) -> dict[str, set[int]]:
        """Path -> the line numbers, in the `after` version, that the attempt added or changed.

        Read from hunk headers alone (`-U0`), and only for `paths` when given, so a huge diff
        elsewhere costs nothing to read.
        """
        literal = (f":(literal){path}" for path in paths)  # a path is a name, never a glob
        args = ("diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames", *_revs(before, after), *literal)
        return parse_changed_lines(self._git_bytes(*args).decode("utf-8", errors="replace"))

    def numstat(self, before: str, after: str) -> str:
        """git's `--numstat -z --find-renames` between two snapshots: lines added and removed per file."""
        args = ("diff", "--numstat", "-z", "--find-renames", *_revs(before, after))
        return self._git_bytes(*args).decode("utf-8", errors="replace")

    def blob(self, sha: str, max_bytes: int) -> str | None:
        """A file's content by its blob sha, as text; None when it is larger than `max_bytes`."""
        if self.blob_size(sha) > max_bytes:
            return None
        return self.blob_bytes(sha).decode("utf-8", errors="replace")

    def blob_bytes(self, sha: str) -> bytes:
        return self._git_bytes("cat-file", "blob", sha)

    def blob_size(self, sha: str) -> int:
        return int(self._git("cat-file", "-s", sha))

    def tree(self, sha: str) -> str:
        """The tree hash of snapshot `sha`: the same files give the same hash, whatever the commit."""
        return self._git("rev-parse", "--verify", "--end-of-options", f"{sha}^{{tree}}")

    def files(self, sha: str) -> list[str]:
        """Every path in snapshot `sha`."""
        return [name.decode("utf-8", errors="replace") for name in self._paths(sha)]

    def restore(self, sha: str, *, label: str = "") -> str:
        """Make the work tree exactly snapshot `sha`; return the snapshot taken of it just before
        (its message starts with `label`, e.g. "task 3", when one is given).

        Files the snapshot has are written back, files added since are removed, ignored files are
        left alone; the shadow HEAD stays at the snapshot taken first, which `verify` compares with.
        """
        target = self._git("rev-parse", "--verify", "--end-of-options", f"{sha}^{{commit}}")
        saved = self.snapshot(f"{label}: before restoring {target}" if label else f"before restoring {target}")
        # --reset: the index holds `saved`, which is the work tree; -u writes `target` out, deleting
        # the files git tracked that `target` lacks and leaving untracked (ignored) ones.
        self._git("read-tree", "--reset", "-u", target)
        self.verify(target)
        return saved

    def verify(self, sha: str) -> None:
        """Raise CheckpointError unless the work tree holds snapshot `sha` exactly, checked by hash.

        Every file of the snapshot is hashed afresh from disk (a fresh index has no stat cache to
        trust), and every file of the latest snapshot that `sha` lacks must be gone.
        """
        expected = self._git("rev-parse", "--verify", "--end-of-options", f"{sha}^{{tree}}")
        paths = self._paths(sha) + self._paths_added_since(sha)
        actual = self._tree_from_disk(paths)
        if actual != expected:
            names = _split(self._git_bytes("diff-tree", "-r", "-z", "--name-only", expected, actual))
            raise CheckpointError(
                "the workspace does not match the snapshot",
                hint="the files changed after that snapshot, or git could not write some of them back",
                snapshot=sha,
                workspace=self._shown(self.workspace),
                paths=_shorten([name.decode("utf-8", errors="replace") for name in names]),
            )

    def _tree_from_disk(self, paths: list[bytes]) -> str:
        scratch = self.git_dir / "verify.index"
        self.host.unlink(scratch)
        try:
            # --add hashes each file that exists; --remove leaves out each one that does not.
            listing = b"".join(path + b"\0" for path in paths)
            self._git("update-index", "-z", "--add", "--remove", "--stdin", stdin=listing, index=scratch)
            return self._git("write-tree", index=scratch)
        finally:
            self.host.unlink(scratch)

    def _paths(self, sha: str) -> list[bytes]:
        listing = self._git_bytes("ls-tree", "-r", "-z", "--name-only", "--full-tree", "--end-of-options", sha)
        return _split(listing)

    def _paths_added_since(self, sha: str) -> list[bytes]:
        head = self._head()
        if head is None:
            return []
        added = self._git_bytes("diff", "--name-only", "-z", "--no-renames", "--diff-filter=A", *_revs(sha, head))
        return _split(added)

    def _head(self) -> str | None:
        proc = self._run("rev-parse", "--verify", "--quiet", "HEAD^{commit}")
        return proc.stdout.decode().strip() if proc.exit_code == 0 else None

    def _ensure_repo(self) -> None:
        if self._ready():
            return
        self.host.mkdir(self.git_dir)
        self._git("init", "--quiet", "--template=")
        info = self.git_dir / "info"
        self.host.mkdir(info)
        self.host.write_bytes(info / "exclude", ("\n".join(self._excluded()) + "\n").encode())
        self.host.write_bytes(info / "attributes", _ATTRIBUTES.encode())
        self.host.write_bytes(self.git_dir / _REFS_MARKER, b"")

    def _ready(self) -> bool:
        """Whether the shadow repository exists; one from before snapshot refs gets them first."""
        if not self.host.is_file(self.git_dir / "HEAD"):
            return False
        if not self.host.exists(self.git_dir / _REFS_MARKER):
            self._ref_chained_snapshots()
        return True

    def _ref_chained_snapshots(self) -> None:
        """Give each snapshot of an older repository (a chain of parents from HEAD) its own ref,
        in order, so that listing sees them and a prune keeps the ones still needed."""
        chain = self._git("log", "--reverse", "--format=%H %ct", "HEAD") if self._head() else ""
        refs = ""
        for position, line in enumerate(chain.splitlines()):
            sha, seconds = line.split()
            refs += f"create {_REFS}{int(seconds) * 10**9 + position:020d}-{sha} {sha}\n"
        if refs:
            self._git("update-ref", "--stdin", stdin=refs.encode())
        self.host.write_bytes(self.git_dir / _REFS_MARKER, b"")

    def _excluded(self) -> list[str]:
        excluded = [".overseer/", ".git"]
        inside = self.git_dir.is_relative_to(self.workspace)
        if inside and not self.git_dir.is_relative_to(self.workspace / ".overseer"):  # a custom place
            excluded.append("/" + self.git_dir.relative_to(self.workspace).as_posix() + "/")
        return excluded

    def _git(self, *args: str, stdin: bytes | None = None, index: PurePath | None = None) -> str:
        return self._git_bytes(*args, stdin=stdin, index=index).decode("utf-8", errors="replace").strip()

    def _git_bytes(self, *args: str, stdin: bytes | None = None, index: PurePath | None = None) -> bytes:
        proc = self._run(*args, stdin=stdin, index=index)
        if proc.exit_code != 0:
            stderr = proc.stderr.decode("utf-8", errors="replace").strip()
            argv = [self._git_bin, *_CONFIG, *args]
            error = subprocess.CalledProcessError(proc.exit_code or -1, argv, proc.stdout, proc.stderr)
            raise CheckpointError(
                f"git {args[0]} failed: {stderr.splitlines()[-1] if stderr else f'exit {proc.exit_code}'}",
                hint="see the command and git's message; the shadow repository is " + str(self.git_dir),
                command=shlex.join(["git", *args]),
                stderr=stderr,
                workspace=self._shown(self.workspace),
            ) from error
        return proc.stdout

    def _run(self, *args: str, stdin: bytes | None = None, index: PurePath | None = None) -> Completed:
        try:
            return self.host.run(
                [self._git_bin, *_CONFIG, *args],
                cwd=self.workspace,
                # The user's GIT_* variables (GIT_DIR, GIT_INDEX_FILE...) would point git at their
                # repo, and their global config could change output formats or run filters: neither
                # is inherited.
                unset_prefixes=("GIT_",),
                env=self._env(index),
                stdin=stdin,
            )
        except OSError as exc:
            raise CheckpointError(f"could not run git: {exc}", workspace=self._shown(self.workspace)) from exc

    def _env(self, index: PurePath | None) -> dict[str, str | None]:
        return {
            "GIT_DIR": str(self.git_dir),
            "GIT_WORK_TREE": str(self.workspace),
            "GIT_INDEX_FILE": str(index or self.git_dir / "index"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        }

    def _shown(self, path: PurePath) -> PurePath | str:
        """A path as messages show it: as is on this machine, with the host's name on another."""
        return path if is_local(self.host) else f"{self.host.label}:{path}"


def _snapshot(line: str) -> Snapshot:
    ref, sha, message = line.split("\0", 2)
    taken = int(ref.removeprefix(_REFS).split("-", 1)[0])
    return Snapshot(sha=sha, at=datetime.fromtimestamp(taken / 1e9, UTC), message=message, ref=ref)


def prunable(snapshots: Sequence[Snapshot], *, older_than: datetime, keep: Collection[str]) -> list[Snapshot]:
    """The snapshots a retention policy lets go: taken before `older_than` and not in `keep`.
    The newest snapshot always stays (`restore` checks the work tree against it)."""
    newest = max(snapshots, key=lambda snap: snap.ref, default=None)
    return [snap for snap in snapshots if snap is not newest and snap.at < older_than and snap.sha not in keep]


def _absolute(path: PurePath, host: Host) -> PurePath:
    """Symlinks resolved on this machine (the shadow repository's place must be unambiguous); on
    another host the path is used as given, and must be absolute (git would read a relative
    GIT_DIR or GIT_WORK_TREE from the workspace, not from the login directory)."""
    if is_local(host):
        return Path(path).resolve()
    if not path.is_absolute():
        raise ConfigError(f"{path} on {host.label} is not an absolute path", hint="give the full path on that machine")
    return path


def _find_git(host: Host) -> str:
    git = host.which("git")
    if git is None:
        where = "" if is_local(host) else f" on {host.label}"
        raise ConfigError(f"git not found{where}", hint=f"install git{where} and put it on PATH: checkpoints need it")
    return git


def _revs(*revs: str) -> tuple[str, ...]:
    # --end-of-options: a revision that starts with "-" is never read as an option.
    return ("--end-of-options", *revs, "--")


def _split(listing: bytes) -> list[bytes]:
    return [name for name in listing.split(b"\0") if name]


def _shorten(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN_MISMATCHES])
    return shown + " ..." if len(names) > _SHOWN_MISMATCHES else shown


def _file_change(meta: str, path: str) -> FileChange:
    # meta is ":<mode before> <mode after> <sha before> <sha after> <status>"
    _, _, sha_before, sha_after, status = meta.lstrip(":").split(" ")
    return FileChange(
        path=path,
        kind=_KINDS.get(status[:1], "modified"),
        sha_before=None if sha_before == _NULL_SHA else sha_before,
        sha_after=None if sha_after == _NULL_SHA else sha_after,
    )


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def parse_changed_lines(diff: str) -> dict[str, set[int]]:
    """Path -> added or changed line numbers of the new side, from a unified diff's hunk headers."""
    lines: dict[str, set[int]] = {}
    path: str | None = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            target = line[4:]
            path = target[2:] if target.startswith("b/") else None  # "/dev/null": deleted
        elif path is not None and (match := _HUNK.match(line)):
            start, count = int(match[1]), int(match[2] or 1)
            lines.setdefault(path, set()).update(range(start, start + count))
    return lines
