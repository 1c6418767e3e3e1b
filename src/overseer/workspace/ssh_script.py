"""The /bin/sh prologue a command runs under on an SSH host (ssh_host.py, agents/ssh_transport.py).

It enters the directory, sets and removes environment variables, finds the program, prints its pid
(sshd starts each channel's command in a session of its own, so that is the process group to kill),
then execs the command. Its own lines start with `MARK`: "@overseer-pid N" or "@overseer-fail why" on
stdout, "@overseer-stderr" on stderr; whatever a login script printed before them is not the command's.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import PurePath

MARK = b"@overseer-"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # an environment name the prologue can set or unset
_PREFIX = re.compile(r"[A-Za-z0-9_]+\Z")
# The program lookup `exec` would make, as a function: `found NAME` prints its path or fails.
FOUND = """found() {
  case $1 in */*) [ -f "$1" ] && [ -x "$1" ] && printf '%s\\n' "$1"; return ;; esac
  set -f; IFS=:
  for dir in $PATH; do
    if [ -f "${dir:-.}/$1" ] && [ -x "${dir:-.}/$1" ]; then unset IFS; printf '%s\\n' "${dir:-.}/$1"; return 0; fi
  done
  unset IFS; return 1
}
"""


def command_script(
    argv: Sequence[str],
    cwd: PurePath | None,
    env: Mapping[str, str | None],
    unset_prefixes: Sequence[str],
    merge_stderr: bool,
) -> str:
    """The shell script that execs `argv`, after printing its pid (the process group's) or why the
    command cannot start, each marked (`MARK`)."""
    mark = MARK.decode()
    lines = [f"echo {mark}stderr >&2", FOUND]
    if cwd is not None:
        lines.append(f"cd -- {shlex.quote(str(cwd))} 2>/dev/null || {{ echo {mark}fail cwd; exit 126; }}")
    for prefix in unset_prefixes:
        if not _PREFIX.match(prefix):
            raise ValueError(f"an environment prefix is letters, digits and _: {prefix!r}")
    if unset_prefixes:
        patterns = "|".join(f"{prefix}*" for prefix in unset_prefixes)
        lines.append(
            "for name in $(env | sed -n 's/=.*//p'); do "
            f'case $name in *[!A-Za-z0-9_]*) ;; {patterns}) unset "$name" ;; esac; done'
        )
    for name, value in env.items():
        if not _NAME.match(name):
            raise ValueError(f"an environment name the remote shell cannot set: {name!r}")
        lines.append(f"unset {name}" if value is None else f"export {name}={shlex.quote(value)}")
    if merge_stderr:
        lines.append("exec 2>&1")
    lines.append(f"found {shlex.quote(argv[0])} >/dev/null || {{ echo {mark}fail missing; exit 127; }}")
    lines += [f"echo {mark}pid $$", f"exec {join(argv)}"]
    return "\n".join(lines) + "\n"


def join(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(arg) for arg in argv)


def split_prologue(output: bytes | bytearray) -> tuple[bytes, bytes]:
    """The prologue's line (without the mark) and what followed it; b"" and all of it while there is none."""
    start = 0 if output.startswith(MARK) else output.find(b"\n" + MARK) + 1
    end = output.find(b"\n", start) if start or output.startswith(MARK) else -1
    if end < 0:
        return b"", bytes(output)
    return bytes(output[start + len(MARK) : end]), bytes(output[end + 1 :])
