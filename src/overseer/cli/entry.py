"""The `overseer` command's entry point: through the resident process when one serves this code,
else in this process (and then start one for the commands that follow). See `resident.py`."""

from __future__ import annotations

import os
import sys

from overseer.cli import resident


def main(argv: list[str]) -> int:
    environ = dict(os.environ)
    if not resident.served(argv, environ):
        return _here(argv)
    try:
        return resident.run(argv, environ)
    except (resident.ResidentUnavailable, OSError):  # before the command started: run it here
        pass
    code = _here(argv)
    if resident.starts_one(environ):
        _start_quietly(environ)
    return code


def _here(argv: list[str]) -> int:
    from overseer.cli.app import main as app_main

    return app_main(argv)


def _start_quietly(environ: dict[str, str]) -> None:
    """Start a resident for the next command; failing to is not this command's failure."""
    try:
        resident.start(resident.socket_path(environ), environ)
    except (OSError, resident.ResidentUnavailable):
        return


def entry() -> None:
    sys.exit(main(sys.argv[1:]))
