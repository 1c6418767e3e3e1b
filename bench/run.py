"""Benchmark: what overseer itself costs per attempt, how fast it starts and how much memory it takes.

Every figure comes from scripted runs on this machine, in this one invocation: the real `claude`
CLI against `ScriptedAnthropicServer` (no model is called, no token spent), the real gates (pytest
in the workspace) and the real embedded supervisor model. The scenario is the demo's: two attempts
per run, the first caught by the tests (so its review is skipped), the second passing and reviewed.

How it is measured:
- `overseer do` runs as a subprocess, in a fresh temp workspace each run, through a tiny `python -c`
  wrapper that calls `overseer.cli.app.main` (what the `overseer` console script does) and then
  reads its own peak RSS; wall time, the per-attempt "timings" events and memory come from the
  same runs. One `do` run before them is a discarded warm-up (disk caches: the model, the CLI).
- The scripted server runs in this process; the subprocess gets `claude_environ`: no real
  ANTHROPIC_* / CLAUDE_* variable, a dummy key, a temp CLAUDE_CONFIG_DIR. OVERSEER_* variables are
  dropped and XDG_CONFIG_HOME points at an empty temp dir, so no user config leaks in.
- Peak RSS is RUSAGE_SELF: overseer's own process. The `claude` CLI child (and pytest, run by the
  gates) are NOT counted; the largest child's peak is shown for information only.
- No assertion on timing; the run only fails if the scenario itself did not play out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from overseer import demo
from overseer.agents.claude_code import bundled_cli
from overseer.redact import Redactor
from overseer.state.models import Event
from overseer.state.store import Store, sqlite_url
from overseer.testing import ScriptedAnthropicServer, Turn, claude_environ

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "bench" / "results" / "latest.json"
PYTHON = Path(sys.executable)  # `make bench` runs the venv's interpreter
OVERSEER = PYTHON.with_name("overseer")
EXPECTED = ("completed", 2)  # the demo's outcome: (status, attempts)
GRACE_S = 5.0  # the SDK waits this long for the CLI to exit after closing its stdin

# Runs `overseer` with argv[2:], then writes its peak RSS (KiB on Linux) to argv[1].
WRAPPER = """
import json, resource, sys
from overseer.cli.app import main
code = main(sys.argv[2:])
peak = {
    "self_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "children_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
}
with open(sys.argv[1], "w") as out:
    json.dump(peak, out)
sys.exit(code)
"""


@dataclass(frozen=True)
class Attempt:
    """One attempt's "timings" event, plus two figures derived from its event times."""

    number: int
    agent_s: float
    validate_s: float
    gates_s: float
    review_s: float
    total_s: float
    cli_outside_s: float  # agent_s less the conversation (init -> result): CLI start-up and exit
    after_result_s: float  # the CLI's result -> the judge starting: CLI exit, checkpoint, diff
    gate_s: Mapping[str, float]  # seconds per gate ("tests", "coverage", "examples"...), and "baseline"

    @property
    def overhead_s(self) -> float:
        """Time spent neither waiting on the agent nor on the supervisor model."""
        return self.total_s - self.agent_s - self.review_s

    @property
    def bookkeeping_s(self) -> float:
        """Overhead less validation and gates: checkpoints, diff, prompt, store writes."""
        return self.overhead_s - self.validate_s - self.gates_s

    @property
    def overhead_share(self) -> float:
        return self.overhead_s / self.total_s

    @property
    def judge_bookkeeping_s(self) -> float:
        """The judge's own work outside the runs it makes: validation, scope, claims, scratch copies,
        waiting on the baseline thread (the gates' own subprocesses are not counted)."""
        gates = sum(seconds for name, seconds in self.gate_s.items() if name != "baseline")
        return self.validate_s + self.gates_s - gates


@dataclass(frozen=True)
class Process:
    """One wrapped `overseer` subprocess: wall time and peak RSS."""

    wall_s: float
    peak_kib: int
    child_peak_kib: int  # the largest child (the `claude` CLI); not counted as overseer's


@dataclass(frozen=True)
class DoRun:
    do: Process
    status: Process
    attempts: tuple[Attempt, ...]

    @property
    def outside_attempts_s(self) -> float:
        """Wall time not inside any attempt: start-up, imports, model load, store, the summary."""
        return self.do.wall_s - sum(a.total_s for a in self.attempts)


# --- statistics ---------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def p95(values: Sequence[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"median": median(values), "p95": p95(values)}


# --- running overseer ---------------------------------------------------------------------------


