"""What a shell command does, read from its syntax tree: the classes the permission arbiter judges.

A command is parsed with bashlex (a port of bash's own grammar, not a regular expression) and every
simple command in it is classified on its own: the parts of `&&`, `||`, `;` and pipes, the bodies of
subshells, loops and `if`s, `$(...)` and `<(...)` substitutions, and the scripts of `bash -c '...'`,
`sh -c` and `eval`, which are parsed in turn. Redirections are writes of their own. What bashlex
cannot parse (it has no `case`, for one) is `unknown`: a command overseer cannot read is never
taken for a harmless one.

Classes, from the mildest:

    read_only         ls, cat, grep, git status/diff/log...
    execute           runs code whose effects the text does not show: pytest, python, make, ./build.sh
    workspace_write   touch, cp, mv, mkdir, sed -i, git add/commit, a `>` redirect
    delete            rm (not recursive), rmdir, git rm, git branch -d
    network           curl, wget, ssh, git fetch/pull/clone
    install           pip/npm/cargo/apt install..., and a download piped into a shell
    unknown           no rule names the program, or its name is computed (`$TOOL arg`)
    publish           git push, npm/cargo/poetry publish, twine, docker push: leaves the machine for good
    recursive_delete  rm -r / rm -rf, find -delete: a whole tree at once, ignored files included
    system            sudo, su, mkfs, mount, shutdown, kill..., and shell function definitions
    git_discard       git that rewrites history or throws work away: reset --hard, checkout -- .,
                      restore, clean -f, push --force, branch -D, stash drop/clear, rebase, commit --amend

Each part also names the paths it writes, deletes or changes into, so the guard can check them
against the attempt's walls.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import bashlex  # type: ignore[import-untyped]  # no stubs; its nodes are read as Any

# Mildest first: a compound command is reported under its strictest part.
Category = Literal[
    "read_only",
    "execute",
    "workspace_write",
    "delete",
    "network",
    "install",
    "unknown",
    "publish",
    "recursive_delete",
    "system",
    "git_discard",
]

CATEGORIES: tuple[Category, ...] = get_args(Category)
MAX_DEPTH = 4  # `bash -c` inside `bash -c`...: deeper than this is unknown


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_READ_ONLY = _words(
    "ls cat head tail less more grep egrep fgrep rg ag wc echo printf pwd which whereis type file stat diff cmp sed "
    "sort uniq cut tr jq yq tree du df true false test [ [[ date whoami id uname hostname basename dirname "
    "realpath readlink xxd od hexdump md5sum sha1sum sha256sum cksum nl column fold paste join comm tac rev seq "
    "sleep expr printenv ps read export set unset shift local declare alias history nproc free uptime locale "
    ": wait cd pushd popd"
)
_EXECUTE = _words(
    "python python3 pytest py.test make node deno bun ruby perl php java javac gcc g++ cc clang rustc tsc mypy "
    "ruff black isort flake8 pylint tox nox jest vitest mocha cmake ninja pre-commit awk gawk source . bats "
    "coverage hypothesis"
)
_WRITES = _words("touch cp mv mkdir tee ln chmod chown chgrp install truncate")
_WRITES_UNTARGETED = _words("patch tar unzip gzip gunzip zip bzip2 xz")
_DELETES = _words("rmdir unlink shred")
_NETWORK = _words(
    "curl wget ssh scp sftp rsync nc ncat netcat telnet ftp ping dig nslookup host http https socat aria2c gh"
)
_SYSTEM = _words(
    "sudo su doas mkfs fdisk parted mount umount shutdown reboot halt poweroff systemctl service chroot kill "
    "killall pkill iptables useradd userdel passwd crontab dd launchctl"
)
_SHELLS = _words("bash sh zsh dash ksh")
_OPERATORS = re.compile(r"&&|\|\||[;|\n()]")  # where a command line splits when it cannot be parsed
_WRAPPERS = _words("env time nice nohup timeout setsid stdbuf exec command builtin xargs")
_CHANGES_DIRECTORY = frozenset({"cd", "pushd"})
_HARMLESS_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"})
_WRITE_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", ">&"})
# Package managers: the subcommands that install (or remove) packages, and those that publish.
_INSTALLS: dict[str, frozenset[str]] = {
    "pip": frozenset({"install", "uninstall", "download"}),
    "pipx": frozenset({"install", "inject", "upgrade", "uninstall"}),
    "uv": frozenset({"add", "remove", "sync", "pip", "tool"}),
    "poetry": frozenset({"add", "remove", "install", "update", "lock"}),
    "npm": frozenset({"install", "i", "ci", "add", "uninstall", "update", "link"}),
    "yarn": frozenset({"add", "install", "remove", "upgrade"}),
    "pnpm": frozenset({"add", "install", "i", "remove", "update"}),
    "gem": frozenset({"install", "uninstall", "update"}),
    "cargo": frozenset({"install", "add", "remove", "update", "fetch"}),
    "go": frozenset({"get", "install", "mod"}),
    "apt": frozenset({"install", "remove", "purge", "update", "upgrade"}),
    "apt-get": frozenset({"install", "remove", "purge", "update", "upgrade"}),
    "brew": frozenset({"install", "uninstall", "upgrade", "update"}),
    "conda": frozenset({"install", "remove", "update", "create"}),
    "mamba": frozenset({"install", "remove", "update", "create"}),
    "yum": frozenset({"install", "remove", "update"}),
    "dnf": frozenset({"install", "remove", "update"}),
    "apk": frozenset({"add", "del", "update"}),
}
_PUBLISHES = {"npm": "publish", "cargo": "publish", "poetry": "publish", "docker": "push", "yarn": "publish"}
_PUBLISHERS = frozenset({"twine"})
_RUNNERS = {"uv": "run", "poetry": "run"}  # `uv run pytest` is `pytest`


@dataclass(frozen=True)
class Part:
    """One simple command (or redirect) of a command line, as the arbiter judges it."""

    category: Category
    reason: str  # what it does, for the record: "rm -rf build: deletes a directory tree"
    writes: tuple[str, ...] = ()  # paths it writes, deletes or changes into, as written
    runs_stdin: bool = False  # a shell that reads its script from standard input (`curl ... | sh`)


def rank(category: str) -> int:
    """How strict a class is; unnamed classes (a user's deny pattern) are the strictest."""
    return CATEGORIES.index(category) if category in CATEGORIES else len(CATEGORIES)


def classify(command: str, workspace: Path, depth: int = 0) -> list[Part]:
    """Every part of `command`; never raises, whatever the text."""
    if depth > MAX_DEPTH:
        return [Part("unknown", f"shells nested deeper than {MAX_DEPTH}: {_short(command)}")]
    if not command.strip():
        return [Part("read_only", "an empty command")]
    try:
        trees = bashlex.parse(command)
        return [part for tree in trees for part in _tree(tree, workspace, depth)] or [Part("read_only", "no command")]
    except Exception as exc:  # bashlex raises its own errors, NotImplementedError and worse on odd input
        return [Part("unknown", f"the shell parser cannot read it ({type(exc).__name__}): {_short(command)}")]


def simple_commands(command: str) -> list[str]:
    """The simple commands of a command line, each from its program on (`A=1 git push` -> `git push`),
    those of a `bash -c SCRIPT` too; split at the shell's operators when the parser cannot read it."""
    try:
        trees = bashlex.parse(command)
    except Exception:  # bashlex raises its own errors, NotImplementedError and worse on odd input
        return [part.strip() for part in _OPERATORS.split(command) if part.strip()]
    found = []
    for node in (node for tree in trees for node in _walk(tree) if node.kind == "command"):
        words = [part for part in node.parts if part.kind == "word"]
        if not words:
            continue
        found.append(command[words[0].pos[0] : node.pos[1]])
        argv = [word.word for word in words]
        if len(argv) > 2 and os.path.basename(argv[0]) in _SHELLS and argv[1] == "-c":
            found.extend(simple_commands(argv[2]))
    return found


def _walk(node: Any) -> Iterator[Any]:
    """Every node under `node`, substitutions, loop bodies and redirects included."""
    yield node
    for attribute in ("parts", "list", "redirects"):
        for child in getattr(node, attribute, None) or ():
            yield from _walk(child)
    for attribute in ("command", "output"):
        child = getattr(node, attribute, None)
        if isinstance(child, bashlex.ast.node):
            yield from _walk(child)


def _tree(tree: Any, workspace: Path, depth: int) -> Iterator[Part]:
    for node in _walk(tree):
        if node.kind == "command":
            yield from _command(node, workspace, depth)
        elif node.kind == "function":
            yield Part("system", "defines a shell function (a fork bomb is one); its calls cannot be followed")
        elif node.kind == "redirect":
            yield from _redirect(node)
        elif node.kind == "pipeline":
            yield from _download_piped_to_a_shell(node, workspace, depth)


def _redirect(node: Any) -> Iterator[Part]:
    output: Any = getattr(node, "output", None)  # a word, or a file descriptor number (`2>&1`)
    if node.type not in _WRITE_REDIRECTS or not isinstance(output, bashlex.ast.node) or output.kind != "word":
        return
    if output.word not in _HARMLESS_TARGETS:
        yield Part("workspace_write", f"redirects output to {output.word}", (output.word,))


def _download_piped_to_a_shell(node: Any, workspace: Path, depth: int) -> Iterator[Part]:
    """`curl ... | sh` runs what it downloads: an install, whatever each side is alone."""
    commands = [child for child in node.parts if child.kind == "command"]
    seen_network = False
    for child in commands:
        parts = list(_command(child, workspace, depth))
        if seen_network and any(part.runs_stdin for part in parts):
            yield Part("install", "runs code downloaded from the network (a download piped into a shell)")
        seen_network = seen_network or any(part.category == "network" for part in parts)


def _command(node: Any, workspace: Path, depth: int) -> list[Part]:
    words = [part for part in node.parts if part.kind == "word"]
    if not words:
        return [Part("read_only", "sets shell variables")]
    if any(part.kind in ("commandsubstitution", "parameter") for part in getattr(words[0], "parts", None) or ()):
        return [Part("unknown", f"the program's name is computed ({words[0].word}), so what runs cannot be read")]
    return judge_argv([word.word for word in words], workspace, depth)


def judge_argv(argv: Sequence[str], workspace: Path, depth: int = 0) -> list[Part]:
    """The parts of one simple command, given its words (quotes removed)."""
    name = os.path.basename(argv[0])
    args = list(argv[1:])
    text = _short(shlex.join(argv))
    if name in _WRAPPERS:
        return _wrapped(name, args, workspace, depth)
    if name in _SHELLS:
        return _shell(args, workspace, depth, text)
    if name == "eval":
        return classify(" ".join(args), workspace, depth + 1)
    if name == "git":
        return [_git(args, workspace, text)]
    special = _special(name, args, workspace, depth, text)
    if special is not None:
        return special
    return [_by_name(name, argv[0], args, text)]


def _by_name(name: str, program: str, args: list[str], text: str) -> Part:
    if name in _CHANGES_DIRECTORY:
        return Part("read_only", f"{text}: changes directory", tuple(_operands(args)))
    if name in _READ_ONLY:
        return Part("read_only", f"{text}: reads only")
    if name in _EXECUTE or _is_python(name) or "/" in program:
        return Part("execute", f"{text}: runs code")
    if name in _WRITES:
        return Part("workspace_write", f"{text}: writes files", tuple(_operands(args)))
    if name in _WRITES_UNTARGETED:
        return Part("workspace_write", f"{text}: writes files")
    if name in _DELETES:
        return Part("delete", f"{text}: deletes files", tuple(_operands(args)))
    if name in _NETWORK:
        return Part("network", f"{text}: reaches the network")
    if name in _SYSTEM or name.startswith("mkfs"):
        return Part("system", f"{text}: acts on the machine beyond the workspace")
    if name in _PUBLISHERS:
        return Part("publish", f"{text}: publishes a package")
    return Part("unknown", f"{text}: no rule for `{name}`")


def _special(name: str, args: list[str], workspace: Path, depth: int, text: str) -> list[Part] | None:
    """Programs whose class depends on their arguments; None when `name` is not one of them."""
    if name == "rm":
        return [_rm(args, text)]
    if name == "find":
        return _find(args, workspace, depth, text)
    if name == "sed":
        in_place = any(arg.startswith(("-i", "--in-place")) for arg in args)
        return [Part("workspace_write", f"{text}: edits files in place")] if in_place else None
    if _is_python(name) and args[:1] == ["-m"] and len(args) > 1:
        return judge_argv(args[1:], workspace, depth)  # `python -m pip install` is `pip install`
    subcommand = _first_operand(args)
    if _base_package_manager(name) in _INSTALLS:
        manager = _base_package_manager(name)
        if _PUBLISHES.get(manager) == subcommand:
            return [Part("publish", f"{text}: publishes a package")]
        if subcommand in _INSTALLS[manager]:
            return [Part("install", f"{text}: installs or removes packages")]
        if _RUNNERS.get(manager) == subcommand:
            rest = args[args.index(subcommand) + 1 :]
            return judge_argv(rest, workspace, depth) if rest else [Part("execute", f"{text}: runs code")]
        return [Part("execute", f"{text}: runs a project tool")]
    if name == "docker":
        return [Part("publish" if subcommand == "push" else "system", f"{text}: drives containers")]
    if name == "npx":
        return [Part("install", f"{text}: downloads and runs a package")]
    return None


def _rm(args: list[str], text: str) -> Part:
    recursive = "--recursive" in args or any(
        arg.startswith("-") and not arg.startswith("--") and ("r" in arg or "R" in arg) for arg in args
    )
    targets = tuple(_operands(args))
    if recursive:
        return Part("recursive_delete", f"{text}: deletes a directory tree", targets)
    return Part("delete", f"{text}: deletes files", targets)


def _find(args: list[str], workspace: Path, depth: int, text: str) -> list[Part]:
    parts = [Part("read_only", f"{text}: lists files")]
    if "-delete" in args:
        parts.append(Part("recursive_delete", f"{text}: deletes every file it finds"))
    for index, arg in enumerate(args):
        if arg in ("-exec", "-execdir", "-ok", "-okdir"):
            rest = args[index + 1 :]
            end = next((i for i, word in enumerate(rest) if word in (";", "+")), len(rest))
            if rest[:end]:
                parts.extend(judge_argv(rest[:end], workspace, depth))
    return parts


def _wrapped(name: str, args: list[str], workspace: Path, depth: int) -> list[Part]:
    """`env X=1 cmd`, `timeout 5 cmd`, `xargs rm`...: the command they run is what counts."""
    if name == "command" and args[:1] in (["-v"], ["-V"]):
        return [Part("read_only", f"command {' '.join(args)}: looks a program up")]
    rest = list(args)
    while rest and (rest[0].startswith("-") or "=" in rest[0] or (name in ("timeout", "nice") and _number(rest[0]))):
        rest.pop(0)
    if not rest:
        return [Part("read_only", f"{name}: prints or waits")]
    return judge_argv(rest, workspace, depth)


def _shell(args: list[str], workspace: Path, depth: int, text: str) -> list[Part]:
    for index, arg in enumerate(args):
        if arg.startswith("-") and not arg.startswith("--") and "c" in arg:
            script = args[index + 1] if index + 1 < len(args) else ""
            return classify(script, workspace, depth + 1)
    if _operands(args):
        return [Part("execute", f"{text}: runs a script")]
    return [Part("unknown", f"{text}: runs a script from its standard input, which cannot be read", runs_stdin=True)]


def _git(args: list[str], workspace: Path, text: str) -> Part:
    args = _without_git_globals(args)
    sub, rest = (args[0], args[1:]) if args else ("", [])
    discard = _git_discards(sub, rest, workspace)
    if discard:
        return Part("git_discard", f"{text}: {discard}")
    if sub in _GIT_READ_ONLY or (sub in _GIT_LISTS and _git_lists(sub, rest)):
        return Part("read_only", f"{text}: reads the repository")
    if sub == "push":
        return Part("publish", f"{text}: publishes commits to a remote")
    if sub in _GIT_NETWORK:
        return Part("network", f"{text}: reaches a remote")
    if sub == "rm" or (sub == "branch" and any(arg in ("-d", "--delete") for arg in rest)):
        return Part("delete", f"{text}: deletes from the repository")
    if sub in _GIT_WRITES:
        return Part("workspace_write", f"{text}: changes the repository")
    return Part("unknown", f"{text}: no rule for `git {sub}`")


_GIT_READ_ONLY = _words(
    "status diff log show blame rev-parse ls-files describe grep shortlog cat-file ls-tree for-each-ref "
    "merge-base name-rev whatchanged count-objects help version check-ignore rev-list show-ref var"
)
_GIT_LISTS = frozenset({"branch", "tag", "remote", "stash", "config", "reflog", "worktree"})
_GIT_NETWORK = frozenset({"fetch", "pull", "clone", "ls-remote", "submodule", "remote"})
_GIT_WRITES = _words(
    "add commit stash checkout switch branch tag merge cherry-pick revert apply am mv init config notes worktree "
    "reset restore"
)
_GIT_GLOBALS_WITH_VALUE = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace"})


def _without_git_globals(args: list[str]) -> list[str]:
    rest = list(args)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option in _GIT_GLOBALS_WITH_VALUE and rest:
            rest.pop(0)
    return rest


def _git_lists(sub: str, rest: list[str]) -> bool:
    """`git branch`, `git tag -l`, `git stash list`, `git config --get x`: the listing forms only."""
    if sub == "stash":
        return rest[:1] in (["list"], ["show"])
    if sub == "config":
        return any(arg in ("--get", "--list", "-l", "--get-all") for arg in rest) or len(_operands(rest)) == 1
    if sub == "reflog":
        return rest[:1] in ([], ["show"])
    if sub == "remote":
        return not _operands(rest) or rest[:1] in (["show"], ["get-url"])
    if sub == "worktree":
        return rest[:1] == ["list"]
    listing = ("-l", "--list", "-a", "-v", "-vv", "-r", "--show-current", "--all", "--contains", "--merged")
    return not _operands(rest) or any(arg in listing for arg in rest)


def _git_discards(sub: str, rest: list[str], workspace: Path) -> str:
    """Why this git command rewrites history or throws work away; "" when it does neither."""
    flags = set(rest)
    if sub == "reset":
        return _reset_discards(rest, workspace)
    if sub == "checkout":
        return _checkout_discards(rest, workspace)
    if sub == "restore" and not (flags & {"--staged", "-S"} and not flags & {"--worktree", "-W"}):
        return "restores files over uncommitted changes"
    if sub == "clean" and not flags & {"-n", "--dry-run"}:
        return "deletes untracked files"
    if sub == "push" and _force_push(rest):
        return "overwrites or deletes history on the remote"
    if sub == "branch" and (flags & {"-D", "-df", "-fd"} or {"--delete", "--force"} <= flags):
        return "deletes a branch whether or not it was merged"
    if sub == "stash" and rest[:1] in (["drop"], ["clear"]):
        return "throws stashed work away"
    if sub == "switch" and flags & {"-f", "--force", "--discard-changes"}:
        return "switches branch throwing uncommitted changes away"
    if sub == "commit" and "--amend" in flags:
        return "rewrites the last commit"
    if sub in ("rebase", "filter-branch", "filter-repo", "update-ref", "replace", "gc", "prune"):
        return "rewrites history or drops unreachable commits"
    if sub == "reflog" and rest[:1] in (["expire"], ["delete"]):
        return "drops the record that makes lost commits recoverable"
    return ""


def _reset_discards(rest: list[str], workspace: Path) -> str:
    flags = set(rest)
    if flags & {"--hard", "--merge", "--keep"}:
        return "throws uncommitted changes away"
    targets = _operands(rest[: rest.index("--")] if "--" in rest else rest)
    if "--soft" in flags or any(t != "HEAD" and not _exists(workspace, t) for t in targets):
        return "moves the branch to another commit, rewriting its history"
    return ""


def _checkout_discards(rest: list[str], workspace: Path) -> str:
    """`checkout -- x`, `checkout .`, `checkout -f`, `checkout -p`, and `checkout FILE` discard edits;
    `checkout BRANCH` and `checkout -b NEW` do not."""
    if set(rest) & {"--", "-f", "--force", "-p", "--patch", "."}:
        return "overwrites files with their committed version, discarding uncommitted changes"
    if set(rest) & {"-b", "-B", "--orphan"}:
        return ""
    operands = _operands(rest)
    if len(operands) > 1 or (operands and _exists(workspace, operands[0])):
        return "overwrites files with their committed version, discarding uncommitted changes"
    return ""


def _force_push(rest: list[str]) -> bool:
    forcing = {"-f", "--force", "--mirror", "-d", "--delete", "--prune"}
    return any(
        arg in forcing or arg.startswith(("--force-with-lease", "--force-if-includes", "+", ":")) for arg in rest
    )


def _exists(workspace: Path, name: str) -> bool:
    """Whether `name` is a path in the workspace; a name no file system accepts is not one."""
    try:
        return (workspace / name).exists()
    except (ValueError, OSError):
        return False


def _operands(args: Sequence[str]) -> list[str]:
    return [arg for arg in args if arg and not arg.startswith("-")]


def _first_operand(args: Sequence[str]) -> str:
    operands = _operands(args)
    return operands[0] if operands else ""


def _is_python(name: str) -> bool:
    return name == "python" or (name.startswith("python") and name[6:].replace(".", "").isdigit())


def _base_package_manager(name: str) -> str:
    """`pip3.11` is pip."""
    stripped = name.rstrip("0123456789.")
    return stripped if stripped in _INSTALLS else name


def _number(text: str) -> bool:
    return text.rstrip("smhd").replace(".", "", 1).isdigit()


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
