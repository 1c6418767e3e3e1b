"""Acceptance checks: a trusted supervisor model writes checks from the task, and overseer runs them.

Where the workspace has no tests for what the task asks, the task itself is the specification. A
capable model reads it, with the signatures and docstrings of the functions the attempt changed
(never their bodies: checks written from the code would only repeat it), and writes a few short
checks. Each runs in a scratch copy of the snapshot after the attempt and of the one before it:

- passes after, fails before: **confirmed**, the work is verified;
- passes before too: proves nothing about the change; recorded, and counts for nothing;
- fails after (a failed assert, an error raised in the workspace's code, a hang, a dead
  interpreter): **refuted**, blocking, and sent back with the check's source and its output: the
  check comes from the task, so the agent can act on it;
- does not fit the code (it does not compile, imports what is not there, errs in its own lines):
  **broken**, the model's problem as much as the agent's, so it is recorded and never blamed.

A check is a plain Python script with `assert` statements, not a pytest test: what a model writes
most reliably, no collection rules or conftest.py of the workspace between the check and the code,
and how it ended is one exception, read by the runner (`acceptance_run.py`). A model that gives no
usable answer is overseer's problem, never the agent's. Off unless the supervisor is trusted (the
packaged tiny model is not): an untrusted model's checks could only stop good work.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePath
from typing import Any

from overseer.config import GatesConfig
from overseer.domain import TRUSTED_REVIEW, Evidence, GateResult
from overseer.errors import SupervisorError
from overseer.llm.base import LLM
from overseer.supervise.acceptance_run import CheckRun, invalid, run_check
from overseer.supervise.gates.base import STAGE, GateOutcome
from overseer.supervise.gates.commands import CANNOT_START
from overseer.supervise.gates.examples import Definition, changed_python_lines, importable, module_of
from overseer.supervise.policy import finding
from overseer.supervise.prompts import render
from overseer.text import clip
from overseer.workspace.checkpoints import Checkpoints
from overseer.workspace.host import Host
from overseer.workspace.local_host import LOCAL
from overseer.workspace.scratch import Scratch

logger = logging.getLogger(__name__)

NAME = "acceptance"
MAX_CHECKS = 3
MAX_NAME_CHARS = 60
MAX_SOURCE_CHARS = 1500
_MAX_CODE_CHARS = 6000  # the signatures shown to the model
CONFIRMED, PASSES_BEFORE, REFUTED, BROKEN = "confirmed", "passes_before_too", "refuted", "broken"

# Bounded like the review's schema, so a grammar-constrained model's answer fits its token limit.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "checks": {
            "type": "array",
            "maxItems": MAX_CHECKS,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": MAX_NAME_CHARS},
                    "source": {"type": "string", "maxLength": MAX_SOURCE_CHARS},
                },
                "required": ["name", "source"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["checks"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Module:
    """A changed module, as the model sees it: where it is, how to import it, what it offers."""

    path: str
    entry: str  # its directory on sys.path, relative to the tree ("." or "src")
    name: str
    code: str  # the changed definitions: signatures and docstrings, bodies left out


@dataclass(frozen=True)
class Checked:
    name: str
    source: str
    after: CheckRun
    before: CheckRun

    @property
    def status(self) -> str:
        if self.after.passed:
            return PASSES_BEFORE if self.before.passed else CONFIRMED
        return BROKEN if self.after.misfit else REFUTED

    def record(self) -> dict[str, Any]:
        record = {"name": self.name, "source": self.source, "status": self.status}
        return record | {"after": asdict(self.after), "before": asdict(self.before)}


class AcceptanceChecks:
    """The acceptance stage of the judge, for one supervisor model."""

    def __init__(self, llm: LLM, *, trust: float, config: GatesConfig) -> None:
        self._llm = llm
        self.enabled = config.acceptance and trust >= TRUSTED_REVIEW
        self._timeout_s = config.acceptance_timeout_s

    def check(
        self, evidence: Evidence, scratch: Scratch | None, local_workspace: Path | None = None
    ) -> GateOutcome | None:
        """None (and no prompt sent) when off, the model is untrusted or there are no snapshots.
        The checks run in copies on the scratch's host; `local_workspace`: the workspace directory on
        this machine, with its templates (None: the evidence's workspace)."""
        if not self.enabled or scratch is None or not (evidence.checkpoint_before and evidence.checkpoint_after):
            return None
        after = scratch.copy(evidence.checkpoint_after, "acceptance-after")
        modules = changed_modules(evidence, after, scratch.checkpoints)
        if not modules:
            return GateResult(NAME, None, "no changed Python module to check"), ()
        templates = local_workspace or evidence.workspace
        try:
            checks = parse_checks(
                self._llm.complete_json(*self.prompt(evidence.task, modules, templates, evidence.criteria), SCHEMA)
            )
        except SupervisorError as exc:
            logger.warning("no acceptance checks for attempt %s: %s", evidence.attempt, exc)
            return _unavailable(f"The supervisor model wrote no usable acceptance checks: {exc}")
        if not checks:
            return GateResult(NAME, None, "the supervisor model found nothing in the task to check"), ()
        before = scratch.copy(evidence.checkpoint_before, "acceptance-before")
        entries = sorted({module.entry for module in modules} | {"."})
        try:
            return outcome([self._run(name, source, before, after, entries, scratch) for name, source in checks])
        except CANNOT_START as exc:
            logger.warning("acceptance checks of attempt %s could not start: %s", evidence.attempt, exc)
            return _unavailable(f"The acceptance checks could not be run: {exc}")

    def prompt(
        self, task: str, modules: Sequence[Module], workspace: Path | None = None, criteria: Sequence[str] = ()
    ) -> tuple[str, str]:
        """The system and user prompts, with the workspace's own templates (public so a person can see
        what was asked). `criteria`: what the supervisor's brief told the agent it would be checked on."""
        system = render("acceptance_system.j2", workspace, max_checks=MAX_CHECKS, max_chars=MAX_SOURCE_CHARS)
        return system, render("acceptance.j2", workspace, task=task, modules=modules, criteria=list(criteria))

    def _run(
        self, name: str, source: str, before: PurePath, after: PurePath, entries: list[str], scratch: Scratch
    ) -> Checked:
        if (broken := invalid(source, MAX_SOURCE_CHARS)) is not None:
            return Checked(name, source, broken, broken)
        ran = run_check(source, after, entries, self._timeout_s, scratch)
        return Checked(name, source, ran, run_check(source, before, entries, self._timeout_s, scratch))


def changed_modules(evidence: Evidence, root: PurePath, checkpoints: Checkpoints | None = None) -> list[Module]:
    """The importable Python modules the attempt added or changed, with their changed definitions.
    `root` is on the host of `checkpoints` (the workspace's snapshots; by default this machine's)."""
    host = checkpoints.host if checkpoints is not None else LOCAL
    modules = []
    for path, lines in changed_python_lines(evidence, root, checkpoints).items():
        if importable(path):
            entry, name = module_of(root, path, host)
            modules.append(Module(path, entry, name, clip(stubs(root / path, lines, host), _MAX_CODE_CHARS)))
    return modules


def stubs(path: PurePath, changed: set[int], host: Host = LOCAL) -> str:
    """The module-level functions and classes whose lines (decorators included) overlap `changed`:
    signatures, docstrings and a class's fields and method signatures, every body replaced by `...`.
    `path` is on `host`."""
    try:
        tree = ast.parse(host.read_bytes(path), str(path))
    except (SyntaxError, ValueError):
        return ""  # the syntax gate reports it
    shown = []
    for node in tree.body:
        if isinstance(node, Definition):
            start = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
            if not changed.isdisjoint(range(start, (node.end_lineno or node.lineno) + 1)):
                shown.append(ast.unparse(_stub(node)))
    return "\n\n".join(shown)


def _stub(node: Definition) -> Definition:
    docstring = ast.get_docstring(node, clean=False)
    body: list[ast.stmt] = [ast.Expr(ast.Constant(docstring))] if docstring is not None else []
    if isinstance(node, ast.ClassDef):
        for item in node.body:
            if isinstance(item, Definition):
                body.append(_stub(item))
            elif isinstance(item, ast.AnnAssign | ast.Assign):  # fields: how the class is built
                body.append(item)
    else:
        body.append(ast.Expr(ast.Constant(...)))
    stub = type(node)(**{**vars(node), "body": body or [ast.Expr(ast.Constant(...))]})
    return ast.fix_missing_locations(stub)


def parse_checks(answer: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, source) of each check in the model's answer; SupervisorError when there is no list.
    Lenient on the items, as the review is on its reasons: one malformed item costs that item."""
    checks = answer.get("checks")
    if not isinstance(checks, list):
        raise SupervisorError("the supervisor's acceptance checks do not match their schema", answer=str(answer)[:200])
    found = []
    for index, item in enumerate(checks, 1):
        source = item.get("source") if isinstance(item, dict) else None
        if isinstance(source, str) and source.strip():
            name = item.get("name")
            named = isinstance(name, str) and name.strip()
            found.append((name.strip()[:MAX_NAME_CHARS] if named else f"check {index}", source))
    return found[:MAX_CHECKS]


def outcome(checked: Sequence[Checked]) -> GateOutcome:
    by = {status: [c for c in checked if c.status == status] for status in (CONFIRMED, REFUTED, PASSES_BEFORE, BROKEN)}
    findings = [finding(STAGE, "acceptance_failed", _refuted(c)) for c in by[REFUTED]]
    if by[BROKEN]:
        findings.append(finding(STAGE, "acceptance_broken", _broken(by[BROKEN])))
    passed = False if by[REFUTED] else (True if by[CONFIRMED] else None)
    words = {CONFIRMED: "confirmed", REFUTED: "failed", PASSES_BEFORE: "passed before the change too", BROKEN: "broken"}
    summary = f"{len(checked)} check(s): " + ", ".join(f"{len(by[s])} {w}" for s, w in words.items() if by[s])
    output = "\n\n".join(f.message for f in findings)
    details = {"checks": [c.record() for c in checked]}
    result = GateResult(NAME, passed, summary, output, len(by[CONFIRMED]), len(by[REFUTED]), passed is True, details)
    return result, tuple(findings)


def _refuted(check: Checked) -> str:
    output = _indented(check.after.output) or "    (none)"
    return (
        f"An acceptance check written from the task fails on the new code ({check.after.error}):\n"
        f"  check {check.name!r}:\n{_indented(check.source)}\n  its output:\n{output}"
    )


def _indented(text: str) -> str:
    return "\n".join(f"    {line}" if line.strip() else "" for line in text.strip().splitlines())


def _broken(checks: Sequence[Checked]) -> str:
    listed = "; ".join(f"{c.name!r}: {c.after.error}" for c in checks)
    return f"{len(checks)} acceptance check(s) do not fit the code and were not counted, for or against: {listed}"


def _unavailable(message: str) -> GateOutcome:
    return GateResult(NAME, None, "could not run"), (finding(STAGE, "acceptance_unavailable", message),)
