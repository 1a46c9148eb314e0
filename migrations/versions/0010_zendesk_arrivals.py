"""zendesk arrivals: tickets born in Zendesk, matched to a partner or waiting in the unmatched list

Revision ID: 0010
Revises: 0009
Create Date: 2027-01-10 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "zendesk_arrivals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("zendesk_ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("zendesk_requester_id", sa.BigInteger(), nullable=True),
        sa.Column("zendesk_organization_id", sa.BigInteger(), nullable=True),
        sa.Column("requester_email", sa.String(length=254), nullable=False),
        sa.Column("requester_name", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=60), nullable=False),
        sa.Column("zendesk_created_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('matched', 'unmatched', 'linked', 'ignored')", name=op.f("ck_zendesk_arrivals_state_known")
        ),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"], name=op.f("fk_zendesk_arrivals_decided_by_id_users")),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_zendesk_arrivals_ticket_id_tickets"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zendesk_arrivals")),
        sa.UniqueConstraint("zendesk_ticket_id", name=op.f("uq_zendesk_arrivals_zendesk_ticket_id")),
    )
    with op.batch_alter_table("zendesk_arrivals", schema=None) as batch_op:
        batch_op.create_index("ix_zendesk_arrivals_state_received", ["state", "received_at"], unique=False)


def downgrade():
    op.drop_table("zendesk_arrivals")
