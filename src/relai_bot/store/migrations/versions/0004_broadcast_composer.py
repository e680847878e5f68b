"""broadcast composer: content as data (title, link, scheme, venue, date), audience filters, status,
schedule, author and approver (staff users), interruption

Revision ID: 0004_broadcast_composer
Revises: 0003_staff_accounts
Create Date: 2026-11-30 01:53:17.615944
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import relai_bot.store.types

revision = "0004_broadcast_composer"
down_revision = "0003_staff_accounts"
branch_labels = None
depends_on = None


FOREIGN_KEYS = (
    ("fk_broadcast_scheme_id", "scheme", "scheme_id"),
    ("fk_broadcast_venue_id", "venue", "venue_id"),
    ("fk_broadcast_author_id", "staff_user", "author_id"),
    ("fk_broadcast_approved_by_id", "staff_user", "approved_by_id"),
)


def upgrade() -> None:
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.add_column(sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True))
        batch_op.add_column(sa.Column("link", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.add_column(sa.Column("scheme_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("venue_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("event_at", relai_bot.store.types.UTCDateTime(timezone=True), nullable=True))
        # Existing broadcasts had no filters; the default only fills them
        batch_op.add_column(sa.Column("filters", sa.JSON(), server_default="{}", nullable=False))
        batch_op.add_column(
            sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), server_default="queued", nullable=False)
        )
        batch_op.add_column(sa.Column("scheduled_at", relai_bot.store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("author_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("approved_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("approved_at", relai_bot.store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("interrupted_at", relai_bot.store.types.UTCDateTime(timezone=True), nullable=True)
        )
        for name, table, column in FOREIGN_KEYS:
            batch_op.create_foreign_key(name, table, [column], ["id"], ondelete="SET NULL")
        batch_op.create_check_constraint(
            "ck_broadcast_status", "status IN ('pending_approval', 'queued', 'interrupted')"
        )
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.alter_column("filters", existing_type=sa.JSON(), server_default=None, existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.drop_constraint("ck_broadcast_status", type_="check")
        for name, _, _ in FOREIGN_KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")
        for column in (
            "interrupted_at",
            "approved_at",
            "approved_by_id",
            "author_id",
            "scheduled_at",
            "status",
            "filters",
            "event_at",
            "venue_id",
            "scheme_id",
            "link",
            "title",
        ):
            batch_op.drop_column(column)
