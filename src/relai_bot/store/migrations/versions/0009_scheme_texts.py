"""scheme texts: a scheme's name, summary and details in the other languages residents read (Réunion
Creole first), the French ones staying in their columns

Revision ID: 0009_scheme_texts
Revises: 0008_eligibility
Create Date: 2026-12-07 01:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_scheme_texts"
down_revision = "0008_eligibility"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the server default fills the rows already there (no text in another language yet), then goes, as the
    # model has none
    with op.batch_alter_table("scheme", schema=None) as batch_op:
        batch_op.add_column(sa.Column("texts", sa.JSON(), server_default="{}", nullable=False))
    with op.batch_alter_table("scheme", schema=None) as batch_op:
        batch_op.alter_column("texts", existing_type=sa.JSON(), existing_nullable=False, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("scheme", schema=None) as batch_op:
        batch_op.drop_column("texts")
