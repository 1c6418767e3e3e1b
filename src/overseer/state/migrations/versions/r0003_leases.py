"""Task leases and pending feedback: two runners on one store, and nothing lost to a kill.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

A runner claims a task by writing its id into `lease_owner` with an expiry, and renews the expiry
while it works; another runner touches the task only once the lease has expired (or its owner is
seen dead). Tasks running when this revision is applied have no lease, so the next runner
recovers them, as before. `pending_feedback` keeps the feedback a retry decided until an attempt
carrying it is judged, so a kill between attempts does not lose it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(255), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("pending_feedback", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("pending_feedback")
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_owner")
