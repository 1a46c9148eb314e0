"""contract targets: a partner organization's own first-response hours per matrix row

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 16:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sla_contract_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("due_hours", sa.Double(), nullable=False),
        sa.CheckConstraint("due_hours > 0", name=op.f("ck_sla_contract_targets_hours_positive")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sla_contract_targets_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["row_id"],
            ["sla_escalation_rows.id"],
            name=op.f("fk_sla_contract_targets_row_id_sla_escalation_rows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_contract_targets")),
        sa.UniqueConstraint("organization_id", "row_id", name=op.f("uq_sla_contract_targets_organization_id")),
    )
    with op.batch_alter_table("sla_contract_targets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sla_contract_targets_row_id"), ["row_id"], unique=False)


def downgrade():
    with op.batch_alter_table("sla_contract_targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_contract_targets_row_id"))
    op.drop_table("sla_contract_targets")
