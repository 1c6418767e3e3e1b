"""The lint gate: the project's own linters on the changed Python files, and only the problems the
attempt brought.

A linter runs when the project configures it (ruff: `[tool.ruff]`, ruff.toml, .ruff.toml; flake8:
.flake8, `[flake8]` in setup.cfg or tox.ini; mypy: mypy.ini, .mypy.ini, `[tool.mypy]`, `[mypy]` in
setup.cfg) and it is installed, or when `gates.lint_command` says what to run. Each runs in scratch
copies of the tree before and after the attempt; a problem counts when it sits on a line the
attempt added or changed and the same file had no problem with the same code and message before.
Old debt in a file the agent touched is not the agent's doing. A linter that cannot run is
overseer's problem, never the agent's.
"""

from __future__ import annotations

import importlib.util
import os
import posixpath
import re
import shlex
import shutil
import sys
import tomllib
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from overseer.domain import Finding, GateResult
from overseer.supervise.gates.base import STAGE, GateContext, GateOutcome
from overseer.supervise.gates.commands import CANNOT_START, gate_python, read_text, run_command
from overseer.supervise.gates.examples import changed_python_lines
from overseer.supervise.policy import finding
from overseer.text import clip_tail
from overseer.workspace.host import Host
from overseer.workspace.local_host import LOCAL, is_local

LINT_TIMEOUT_S = 120.0
FILES = "{files}"  # in a configured lint command: where the changed files go
_MAX_LISTED = 10  # problems spelled out in one finding
_OUTPUT_TAIL = 4000

# The linters overseer knows, with the arguments that make their output one problem a line.
_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "ruff": ("check", "--output-format", "concise", "--no-cache", "--no-fix", "--force-exclude"),
    "flake8": (),
    "mypy": ("--no-error-summary", "--show-error-codes", "--no-color-output", "--no-pretty", "--cache-dir", os.devnull),
}
_WHERE = r"^(?P<path>[^:\n]+?):(?P<line>\d+):(?:\d+:)? "  # "calc.py:3: " or "calc.py:3:5: "
_LINE_FORMATS = (
    # mypy: 'calc.py:3: error: Incompatible return value type (got "str", expected "int")  [return-value]'
    re.compile(_WHERE + r"(?:error|warning): (?P<message>.*?)(?:  \[(?P<code>[\w-]+)\])?$"),
    # ruff (concise) and flake8: "calc.py:1:8: F401 [*] `os` imported but unused", "a.py:6:1: invalid-syntax: ..."
    re.compile(_WHERE + r"(?!note:)(?P<code>[A-Z]+\d+(?= )|[a-z]+(?:-[a-z]+)*(?=:)):? (?:\[\*\] )?(?P<message>.*)$"),
    # anything else that names a Python file and a line
    re.compile(r"^(?P<path>[^:\n\s]+?\.pyi?):(?P<line>\d+):(?:\d+:)?\s*(?!note:)(?P<message>\S.*)$"),
)


@dataclass(frozen=True)
class Linter:
    name: str
    command: tuple[str, ...]  # the program and its arguments; the files go at FILES, or at the end
    files_at_end: bool = True  # False: a configured command without FILES lints what it lints

    @classmethod
    def configured(cls, command: Sequence[str]) -> Linter:
        return cls(Path(command[0]).name, tuple(command), files_at_end=False)

    @property
    def takes_files(self) -> bool:
        return self.files_at_end or FILES in self.command

    def for_files(self, paths: Sequence[str]) -> list[str]:
        if FILES in self.command:
            index = self.command.index(FILES)
            return [*self.command[:index], *paths, *self.command[index + 1 :]]
        return [*self.command, *paths] if self.files_at_end else list(self.command)


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    code: str
    message: str
    linter: str

    def __str__(self) -> str:
        """As the linter itself would put it: "F841 message" (ruff, flake8), "message [code]" (mypy)."""
        if re.fullmatch(r"[A-Z]+\d+", self.code):
            return f"{self.path}:{self.line}: {self.code} {self.message} ({self.linter})"
        code = f" [{self.code}]" if self.code else ""
        return f"{self.path}:{self.line}: {self.message}{code} ({self.linter})"


@dataclass
class LintRun:
    problems: list[Problem] = field(default_factory=list)
    error: str = ""  # why the linter could not run ("" when it did)
    output: str = ""


