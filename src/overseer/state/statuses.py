"""The lifecycles of tasks and attempts (plain enums, importable without the database layer)."""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    NEEDS_HUMAN = "needs_human"
    COMPLETED = "completed"
    FAILED = "failed"
    ABANDONED = "abandoned"


class AttemptStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"  # overseer died or was killed while the agent worked
    TIMED_OUT = "timed_out"
    ERROR = "error"
