"""posted reports: the reports of §14 the worker posted, one per kind and period

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 16:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "posted_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("slack_posted_at", sa.DateTime(), nullable=True),
        sa.Column("monday_posted_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("kind IN ('daily', 'weekly')", name=op.f("ck_posted_reports_kind_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posted_reports")),
        sa.UniqueConstraint("kind", "period_start", name="uq_posted_reports_kind_period_start"),
    )


def downgrade():
    op.drop_table("posted_reports")
