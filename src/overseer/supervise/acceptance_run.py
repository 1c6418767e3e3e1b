"""Running one acceptance check in one tree, and reading how it ended.

A check is a plain Python script with `assert`s (see `acceptance.py` for why that form). It runs
with the examples gate's machinery: in a scratch copy of a snapshot, through `run_command` (its own
process group, a timeout, nothing left behind), with the tree's module directories put first on
`sys.path` and `-P` keeping anything else off it. A few lines of bootstrap run the script and write
one JSON record of how it ended to a file of overseer's own, so an exception's type and where it
was raised are read from Python itself, not guessed from the console.

Where an exception was raised decides whose it is: the innermost frame in the check's own file or
in the tree. An error in the workspace's code is the code's; an error in the check's own lines
other than a failed `assert` (a NameError, a wrong call, an AttributeError) means the check does
not fit the code, which the model may have got wrong as easily as the agent: not blamed. An
ImportError is never blamed either, as in the examples gate: a module the model made up, or a
package the workspace needs that is not installed.

The check, its record and the copy are on the scratch's host: on another machine the check runs
there, with the gates' interpreter of that host (`gates/commands.py`), and its record is read back.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePath

from overseer.supervise.gates.commands import gate_python, read_text, run_command
from overseer.text import clip_tail
from overseer.workspace.host import Host
from overseer.workspace.local_host import LOCAL, is_local
from overseer.workspace.scratch import Scratch

_OUTPUT_TAIL = 1500

# Run by `python -P -c`: argv is the check, the record's path, the tree, then the sys.path entries.
_BOOT = """\
import json, os, runpy, sys, traceback
check, record_path, root, *paths = sys.argv[1:]
sys.path[:0] = paths
sys.argv = [check]
real_check, real_root = os.path.realpath(check), os.path.realpath(root)

def frames(exc):
    tb = exc.__traceback__
    while tb is not None:
        yield tb, os.path.realpath(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next

def blamed(exc):
    where = "check"
    for _, name in frames(exc):
        if name == real_check:
            where = "check"
        elif name.startswith(real_root + os.sep):
            where = "code"
    return where

record = {"outcome": "passed"}
try:
    runpy.run_path(check, run_name="__main__")
except BaseException as exc:
    # The traceback from the check's own frame on: runpy's and this bootstrap's frames are noise.
    ours = next((tb for tb, name in frames(exc) if name == real_check), exc.__traceback__)
    traceback.print_exception(type(exc), exc, ours)
    record = {
        "outcome": "failed" if isinstance(exc, AssertionError) else "error",
        "error": traceback.format_exception_only(type(exc), exc)[-1].strip(),
        "import_error": isinstance(exc, ImportError),
        "where": blamed(exc),
    }
sys.stdout.flush()
with open(record_path, "w", encoding="utf-8") as sink:
    json.dump(record, sink)
sys.exit(0 if record["outcome"] == "passed" else 1)
"""


@dataclass(frozen=True)
class CheckRun:
    """How one check ended in one tree."""

    outcome: str  # passed | failed (an assert) | error | timeout | ended (no record: the process died) | invalid
    error: str = ""  # the exception's last line, or what ended the run
    where: str = ""  # "code" or "check": the innermost frame of the exception, in the tree or in the check
    import_error: bool = False
    output: str = ""  # the end of what it printed, its traceback included

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    @property
    def misfit(self) -> bool:
        """The check does not fit the code (it does not compile, imports what is not there, errs in
        its own lines): nothing to blame the agent for."""
        if self.outcome == "invalid":
            return True
        return self.outcome == "error" and (self.import_error or self.where == "check")


def invalid(source: str, max_chars: int) -> CheckRun | None:
    """A CheckRun for a check that is too long or does not compile (a grammar-constrained model cut
    off at its length limit writes one); None for a check that can run."""
    if len(source) > max_chars:
        return CheckRun("invalid", f"longer than {max_chars} characters")
    try:
        compile(source, "<acceptance check>", "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: a NUL byte in the source
        return CheckRun("invalid", f"{type(exc).__name__}: {exc}")
    return None


def run_check(
    source: str, root: PurePath, entries: list[str], timeout_s: float, scratch: Scratch | None = None
) -> CheckRun:
    """Run `source` in `root` (a scratch copy, on the scratch's host; this machine without one), with
    `entries` (directories relative to `root`: "." or "src") first on `sys.path`, and read how it
    ended. Raises OSError (or HostError, on another host) when Python cannot start."""
    if scratch is None:
        with tempfile.TemporaryDirectory(prefix="overseer-acceptance-") as tmp:
            return _run(LOCAL, Path(tmp), source, root, entries, timeout_s)
    return _run(scratch.host, scratch.directory("check"), source, root, entries, timeout_s)


def _run(host: Host, work: PurePath, source: str, root: PurePath, entries: list[str], timeout_s: float) -> CheckRun:
    work, root = _real(work, host), _real(root, host)
    sys_path = [str(_real(root / entry, host)) for entry in entries]
    check, record_path = work / "check.py", work / "record.json"
    host.write_bytes(check, source.encode())
    command = [gate_python(host), "-P", "-c", _BOOT, str(check), str(record_path), str(root), *sys_path]
    run = run_command(command, root, timeout_s, host=host)
    record = _record(read_text(host, record_path))
    output = _readable(run.output, {str(check): "check.py", f"{root}/": ""})
    if run.exit_code is None:
        return CheckRun("timeout", f"did not finish within {timeout_s:g}s", output=output)
    if record is None:
        return CheckRun("ended", f"ended the Python process (exit code {run.exit_code})", output=output)
    return CheckRun(
        outcome=str(record.get("outcome")),
        error=str(record.get("error", "")),
        where=str(record.get("where", "")),
        import_error=record.get("import_error") is True,
        output=output,
    )


def _real(path: PurePath, host: Host) -> PurePath:
    """`path` as Python will name it in tracebacks, so that the output can be shortened: symlinks
    resolved on this machine; as given on another host (its temp directories are plain ones)."""
    return Path(path).resolve() if is_local(host) else path


def _record(text: str) -> dict[str, object] | None:
    """The bootstrap's record; None when the process died before writing it (or wrote nonsense)."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    valid = isinstance(record, dict) and record.get("outcome") in ("passed", "failed", "error")
    return record if valid else None


def _readable(output: str, paths: dict[str, str]) -> str:
    """The output's end, with overseer's temp paths shortened to what the agent knows: `calc.py`,
    not a scratch directory that is gone by the time anyone reads it."""
    for long, short in paths.items():
        output = output.replace(long, short)
    return clip_tail(output.strip(), _OUTPUT_TAIL)
