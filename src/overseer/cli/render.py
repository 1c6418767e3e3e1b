"""Rich rendering for people: progress while attempts run, and what a task came to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from overseer.agents.base import AgentEvent
from overseer.domain import Outcome, Verdict

if TYPE_CHECKING:
    from overseer.state.models import Task

_SEVERITY_STYLE = {"blocking": "red", "warning": "yellow", "info": "dim"}
_CLAIM_STYLE = {"confirmed": "green", "refuted": "red", "unverifiable": "yellow"}
_STATUS_STYLE = {
    "completed": "green",
    "needs_human": "yellow",
    "failed": "red",
    "abandoned": "dim",
    "pending": "default",
    "running": "cyan",
}


class ConsoleReporter:
    """Progress on stderr, so that stdout stays clean for --json."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._streaming = False  # a supervisor answer is being printed, its line still open

    def supervisor_text(self, piece: str) -> None:
        """A piece of the supervisor model's answer as it comes (network providers stream), dimmed."""
        if not self._streaming:
            self.console.print("  supervisor: ", end="", style="dim")
            self._streaming = True
        self.console.print(piece.replace("\n", " "), end="", style="dim", markup=False, highlight=False)

    def _end_stream(self) -> None:
        if self._streaming:
            self.console.print()
            self._streaming = False

    def attempt_started(self, task: Task, number: int) -> None:
        self._end_stream()
        self.console.print(f"[bold]task {task.id}[/] attempt {number}: the agent is working...")

    def _sandbox_line(self, event: AgentEvent) -> None:
        if event.data.get("enabled"):
            self.console.print(
                f"  sandbox: on (network: {', '.join(event.data.get('allowed_domains') or []) or 'none'})"
            )
        else:
            self.console.print(f"  [red]sandbox: OFF[/] ({escape(str(event.data.get('reason', '')))})")

    def agent_event(self, event: AgentEvent) -> None:
        self._end_stream()
        if event.kind == "sandbox":
            self._sandbox_line(event)
        elif event.kind == "tool_call":
            target = event.data["input"].get("file_path") or event.data["input"].get("command", "")
            held = "[yellow]held[/]" if event.data.get("deferred") else "[red]refused[/]"  # deferred: waits for you
            mark = "->" if event.data["allowed"] else held
            self.console.print(f"  {mark} {event.data['tool']} {escape(str(target))[:100]}")
        elif event.kind == "report":  # the agent's honest way out (agents/honesty.py)
            self.console.print(f"  [yellow]{event.data['kind']}:[/] {escape(str(event.data.get('text', '')))[:160]}")
        elif event.kind == "monitor":  # the output monitor: a wait, a restart, a stall (agents/monitor.py)
            wait = f" {event.data['wait_s']:g} s, the attempt is not used up" if "wait_s" in event.data else ""
            said = f"{event.data['signal']}: {event.data['reason']}"[:200]
            self.console.print(f"  [yellow]monitor:[/] {escape(said)} -> {event.data.get('action', '')}{wait}")
        elif event.kind == "result" and event.data.get("is_error"):
            self.console.print(f"  [red]agent error:[/] {escape(str(event.data.get('text', '')))[:160]}")

    def attempt_judged(self, task: Task, number: int, verdict: Verdict | None, outcome: Outcome | None) -> None:
        self._end_stream()
        if verdict is None or outcome is None:
            if outcome is not None and outcome.brief:  # not judged: a held tool call waits for the developer
                self.console.print(f"  [yellow]waiting:[/] {escape(outcome.brief)}")
            return
        self.console.print(f"  judged: [bold]{outcome.decision.value}[/] (confidence {verdict.confidence:.2f})")
        for gate in verdict.gates:
            self.console.print(f"    gate {gate.name}: {escape(gate.summary)}")
        if verdict.review is not None:
            opinion = "approves" if verdict.review.approve else "rejects"
            self.console.print(f"    supervisor LLM {opinion} (score {verdict.review.score:.1f})")
        for claim in verdict.claims:
            status = f"[{_CLAIM_STYLE[claim.status.value]}]{claim.status.value}[/]"
            self.console.print(f"    {claim.kind} claim {status}: {escape(claim.text)} ({escape(claim.detail)})")
        if not verdict.verified and not verdict.blocking:
            self.console.print(
                "    [yellow]nothing verified[/] the work: no test, example or trusted review confirmed it"
            )
        for finding in verdict.findings:
            style = _SEVERITY_STYLE.get(finding.severity.value, "")
            self.console.print(f"    [{style}]{finding.severity.value}[/] {_indented(finding.message, 6)}")
        if outcome.feedback:
            self.console.print(f"  feedback for the next attempt:\n      {_indented(outcome.feedback, 6)}")
        if outcome.brief:
            self.console.print(f"  [yellow]needs a human:[/] {escape(outcome.brief)}")


