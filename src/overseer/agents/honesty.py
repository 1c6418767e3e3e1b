"""The agent's honest way out: three tools of overseer's own, and the same three as lines of text.

When the tests contradict the spec, agents left without a way to say so mostly game the tests; given
one, they almost never do (ImpossibleBench, arXiv 2510.20270). So every agent gets three ways out:

- `report_conflict(what, evidence)`: the task, the tests and the spec cannot all be satisfied;
  `evidence` names the test (a pytest node id) and quotes the spec line that clash, the spec as a
  `>>>` example with its expected output, so that the judge can check both sides
  (supervise/conflict.py);
- `ask_human(question)`: a question only the user can answer;
- `cannot_finish(reason)`.

Claude Code gets them as tools of an in-process MCP server (`honesty_server`); the model sees them
as `mcp__overseer__<kind>`. An agent without tools (a plain command, Aider) writes them as lines of
its output, which `parse_reports` reads:

    OVERSEER report_conflict: test_mul_by_zero expects None, the docstring says 0
    OVERSEER evidence: tests/test_calc.py::test_mul_by_zero
    OVERSEER evidence: >>> mul(7, 0)
    OVERSEER evidence: 0
    OVERSEER ask_human: should mul accept strings?
    OVERSEER cannot_finish: the task needs a database I cannot reach

An `evidence` line belongs to the `report_conflict` line above it; several are joined by newlines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, cast

from claude_agent_sdk import McpSdkServerConfig, SdkMcpTool, create_sdk_mcp_server, tool

from overseer.agents.base import AgentEvent
from overseer.domain import AgentReport

SERVER = "overseer"
REPORT_CONFLICT, ASK_HUMAN, CANNOT_FINISH = "report_conflict", "ask_human", "cannot_finish"
KINDS = (REPORT_CONFLICT, ASK_HUMAN, CANNOT_FINISH)
TOOL_NAMES: dict[str, str] = {f"mcp__{SERVER}__{kind}": kind for kind in KINDS}  # as the model calls them
LINE_PREFIX = "OVERSEER"
_EVIDENCE = "evidence"
_LINE = re.compile(rf"^\s*{LINE_PREFIX}\s+(?P<kind>{'|'.join(KINDS)}|{_EVIDENCE})\s*:\s?(?P<text>.*)$")

_CONFLICT_HELP = (
    "Report that the task, the tests and the spec cannot all be satisfied, instead of editing a test or "
    "guessing. `what`: the clash in a sentence. `evidence`: the failing test's pytest node id "
    "(tests/test_x.py::test_name) and the spec line it contradicts, quoted as a doctest: a line `>>> expr` "
    "followed by the expected output on the next line. Write the code the spec asks for first: overseer "
    "runs the named test and the quoted example on your code before a human sees the report."
)
_ASK_HELP = "Ask the user a question only they can answer (a requirement the task leaves open). Then stop."
_CANNOT_HELP = "Say that you cannot finish the task, and why, instead of handing in work you know is wrong."
_RECEIVED = {  # the tool's answer to the agent
    REPORT_CONFLICT: "overseer recorded the conflict; it runs the test and the example on your code before a "
    "person sees it.",
    ASK_HUMAN: "overseer recorded your question for the user.",
    CANNOT_FINISH: "overseer recorded that you cannot finish; a person will read why.",
}
_END = " End your turn now with a short summary of what you did."


def report_of(kind: str, arguments: dict[str, Any]) -> AgentReport:
    """The report a call of tool `kind` makes."""
    if kind == REPORT_CONFLICT:
        return AgentReport(kind, str(arguments.get("what", "")), str(arguments.get("evidence", "")))
    field = "question" if kind == ASK_HUMAN else "reason"
    return AgentReport(kind, str(arguments.get(field, "")))


def report_event(report: AgentReport) -> AgentEvent:
    """A report as the event the store keeps."""
    return AgentEvent("report", {"kind": report.kind, "text": report.text, "evidence": report.evidence})


def honesty_server(record: Callable[[AgentReport], None]) -> McpSdkServerConfig:
    """The three tools as an in-process MCP server; each call is handed to `record` as it is made."""

    def made(kind: str, description: str, schema: dict[str, type]) -> SdkMcpTool[Any]:
        async def handler(arguments: dict[str, Any]) -> dict[str, Any]:
            record(report_of(kind, arguments))
            return {"content": [{"type": "text", "text": _RECEIVED[kind] + _END}]}

        return tool(kind, description, schema)(handler)

    tools = [
        made(REPORT_CONFLICT, _CONFLICT_HELP, {"what": str, "evidence": str}),
        made(ASK_HUMAN, _ASK_HELP, {"question": str}),
        made(CANNOT_FINISH, _CANNOT_HELP, {"reason": str}),
    ]
    server = create_sdk_mcp_server(SERVER, tools=tools)
    # Claude Code defers MCP tools behind its tool search by default: the model would see only their
    # names. A way out must be in plain sight, so these are always loaded (the CLI gets every key but
    # the instance).
    return cast(McpSdkServerConfig, {**server, "alwaysLoad": True})


def parse_reports(text: str) -> tuple[AgentReport, ...]:
    """The `OVERSEER <kind>: ...` lines of an agent's output (see the module docstring), in order.

    An `evidence` line with no `report_conflict` line above it is ignored: it belongs to nothing.
    """
    reports: list[AgentReport] = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        kind, said = match["kind"], match["text"].rstrip()
        if kind != _EVIDENCE:
            reports.append(AgentReport(kind, said.strip()))
        elif reports and reports[-1].kind == REPORT_CONFLICT:
            last = reports[-1]
            evidence = f"{last.evidence}\n{said}" if last.evidence else said
            reports[-1] = AgentReport(last.kind, last.text, evidence)
    return tuple(reports)


def all_reports(made: Iterable[AgentReport], output: str) -> tuple[AgentReport, ...]:
    """The reports made through the tools, then those written as lines (each once): one list for the judge."""
    found: list[AgentReport] = []
    for report in [*made, *parse_reports(output)]:
        if report not in found:
            found.append(report)
    return tuple(found)