def lint_gate(ctx: GateContext, *, command: list[str] | None = None, timeout_s: float = LINT_TIMEOUT_S) -> GateOutcome:
    evidence = ctx.evidence
    if ctx.scratch is None or not (evidence.checkpoint_before and evidence.checkpoint_after):
        return GateResult("lint", None, "no snapshots to compare the attempt with"), ()
    host = ctx.scratch.host
    after = ctx.scratch.copy(evidence.checkpoint_after, "lint-after")
    before = ctx.scratch.copy(evidence.checkpoint_before, "lint-before")
    configured = sorted(configured_linters(before, host) | configured_linters(after, host))
    linters = [Linter.configured(command)] if command else installed(configured, host)
    if not linters:
        summary = f"{', '.join(configured)} configured but not installed" if configured else "no linter configured"
        return GateResult("lint", None, summary), ()
    lines = changed_python_lines(evidence, after, ctx.scratch.checkpoints)
    if not lines:
        return GateResult("lint", None, "no Python files changed"), ()
    paths = sorted(lines)
    runs = {linter.name: _before_and_after(linter, before, after, paths, timeout_s, host) for linter in linters}
    return _outcome(runs, lines)


# --- which linters ---------------------------------------------------------------------------------


def configured_linters(root: PurePath, host: Host = LOCAL) -> set[str]:
    """The linters the project's configuration files in `root` (on `host`) set up."""
    tools = _pyproject_tools(root / "pyproject.toml", host)
    setup_cfg, tox_ini = _text(root / "setup.cfg", host), _text(root / "tox.ini", host)

    def has(name: str) -> bool:
        return host.is_file(root / name)

    found = set()
    if "ruff" in tools or has("ruff.toml") or has(".ruff.toml"):
        found.add("ruff")
    if has(".flake8") or _section("flake8", setup_cfg) or _section("flake8", tox_ini):
        found.add("flake8")
    if "mypy" in tools or has("mypy.ini") or has(".mypy.ini") or _section("mypy", setup_cfg):
        found.add("mypy")
    return found


def _pyproject_tools(path: PurePath, host: Host) -> set[str]:
    try:
        tools = tomllib.loads(_text(path, host)).get("tool", {})
    except tomllib.TOMLDecodeError:
        return set()
    return set(tools) if isinstance(tools, dict) else set()


def _text(path: PurePath, host: Host) -> str:
    return read_text(host, path) if host.is_file(path) else ""


def _section(name: str, ini: str) -> bool:
    return re.search(rf"^\[{name}\]\s*$", ini, re.MULTILINE) is not None


def installed(names: Sequence[str], host: Host = LOCAL) -> list[Linter]:
    """The named linters that can run on `host`: on its PATH, or importable by the gates' interpreter
    there (overseer's own, on this machine)."""
    linters = []
    for name in names:
        program = shutil.which(name) if is_local(host) else host.which(name)
        start = [program] if program else [gate_python(host), "-m", name] if _importable(name, host) else None
        if start:
            linters.append(Linter(name, (*start, *_ARGUMENTS[name])))
    return linters


_FIND_SPEC = "import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)"


def _importable(module: str, host: Host) -> bool:
    if is_local(host):
        return importlib.util.find_spec(module) is not None
    try:
        return host.run([gate_python(host), "-c", _FIND_SPEC, module], timeout_s=LINT_TIMEOUT_S).exit_code == 0
    except CANNOT_START:
        return False


# --- running them ----------------------------------------------------------------------------------


