"""`overseer watch`, driven through Textual's pilot over a workspace a real supervised run left:
the real `claude` CLI did the work, a breakpoint rule stopped it for a person."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml
from textual.pilot import Pilot
from textual.widgets import DataTable, Log, Static

from overseer.cli.common import open_ws
from overseer.cli.watch_app import WatchApp
from overseer.domain import TaskStatus
from overseer.testing import Say, ScriptedAnthropicServer, Turn, Use, turn
from tests.conftest import Ran

Overseer = Callable[..., Ran]
Scripted = Callable[[Sequence[Turn]], ScriptedAnthropicServer]

TASK = "Implement word_count in textstats.py so that the tests pass."
STUB = "    raise NotImplementedError\n"
RIGHT = "    return len(text.split())\n"


def stopped_at_a_breakpoint(workspace: Path, scripted: Scripted, overseer: Overseer) -> int:
    config = workspace / ".overseer" / "config.yaml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(yaml.safe_dump({"breakpoints": {"stats": {"paths": ["textstats.py"]}}}), encoding="utf-8")
    module = str(workspace / "textstats.py")
    scripted([turn(Use("Edit", {"file_path": module, "old_string": STUB, "new_string": RIGHT})), turn(Say("Done."))])
    ran = overseer("do", "--json", "-w", str(workspace), TASK)
    assert ran.code == 3, ran.err
    return int(ran.json()["task_id"])


def text_of(log: Log) -> str:
    return "\n".join(log.lines)


async def mounted(app: WatchApp, pilot: Pilot[None]) -> None:
    """Wait until the view's widgets are mounted: one pause is not always enough on a loaded machine."""
    deadline = time.monotonic() + 30  # wide: a shared 2-core machine
    await pilot.pause()
    while not app.query("#tasks") and time.monotonic() < deadline:
        await pilot.pause(0.05)


async def watch_and_accept(workspace: Path) -> tuple[list[list[str]], str, str, str, str]:
    with open_ws(workspace) as ws:
        app = WatchApp(ws)
        async with app.run_test(size=(160, 50)) as pilot:
            await mounted(app, pilot)
            table = app.query_one("#tasks", DataTable)
            rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
            events = text_of(app.query_one("#events", Log))
            diff = text_of(app.query_one("#diff", Log))
            points = str(app.query_one("#breakpoints", Static).render())
            await pilot.press("a")
            await pilot.pause()
            after = str(app.query_one("#breakpoints", Static).render())
    return rows, events, diff, points, after


def test_the_view_shows_the_task_its_attempt_and_its_breakpoint_and_a_key_answers_it(
    workspace: Path, scripted: Scripted, overseer: Overseer
) -> None:
    task_id = stopped_at_a_breakpoint(workspace, scripted, overseer)

    rows, events, diff, points, after = asyncio.run(watch_and_accept(workspace))

    assert rows == [[str(task_id), "needs_human", "1", "escalate", rows[0][4], TASK]]
    assert f"task {task_id} attempt 1: {TASK}" in events
    assert f"-> Edit {workspace / 'textstats.py'}" in events and "file textstats.py" in events
    assert "+    return len(text.split())" in diff and "-    raise NotImplementedError" in diff
    assert f"task {task_id}: stats: it changed textstats.py" in points
    assert after == "no open breakpoint"
    with open_ws(workspace) as ws:  # the key did what `overseer resolve --accept` does
        assert ws.store.get_task(task_id).status is TaskStatus.COMPLETED
        [(_, answer)] = ws.store.breakpoints(ws.project_id)
        assert answer is not None and answer.action == "accept"


def test_an_empty_workspace_says_how_to_start(workspace: Path, overseer: Overseer) -> None:
    assert overseer("init", str(workspace)).code == 0

    async def look() -> str:
        with open_ws(workspace) as ws:
            app = WatchApp(ws)
            async with app.run_test() as pilot:
                await mounted(app, pilot)
                return text_of(app.query_one("#events", Log))

    assert "no tasks yet" in asyncio.run(look())


def test_r_sends_the_task_back_with_the_guidance_typed(workspace: Path, scripted: Scripted, overseer: Overseer) -> None:
    task_id = stopped_at_a_breakpoint(workspace, scripted, overseer)

    async def retry() -> None:
        with open_ws(workspace) as ws:
            app = WatchApp(ws)
            async with app.run_test(size=(160, 50)) as pilot:
                await mounted(app, pilot)
                await pilot.press("r", *"keep it short", "enter")
                await pilot.pause()

    asyncio.run(retry())
    with open_ws(workspace) as ws:
        task = ws.store.get_task(task_id)
        assert (task.status, task.guidance) == (TaskStatus.PENDING, "keep it short")
