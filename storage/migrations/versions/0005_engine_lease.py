"""alerts engines' leases (one active engine, partitions) and the state an engine hands to its successor

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # who may act: a row per lease (`alerts/p0of1`, a partition, an engine's membership); times are the
    # database's clock in ms, so engines on machines whose clocks disagree still agree on expiry
    op.create_table(
        "engine_lease",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", sa.BigInteger(), nullable=False),
    )
    # what the active engine learned (the water routine), for whichever engine holds its lease next
    op.create_table(
        "engine_state",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("saved_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("engine_state")
    op.drop_table("engine_lease")
