"""Password reset by e-mail and invitations (issue 13, E-mail): "Forgot your password?" answers the
same whether or not the account exists, the link arrives over SMTP (a real server on 127.0.0.1,
through the outbox worker) in the recipient's language, works once, for 30 minutes, and ends the
user's other sessions; new users are invited by e-mail to choose their password, or get a
temporary password while mail is off."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash

from auth import tokens
from auth.models import User
from auth.tokens import VALIDITY, LinkProblem, LinkPurpose, LinkRefused
from portal.core.audit import AuditEntry
from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations.models import OutboxMessage, Target
from portal.integrations.outbox import Deliverer
from tests.conftest import create_user_command, login

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase for 2031"
PORTAL_URL = "https://support.example.test/"
RESET_LINK = re.compile(r"(https?://[^\s\"<]+/password/reset/[A-Za-z0-9_.\-]+)")
INVITATION_LINK = re.compile(r"(https?://[^\s\"<]+/invitation/[A-Za-z0-9_.\-]+)")


def deliver() -> int:
    return Deliverer().run_pass()


def email_rows() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.target == Target.EMAIL.value)))


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(("html",)).get_content()


def path_of(link: str) -> str:
    return "/" + link.split("://", 1)[1].split("/", 1)[1]


def forgot(client, email):
    return client.post("/password/forgot", data={"email": email})


def set_password(client, path, password=NEW_PASSWORD, confirm=None):
    return client.post(path, data={"new_password": password, "confirm_password": confirm or password})


def actions() -> list[str]:
    return [entry.action for entry in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def reset_link_for(client, fake_smtp, email) -> str:
    assert forgot(client, email).status_code == 200
    assert deliver() == 1
    return RESET_LINK.search(text_of(fake_smtp.to(email)[-1])).group(1)


# Asking for a link ---------------------------------------------------------------------------


def test_the_answer_is_the_same_for_known_unknown_and_inactive_addresses(app, client, make_user, fake_smtp):
    known = make_user("partner", email="known@example.test")
    inactive = make_user("partner", email="inactive@example.test")
    inactive.active = False
    db.session.commit()
    answers = [forgot(client, email) for email in (known.email, "nobody@example.test", inactive.email)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    bodies = {answer.get_data(as_text=True) for answer in answers}
    assert len(bodies) == 1, "the page tells nothing about the account"
    assert 'id="reset-requested"' in bodies.pop()
    assert [row.payload["to"] for row in email_rows()] == [known.email], "only the active account gets a link"
    assert deliver() == 1 and fake_smtp.to(known.email) and not fake_smtp.to(inactive.email)
    requested = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "auth.password_reset_requested").order_by(AuditEntry.id)
    ).all()
    assert [(entry.after["email"], entry.after["link_sent"]) for entry in requested] == [
        (known.email, True),
        ("nobody@example.test", False),
        (inactive.email, False),
    ]


def test_an_empty_or_overlong_address_is_refused_on_the_field(client):
    assert forgot(client, "").status_code == 422
    response = forgot(client, "a" * 300 + "@example.test")
    assert response.status_code == 422 and "field-error" in response.get_data(as_text=True)
    assert email_rows() == []


def test_the_reset_email_arrives_in_the_recipients_language_with_the_link(app, client, make_user, fake_smtp):
    app.config["PORTAL_URL"] = PORTAL_URL
    english = make_user("partner", email="en@example.test", name="Ellen", language="en")
    spanish = make_user("partner", email="es@example.test", name="Sofía <b>", language="es")
    forgot(client, english.email)
    forgot(client, spanish.email)
    assert deliver() == 2
    [to_english], [to_spanish] = fake_smtp.to(english.email), fake_smtp.to(spanish.email)
    assert to_english["Subject"] == "Choose a new password for the EDYE support portal"
    assert "Hello Ellen," in text_of(to_english) and "for 30 minutes" in text_of(to_english)
    assert '<html lang="en">' in html_of(to_english) and '<html lang="es">' in html_of(to_spanish)
    assert "Hola, Sofía <b>:" in text_of(to_spanish) and "Sofía &lt;b&gt;" in html_of(to_spanish)
    link = RESET_LINK.search(text_of(to_english)).group(1)
    assert link.startswith(PORTAL_URL + "password/reset/"), "links point at PORTAL_URL, not the request's host"
    assert link in html_of(to_english)


def test_without_portal_url_the_link_uses_the_requests_host(client, make_user, fake_smtp):
    user = make_user("partner", email="host@example.test")
    link = reset_link_for(client, fake_smtp, user.email)
    assert link.startswith("http://localhost/password/reset/")


def test_the_login_page_offers_the_reset_only_when_mail_is_configured(app, client):
    assert "/password/forgot" not in client.get("/login").get_data(as_text=True)
    app.config["MAIL_SERVER"] = "127.0.0.1"
    assert "/password/forgot" in client.get("/login").get_data(as_text=True)


class TestRateLimit:
    @pytest.fixture
    def app_config(self):
        return {"PASSWORD_RESET_LIMIT_PER_ACCOUNT": "2 per minute", "PASSWORD_RESET_LIMIT_PER_IP": "4 per minute"}

    def test_one_address_cannot_be_flooded(self, client, make_user):
        user = make_user("partner", email="flooded@example.test")
        statuses = [forgot(client, user.email).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert len(email_rows()) == 2
        # An unknown address meets the same limit, so the limit tells nothing either.
        assert [forgot(client, "ghost@example.test").status_code for _ in range(3)] == [200, 200, 429]

    def test_one_client_cannot_ask_for_many_addresses(self, client):
        statuses = [forgot(client, f"someone{number}@example.test").status_code for number in range(5)]
        assert statuses == [200, 200, 200, 200, 429]
        refused = forgot(client, "another@example.test")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert "Too many attempts" in refused.get_data(as_text=True) or "Demasiados" in refused.get_data(as_text=True)


# Using the link ------------------------------------------------------------------------------


def test_the_link_sets_the_password_once_and_ends_other_sessions(app, client, make_user, fake_smtp):
    user = make_user("partner", email="once@example.test")
    elsewhere = app.test_client()
    assert login(elsewhere, user.email).status_code == 302
    link = reset_link_for(client, fake_smtp, user.email)
    page = client.get(path_of(link))
    assert page.status_code == 200 and user.email in page.get_data(as_text=True)
    done = set_password(client, path_of(link))
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    assert elsewhere.get("/tickets/").status_code == 302, "the other session has ended"
    assert login(client, user.email, NEW_PASSWORD).status_code == 302
    again = app.test_client()
    for response in (again.get(path_of(link)), set_password(again, path_of(link), "yet another passphrase 2032")):
        assert response.status_code == 410
        assert "already been used" in response.get_data(as_text=True) or "ya se ha usado" in response.get_data(
            as_text=True
        )
    assert check_password_hash(db.session.get(User, user.id).password_hash, NEW_PASSWORD)
    assert "auth.password_reset_completed" in actions()
    assert not any(link.rsplit("/", 1)[1] in str(entry.after) for entry in db.session.scalars(select(AuditEntry)))


def test_the_new_password_must_pass_the_password_rules(client, make_user, fake_smtp):
    user = make_user("partner", email="rules@example.test", name="Ramona Rules")
    path = path_of(reset_link_for(client, fake_smtp, user.email))
    for weak in ("short", "ramona rules 2031 pass"):
        refused = set_password(client, path, weak)
        assert refused.status_code == 422
        assert 'id="new_password-error"' in refused.get_data(as_text=True)
    assert set_password(client, path, NEW_PASSWORD, "something else entirely").status_code == 422
    assert check_password_hash(db.session.get(User, user.id).password_hash, PASSWORD), "nothing changed"
    assert set_password(client, path).status_code == 302, "the link still works after refusals"


def test_the_link_expires_after_thirty_minutes(client, make_user):
    user = make_user("partner", email="late@example.test")
    nearly = tokens.make_token(user, LinkPurpose.PASSWORD_RESET, issued_at=utcnow() - timedelta(minutes=29))
    late = tokens.make_token(user, LinkPurpose.PASSWORD_RESET, issued_at=utcnow() - timedelta(minutes=31))
    expired = client.get(f"/password/reset/{late}")
    assert expired.status_code == 410 and 'id="link-refused"' in expired.get_data(as_text=True)
    assert set_password(client, f"/password/reset/{late}").status_code == 410
    assert client.get(f"/password/reset/{nearly}").status_code == 200


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b.c", "x" * 3000, "WzEsImFiYyJd.Zz.abc", "%00", "..%2F..%2Fadmin"],
)
def test_garbage_tokens_get_a_clear_page(client, make_user, token):
    make_user("partner")
    for response in (client.get(f"/password/reset/{token}"), set_password(client, f"/password/reset/{token}")):
        assert 400 <= response.status_code < 500
        if response.status_code == 400 and "%00" not in token:
            assert 'id="link-refused"' in response.get_data(as_text=True)


def test_a_tampered_token_or_one_of_another_purpose_is_refused(client, make_user):
    user = make_user("partner", email="tamper@example.test")
    token = tokens.make_token(user, LinkPurpose.PASSWORD_RESET)
    payload, timestamp, signature = token.split(".")
    other_user = tokens.make_token(make_user("ticket_admin"), LinkPurpose.PASSWORD_RESET).split(".")[0]
    for forged in (
        f"{other_user}.{timestamp}.{signature}",
        f"{payload}.{timestamp}.{signature[:-2]}AA",
        tokens.make_token(user, LinkPurpose.INVITATION),
    ):
        assert client.get(f"/password/reset/{forged}").status_code == 400
    assert client.get(f"/invitation/{token}").status_code == 400


def test_tokens_as_a_service(app, make_user):
    user = make_user("partner", email="service@example.test")
    token = tokens.make_token(user, LinkPurpose.PASSWORD_RESET)
    assert tokens.user_for_token(token, LinkPurpose.PASSWORD_RESET).id == user.id
    later = utcnow() + VALIDITY[LinkPurpose.PASSWORD_RESET] + timedelta(seconds=1)
    with pytest.raises(LinkRefused) as expired:
        tokens.user_for_token(token, LinkPurpose.PASSWORD_RESET, now=later)
    assert expired.value.problem is LinkProblem.EXPIRED
    invitation = tokens.make_token(user, LinkPurpose.INVITATION)
    assert tokens.user_for_token(invitation, LinkPurpose.INVITATION, now=later).id == user.id, "72 h for invitations"
    from auth import services

    services.reset_password(make_user("ticket_admin"), user)  # an administrator's reset voids every link
    for purpose, old in ((LinkPurpose.PASSWORD_RESET, token), (LinkPurpose.INVITATION, invitation)):
        with pytest.raises(LinkRefused) as used:
            tokens.user_for_token(old, purpose)
        assert used.value.problem is LinkProblem.USED


# Invitations ------------------------------------------------------------------------------------

NEW_USER = {"name": "Nora New", "email": "Nora@Partner.test", "role": "partner", "language": "en"}


def create_on_screen(client, organization_id):
    return client.post("/admin/users", data={**NEW_USER, "organization_id": str(organization_id)})


def test_a_user_created_on_the_admin_screen_is_invited_by_email(app, client, login_as, fake_smtp):
    from auth import services

    admin = login_as("ticket_admin")
    organization = services.create_organization(None, "Invited Org")
    created = create_on_screen(client, organization.id)
    body = created.get_data(as_text=True)
    assert created.status_code == 201 and 'id="invitation-sent"' in body and "temporary-password" not in body
    assert deliver() == 1
    [message] = fake_smtp.to("nora@partner.test")
    assert message["Subject"] == "Your account on the EDYE support portal", "in the new user's language"
    link = INVITATION_LINK.search(text_of(message)).group(1)
    assert "for 72 hours" in text_of(message)
    invited = app.test_client()
    assert invited.get(path_of(link)).status_code == 200
    assert set_password(invited, path_of(link)).status_code == 302
    assert login(invited, "nora@partner.test", NEW_PASSWORD).status_code == 302
    assert invited.get("/tickets/").status_code == 200, "no temporary password to change first"
    assert set_password(app.test_client(), path_of(link), "yet another passphrase 2032").status_code == 410
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "user.invitation_sent")).all()
    assert [(entry.actor_id, entry.after) for entry in entries] == [(admin.id, {"email": "nora@partner.test"})]
    assert "user.invitation_accepted" in actions()


def test_without_mail_the_admin_sees_the_temporary_password(client, login_as):
    from auth import services

    login_as("ticket_admin")
    organization = services.create_organization(None, "Offline Org")
    created = create_on_screen(client, organization.id)
    body = created.get_data(as_text=True)
    assert created.status_code == 201 and 'id="temporary-password"' in body and "invitation-sent" not in body
    assert email_rows() == []
    assert "user.invitation_sent" not in actions()


def test_a_refused_user_sends_no_invitation(client, login_as, fake_smtp):
    login_as("ticket_admin")
    refused = client.post("/admin/users", data={**NEW_USER, "email": "not an address"})
    assert refused.status_code == 422
    assert email_rows() == [] and db.session.scalar(select(User).where(User.name == "Nora New")) is None


def test_the_cli_invites_when_mail_and_portal_url_are_set(app, fake_smtp):
    app.config["PORTAL_URL"] = PORTAL_URL
    result = create_user_command(app, "agent_l1", "Agent@EDYE.test", "Ana Agent")
    assert result.exit_code == 0, result.output
    assert "Invitation e-mailed to agent@edye.test" in result.output
    assert deliver() == 1
    [message] = fake_smtp.to("agent@edye.test")
    assert INVITATION_LINK.search(text_of(message)).group(1).startswith(PORTAL_URL + "invitation/")
    assert '<html lang="es">' in html_of(message) and "Hola, Ana Agent:" in text_of(message), "the default language"


def test_the_cli_prompts_for_a_password_without_a_portal_url_or_mail(app, fake_smtp):
    result = create_user_command(app, "vp", "vp@edye.test", "Val VP", input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.exit_code == 0 and "Invitation" not in result.output
    assert email_rows() == [], "no PORTAL_URL: the worker could not write a link"
    app.config.update(MAIL_SERVER="", PORTAL_URL=PORTAL_URL)
    offline = create_user_command(app, "vp", "vp2@edye.test", "Vic VP", input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert offline.exit_code == 0 and email_rows() == []