def bench_environ(server_url: str, scratch: Path) -> dict[str, str]:
    """A clean environment pointed at the scripted server; no user or developer config gets in."""
    env = claude_environ(os.environ, server_url, scratch / "claude-config")
    env = {k: v for k, v in env.items() if not k.startswith("OVERSEER_")}
    (scratch / "xdg-config").mkdir(exist_ok=True)
    env["XDG_CONFIG_HOME"] = str(scratch / "xdg-config")
    return env


def run_wrapped(args: Sequence[str], env: Mapping[str, str], scratch: Path) -> tuple[Process, str]:
    """Run `overseer ARGS` through the wrapper; return its wall time, peak RSS and stdout."""
    usage = scratch / "rusage.json"
    started = time.perf_counter()
    done = subprocess.run(
        [str(PYTHON), "-c", WRAPPER, str(usage), *args], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"overseer {args[0]} exited {done.returncode}: {done.stderr[-2000:]}")
    peak = json.loads(usage.read_text(encoding="utf-8"))
    return Process(wall, peak["self_kib"], peak["children_kib"]), done.stdout


def timed(command: Sequence[str], env: Mapping[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


@dataclass(frozen=True)
class Scripted:
    """A fresh copy of the demo's project, the scripted model serving `session` for it, and the
    clean environment that points the CLI at it."""

    scratch: Path
    workspace: Path
    env: dict[str, str]


@contextmanager
def scripted_demo(session: Callable[[Path], list[Turn]]) -> Iterator[Scripted]:
    with tempfile.TemporaryDirectory(prefix="overseer-bench-") as tmp:
        scratch = Path(tmp).resolve()
        workspace = scratch / "project"
        workspace.mkdir()
        demo.create_project(workspace)
        with ScriptedAnthropicServer(session(workspace)) as server:
            yield Scripted(scratch, workspace, bench_environ(server.url, scratch))


def one_run() -> DoRun:
    """The demo scenario in a fresh workspace: `overseer do`, then `overseer status` on the result."""
    with scripted_demo(demo.scripted_session) as run:
        do, out = run_wrapped(["do", "--json", "-w", str(run.workspace), demo.TASK], run.env, run.scratch)
        task_id = check_outcome(json.loads(out))
        status, _ = run_wrapped(["status", "-w", str(run.workspace)], run.env, run.scratch)
        return DoRun(do, status, read_attempts(run.workspace, task_id))


@dataclass(frozen=True)
class SideBySide:
    """One honest attempt (one Edit, the tests pass) done twice in fresh workspaces: by the bare
    `claude -p` and by `overseer do`, which adds the judge, the store and the supervisor model."""

    claude_s: float
    do_s: float  # a new process that imports everything itself (OVERSEER_RESIDENT=0)
    attempt: Attempt
    resident_do_s: float  # the same command forked by a running resident (cli/resident.py)


def side_by_side(runtime: Path) -> SideBySide:
    claude_s = _scripted_bare_claude()
    with scripted_demo(demo.honest_session) as run:
        do, out = run_wrapped(["do", "--json", "-w", str(run.workspace), demo.TASK], run.env, run.scratch)
        attempt = _honest_attempt(run.workspace, out)
    with scripted_demo(demo.honest_session) as run:
        env = {**run.env, "XDG_RUNTIME_DIR": str(runtime), "OVERSEER_RESIDENT": "1"}
        started = time.perf_counter()
        done = subprocess.run(
            [str(PYTHON), "-m", "overseer", "do", "--json", "-w", str(run.workspace), demo.TASK],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        resident_s = time.perf_counter() - started
        _honest_attempt(run.workspace, done.stdout)
    return SideBySide(claude_s, do.wall_s, attempt, resident_s)


def _honest_attempt(workspace: Path, out: str) -> Attempt:
    summary = json.loads(out)
    if (summary["status"], summary["attempts"]) != ("completed", 1):
        raise RuntimeError(f"the honest attempt ended {summary['status']}: {summary.get('error')}")
    (attempt,) = read_attempts(workspace, int(summary["task_id"]))
    return attempt


@contextmanager
def resident() -> Iterator[Path]:
    """A resident process in a runtime directory of the benchmark's own, stopped after."""
    with tempfile.TemporaryDirectory(prefix="overseer-bench-run-") as runtime:
        os.chmod(runtime, 0o700)
        env = {**bench_environ("http://127.0.0.1:9", Path(runtime)), "XDG_RUNTIME_DIR": runtime}
        env.update(OVERSEER_RESIDENT="1")
        env.pop("CI", None)
        overseer = [str(PYTHON), "-m", "overseer", "resident"]
        subprocess.run([*overseer, "--start"], env=env, check=True, capture_output=True)
        try:
            yield Path(runtime)
        finally:
            subprocess.run([*overseer, "--stop"], env=env, check=True, capture_output=True)


def _scripted_bare_claude() -> float:
    """`claude -p` doing the honest attempt's script on its own (file edits accepted, no overseer)."""
    with scripted_demo(demo.honest_session) as run:
        command = [str(bundled_cli()), "-p", demo.TASK, "--permission-mode", "acceptEdits"]
        started = time.perf_counter()
        subprocess.run(command, cwd=run.workspace, env=run.env, capture_output=True, check=True)
        seconds = time.perf_counter() - started
        if "len(text.split())" not in (run.workspace / "textstats.py").read_text(encoding="utf-8"):
            raise RuntimeError("the bare claude run did not make the scripted edit")
        return seconds


def check_outcome(summary: dict[str, Any]) -> int:
    """The figures only mean something if the scenario played out as scripted."""
    got = (summary["status"], summary["attempts"])
    if got != EXPECTED:
        raise RuntimeError(f"the demo scenario ended {got}, not {EXPECTED}: {summary.get('error')}")
    return int(summary["task_id"])


# --- reading the store --------------------------------------------------------------------------


def read_attempts(workspace: Path, task_id: int) -> tuple[Attempt, ...]:
    store = Store.open(sqlite_url(workspace / ".overseer" / "state.db"), redactor=Redactor([]))
    try:
        return tuple(attempt_sample(a.number, store.events(a.id)) for a in store.attempts(task_id))
    finally:
        store.close()


def attempt_sample(number: int, events: Sequence[Event]) -> Attempt:
    session, result, timings = (_last(events, kind) for kind in ("session", "result", "timings"))
    t = timings.data
    judged = t["validate_s"] + t["gates_s"] + t.get("review_s", 0.0)
    conversation = (result.at - session.at).total_seconds()
    judge_started = timings.at.timestamp() - judged
    return Attempt(
        number=number,
        agent_s=t["agent_s"],
        validate_s=t["validate_s"],
        gates_s=t["gates_s"],
        review_s=t.get("review_s", 0.0),
        total_s=t["total_s"],
        cli_outside_s=t["agent_s"] - conversation,
        after_result_s=judge_started - result.at.timestamp(),
        gate_s={key[len("gate_") : -2]: value for key, value in t.items() if key.startswith("gate_")}
        | ({"baseline": t["baseline_s"]} if "baseline_s" in t else {}),
    )


def _last(events: Sequence[Event], kind: str) -> Event:
    found = [e for e in events if e.kind == kind]
    if not found:
        raise RuntimeError(f"no {kind!r} event in the attempt")
    return found[-1]


# --- figures ------------------------------------------------------------------------------------


def _gate_seconds(attempt: Attempt, name: str) -> float:
    return attempt.gate_s.get(name, 0.0)


# What the judge runs besides the agent: the baseline (run while the agent works; 0 when cached)
# and each gate.
JUDGED_RUNS = ("baseline", "syntax", "tests", "coverage", "examples", "lint")

ATTEMPT_METRICS: dict[str, Callable[[Attempt], float]] = {
    "agent_s": lambda a: a.agent_s,
    "validate_s": lambda a: a.validate_s,
    "gates_s": lambda a: a.gates_s,
    "review_s": lambda a: a.review_s,
    "overhead_s": lambda a: a.overhead_s,
    "total_s": lambda a: a.total_s,
    "bookkeeping_s": lambda a: a.bookkeeping_s,
    "overhead_share": lambda a: a.overhead_share,
    "cli_outside_s": lambda a: a.cli_outside_s,
    "after_result_s": lambda a: a.after_result_s,
    "judge_bookkeeping_s": lambda a: a.judge_bookkeeping_s,
    **{f"gate_{name}_s": partial(_gate_seconds, name=name) for name in JUDGED_RUNS},
}


def attempt_figures(attempts: Sequence[Attempt]) -> dict[str, dict[str, float]]:
    figures = {}
    for name, metric in ATTEMPT_METRICS.items():
        values = [metric(a) for a in attempts]
        by_number = {f"median_attempt_{n}": median([metric(a) for a in attempts if a.number == n]) for n in (1, 2)}
        figures[name] = {**spread(values), **by_number}
    return figures


def kib_to_mib(values: Iterable[int]) -> list[float]:
    return [v / 1024 for v in values]


def memory_figures(runs: Sequence[DoRun]) -> dict[str, float]:
    status = median(kib_to_mib(r.status.peak_kib for r in runs))
    do = median(kib_to_mib(r.do.peak_kib for r in runs))
    return {
        "status_peak_rss_mib": status,
        "do_peak_rss_mib": do,
        "model_share_mib": do - status,
        "claude_child_peak_rss_mib_not_counted": median(kib_to_mib(r.do.child_peak_kib for r in runs)),
    }


def fixed_cost_figures(pairs: Sequence[SideBySide]) -> dict[str, Any]:
    """The issue's goal: `overseer do` at most 3x the bare CLI on one honest attempt."""
    claude, do = median([p.claude_s for p in pairs]), median([p.do_s for p in pairs])
    parts = {
        "agent_s": median([p.attempt.agent_s for p in pairs]),
        "gates_s": median([p.attempt.gates_s for p in pairs]),
        "review_s": median([p.attempt.review_s for p in pairs]),
        "outside_attempt_s": median([p.do_s - p.attempt.total_s for p in pairs]),
    }
    attempt = median([p.attempt.total_s for p in pairs])  # what each further task of a running queue costs
    resident_do = median([p.resident_do_s for p in pairs])
    return {
        "claude_p_s": claude,
        "overseer_do_s": do,
        "ratio": do / claude,
        "resident_do_s": resident_do,
        "resident_ratio": resident_do / claude,
        "attempt_s": attempt,
        "attempt_ratio": attempt / claude,
        "do_parts_median": parts,
    }


def figures(runs: Sequence[DoRun], help_s: Sequence[float], python_s: Sequence[float]) -> dict[str, Any]:
    attempts = [a for r in runs for a in r.attempts]
    after_result_max = max(a.after_result_s for a in attempts)
    # The `do` wall time is more than its attempts: process start-up and imports, the supervisor
    # model's load (preflight, before any attempt), opening and migrating the store, the summary.
    # The SDK's 5 s grace (it waits that long for the CLI to exit after closing its stdin, then
    # terminates it) should only cost time when a run is cancelled (a timeout, Ctrl-C): a CLI that
    # delivered its result exits at once. A grace would show in after_result_s; it is checked here.
    return {
        "per_attempt": attempt_figures(attempts),
        "do_command": {
            "wall_s": spread([r.do.wall_s for r in runs]),
            "outside_attempts_s": spread([r.outside_attempts_s for r in runs]),
            "after_result_max_s": after_result_max,
            "sdk_close_grace_seen": after_result_max >= GRACE_S,
        },
        "startup": {
            "help_s": spread(help_s),
            "python_bare_s": spread(python_s),
            "status_s": spread([r.status.wall_s for r in runs]),
        },
        "memory": memory_figures(runs),
    }


# --- the machine and the report -----------------------------------------------------------------


def _proc_field(path: str, key: str) -> str:
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return "unknown"


def machine() -> dict[str, Any]:
    mem_kib = int(_proc_field("/proc/meminfo", "MemTotal").split()[0])
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gib": round(mem_kib / 1024**2, 1),
        "cpu": _proc_field("/proc/cpuinfo", "model name"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "claude_agent_sdk": metadata.version("claude-agent-sdk"),
        "llama_cpp_python": metadata.version("llama-cpp-python"),
    }


def _row(label: str, *cells: str) -> str:
    return f"  {label:<44}" + "".join(f"{c:>11}" for c in cells)


def _seconds(stats: Mapping[str, float], keys: Sequence[str]) -> list[str]:
    return [f"{stats[k]:.3f}" for k in keys]


def print_attempts(per_attempt: Mapping[str, Mapping[str, float]], count: int) -> None:
    keys = ("median", "p95", "median_attempt_1", "median_attempt_2")
    print(f"\nPer attempt, seconds ({count} attempts; attempt 1 fails the tests, so its review is skipped)")
    print(_row("", "median", "p95", "attempt 1", "attempt 2"))
    labels = {
        "agent_s": "agent (claude CLI, scripted model)",
        "validate_s": "validate",
        "gates_s": "gates (all of them)",
        **{f"gate_{name}_s": f"  {name}" for name in JUDGED_RUNS if name != "baseline"},
        "gate_baseline_s": "baseline (overlaps the agent; 0 when cached)",
        "judge_bookkeeping_s": "judge's own work outside its runs",
        "review_s": "review (embedded supervisor model)",
        "total_s": "total",
        "overhead_s": "overhead = total - agent - review",
        "bookkeeping_s": "  of overhead: checkpoints, diff, store",
        "cli_outside_s": "of agent: CLI start-up + exit",
        "after_result_s": "CLI result -> judge starts",
    }
    for name, label in labels.items():
        print(_row(label, *_seconds(per_attempt[name], keys)))
    share = per_attempt["overhead_share"]
    print(_row("overhead / total", *[f"{share[k]:.1%}" for k in keys]))


def print_fixed_cost(fixed: Mapping[str, Any], count: int) -> None:
    print(f"\nOne honest attempt, side by side ({count} pairs, medians, seconds)")
    print(_row("claude -p alone (same script)", f"{fixed['claude_p_s']:.3f}"))
    print(_row("overseer do, served by the resident", f"{fixed['resident_do_s']:.3f}"))
    print(_row("ratio (goal: 3 or under)", f"{fixed['resident_ratio']:.1f}x"))
    print(_row("overseer do, a cold process (OVERSEER_RESIDENT=0)", f"{fixed['overseer_do_s']:.3f}"))
    print(_row("its ratio", f"{fixed['ratio']:.1f}x"))
    print(_row("the attempt alone (start-up paid once a run)", f"{fixed['attempt_s']:.3f}"))
    print(_row("its ratio", f"{fixed['attempt_ratio']:.1f}x"))
    for name, seconds in fixed["do_parts_median"].items():
        print(_row(f"  of overseer do: {name}", f"{seconds:.3f}"))


def print_report(result: Mapping[str, Any]) -> None:
    m, f = result["machine"], result["figures"]
    print(f"overseer benchmark, {result['date']}: {result['runs']} runs")
    print(f"  {m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}")
    print_attempts(f["per_attempt"], 2 * result["runs"])
    do, start, mem = f["do_command"], f["startup"], f["memory"]
    print("\nWhole commands, seconds")
    print(_row("", "median", "p95"))
    print(_row("overseer do (2 attempts), wall", *_seconds(do["wall_s"], ("median", "p95"))))
    print(_row("  outside attempts: start-up, model, store", *_seconds(do["outside_attempts_s"], ("median", "p95"))))
    print(_row("overseer --help", *_seconds(start["help_s"], ("median", "p95"))))
    print(_row("overseer status (CLI, config, store)", *_seconds(start["status_s"], ("median", "p95"))))
    print(_row("python -c pass (the interpreter alone)", *_seconds(start["python_bare_s"], ("median", "p95"))))
    grace = "SEEN" if do["sdk_close_grace_seen"] else "not seen"
    print(f"  SDK {GRACE_S:.0f} s close grace: {grace} (longest CLI result -> judge: {do['after_result_max_s']:.3f} s)")
    print("\nPeak RSS, MiB (median; overseer's process only, the claude CLI child is not counted)")
    print(_row("overseer status (no model)", f"{mem['status_peak_rss_mib']:.1f}"))
    print(_row("overseer do (embedded model loaded)", f"{mem['do_peak_rss_mib']:.1f}"))
    print(_row("difference: model share (+ run machinery)", f"{mem['model_share_mib']:.1f}"))
    print(_row("claude CLI child (not counted, for scale)", f"{mem['claude_child_peak_rss_mib_not_counted']:.1f}"))


# --- main ---------------------------------------------------------------------------------------


def startup_samples(runs: int) -> tuple[list[float], list[float]]:
    """`overseer --help` and a bare interpreter, each N times after one warm-up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_", "OVERSEER_"))}
    samples: dict[str, list[float]] = {}
    for name, command in (("help", [str(OVERSEER), "--help"]), ("python", [str(PYTHON), "-c", "pass"])):
        timed(command, env)
        samples[name] = [timed(command, env) for _ in range(runs)]
    return samples["help"], samples["python"]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="scripted `overseer do` runs (default: 10)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"where to write the results ({DEFAULT_JSON})")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    help_s, python_s = startup_samples(args.runs)
    one_run()  # warm-up, discarded
    runs = [one_run() for _ in range(args.runs)]
    with resident() as runtime:
        side_by_side(runtime)  # warm-up, discarded
        pairs = [side_by_side(runtime) for _ in range(args.runs)]
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "runs": args.runs,
        "figures": figures(runs, help_s, python_s) | {"fixed_cost": fixed_cost_figures(pairs)},
        "samples": {
            "do": [asdict(r) for r in runs],
            "side_by_side": [asdict(p) for p in pairs],
            "help_s": help_s,
            "python_bare_s": python_s,
        },
    }
    print_report(result)
    print_fixed_cost(result["figures"]["fixed_cost"], len(pairs))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
