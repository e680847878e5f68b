"""openings: a slot no opening covers any more (or in an adviser's absence) that still holds appointments
is closed (slot.closed_at) rather than deleted; its free places are no longer offered. And appointment.status
widened to 20 characters: "service_cancelled" (17) did not fit in 16 on PostgreSQL

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
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.alter_column(
            "status", existing_type=sa.String(length=16), type_=sa.String(length=20), existing_nullable=False
        )


def downgrade() -> None:
    op.execute("UPDATE appointment SET status = 'cancelled' WHERE status = 'service_cancelled'")
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.alter_column(
            "status", existing_type=sa.String(length=20), type_=sa.String(length=16), existing_nullable=False
        )
    with op.batch_alter_table("slot", schema=None) as batch_op:
        batch_op.drop_column("closed_at")
