"""staff desk: the resident's goal (broadcast filter), a staff member's linked Telegram chat and the
state of their guided exchange (/diffuser), who handled a call-back

Revision ID: 0005_staff_desk
Revises: 0004_broadcast_composer
Create Date: 2026-12-03 08:02:44.537289
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import relai_bot.store.types

revision = "0005_staff_desk"
down_revision = "0004_broadcast_composer"
branch_labels = None
depends_on = None

UTC_DATETIME = relai_bot.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff_chat",
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("step", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("draft", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["staff_user_id"], ["staff_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("staff_user_id"),
    )
    with op.batch_alter_table("callback_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handled_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_callback_request_handled_by_id", "staff_user", ["handled_by_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("resident", schema=None) as batch_op:
        batch_op.add_column(sa.Column("goal", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("telegram_chat_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("telegram_linked_at", UTC_DATETIME, nullable=True))
        batch_op.add_column(sa.Column("telegram_link_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("telegram_link_expires_at", UTC_DATETIME, nullable=True))
        batch_op.create_unique_constraint("uq_staff_user_telegram_chat_id", ["telegram_chat_id"])


def downgrade() -> None:
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.drop_constraint("uq_staff_user_telegram_chat_id", type_="unique")
        batch_op.drop_column("telegram_link_expires_at")
        batch_op.drop_column("telegram_link_code")
        batch_op.drop_column("telegram_linked_at")
        batch_op.drop_column("telegram_chat_id")
    with op.batch_alter_table("resident", schema=None) as batch_op:
        batch_op.drop_column("goal")
    with op.batch_alter_table("callback_request", schema=None) as batch_op:
        batch_op.drop_constraint("fk_callback_request_handled_by_id", type_="foreignkey")
        batch_op.drop_column("handled_by_id")
    op.drop_table("staff_chat")
