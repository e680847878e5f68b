"""eligibility: a scheme's upper age with a recognised disability (or none), the ages where its age rule has
exceptions, whether it is only for people without work, the other conditions of its audience (criteria) and
the situations its rules make a priority

Revision ID: 0008_eligibility
Revises: 0007_openings
Create Date: 2026-12-04 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_eligibility"
down_revision = "0007_openings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scheme", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_max_age", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("disabled_any_age", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("without_work", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("age_exceptions", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("criteria", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("priority", sa.JSON(), server_default="[]", nullable=False))
    with op.batch_alter_table("scheme", schema=None) as batch_op:
        batch_op.alter_column("disabled_any_age", existing_type=sa.Boolean(), server_default=None)
        batch_op.alter_column("without_work", existing_type=sa.Boolean(), server_default=None)
        batch_op.alter_column("age_exceptions", existing_type=sa.JSON(), existing_nullable=False, server_default=None)
        batch_op.alter_column("criteria", existing_type=sa.JSON(), existing_nullable=False, server_default=None)
        batch_op.alter_column("priority", existing_type=sa.JSON(), existing_nullable=False, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("scheme", schema=None) as batch_op:
        batch_op.drop_column("priority")
        batch_op.drop_column("criteria")
        batch_op.drop_column("age_exceptions")
        batch_op.drop_column("without_work")
        batch_op.drop_column("disabled_any_age")
        batch_op.drop_column("disabled_max_age")
