"""email target: the outbox sends e-mail

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 18:00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TARGETS_BEFORE = ("zendesk", "monday", "slack")
TARGETS_AFTER = (*TARGETS_BEFORE, "email")


def _allow_targets(targets: tuple[str, ...]) -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_messages_target_known"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_outbox_messages_target_known"), "target IN (" + ", ".join(f"'{t}'" for t in targets) + ")"
        )


def upgrade():
    _allow_targets(TARGETS_AFTER)


def downgrade():
    # Refused while e-mail messages are in the outbox: deliver or delete them first.
    _allow_targets(TARGETS_BEFORE)
