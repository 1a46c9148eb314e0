"""`flask users create` and `flask demo seed`."""

from __future__ import annotations

from sqlalchemy import func, select

from auth.models import Organization, User
from auth.services import find_user_by_email
from portal.core.extensions import db


def run(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_create_partner_creates_organization(app):
    result = run(
        app,
        "users",
        "create",
        "--role",
        "partner",
        "--email",
        "P@Org.test",
        "--name",
        "P One",
        "--password",
        "long enough secret",
        "--org",
        "New Org",
    )
    assert result.exit_code == 0, result.output
    user = find_user_by_email("p@org.test")
    assert user.organization.name == "New Org" and not user.must_change_password
    again = run(
        app,
        "users",
        "create",
        "--role",
        "partner",
        "--email",
        "p2@org.test",
        "--name",
        "P Two",
        "--password",
        "long enough secret",
        "--org",
        "new org",
    )
    assert again.exit_code == 0
    assert db.session.scalar(select(func.count(Organization.id))) == 1


def test_partner_without_organization_is_refused(app):
    result = run(
        app,
        "users",
        "create",
        "--role",
        "partner",
        "--email",
        "x@y.test",
        "--name",
        "X",
        "--password",
        "long enough secret",
    )
    assert result.exit_code != 0 and "--org" in result.output
    assert find_user_by_email("x@y.test") is None


def test_password_is_prompted_when_omitted(app):
    result = run(
        app,
        "users",
        "create",
        "--role",
        "agent_l1",
        "--email",
        "a@edye.test",
        "--name",
        "A",
        input="prompted secret 1\nprompted secret 1\n",
    )
    assert result.exit_code == 0, result.output
    from werkzeug.security import check_password_hash

    assert check_password_hash(find_user_by_email("a@edye.test").password_hash, "prompted secret 1")


def test_short_password_and_duplicate_email_are_clear_errors(app):
    short = run(app, "users", "create", "--role", "vp", "--email", "v@edye.test", "--name", "V", "--password", "short")
    assert short.exit_code == 1 and "12" in short.output
    run(
        app,
        "users",
        "create",
        "--role",
        "vp",
        "--email",
        "v@edye.test",
        "--name",
        "V",
        "--password",
        "long enough secret",
    )
    duplicate = run(
        app,
        "users",
        "create",
        "--role",
        "vp",
        "--email",
        "V@EDYE.test",
        "--name",
        "V",
        "--password",
        "long enough secret",
    )
    assert duplicate.exit_code == 1 and ("Otro usuario" in duplicate.output or "Another user" in duplicate.output)


def test_demo_seed_is_idempotent_and_prints_logins(app):
    first = run(app, "demo", "seed")
    assert first.exit_code == 0, first.output
    assert "admin@edye.test" in first.output and "demo-2026-edye-ta" in first.output
    users = db.session.scalar(select(func.count(User.id)))
    second = run(app, "demo", "seed")
    assert second.exit_code == 0 and "(0 users, 0 tickets created)" in second.output
    assert db.session.scalar(select(func.count(User.id))) == users
    roles = set(db.session.scalars(select(User.role)))
    assert roles == {"partner", "ticket_admin", "agent_l1", "agent_l2", "vp"}
    from portal.sla.models import EscalationRow
    from portal.tickets.models import Ticket

    assert db.session.scalar(select(func.count(Ticket.id))) == 3
    assert db.session.scalar(select(func.count(EscalationRow.id))) == 5
    assert all(ticket.sla_due_at for ticket in db.session.scalars(select(Ticket)))
