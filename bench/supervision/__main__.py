"""`python -m bench.supervision`: see `cli.py`."""

from __future__ import annotations

from bench.supervision.cli import main

raise SystemExit(main())
