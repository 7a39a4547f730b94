"""a camera zone's display name (what people read), apart from the local name cameras match it by

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # zones already in the registry get an empty display name: people read their node name until one is given
    with op.batch_alter_table("camera_zone") as batch:
        batch.add_column(sa.Column("display_name", sa.String(length=200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("camera_zone") as batch:
        batch.drop_column("display_name")