def _indented(text: str, spaces: int) -> str:
    return escape(text.strip()).replace("\n", "\n" + " " * spaces)


def render_task(console: Console, summary: dict[str, Any]) -> None:
    status = summary["status"]
    style = _STATUS_STYLE.get(status, "")
    console.print(f"[bold]task {summary['task_id']}[/] [{style}]{status}[/]  {escape(summary['text'])}")
    if summary["history"]:
        console.print(_attempts_table(summary["history"]))
        _print_claims(console, summary["history"][-1])
        _print_fail_first(console, summary["history"][-1])
        console.print("sandbox: " + _sandboxes(summary["history"]))
        _print_refused(console, summary["history"])
    if summary["files_changed"]:
        console.print("files changed: " + ", ".join(summary["files_changed"]))
    if summary["error"]:
        console.print(f"[yellow]why:[/] {escape(summary['error'])}")


def _print_refused(console: Console, history: list[dict[str, Any]]) -> None:
    """Every tool call the guard refused, with the permission arbiter's class and reason."""
    for attempt in history:
        for call in attempt.get("refused") or []:
            category = f" [{call['category']}]" if call["category"] else ""
            console.print(
                f"attempt {attempt['number']}, [red]refused[/]{escape(category)} {call['tool']} "
                f"{escape(call['target'][:100])}: {escape(call['reason'])}"
            )


def _print_claims(console: Console, attempt: dict[str, Any]) -> None:
    for claim in attempt["claims"]:
        style = _CLAIM_STYLE.get(claim["status"], "")
        detail = f" ({escape(claim['detail'])})" if claim.get("detail") else ""
        console.print(
            f"attempt {attempt['number']}, {claim['kind']} claim [{style}]{claim['status']}[/]: "
            f"{escape(claim['text'])}{detail}"
        )


def _print_fail_first(console: Console, attempt: dict[str, Any]) -> None:
    """Each test the attempt wrote, run on the code before it: one that passes there tests nothing new."""
    gate = next((g for g in attempt.get("gates", []) if g.get("name") == "fail_first"), None)
    for test, check in ((gate or {}).get("details") or {}).get("tests", {}).items():
        before, reason = check.get("before", ""), check.get("reason", "")
        verdict = "[yellow]passes[/]" if before in ("passed", "xpassed") else "[green]fails[/]"
        why = f" ({escape(before)}: {escape(reason)})" if reason else f" ({escape(before)})"
        console.print(f"attempt {attempt['number']}, test {escape(test)} {verdict} without the change{why}")


def _attempts_table(history: list[dict[str, Any]]) -> Table:
    table = Table(show_header=True, header_style="bold", expand=False, box=box.SIMPLE_HEAD)
    for column in ("#", "attempt", "decision", "conf", "verified", "files", "findings"):
        table.add_column(column, overflow="fold")
    for attempt in history:
        confidence = attempt["confidence"]
        verified = attempt.get("verified")
        table.add_row(
            str(attempt["number"]),
            attempt["status"],
            attempt["decision"] or "-",
            f"{confidence:.2f}" if confidence is not None else "-",
            "-" if verified is None else ("yes" if verified else "[yellow]no[/]"),
            "\n".join(c["path"] for c in attempt["files_changed"]) or "-",
            "\n".join(_finding_line(f) for f in attempt["findings"]) or "-",
        )
    return table


def _sandbox(event: dict[str, Any] | None) -> str:
    if event is None:
        return "-"
    if not event.get("enabled"):
        return "[red]OFF[/]"
    return "on, network: " + (", ".join(event.get("allowed_domains") or []) or "none")


def _sandboxes(history: list[dict[str, Any]]) -> str:
    """The sandbox of every attempt, said once when they all had the same."""
    shown = [_sandbox(attempt["sandbox"]) if attempt["sandbox"] else "none reported" for attempt in history]
    if len(set(shown)) == 1:
        return f"{shown[0]} (every attempt)"
    return "; ".join(f"attempt {a['number']}: {s}" for a, s in zip(history, shown, strict=True))


def _finding_line(finding: dict[str, Any]) -> str:
    """The code only: the table stays readable in 80 columns; the brief below and `--json` say why."""
    style = _SEVERITY_STYLE.get(finding["severity"], "")
    return f"[{style}]{finding['code']}[/]"


def render_task_list(console: Console, tasks: list[dict[str, Any]]) -> None:
    table = Table(show_header=True, header_style="bold")
    for column in ("id", "status", "priority", "depends on", "attempts", "task"):
        table.add_column(column)
    for task in tasks:
        style = _STATUS_STYLE.get(task["status"], "")
        deps = ", ".join(str(d) for d in task["depends_on"]) or "-"
        table.add_row(
            str(task["id"]),
            f"[{style}]{task['status']}[/]",
            str(task["priority"]),
            deps,
            str(task["attempts"]),
            escape(task["text"]),
        )
    console.print(table)
