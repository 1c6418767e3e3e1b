"""The agent's honest way out as lines of text (for agents without tools) and as MCP tools."""

from __future__ import annotations

from overseer.agents.honesty import TOOL_NAMES, all_reports, honesty_server, parse_reports
from overseer.domain import AgentReport

OUTPUT = """I implemented mul as the docstring says, but one test disagrees.
OVERSEER report_conflict: test_mul_by_zero expects None, the docstring says 0
OVERSEER evidence: tests/test_calc.py::test_mul_by_zero
  OVERSEER evidence: >>> mul(7, 0)
OVERSEER evidence: 0
OVERSEER ask_human: should mul accept strings?
Some text that mentions OVERSEER cannot_finish: in the middle of a line.
OVERSEER cannot_finish: the task needs a database I cannot reach
"""


def test_the_documented_lines_become_reports_in_order() -> None:
    assert parse_reports(OUTPUT) == (
        AgentReport(
            "report_conflict",
            "test_mul_by_zero expects None, the docstring says 0",
            "tests/test_calc.py::test_mul_by_zero\n>>> mul(7, 0)\n0",
        ),
        AgentReport("ask_human", "should mul accept strings?"),
        AgentReport("cannot_finish", "the task needs a database I cannot reach"),
    )


def test_evidence_without_a_conflict_above_it_and_unknown_kinds_are_ignored() -> None:
    text = "OVERSEER evidence: tests/test_x.py::test_y\nOVERSEER give_up: now\noverseer ask_human: lower case?\n"
    assert parse_reports(text) == ()


def test_a_report_made_through_a_tool_and_written_as_a_line_counts_once() -> None:
    made = AgentReport("ask_human", "should mul accept strings?")
    assert all_reports([made], OUTPUT)[0] == made
    assert len(all_reports([made], OUTPUT)) == 3


def test_the_tools_are_named_as_the_model_calls_them() -> None:
    """The tools themselves run in the end-to-end test (tests/e2e/test_honest_way_out.py), through the real CLI."""
    server = honesty_server(lambda report: None)
    assert (server["type"], server["name"]) == ("sdk", "overseer")
    assert TOOL_NAMES == {
        "mcp__overseer__report_conflict": "report_conflict",
        "mcp__overseer__ask_human": "ask_human",
        "mcp__overseer__cannot_finish": "cannot_finish",
    }
