"""`python -m bench.supervision`: run SupervisionBench and write its results.

    --sample N     N problems drawn at random (seeded), the headline kinds (correct, wrong) for each
                   and `--rotating` of the other kinds in turn (the default: 30 problems, 3 more)
    --full         every problem, every kind
    --fit          also fit the calibration on the results and write it to the package
    --jobs J       cases run J at a time, each in its own worker process (default 2)
    --from-results bench/results/supervision.json
                   run no case: write the page and the diagram (and with --fit the calibration)
                   again from a saved run

Writes bench/results/supervision.json, bench/results/supervision-reliability.png and
docs/supervision-bench.md, and prints the table.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from bench.supervision import results
from bench.supervision.cases import KINDS, Case, Planner, Prepared, prepare
from bench.supervision.harness import SUPERVISORS, CaseResult, run_case, supervisor_section
from bench.supervision.mutants import operators
from bench.supervision.problems import Problem, load_problems
from overseer.testing import without_model_credentials

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SAMPLE = 30
DEFAULT_ROTATING = 3
SPARES = 3  # problems drawn beyond the sample, to replace those whose docstring examples are wrong
# The dev environment's pytest plugins that an installed overseer does not have: they double the
# cost of every pytest run the gates make (hypothesis alone takes a second to import).
DEV_PLUGINS = "-p no:hypothesispytest -p no:pytest_cov"


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.supervision", description=__doc__.split("\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, help="problems to draw (default 30)")
    size.add_argument("--full", action="store_true", help="all 164 problems, every kind")
    parser.add_argument("--rotating", type=int, default=DEFAULT_ROTATING, help="other kinds per sampled problem")
    parser.add_argument("--problems", help="comma-separated HumanEval numbers, instead of a random sample")
    parser.add_argument("--kinds", type=_kinds, help="comma-separated kinds: only these, each for every problem")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--supervisor",
        default="standin",
        type=_supervisor,
        help="standin (default), embedded, or a YAML file with a `supervisor:` section (a capable model of yours)",
    )
    parser.add_argument("--fit", action="store_true", help="write the fitted calibration into the package")
    parser.add_argument(
        "--from-results", type=Path, help="no cases: write the page, diagram (and --fit) again from a saved JSON"
    )
    parser.add_argument("--out", type=Path, default=ROOT, help="where bench/results and docs go (default: the repo)")
    return parser.parse_args(argv)


def _kinds(value: str) -> frozenset[str]:
    kinds = frozenset(kind.strip() for kind in value.split(",") if kind.strip())
    if unknown := sorted(kinds - set(KINDS)):
        raise argparse.ArgumentTypeError(f"no kind {', '.join(unknown)}; the kinds: {', '.join(KINDS)}")
    return kinds


def _supervisor(value: str) -> str:
    if value in SUPERVISORS:
        return value
    try:
        supervisor_section(Path(value))
    except (OSError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"not {' or '.join(SUPERVISORS)}, nor a usable YAML file: {exc}") from exc
    return str(Path(value).resolve())


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.from_results:
        print(results.rewrite(args.from_results, args.out, fit_calibration=args.fit))
        return 0
    started = time.perf_counter()
    chosen = choose(load_problems(), args)
    with tempfile.TemporaryDirectory(prefix="supervision-bench-") as scratch, _pool(args.jobs, Path(scratch)) as pool:
        prepared = usable(pool.map(prepare_problem, chosen), wanted=_wanted(args, chosen))
        cases = Planner(args.seed, None if args.full else args.rotating, args.kinds).cases(prepared)
        _say(f"{len(cases)} cases from {len(prepared)} problems, {args.jobs} at a time")
        ran = run_all(pool, cases, Path(scratch), args.supervisor)
    seconds = time.perf_counter() - started
    run = results.Run(args, [p.problem.task_id for p in prepared], prepared[0].operators if prepared else "", seconds)
    summary = results.write(run, ran, args.out, fit_calibration=args.fit)
    print(summary)
    return 0


def choose(problems: list[Problem], args: argparse.Namespace) -> list[Problem]:
    """The problems of this run: the named ones, all, or a seeded sample with a few spares at its end."""
    if args.problems:
        wanted = {int(n) for n in args.problems.split(",")}
        return [p for p in problems if p.number in wanted]
    if args.full or args.sample + SPARES >= len(problems):
        return problems
    return random.Random(args.seed).sample(problems, args.sample + SPARES)  # the spares last: cut first


def _wanted(args: argparse.Namespace, chosen: list[Problem]) -> int:
    return args.sample if not (args.full or args.problems) and len(chosen) > args.sample else len(chosen)


def usable(prepared: Iterable[Prepared], wanted: int) -> list[Prepared]:
    """The first `wanted` problems whose docstring examples hold, in HumanEval's order."""
    kept = [item for item in prepared if item.consistent][:wanted]
    return sorted(kept, key=lambda item: item.problem.number)


def prepare_problem(problem: Problem) -> Prepared:
    return prepare(problem, operators())


def run_all(pool: ProcessPoolExecutor, cases: list[Case], root: Path, supervisor: str) -> list[CaseResult]:
    futures: dict[Future[CaseResult], Case] = {pool.submit(run_case, c, root, supervisor): c for c in cases}
    done: list[CaseResult] = []
    for future in as_completed(futures):
        result = future.result()
        done.append(result)
        truth = "good" if result.good else "bad"
        said = f"{result.decision} at {result.confidence}, ground truth {truth}, {result.attempt_s}s"
        _say(f"[{len(done)}/{len(cases)}] {result.id}: {said} {result.error}")
    return sorted(done, key=lambda r: r.id)


def _pool(jobs: int, scratch: Path) -> ProcessPoolExecutor:
    home = scratch / "xdg-config"
    home.mkdir()
    return ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_worker, initargs=(str(home),))


def _worker(config_home: str) -> None:
    """A worker's environment: no model credentials, no user configuration, no dev-only pytest plugins."""
    clean = without_model_credentials(os.environ)
    os.environ.clear()
    os.environ.update({k: v for k, v in clean.items() if not k.startswith("OVERSEER_")})
    os.environ["XDG_CONFIG_HOME"] = config_home
    os.environ["PYTEST_ADDOPTS"] = DEV_PLUGINS


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
