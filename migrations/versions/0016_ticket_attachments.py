"""ticket_attachments: files on tickets and their comments, stored outside the database

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 20:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ticket_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("uploader_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=80), nullable=False),
        sa.Column("has_thumbnail", sa.Boolean(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("zendesk_attachment_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["ticket_comments.id"],
            name=op.f("fk_ticket_attachments_comment_id_ticket_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_attachments_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["uploader_id"], ["users.id"], name=op.f("fk_ticket_attachments_uploader_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_attachments")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_ticket_attachments_storage_key")),
        sa.UniqueConstraint("zendesk_attachment_id", name=op.f("uq_ticket_attachments_zendesk_attachment_id")),
    )
    op.create_index("ix_ticket_attachments_ticket_comment", "ticket_attachments", ["ticket_id", "comment_id"])


def downgrade():
    op.drop_index("ix_ticket_attachments_ticket_comment", table_name="ticket_attachments")
    op.drop_table("ticket_attachments")
