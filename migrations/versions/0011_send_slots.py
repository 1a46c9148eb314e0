"""send slots: the earliest time of the next message to a destination, shared by every worker

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "send_slots",
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("next_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("destination", name=op.f("pk_send_slots")),
    )


def downgrade():
    op.drop_table("send_slots")
