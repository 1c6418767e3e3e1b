"""The syntax gate: every Python file the agent added or modified must compile."""

from __future__ import annotations

import warnings
from pathlib import PurePath

from overseer.domain import GateResult
from overseer.supervise.gates.base import STAGE, GateContext, GateOutcome
from overseer.supervise.policy import finding
from overseer.workspace.host import Host
from overseer.workspace.local_host import LOCAL


def syntax_gate(ctx: GateContext) -> GateOutcome:
    """Compile every added or modified `.py` file; files the agent did not touch are not its fault.
    The files are read from the workspace's host and compiled here."""
    evidence, host = ctx.evidence, ctx.host
    paths = [
        change.path
        for change in evidence.changes
        if change.kind in ("added", "modified") and change.path.endswith(".py")
    ]
    paths = [path for path in paths if host.is_file(evidence.workspace / path)]
    if not paths:
        return GateResult(name="syntax", passed=None, summary="no Python files changed"), ()
    errors = [error for path in paths if (error := syntax_error(evidence.workspace, path, host))]
    findings = tuple(finding(STAGE, "syntax_error", error) for error in errors)
    if not errors:
        summary = f"{len(paths)} changed Python file(s) compile"
    else:
        summary = f"{len(errors)} of {len(paths)} changed Python file(s) do not compile"
    result = GateResult(
        name="syntax",
        passed=not errors,
        summary=summary,
        output="\n".join(errors),
        passed_count=len(paths) - len(errors),
        failed_count=len(errors),
    )
    return result, findings


def syntax_error(workspace: PurePath, path: str, host: Host = LOCAL) -> str:
    """Return "path line N: message" if the file does not compile, else "".

    `compile` rather than `ast.parse`: it also catches errors found after parsing, such as
    `return` outside a function. Bytes, so a PEP 263 encoding line is honoured.
    """
    source = host.read_bytes(workspace / path)
    try:
        with warnings.catch_warnings():
            # An invalid escape sequence warns but runs: not this gate's business.
            warnings.simplefilter("ignore")
            compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f" line {exc.lineno}" if exc.lineno else ""
        return f"{path}{where}: {exc.msg}"
    except ValueError as exc:  # null bytes in the source
        return f"{path}: {exc}"
    return ""
