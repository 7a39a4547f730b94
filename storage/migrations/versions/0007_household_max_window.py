"""a household's maximum inactivity limit staff approved (learning may relax its limit up to it)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # none approved for households already in the registry: their limit stays within their window
    with op.batch_alter_table("household") as batch:
        batch.add_column(sa.Column("max_window_h", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("household") as batch:
        batch.drop_column("max_window_h")
