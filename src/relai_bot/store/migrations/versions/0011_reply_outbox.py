"""replies through the outbox: a turn's replies are written in its transaction (kind "reply", no
resident needed) and sent after its commit, so that a crash between the two loses none

Revision ID: 0011_reply_outbox
Revises: 0010_broadcast_texts
Create Date: 2026-12-08 03:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_reply_outbox"
down_revision = "0010_broadcast_texts"
branch_labels = None
depends_on = None

OLD_KINDS = "kind IN ('reminder', 'broadcast', 'notification', 'waitlist_offer', 'digest', 'notice')"
NEW_KINDS = "kind IN ('reply', 'reminder', 'broadcast', 'notification', 'waitlist_offer', 'digest', 'notice')"
OLD_RECIPIENT = "resident_id IS NOT NULL OR adviser_id IS NOT NULL"
NEW_RECIPIENT = "resident_id IS NOT NULL OR adviser_id IS NOT NULL OR kind = 'reply'"


def upgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replies", sa.JSON(), nullable=True))
        batch_op.drop_constraint("ck_outbox_message_kind", type_="check")
        batch_op.create_check_constraint("ck_outbox_message_kind", NEW_KINDS)
        batch_op.drop_constraint("ck_outbox_message_recipient", type_="check")
        batch_op.create_check_constraint("ck_outbox_message_recipient", NEW_RECIPIENT)
    op.create_index("ix_outbox_message_replies", "outbox_message", ["channel", "address", "kind"])


def downgrade() -> None:
    op.drop_index("ix_outbox_message_replies", table_name="outbox_message")
    # The earlier schema has no replies in its outbox: those still there go with the downgrade
    op.execute("DELETE FROM outbox_message WHERE kind = 'reply'")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_constraint("ck_outbox_message_recipient", type_="check")
        batch_op.create_check_constraint("ck_outbox_message_recipient", OLD_RECIPIENT)
        batch_op.drop_constraint("ck_outbox_message_kind", type_="check")
        batch_op.create_check_constraint("ck_outbox_message_kind", OLD_KINDS)
        batch_op.drop_column("replies")
