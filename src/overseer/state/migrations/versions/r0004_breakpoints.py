"""Breakpoints: the user's rules that stopped a task, task tags, and who answered.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

A breakpoint row records which rule stopped a task and why (for a tool rule, the pending call), and
links the resolution that answered it. Tasks gain tags (rules can stop the first attempt of a tagged
task); resolutions gain who gave them. Existing tasks have no tags, existing resolutions no name.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("tags", sa.JSON(), server_default="[]", nullable=False))
    with op.batch_alter_table("resolutions") as batch:
        batch.add_column(sa.Column("by", sa.String(255), server_default="", nullable=False))
    op.create_table(
        "breakpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("opened_at", TIMESTAMP, nullable=False),
        sa.Column("resolution_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_breakpoints_task_id_tasks")),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], name=op.f("fk_breakpoints_attempt_id_attempts")),
        sa.ForeignKeyConstraint(
            ["resolution_id"], ["resolutions.id"], name=op.f("fk_breakpoints_resolution_id_resolutions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breakpoints")),
    )
    op.create_index(op.f("ix_breakpoints_task_id"), "breakpoints", ["task_id"])


def downgrade() -> None:
    op.drop_table("breakpoints")
    with op.batch_alter_table("resolutions") as batch:
        batch.drop_column("by")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("tags")
