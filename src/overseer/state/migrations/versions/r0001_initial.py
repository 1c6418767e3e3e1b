"""Initial schema: projects, tasks and their dependencies, attempts and what each left behind.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand to match `overseer.state.models` (a test compares the two). Enum columns are
plain strings and timestamps carry a time zone, as in the models; constraint names follow the
models' naming convention so that later revisions can alter them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENUM = sa.String(32)
TIMESTAMP = sa.DateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), nullable=False)


def _attempt_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], name=op.f(f"fk_{table}_attempt_id_attempts"))


def upgrade() -> None:
    _create_projects_and_tasks()
    _create_attempts_and_events()
    _create_attempt_results()


def _create_projects_and_tasks() -> None:
    op.create_table(
        "projects",
        _id(),
        sa.Column("workspace", sa.String(4096), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("workspace", name=op.f("uq_projects_workspace")),
    )
    op.create_table(
        "tasks",
        _id(),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("session_id", sa.String(255), nullable=True),
        sa.Column("guidance", sa.Text(), nullable=True),
        sa.Column("brief", sa.Text(), nullable=True),
        sa.Column("budget_start", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_tasks_project_id_projects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index(op.f("ix_tasks_project_id"), "tasks", ["project_id"])
    op.create_table(
        "task_dependencies",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("depends_on_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_task_dependencies_task_id_tasks")),
        sa.ForeignKeyConstraint(["depends_on_id"], ["tasks.id"], name=op.f("fk_task_dependencies_depends_on_id_tasks")),
        sa.PrimaryKeyConstraint("task_id", "depends_on_id", name=op.f("pk_task_dependencies")),
    )


def _create_attempts_and_events() -> None:
    op.create_table(
        "attempts",
        _id(),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("session_id", sa.String(255), nullable=True),
        sa.Column("checkpoint_before", sa.String(255), nullable=False),
        sa.Column("checkpoint_after", sa.String(255), nullable=True),
        sa.Column("result_text", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_attempts_task_id_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
        sa.UniqueConstraint("task_id", "number", name=op.f("uq_attempts_task_id_number")),
    )
    op.create_index(op.f("ix_attempts_task_id"), "attempts", ["task_id"])
    op.create_table(
        "events",
        _id(),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        _attempt_fk("events"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("attempt_id", "seq", name=op.f("uq_events_attempt_id_seq")),
    )


def _create_attempt_results() -> None:
    op.create_table(
        "file_changes",
        _id(),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(4096), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sha_before", sa.String(64), nullable=True),
        sa.Column("sha_after", sa.String(64), nullable=True),
        _attempt_fk("file_changes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_changes")),
    )
    op.create_index(op.f("ix_file_changes_attempt_id"), "file_changes", ["attempt_id"])
    op.create_table(
        "findings",
        _id(),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("severity", ENUM, nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        _attempt_fk("findings"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
    )
    op.create_index(op.f("ix_findings_attempt_id"), "findings", ["attempt_id"])
    op.create_table(
        "decisions",
        _id(),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("decision", ENUM, nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=False),
        sa.Column("brief", sa.Text(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        _attempt_fk("decisions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
        sa.UniqueConstraint("attempt_id", name=op.f("uq_decisions_attempt_id")),
    )


def downgrade() -> None:
    children_first = ("decisions", "findings", "file_changes", "events", "attempts", "task_dependencies")
    for table in (*children_first, "tasks", "projects"):
        op.drop_table(table)
