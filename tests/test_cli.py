"""`flask users create` and `flask demo seed`."""

from __future__ import annotations

from sqlalchemy import func, select

from auth.models import Organization, Role, User
from auth.services import find_user_by_email
from portal.core.extensions import db
from tests.conftest import create_user_command, run_cli

SECRET = "long enough secret"


def test_create_partner_creates_organization(app):
    result = create_user_command(app, "partner", "P@Org.test", "P One", SECRET, organization="New Org")
    assert result.exit_code == 0, result.output
    user = find_user_by_email("p@org.test")
    assert user.organization.name == "New Org" and not user.must_change_password
    again = create_user_command(app, "partner", "p2@org.test", "P Two", SECRET, organization="new org")
    assert again.exit_code == 0
    assert db.session.scalar(select(func.count(Organization.id))) == 1


def test_partner_without_organization_is_refused(app):
    result = create_user_command(app, "partner", "x@y.test", "X", SECRET)
    assert result.exit_code != 0 and "--org" in result.output
    assert find_user_by_email("x@y.test") is None


def test_password_is_prompted_when_omitted(app):
    result = create_user_command(app, "agent_l1", "a@edye.test", "A", input="prompted secret 1\nprompted secret 1\n")
    assert result.exit_code == 0, result.output
    from werkzeug.security import check_password_hash

    assert check_password_hash(find_user_by_email("a@edye.test").password_hash, "prompted secret 1")


def test_short_password_and_duplicate_email_are_clear_errors(app):
    short = create_user_command(app, "vp", "v@edye.test", "V", "short")
    assert short.exit_code == 1 and "12" in short.output
    create_user_command(app, "vp", "v@edye.test", "V", SECRET)
    duplicate = create_user_command(app, "vp", "V@EDYE.test", "V", SECRET)
    assert duplicate.exit_code == 1 and ("Otro usuario" in duplicate.output or "Another user" in duplicate.output)


def test_demo_seed_is_idempotent_and_prints_logins(app):
    first = run_cli(app, "demo", "seed")
    assert first.exit_code == 0, first.output
    assert "admin@edye.test" in first.output and "demo-2026-edye-ta" in first.output
    users = db.session.scalar(select(func.count(User.id)))
    second = run_cli(app, "demo", "seed")
    assert second.exit_code == 0 and "(0 users, 0 tickets created)" in second.output
    assert db.session.scalar(select(func.count(User.id))) == users
    roles = set(db.session.scalars(select(User.role)))
    assert roles == {role.value for role in Role}, "one demo user of each role"
    from portal.sla.models import EscalationRow
    from portal.tickets.models import Ticket

    assert db.session.scalar(select(func.count(Ticket.id))) == 3
    assert db.session.scalar(select(func.count(EscalationRow.id))) == 5
    assert all(ticket.sla_due_at for ticket in db.session.scalars(select(Ticket)))
