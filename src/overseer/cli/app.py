"""The `overseer` command: the Typer app and the one place errors become a line and an exit code.

Exit codes: 0 completed, 1 failed, 2 usage or configuration error, 3 waiting for a human,
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import traceback
from collections.abc import Sequence
from importlib import metadata

import typer
from rich.console import Console

from overseer import log
from overseer.cli import (
    breakpoints,
    calibrate,
    checkpoints,
    demo,
    doctor,
    history,
    resident_command,
    run,
    serve,
    shell,
    tasks,
    templates,
    watch,
    workspace,
)
from overseer.errors import OverseerError
from overseer.redact import Redactor

EXIT_INTERRUPTED = 130
INTERRUPTED = (
    "interrupted: the attempt is recorded as interrupted and the workspace put back to its checkpoint; "
    "`overseer run` goes on from there"
)
logger = logging.getLogger(__name__)

app = typer.Typer(
    name="overseer",
    help="Supervise a coding agent with a local LLM: every attempt is judged on evidence "
    "(the diff, the tests, the tool calls), not on the agent's word.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("init")(workspace.init)
app.add_typer(tasks.app, name="task")
app.command("run")(run.run)
app.command("do")(run.do)
app.command("status")(workspace.status)
app.command("resolve")(workspace.resolve)
app.command("breakpoints")(breakpoints.breakpoints)
app.command("serve")(serve.serve)
app.command("watch")(watch.watch)
app.command("shell")(shell.shell)
app.command("history")(history.history)
app.command("export")(history.export)
app.command("checkpoints")(checkpoints.checkpoints)
app.command("rollback")(checkpoints.rollback)
app.command("gc")(checkpoints.gc)
app.command("demo")(demo.demo)
app.command("calibrate")(calibrate.calibrate)
app.command("doctor")(doctor.doctor)
app.command("templates")(templates.templates)
app.command("resident")(resident_command.resident_command)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"overseer {metadata.version('overseer')}")
        raise typer.Exit()


@app.callback()
def _options(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    verbose: bool = typer.Option(False, "--verbose", help="Also show the log (.overseer/overseer.log) on stderr."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Global options (`--debug` and `--verbose` are read again in `main`, which sets up the log)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code; every OverseerError becomes one line here, and
    goes to the log with its cause."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--debug" not in args:
        # The SDK logs its own view of a failure; overseer reports it once, as one line, itself.
        logging.getLogger("claude_agent_sdk").setLevel(logging.CRITICAL)
    log.start(verbose="--verbose" in args, redactor=Redactor.from_environ(os.environ))
    try:
        code = _run(args)
        logger.info("overseer %s: exit %d", shlex.join(args), code)
        return code
    finally:
        log.stop()


def _run(args: list[str]) -> int:
    err = Console(stderr=True, highlight=False)
    try:
        app(args=args, prog_name="overseer")  # standalone: usage errors print and exit 2
    except SystemExit as exc:  # commands end with typer.Exit(code); Typer turns Ctrl-C into 130
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == EXIT_INTERRUPTED:
            logger.warning("interrupted (Ctrl-C)")
            err.print(INTERRUPTED)
        return code
    except KeyboardInterrupt:
        logger.warning("interrupted (Ctrl-C)")
        err.print(INTERRUPTED)
        return EXIT_INTERRUPTED
    except OverseerError as exc:
        logger.error("%s", exc, exc_info=exc)
        if "--debug" in args:
            traceback.print_exc()
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        return exc.exit_code
    except Exception:  # a bug: its traceback goes to the log too, then to the terminal as usual
        logger.exception("unexpected error")
        raise
    return 0
