"""Overseer's persistent state: every task, attempt and decision, in one SQL database.

`Store` is the only way in; `models` holds the tables and the status enums.
"""

from overseer.state.models import AttemptStatus, TaskStatus
from overseer.state.store import Store, sqlite_url

__all__ = ["AttemptStatus", "Store", "TaskStatus", "sqlite_url"]
