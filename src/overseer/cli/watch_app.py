"""`overseer watch`'s terminal view of a workspace, live (Textual).

The tasks and their states on the left; on the right the focused task's latest attempt: its events
as they come, its findings and its diff; below, the open breakpoints. It reads the store twice a
second (`live.snapshot`), so it shows what any `overseer run` in the workspace is doing, and it
answers a task waiting for a human with a key, as `overseer resolve` would (a, r, x; y and n for a
held tool call).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Input, Log, Static

from overseer.cli.common import who

if TYPE_CHECKING:
    from overseer.runtime import Workspace

REFRESH_S = 0.5
_TASK_COLUMNS = ("id", "state", "tries", "decision", "conf", "task")


class WatchApp(App[None]):
    """The live view of one opened workspace; `answer(task_id, action, note)` resolves a waiting task."""

    TITLE = "overseer watch"
    CSS = """
    #tasks { width: 45%; }
    #events { height: 2fr; border: round $accent; }
    #findings { height: auto; max-height: 8; border: round $warning; }
    #diff { height: 1fr; border: round $secondary; }
    #breakpoints { height: auto; max-height: 6; border: round $error; }
    #guidance { display: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "answer('accept')", "accept"),
        Binding("r", "ask_note('retry')", "retry with guidance"),
        Binding("x", "answer('abandon')", "abandon"),
        Binding("y", "answer('allow')", "allow the held call"),
        Binding("n", "ask_note('deny')", "deny it, with a reason"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, ws: Workspace) -> None:
        super().__init__()
        self.ws = ws
        self.task_focus: int | None = None  # the task the right side shows; None: the live one
        self.view: dict[str, Any] = {}
        self.pending = "retry"  # what the typed note answers: a retry's guidance or a denial's reason
        self._shown_events: tuple[int | None, int | None, int] = (None, None, 0)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield DataTable(id="tasks", cursor_type="row")
            with Vertical():
                yield Log(id="events", auto_scroll=True)
                yield Static(id="findings")
                yield Log(id="diff", auto_scroll=False)
        yield Static(id="breakpoints")
        yield Input(id="guidance", placeholder="guidance for the next attempt, then Enter (Esc: cancel)")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#tasks", DataTable)
        table.add_columns(*_TASK_COLUMNS)
        table.focus()  # keys go to the view, not to the (hidden) guidance box
        self.refresh_view()
        self.set_interval(REFRESH_S, self.refresh_view)

    def refresh_view(self) -> None:
        from overseer.live import snapshot

        self.view = snapshot(self.ws.store, self.ws.project_id, self.ws.path, self.task_focus)
        self._show_tasks(self.view["tasks"])
        self._show_focus(self.view["focus"])
        self._show_breakpoints(self.view["breakpoints"])

    def _show_tasks(self, tasks: list[dict[str, Any]]) -> None:
        table = self.query_one("#tasks", DataTable)
        row = table.cursor_row
        table.clear()
        for task in tasks:
            confidence = "" if task["confidence"] is None else f"{task['confidence']:.2f}"
            cells = (
                task["task_id"],
                task["status"],
                task["attempts"],
                task["decision"] or "",
                confidence,
                task["text"],
            )
            table.add_row(*(str(cell) for cell in cells), key=str(task["task_id"]))
        if tasks:
            table.move_cursor(row=min(row, len(tasks) - 1))

    def _show_focus(self, focus: dict[str, Any] | None) -> None:
        events = self.query_one("#events", Log)
        if focus is None:
            self._replace(events, ["no tasks yet: `overseer task add` one, then `overseer run`"])
            return
        shown = (focus["task_id"], focus.get("attempt"), len(focus.get("events", [])))
        if shown[:2] != self._shown_events[:2]:
            header = f"task {focus['task_id']} attempt {focus.get('attempt') or '-'}: {focus['text']}"
            self._replace(events, [header, *focus.get("events", [])])
        elif shown[2] > self._shown_events[2]:  # only what came since: the log keeps its scroll
            events.write_lines(focus["events"][self._shown_events[2] :])
        self._shown_events = shown
        findings = focus.get("findings") or []
        self.query_one("#findings", Static).update(
            "\n".join(f"{f['severity']} {f['code']}: {f['message']}" for f in findings) or "no findings"
        )
        diff = self.query_one("#diff", Log)
        if diff.lines != (lines := (focus.get("diff") or "no diff yet").splitlines()):
            self._replace(diff, lines)

    def _show_breakpoints(self, points: list[dict[str, Any]]) -> None:
        text = "\n".join(f"#{p['id']} task {p['task_id']}: {p['rule']}: {p['reason']}" for p in points)
        self.query_one("#breakpoints", Static).update(text or "no open breakpoint")

    @staticmethod
    def _replace(log: Log, lines: list[str]) -> None:
        log.clear()
        log.write_lines(lines)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        focused = int(key) if key is not None else None
        if focused != self.task_focus:
            self.task_focus = focused
            self.refresh_view()

    def action_answer(self, action: str, note: str = "") -> None:
        from overseer.resolve import answer

        task_id = self._selected()
        if task_id is None:
            return
        try:
            message = answer(self.ws.store, task_id, action, note, by=who())
        except Exception as exc:  # a task not waiting, a tool breakpoint: say why, keep watching
            self.notify(str(exc), severity="warning")
            return
        self.notify(f"task {task_id}: {message}")
        self.refresh_view()

    def action_ask_note(self, action: str) -> None:
        """Ask for the retry's guidance or the denial's reason, then answer with it."""
        self.pending = action
        box = self.query_one("#guidance", Input)
        box.placeholder = f"{'guidance for the next attempt' if action == 'retry' else 'why not'}, then Enter"
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.input.display = False
        if event.value.strip():
            self.action_answer(self.pending, event.value.strip())
        event.input.value = ""
        self.query_one("#tasks", DataTable).focus()

    def _selected(self) -> int | None:
        table = self.query_one("#tasks", DataTable)
        if not self.view.get("tasks"):
            return None
        return int(self.view["tasks"][table.cursor_row]["task_id"])
