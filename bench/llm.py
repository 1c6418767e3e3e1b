"""Benchmark: how long the supervisor model takes to answer, per question, per provider that runs here.

Two questions, as an overseer run asks them, on the demo's workspace:
- review: the reviewer's question about an attempt (the task, the agent's message, gates, diff,
  the files it concerns), packed to the model's window;
- draft: a trusted supervisor's brief for a first prompt (the task, the project's files, notes).

Each sample is a new question: the task stays, the agent's message and diff change (reviews), and
the task's last sentence changes (drafts), alternating review and draft as a run alternates them.
The time is the caller's: packing and token counting included, as the loop waits for it.

Providers:
- embedded: llama-cpp-python in this process, the packaged model, with its prompt cache (model
  states kept by prompt, `prompt_cache_mib`, the default) and without it (then llama.cpp reuses
  only the previous question's prefix, which alternating questions barely share). Both in this one
  run, so their ratio is measured under the same load;
- openai: llama-cpp-python's OpenAI-compatible server on loopback, serving the same model, as it
  runs out of the box (no `--cache`).

No assertion on time: these machines are shared; the load average is printed with the figures.
Run: `.venv/bin/python bench/llm.py [--samples N]` (part of `make bench`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from overseer import demo
from overseer.domain import AgentResult, Evidence, FileChange, GateResult
from overseer.llm.base import LLM
from overseer.llm.embedded import EmbeddedConfig, EmbeddedLLM, default_model_path
from overseer.llm.openai import OpenAIConfig, OpenAILLM
from overseer.supervise.draft import PromptWriter
from overseer.supervise.review import Reviewer
from overseer.testing.llama_server import LlamaCppServer

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "bench" / "results" / "llm.json"
TARGET_P95_S = 10.0  # the original plan's bound on a supervisor answer
GATES = (GateResult("tests", True, "3 passed", passed_count=3, verifies=True),)
THREADS = 2  # the embedded model and the server get the same threads


def review_evidence(workspace: Path, sample: int) -> Evidence:
    diff = (
        "--- a/textstats.py\n+++ b/textstats.py\n@@ -1,3 +1,3 @@\n def word_count(text):\n"
        f"-    raise NotImplementedError\n+    return len(text.split())  # sample {sample}\n"
    )
    return Evidence(
        task=demo.TASK,
        attempt=1,
        workspace=workspace,
        result=AgentResult("s", False, f"Implemented word_count (try {sample}); the 3 tests pass."),
        changes=(FileChange("textstats.py", "modified", "a" * 40, "b" * 40),),
        diff=diff,
    )


def sample_provider(llm: LLM, workspace: Path, samples: int) -> dict[str, list[float]]:
    """Seconds per question, alternating review and draft; the first of each is a warm-up, dropped."""
    reviewer = Reviewer(llm, trust=0.7)
    writer = PromptWriter(workspace, llm, trust=0.7)
    questions: dict[str, Callable[[int], object]] = {
        "review": lambda n: reviewer.review(review_evidence(workspace, n), GATES),
        "draft": lambda n: writer.first(f"{demo.TASK} Keep the change under {n + 5} lines."),
    }
    times: dict[str, list[float]] = {name: [] for name in questions}
    for n in range(samples + 1):
        for name, ask in questions.items():
            started = time.perf_counter()
            ask(n)
            if n:
                times[name].append(time.perf_counter() - started)
    return times


def p95(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def summary(times: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {name: {"p50": statistics.median(v), "p95": p95(v)} for name, v in times.items()}


def run(samples: int, scratch: Path) -> dict[str, Any]:
    workspace = scratch / "project"
    workspace.mkdir()
    demo.create_project(workspace)
    results: dict[str, Any] = {}
    for label, cache in (("embedded, prompt cache", 256), ("embedded, no prompt cache", 0)):
        llm = EmbeddedLLM(EmbeddedConfig(prompt_cache_mib=cache, n_threads=THREADS))
        llm.preflight()
        results[label] = summary(sample_provider(llm, workspace, samples))
    log = scratch / "llama-server.log"
    with LlamaCppServer(default_model_path(), alias="smollm2", log=log, threads=THREADS) as server:
        config = OpenAIConfig(
            base_url=server.base_url, model="smollm2", response_format="json_object", context_size=2048, max_tokens=192
        )
        results["openai (llama_cpp.server)"] = summary(sample_provider(OpenAILLM(config), workspace, samples))
    with_cache, without = results["embedded, prompt cache"], results["embedded, no prompt cache"]
    ratios = {name: without[name]["p50"] / with_cache[name]["p50"] for name in with_cache}
    return {"providers": results, "no_cache_over_cache_p50": ratios}


def print_report(result: dict[str, Any]) -> None:
    print(f"supervisor latency, {result['date']}: {result['samples']} samples per question, load {result['load']}")
    print(f"  {'provider':<30}{'question':>10}{'p50 s':>9}{'p95 s':>9}")
    for provider, questions in result["figures"]["providers"].items():
        for name, stats in questions.items():
            print(f"  {provider:<30}{name:>10}{stats['p50']:>9.2f}{stats['p95']:>9.2f}")
    for name, ratio in result["figures"]["no_cache_over_cache_p50"].items():
        print(f"  embedded {name}: without the prompt cache / with it (p50): {ratio:.2f}")
    worst = max(s["p95"] for q in result["figures"]["providers"].values() for s in q.values())
    print(f"  slowest p95 {worst:.2f} s (the plan's bound: {TARGET_P95_S:.0f} s)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=8, help="questions of each kind per provider (default: 8)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"where to write the results ({DEFAULT_JSON})")
    args = parser.parse_args(argv)
    if args.samples < 2:
        parser.error("--samples must be at least 2")
    with tempfile.TemporaryDirectory(prefix="overseer-bench-llm-") as tmp:
        figures = run(args.samples, Path(tmp))
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "samples": args.samples,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "nproc": len(os.sched_getaffinity(0)),
        "figures": figures,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
