"""Verdicts, finding routes and human resolutions: what the judge saw, who must act, what a human said.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Findings gain the route their policy row gave them (agent, human, overseer, nobody); existing rows
were all sent to the agent, hence the default. A verdict row per judged attempt keeps its claims,
gates, review, features and failure signature; a resolution row per human answer keeps the label
that `overseer calibrate` learns from.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("route", sa.String(32), server_default=sa.text("'agent'"), nullable=False))
    op.create_table(
        "verdicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        *(sa.Column(name, sa.JSON(), nullable=False) for name in ("claims", "gates")),
        sa.Column("review", sa.JSON(), nullable=True),
        *(sa.Column(name, sa.JSON(), nullable=False) for name in ("features", "signature", "durations")),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], name=op.f("fk_verdicts_attempt_id_attempts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verdicts")),
        sa.UniqueConstraint("attempt_id", name=op.f("uq_verdicts_attempt_id")),
    )
    op.create_table(
        "resolutions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("guidance", sa.Text(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_resolutions_task_id_tasks")),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], name=op.f("fk_resolutions_attempt_id_attempts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolutions")),
    )
    op.create_index(op.f("ix_resolutions_task_id"), "resolutions", ["task_id"])


def downgrade() -> None:
    op.drop_table("resolutions")
    op.drop_table("verdicts")
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("route")
