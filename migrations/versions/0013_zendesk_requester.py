"""the Zendesk requester of a ticket, so the partner's comments are posted as theirs

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("zendesk_requester_id", sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("zendesk_requester_id")
