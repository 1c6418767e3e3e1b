"""Benchmark: what the store's operations cost, on SQLite and on PostgreSQL.

Each operation is timed one call at a time through the real `Store` (its redaction, its error
translation, one transaction per call), N times after a warm-up, and reported as p50/p95/p99:

- add a task; claim a task (the conditional UPDATE two runners race on); record an attempt;
- append an agent event (one `add_event`, its own transaction: the slowest way an event arrives);
- record a file change: `finish_attempt` with one change (the store records an attempt's changes
  as it closes it, in that one transaction);
- read a task's history (`overseer history`'s timeline: a task of 10 attempts x 100 events) while
  the store holds 100k events of 100 tasks;
- the live event writer: what `put` costs the agent's loop per event, and its thread's busy time
  per event once batched.

SQLite is a file in a fresh temp dir, set up as the store sets it up (WAL, synchronous=NORMAL: see
`overseer.state.engine`). PostgreSQL is a throwaway server (`overseer.testing.postgres`) with its
durable defaults (fsync on every commit), on loopback. No assertion on time: these machines are
shared, so the load average is printed with the figures; run it twice before believing a difference.
Run: `.venv/bin/python bench/store.py [--samples N]` (part of `make bench`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from overseer.domain import AttemptStatus, FileChange
from overseer.redact import Redactor
from overseer.state.history import timeline
from overseer.state.store import NewEvent, Store, sqlite_url
from overseer.state.writer import EventWriter
from overseer.testing.postgres import PostgresCluster

A = TypeVar("A")
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "bench" / "results" / "store.json"
STORE_EVENTS = 100_000
HISTORY_ATTEMPTS, HISTORY_EVENTS = 10, 100  # the task whose history is read: 1,000 events
FILL_BATCH = 1_000
EVENT = {"name": "Bash", "input": {"command": "pytest -q tests/test_parser.py"}, "allowed": True}
HISTORY = "read a task's history (100k events stored)"
OPERATIONS = (
    "add a task",
    "claim a task",
    "record an attempt",
    "append an agent event",
    "record a file change",
    HISTORY,
    "event writer: put, the agent's cost",
    "event writer: busy time per event",
)


@dataclass
class Samples:
    """Seconds per call: wall time, and this thread's CPU time (the rest is waiting: for the disk, the
    server, or a CPU another process holds)."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, float | None]:
        cuts = statistics.quantiles(self.wall, n=100, method="inclusive")
        cpu = statistics.median(self.cpu) if self.cpu else None
        return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "cpu_p50": cpu, "n": len(self.wall)}


def timed(call: Callable[[A], object], arguments: Iterable[A]) -> Samples:
    """One call per argument."""
    samples = Samples()
    for argument in arguments:
        started, cpu = time.perf_counter(), time.thread_time()
        call(argument)
        samples.wall.append(time.perf_counter() - started)
        samples.cpu.append(time.thread_time() - cpu)
    return samples


