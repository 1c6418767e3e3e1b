"""The agent dies with overseer: a launcher that ties the CLI's life to its parent's.

Ctrl-C reaches the whole process group, and overseer ends its agent itself. A SIGKILL of overseer
alone (the OOM killer, `kill -9 PID`) gives it no chance to: the CLI would go on with the turn it
was in, and could write to the workspace while the next run's recovery restores it. The kernel can
do what overseer no longer can: `setpriv --pdeathsig KILL` (util-linux) asks it to SIGKILL the CLI
the moment the thread that started it is gone. The launcher is a two-line script, because the SDK
takes a path to run, not a function to call in the child. Where `setpriv` is missing (not Linux),
the CLI runs as it is, and docs/how-it-works.md says what that costs.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path


def tied_to_parent(cli: Path, directory: Path) -> Path:
    """A launcher in `directory` that runs `cli` so that it is killed when overseer dies; `cli`
    itself when the kernel's parent-death signal cannot be asked for here."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return cli
    launcher = directory / "overseer-agent-launcher"
    launcher.write_text(f'#!/bin/sh\nexec {shlex.quote(setpriv)} --pdeathsig KILL -- {shlex.quote(str(cli))} "$@"\n')
    launcher.chmod(0o500)
    return launcher
