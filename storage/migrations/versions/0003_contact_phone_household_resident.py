"""contacts' phone numbers; a household's resident and phone

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # server defaults: rows already in the registry get an empty value, not NULL
    with op.batch_alter_table("contact") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=32), nullable=False, server_default=""))
    with op.batch_alter_table("household") as batch:
        batch.add_column(sa.Column("resident", sa.String(length=200), nullable=False, server_default=""))
        batch.add_column(sa.Column("phone", sa.String(length=32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("household") as batch:
        batch.drop_column("phone")
        batch.drop_column("resident")
    with op.batch_alter_table("contact") as batch:
        batch.drop_column("phone")
