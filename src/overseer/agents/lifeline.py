"""The agent dies with overseer: a launcher that ties the CLI's life to its parent's.

Ctrl-C reaches the whole process group, and overseer ends its agent itself. A SIGKILL of overseer
alone (the OOM killer, `kill -9 PID`) gives it no chance to: the CLI would go on with the turn it
was in, and could write to the workspace while the next run's recovery restores it. The kernel can
do what overseer no longer can: `setpriv --pdeathsig KILL` (util-linux) asks it to SIGKILL the CLI
the moment the thread that started it is gone.

The SDK takes a path to run, not a function to call in the child, so the launcher is a script that
ships with overseer (`launcher.sh`) and learns what to run from the environment. It is never
written at run time: a file written while another thread forks (the baseline's pytest) can be
held open by the child and fail to start with "Text file busy". Where `setpriv` is missing (not
Linux), the CLI runs as it is, and docs/how-it-works.md says what that costs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

LAUNCHER = Path(__file__).with_name("launcher.sh")


def tied_to_parent(cli: Path) -> tuple[Path, dict[str, str]]:
    """What to run instead of `cli`, and the environment it needs; `cli` itself when the kernel's
    parent-death signal cannot be asked for here."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or not os.access(LAUNCHER, os.X_OK):
        return cli, {}
    return LAUNCHER, {"LIFELINE_SETPRIV": setpriv, "LIFELINE_AGENT_CLI": str(cli)}
