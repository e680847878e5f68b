"""broadcast texts: the staff text of a broadcast in other languages than French (Réunion Creole, rcf)

Revision ID: 0010_broadcast_texts
Revises: 0009_scheme_texts
Create Date: 2026-12-07 01:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_broadcast_texts"
down_revision = "0009_scheme_texts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        # Existing broadcasts are in French only; the default only fills them
        batch_op.add_column(sa.Column("texts", sa.JSON(), server_default="{}", nullable=False))
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.alter_column("texts", existing_type=sa.JSON(), existing_nullable=False, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.drop_column("texts")
