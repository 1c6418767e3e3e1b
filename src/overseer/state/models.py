"""The tables overseer keeps: tasks, the attempts at them, and everything each attempt left behind.

Written for SQLite today and PostgreSQL tomorrow: generic column types only (JSON, not JSONB;
enums stored as their string values, not native enum types), timestamps timezone-aware in UTC,
and Python-side defaults so that an object returned by the store is complete without a reload.

No relationships on purpose: the store returns detached rows and answers every "what belongs to
this" question with an explicit query, so nothing lazy-loads after its session is closed.
Any change here needs a new Alembic revision in `migrations/versions/`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text  # renamed: `Task.text` is a column
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from overseer.domain import AttemptStatus, Decision, Route, Severity, TaskStatus

# Named constraints: Alembic needs names to alter constraints later (batch mode on SQLite included).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ENUM_LENGTH = 32  # room for longer enum values later without a migration


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores no offset and returns naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: overseer stores UTC-aware datetimes only")
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(enum: type[StrEnum]) -> Enum:
    """Store an enum's values ("needs_human"), not its names, in a plain string column."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,  # new values must not need a table rebuild on SQLite
        length=ENUM_LENGTH,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace: Mapped[str] = mapped_column(String(4096), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(default=0, server_default=sql_text("0"))
    status: Mapped[TaskStatus] = mapped_column(str_enum(TaskStatus), default=TaskStatus.PENDING)
    session_id: Mapped[str | None] = mapped_column(String(255))
    guidance: Mapped[str | None] = mapped_column(Text)  # a human's guidance for the next attempt
    brief: Mapped[str | None] = mapped_column(Text)  # why a human is needed
    # Attempt number from which max_attempts is counted; a human retry moves it past the old attempts.
    budget_start: Mapped[int] = mapped_column(default=1, server_default=sql_text("1"))
    # The runner working on the task and until when its claim holds (renewed while it works).
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    pending_feedback: Mapped[str | None] = mapped_column(Text)  # a retry's feedback, until an attempt is judged
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=sql_text("'[]'"))  # for breakpoints
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TaskDependency(Base):
    __tablename__ = "task_dependencies"

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    depends_on_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), primary_key=True)


class Attempt(Base):
    __tablename__ = "attempts"
    __table_args__ = (UniqueConstraint("task_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[AttemptStatus] = mapped_column(str_enum(AttemptStatus), default=AttemptStatus.RUNNING)
    prompt: Mapped[str] = mapped_column(Text)
    session_id: Mapped[str | None] = mapped_column(String(255))
    checkpoint_before: Mapped[str] = mapped_column(String(255))
    checkpoint_after: Mapped[str | None] = mapped_column(String(255))
    result_text: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    cost_usd: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("attempt_id", "seq"),)  # also the index for reading in order

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column()
    at: Mapped[datetime] = mapped_column(default=utcnow)


class FileChangeRow(Base):
    __tablename__ = "file_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"), index=True)
    path: Mapped[str] = mapped_column(String(4096))
    kind: Mapped[str] = mapped_column(String(16))  # added | modified | deleted
    sha_before: Mapped[str | None] = mapped_column(String(64))
    sha_after: Mapped[str | None] = mapped_column(String(64))


class FindingRow(Base):
    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"), index=True)
    stage: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(64))
    severity: Mapped[Severity] = mapped_column(str_enum(Severity))
    message: Mapped[str] = mapped_column(Text)
    route: Mapped[Route] = mapped_column(str_enum(Route), default=Route.AGENT, server_default=sql_text("'agent'"))


class DecisionRow(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"), unique=True)
    decision: Mapped[Decision] = mapped_column(str_enum(Decision))
    confidence: Mapped[float | None] = mapped_column(Float)  # None: decided without a verdict
    feedback: Mapped[str] = mapped_column(Text, default="")
    brief: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class VerdictRow(Base):
    """What the judge made of an attempt beyond its findings: the claims as checked, the gates, the
    review, whether anything verified the work, and the features the confidence was computed from
    (kept so that `overseer calibrate` can refit on the workspace's own outcomes)."""

    __tablename__ = "verdicts"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"), unique=True)
    verified: Mapped[bool] = mapped_column()
    confidence: Mapped[float] = mapped_column(Float)
    claims: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    gates: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    review: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    features: Mapped[dict[str, Any]] = mapped_column()
    signature: Mapped[dict[str, Any]] = mapped_column()
    durations: Mapped[dict[str, Any]] = mapped_column()


class Resolution(Base):
    """A human's answer to a task that waited for one: accept, retry (with guidance) or abandon."""

    __tablename__ = "resolutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id"))  # the attempt it answered
    action: Mapped[str] = mapped_column(String(16))  # accept | retry | abandon | allow | deny
    guidance: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by: Mapped[str] = mapped_column(String(255), default="", server_default=sql_text("''"))  # who answered


class BreakpointRow(Base):
    """A rule of the user's that stopped a task for a human (supervise/breakpoints.py), and the answer."""

    __tablename__ = "breakpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id"))
    rule: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # attempt: before it goes further | tool: a call waits
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column()  # a tool breakpoint's pending call
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolution_id: Mapped[int | None] = mapped_column(ForeignKey("resolutions.id"))  # None: still open
