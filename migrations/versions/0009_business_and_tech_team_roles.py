"""business and tech_team roles: the Marketing and business area, and level 3's technical team

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 16:30:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ROLES_BEFORE = ("partner", "ticket_admin", "agent_l1", "agent_l2", "vp")
ROLES_AFTER = (*ROLES_BEFORE, "tech_team", "business")


def _allow_roles(roles: tuple[str, ...]) -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_users_role_known"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_users_role_known"), "role IN (" + ", ".join(f"'{role}'" for role in roles) + ")"
        )


def upgrade():
    _allow_roles(ROLES_AFTER)


def downgrade():
    # Refused while users of the new roles exist: give them another role first (none is deleted).
    _allow_roles(ROLES_BEFORE)