def measure(store: Store, workspace: Path, samples: int) -> dict[str, Samples]:
    project = store.ensure_project(workspace).id
    until = datetime.now(UTC) + timedelta(hours=1)
    store.add_task(project, "warm-up")
    results = {"add a task": timed(lambda n: store.add_task(project, f"task {n}: accept empty input"), range(samples))}
    tasks = [store.add_task(project, f"to claim {n}").id for n in range(samples)]
    results["claim a task"] = timed(lambda task: store.claim_task(task, "bench-runner", until=until), tasks)
    one = store.add_task(project, "attempted many times").id
    results["record an attempt"] = timed(
        lambda n: store.start_attempt(one, number=n, prompt="fix the parser", checkpoint_before="0" * 40),
        range(1, samples + 1),
    )
    attempts = [attempt.id for attempt in store.attempts(one)]
    results["append an agent event"] = timed(lambda _: store.add_event(attempts[0], "tool_call", EVENT), range(samples))
    results["record a file change"] = timed(lambda attempt: finish(store, attempt), attempts)
    history_task = fill(store, project)
    reads = max(20, samples // 20)
    results["read a task's history (100k events stored)"] = timed(
        lambda _: read_history(store, history_task), range(reads)
    )
    results.update(writer_costs(store, attempts[-1], samples))
    return results


def finish(store: Store, attempt_id: int) -> None:
    change = FileChange("src/parser.py", "modified", "1" * 40, "2" * 40)
    store.finish_attempt(
        attempt_id,
        status=AttemptStatus.FINISHED,
        session_id="session",
        result_text="done",
        error="",
        cost_usd=None,
        checkpoint_after="3" * 40,
        changes=[change],
        verdict=None,
        outcome=None,
    )


def fill(store: Store, project: int) -> int:
    """100k events in the store, over 100 tasks; returns the task whose history is read."""
    tasks = [
        store.add_task(project, f"history {n}").id for n in range(STORE_EVENTS // (HISTORY_ATTEMPTS * HISTORY_EVENTS))
    ]
    pending: list[NewEvent] = []
    for task in tasks:
        for number in range(1, HISTORY_ATTEMPTS + 1):
            attempt = store.start_attempt(task, number=number, prompt="p", checkpoint_before="0" * 40).id
            pending += [NewEvent(attempt, "tool_call", {**EVENT, "n": n}) for n in range(HISTORY_EVENTS)]
            if len(pending) >= FILL_BATCH:
                store.add_events(pending)
                pending = []
    store.add_events(pending)
    return tasks[len(tasks) // 2]


def read_history(store: Store, task_id: int) -> None:
    with store.reading() as session:
        entries = timeline(session, task_id)
    if len(entries) < HISTORY_ATTEMPTS:
        raise RuntimeError(f"history of task {task_id} has {len(entries)} entries")


def writer_costs(store: Store, attempt_id: int, samples: int) -> dict[str, Samples]:
    """put() as the agent's event loop calls it; the thread's busy time per event from its own count."""
    per_event = Samples()  # the writer's own thread: its CPU time is not this thread's
    with EventWriter(store) as writer:
        puts = timed(lambda _: writer.put(attempt_id, "tool_call", EVENT), range(samples * 10))
        for _ in range(samples // 10 or 1):
            before_s, before_n = writer.busy_s, writer.written
            for _ in range(10):
                writer.put(attempt_id, "text", {"text": "thinking..."})
            writer.flush()
            per_event.wall.append((writer.busy_s - before_s) / max(1, writer.written - before_n))
    return {OPERATIONS[6]: puts, OPERATIONS[7]: per_event}


@contextmanager
def sqlite_store() -> Iterator[tuple[Store, Path, str]]:
    with tempfile.TemporaryDirectory(prefix="overseer-bench-store-") as scratch:
        base = Path(scratch)
        with Store.open(sqlite_url(base / "state.db"), redactor=Redactor([])) as store:
            yield store, base, f"SQLite {sqlite3.sqlite_version}"


@contextmanager
def postgres_store() -> Iterator[tuple[Store, Path, str]]:
    with tempfile.TemporaryDirectory(prefix="overseer-bench-store-") as scratch, PostgresCluster(durable=True) as pg:
        store = Store.open(pg.create_database(), redactor=Redactor([]))
        with store:
            yield store, Path(scratch), f"PostgreSQL {server_version(pg)}"


def server_version(cluster: PostgresCluster) -> str:
    import psycopg

    dsn = f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres"
    with psycopg.connect(dsn, password=cluster.password) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown",
    )
    # The 1-minute load average: these machines are shared, and a busy neighbour shows in the tails.
    return {"nproc": len(os.sched_getaffinity(0)), "arch": platform.machine(), "cpu": cpu, "load": os.getloadavg()[0]}


def print_report(result: Mapping[str, Any]) -> None:
    m = result["machine"]
    print(f"overseer store benchmark, {result['date']}: {m['nproc']} cores, {m['arch']} ({m['cpu']})")
    print(f"load average (1 min) before: {m['load']:.2f}, after: {result['load_after']:.2f}")
    backends = result["backends"]
    print("\n| ms | " + " | ".join(f"{b['name']} p50 | p95 | p99 | CPU p50" for b in backends.values()) + " |")
    print("| --- |" + " --- | --- | --- | --- |" * len(backends))
    for operation in OPERATIONS:
        cells = []
        for backend in backends.values():
            stats = backend["operations"][operation]
            cells += [_ms(stats["p50"]), _ms(stats["p95"]), _ms(stats["p99"]), _ms(stats["cpu_p50"])]
        print(f"| {operation} | " + " | ".join(cells) + " |")


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1000
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=1000, help="calls timed per operation (default: 1000)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"where to write the results ({DEFAULT_JSON})")
    args = parser.parse_args(argv)
    if args.samples < 20:
        parser.error("--samples must be at least 20 (p99 needs them)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    before = machine()
    backends: dict[str, Any] = {}
    for key, opened in (("sqlite", sqlite_store), ("postgresql", postgres_store)):
        with opened() as (store, workspace, name):
            samples = measure(store, workspace, args.samples)
        backends[key] = {"name": name, "operations": {op: samples[op].figures() for op in OPERATIONS}}
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": before,
        "python": platform.python_version(),
        "samples": args.samples,
        "backends": backends,
        "load_after": os.getloadavg()[0],
    }
    print_report(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
