"""openings: a slot no opening covers any more (or in an adviser's absence) that still holds appointments
is closed (slot.closed_at) rather than deleted; its free places are no longer offered

Revision ID: 0007_openings
Revises: 0006_agenda
Create Date: 2026-12-03 12:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import relai_bot.store.types

revision = "0007_openings"
down_revision = "0006_agenda"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("slot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_at", relai_bot.store.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("slot", schema=None) as batch_op:
        batch_op.drop_column("closed_at")