def _before_and_after(
    linter: Linter, before: PurePath, after: PurePath, paths: list[str], timeout_s: float, host: Host
) -> tuple[LintRun, LintRun]:
    """Both runs at once (they are independent, and a type checker takes seconds)."""
    old_paths = [path for path in paths if host.is_file(before / path)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        needed = old_paths or not linter.takes_files  # every file is new: nothing to compare with
        old = pool.submit(run_linter, linter, before, old_paths, timeout_s, host) if needed else None
        new = run_linter(linter, after, paths, timeout_s, host)
        return (old.result() if old else LintRun()), new


def run_linter(linter: Linter, root: PurePath, paths: list[str], timeout_s: float, host: Host = LOCAL) -> LintRun:
    command = linter.for_files(paths)
    try:
        run = run_command(command, root, timeout_s, host=host)
    except CANNOT_START as exc:
        return LintRun(error=f"{linter.name} could not be started (`{_show(command)}`): {exc}")
    if run.exit_code is None:
        return LintRun(error=f"{linter.name} did not finish within {timeout_s:g}s", output=run.output)
    problems = parse_problems(run.output, root, linter.name, here=is_local(host))
    if run.exit_code not in (0, 1) and not problems:
        tail = clip_tail(run.output.strip(), 500)
        return LintRun(error=f"{linter.name} exited with code {run.exit_code}: {tail}", output=run.output)
    return LintRun(problems, output=run.output)


def _show(command: list[str]) -> str:
    return shlex.join(["python" if command[0] == sys.executable else command[0], *command[1:]])


def parse_problems(output: str, root: PurePath, linter: str, *, here: bool = True) -> list[Problem]:
    """One problem per line the linter wrote as "path:line[:col]: ..." (ruff concise, flake8, mypy).
    `here`: the linter ran on this machine (else on a POSIX host, whose paths are not resolved here)."""
    problems = []
    for line in output.splitlines():
        match = next((m for pattern in _LINE_FORMATS if (m := pattern.match(line))), None)
        if match:
            code = match.groupdict().get("code") or ""
            path = _relative(match["path"], root) if here else _remote_relative(match["path"], root)
            problems.append(Problem(path, int(match["line"]), code, match["message"].strip(), linter))
    return problems


def _relative(path: str, root: PurePath) -> str:
    if os.path.isabs(path):
        return os.path.relpath(os.path.realpath(path), os.path.realpath(root)).replace(os.sep, "/")
    return path.replace(os.sep, "/").removeprefix("./")


def _remote_relative(path: str, root: PurePath) -> str:
    if posixpath.isabs(path):
        return posixpath.relpath(posixpath.normpath(path), str(root))
    return path.removeprefix("./")


def new_problems(before: LintRun, after: LintRun, lines: dict[str, set[int]]) -> list[Problem]:
    """After's problems on changed lines that the file did not have before (same code and message).

    Counted, not just matched: a file that had one `E731` and has it still on an unchanged line,
    plus a second on a new line, has one new problem. An old problem on a line the attempt edited
    (a comment added to it) is still old.
    """
    old = Counter(_key(p) for p in before.problems)
    kept = Counter(_key(p) for p in after.problems if p.line not in lines.get(p.path, ()))
    new = []
    for problem in (p for p in after.problems if p.line in lines.get(p.path, ())):
        key = _key(problem)
        if kept[key] < old[key]:  # an old problem, moved onto or left on an edited line
            kept[key] += 1
        else:
            new.append(problem)
    return new


def _key(problem: Problem) -> tuple[str, str, str]:
    return problem.path, problem.code, problem.message


def _outcome(runs: dict[str, tuple[LintRun, LintRun]], lines: dict[str, set[int]]) -> GateOutcome:
    errors = list(dict.fromkeys(run.error for pair in runs.values() for run in pair if run.error))
    ran = [name for name, (old, new) in runs.items() if not (old.error or new.error)]
    problems = [p for name in ran for p in new_problems(*runs[name], lines)]
    findings: list[Finding] = [finding(STAGE, "gate_unavailable", error) for error in errors]
    if problems:
        findings.insert(0, finding(STAGE, "lint_problems", _problems_message(problems)))
    output = "\n".join([*map(str, problems), *errors, *(clip_tail(runs[n][1].output, _OUTPUT_TAIL) for n in ran)])
    if not ran:
        return GateResult("lint", None, "; ".join(errors), output.strip()), tuple(findings)
    counted = f"{len(problems)} new problems" if problems else "no new problems"
    summary = f"{', '.join(ran)}: {counted} on the changed lines of {len(lines)} Python file(s)"
    details = {"linters": ran, "problems": [str(p) for p in problems]}
    result = GateResult("lint", not problems, summary, output.strip(), failed_count=len(problems), details=details)
    return result, tuple(findings)


def _problems_message(problems: list[Problem]) -> str:
    listed = [f"- {p}" for p in problems[:_MAX_LISTED]]
    if len(problems) > _MAX_LISTED:
        listed.append(f"- ... and {len(problems) - _MAX_LISTED} more")
    head = f"The project's linters report {len(problems)} new problems on lines this attempt changed:"
    return "\n".join([head, *listed])
