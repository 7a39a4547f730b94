"""the check-in step of an alert (asked, answered, staff pushed): alerts/checkin.py

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # alerts stored before the check-in step had none: staff were told when they opened
    with op.batch_alter_table("alert") as batch:
        batch.add_column(sa.Column("checkin", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("checkin_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("staff_pushed_at", sa.BigInteger(), nullable=True))
    op.execute("UPDATE alert SET staff_pushed_at = opened_at")


def downgrade() -> None:
    with op.batch_alter_table("alert") as batch:
        batch.drop_column("staff_pushed_at")
        batch.drop_column("checkin_at")
        batch.drop_column("checkin")
