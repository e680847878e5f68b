"""agenda and commune data: appointment statuses set by the service (cancelled by the service, excused),
notes and who set the status, one-off openings and absences, advisers' calendar feed, test residents
(the simulator), what a call-back's handler noted, venues' hours and accessibility, schemes' sources,
amount and review dates, the outbox's notices to residents, and the scheme events of the dashboard's funnel

Revision ID: 0006_agenda
Revises: 0005_staff_desk
Create Date: 2026-12-03 12:15:12
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import relai_bot.store.types

revision = "0006_agenda"
down_revision = "0005_staff_desk"
branch_labels = None
depends_on = None

UTC_DATETIME = relai_bot.store.types.UTCDateTime(timezone=True)
OLD_STATUSES = "status IN ('booked', 'cancelled', 'attended', 'no_show')"
OLD_KINDS = "kind IN ('reminder', 'broadcast', 'notification', 'waitlist_offer', 'digest')"
NEW_KINDS = "kind IN ('reminder', 'broadcast', 'notification', 'waitlist_offer', 'digest', 'notice')"
NEW_STATUSES = "status IN ('booked', 'cancelled', 'service_cancelled', 'excused', 'attended', 'no_show')"


def upgrade() -> None:
    op.create_table(
        "absence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("adviser_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", UTC_DATETIME, nullable=False),
        sa.Column("ends_at", UTC_DATETIME, nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("ends_at > starts_at", name="ck_absence_ends_after_start"),
        sa.ForeignKeyConstraint(["adviser_id"], ["adviser.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["staff_user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_absence_starts_at", "absence", ["starts_at"], unique=False)
    op.create_table(
        "scheme_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scheme_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("district_id", sa.Integer(), nullable=True),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["district_id"], ["district.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["scheme_id"], ["scheme.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_scheme_event_scheme_kind_at", "scheme_event", ["scheme_id", "kind", "created_at"])
    with op.batch_alter_table("adviser", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ics_token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("ics_token_created_at", UTC_DATETIME, nullable=True))
        batch_op.create_unique_constraint("uq_adviser_ics_token_hash", ["ics_token_hash"])
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("note_updated_at", UTC_DATETIME, nullable=True))
        batch_op.add_column(sa.Column("status_set_by_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_appointment_status_starts", ["status", "starts_at"], unique=False)
        batch_op.create_foreign_key(
            "fk_appointment_status_set_by_id", "staff_user", ["status_set_by_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.drop_constraint("ck_appointment_status", type_="check")
        batch_op.create_check_constraint("ck_appointment_status", NEW_STATUSES)
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_constraint("ck_outbox_message_kind", type_="check")
        batch_op.create_check_constraint("ck_outbox_message_kind", NEW_KINDS)
    with op.batch_alter_table("callback_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handled_note", sa.Text(), nullable=True))
    with op.batch_alter_table("opening", schema=None) as batch_op:
        batch_op.add_column(sa.Column("on_date", sa.Date(), nullable=True))
        batch_op.alter_column("weekday", existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_check_constraint("ck_opening_weekly_or_once", "(weekday IS NULL) <> (on_date IS NULL)")
        batch_op.create_check_constraint("ck_opening_end_after_start", '"end" > "start"')
        batch_op.create_check_constraint("ck_opening_slot_size", "slot_minutes >= 5 AND capacity >= 1")
    with op.batch_alter_table("resident", schema=None) as batch_op:
        batch_op.add_column(sa.Column("test", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("scheme", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sources", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("amount", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
        batch_op.add_column(sa.Column("checked_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("review_by", sa.Date(), nullable=True))
    with op.batch_alter_table("scheme", schema=None) as batch_op:  # existing rows got [], new ones say theirs
        batch_op.alter_column("sources", existing_type=sa.JSON(), existing_nullable=False, server_default=None)
    with op.batch_alter_table("venue", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opening_hours", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column("accessibility", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
        batch_op.add_column(sa.Column("checked_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("venue", schema=None) as batch_op:
        batch_op.drop_column("checked_on")
        batch_op.drop_column("accessibility")
        batch_op.drop_column("opening_hours")
    with op.batch_alter_table("scheme", schema=None) as batch_op:
        batch_op.drop_column("review_by")
        batch_op.drop_column("checked_on")
        batch_op.drop_column("amount")
        batch_op.drop_column("sources")
    with op.batch_alter_table("resident", schema=None) as batch_op:
        batch_op.drop_column("test")
    op.execute("DELETE FROM opening WHERE weekday IS NULL")
    with op.batch_alter_table("opening", schema=None) as batch_op:
        batch_op.drop_constraint("ck_opening_slot_size", type_="check")
        batch_op.drop_constraint("ck_opening_end_after_start", type_="check")
        batch_op.drop_constraint("ck_opening_weekly_or_once", type_="check")
        batch_op.alter_column("weekday", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("on_date")
    with op.batch_alter_table("callback_request", schema=None) as batch_op:
        batch_op.drop_column("handled_note")
    op.execute("DELETE FROM outbox_message WHERE kind = 'notice'")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_constraint("ck_outbox_message_kind", type_="check")
        batch_op.create_check_constraint("ck_outbox_message_kind", OLD_KINDS)
    # The statuses the earlier schema knew: a cancellation is a cancellation, an excuse a no-show
    op.execute("UPDATE appointment SET status = 'cancelled' WHERE status = 'service_cancelled'")
    op.execute("UPDATE appointment SET status = 'no_show' WHERE status = 'excused'")
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.drop_constraint("ck_appointment_status", type_="check")
        batch_op.create_check_constraint("ck_appointment_status", OLD_STATUSES)
        batch_op.drop_constraint("fk_appointment_status_set_by_id", type_="foreignkey")
        batch_op.drop_index("ix_appointment_status_starts")
        batch_op.drop_column("status_set_by_id")
        batch_op.drop_column("note_updated_at")
    with op.batch_alter_table("adviser", schema=None) as batch_op:
        batch_op.drop_constraint("uq_adviser_ics_token_hash", type_="unique")
        batch_op.drop_column("ics_token_created_at")
        batch_op.drop_column("ics_token_hash")
    op.drop_index("ix_scheme_event_scheme_kind_at", table_name="scheme_event")
    op.drop_table("scheme_event")
    op.drop_index("ix_absence_starts_at", table_name="absence")
    op.drop_table("absence")
