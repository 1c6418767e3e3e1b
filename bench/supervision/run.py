"""`bench/supervision/run.py`: the same as `python -m bench.supervision`, for running it as a file."""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench.supervision.cli import main

    raise SystemExit(main())
