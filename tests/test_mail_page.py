"""The administrator's page of the e-mails the portal wrote (issue 13: "in development, mail goes
to a page of sent messages"): listed whether mail is configured or not, each readable, its HTML part
only inside a sandboxed frame of its own address, administrators only."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from admin import services as admin_services
from portal.core.extensions import db
from portal.integrations import outbox
from portal.integrations.models import MessageState, OutboxMessage, Target
from portal.integrations.outbox import Deliverer
from portal.tickets import intake
from portal.tickets.models import TECHNICAL_DETAILS
from tests.conftest import TECHNICAL, login

SATURDAY_3AM_NY = datetime(2026, 2, 7, 8, 0, tzinfo=UTC)  # out of hours: the first contact is e-mailed
FIRST_CONTACT = "ccostopoulos@hitn.org"
HOSTILE_SUBJECT = 'Outage <script>alert("subject")</script>'
HOSTILE_TEXT = 'Hello <img src=x onerror=alert("text")>\n</pre><script>alert("pre")</script>'
HOSTILE_HTML = '<p>Look</p><script>alert("html")</script><img src="https://tracker.example/pixel.gif">'


def write_email(to="someone@edye.test", subject="Hello", text="Plain words.", html="<p>Rich words.</p>", key=None):
    """An e-mail written to the outbox as the portal's features write them."""
    message = outbox.enqueue(
        Target.EMAIL, "send", {"to": to, "subject": subject, "text": text, "html": html}, key or f"email:test:{subject}"
    )
    db.session.commit()
    return message


@pytest.fixture
def admin_client(app, make_user):
    admin = make_user("ticket_admin", email="mail-admin@example.test", language="en")
    client = app.test_client()
    assert login(client, admin.email).status_code == 302
    return client


def page_text(response) -> str:
    assert response.status_code == 200, response.data[:500]
    return response.get_data(as_text=True)


# The list ---------------------------------------------------------------------------------------


def test_the_list_shows_recipient_subject_when_and_state_newest_first(admin_client):
    first = write_email(to="first@edye.test", subject="First message")
    second = write_email(to="second@edye.test", subject="Second message")
    body = page_text(admin_client.get("/admin/mail"))
    assert "first@edye.test" in body and "second@edye.test" in body
    assert body.index("Second message") < body.index("First message"), "newest first"
    assert f'href="/admin/mail/{first.id}"' in body and f'href="/admin/mail/{second.id}"' in body
    assert f'datetime="{first.created_at.isoformat()}"' in body
    assert "MAIL_SERVER" in body, "without mail configured, the page says why the e-mails wait"
    row = re.search(rf'<tr id="email-{first.id}">(.*?)</tr>', body, re.S).group(1)
    assert "Waiting" in row


def test_a_real_email_of_the_portal_is_listed_while_mail_is_not_configured(app, matrix, partner, admin_client):
    details = {key: TECHNICAL[key] for key in TECHNICAL_DETAILS}
    ticket = intake.create_ticket(partner, "technical", "Night outage", "Nothing plays.", details, now=SATURDAY_3AM_NY)
    assert outbox.client_for(Target.EMAIL.value) is None
    assert Deliverer().run_pass() == 0, "nothing is configured: every message waits"
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.target == Target.EMAIL.value))
    assert message.state == MessageState.PENDING.value
    body = page_text(admin_client.get("/admin/mail"))
    assert FIRST_CONTACT in body and ticket.reference in body
    detail = page_text(admin_client.get(f"/admin/mail/{message.id}"))
    assert message.payload["text"].splitlines()[0] in detail
    assert f'href="/staff/tickets/{ticket.id}"' in detail


def test_with_mail_configured_the_page_shows_what_was_sent(app, admin_client, fake_smtp):
    message = write_email(to="sent@edye.test", subject="Delivered one")
    assert Deliverer().run_pass() == 1
    assert [received["Subject"] for received in fake_smtp.to("sent@edye.test")] == ["Delivered one"]
    body = page_text(admin_client.get("/admin/mail"))
    row = re.search(rf'<tr id="email-{message.id}">(.*?)</tr>', body, re.S).group(1)
    assert "Sent" in row and "Delivered one" in row
    assert "127.0.0.1" in body and "MAIL_SERVER" not in body
    detail = page_text(admin_client.get(f"/admin/mail/{message.id}"))
    assert f'datetime="{db.session.get(OutboxMessage, message.id).delivered_at.isoformat()}"' in detail


def test_the_list_pages_and_answers_htmx_with_the_list_alone(admin_client):
    for number in range(26):
        write_email(subject=f"Message {number:02d}")
    first = page_text(admin_client.get("/admin/mail"))
    assert "Message 25" in first and "Message 00" not in first
    second = page_text(admin_client.get("/admin/mail?page=2", headers={"HX-Request": "true"}))
    assert "Message 00" in second and "Message 25" not in second
    assert "<html" not in second and "<table" in second


def test_only_emails_are_listed(app, admin_client, make_user):
    from tests.test_permissions import sample_ticket

    ticket, zendesk_message = sample_ticket(make_user)
    assert zendesk_message.target == Target.ZENDESK.value
    body = page_text(admin_client.get("/admin/mail"))
    assert f'href="/admin/mail/{zendesk_message.id}"' not in body
    assert ticket.subject not in body


# One e-mail -------------------------------------------------------------------------------------


def test_hostile_subject_and_text_are_escaped_and_the_html_stays_out_of_the_page(admin_client):
    message = write_email(subject=HOSTILE_SUBJECT, text=HOSTILE_TEXT, html=HOSTILE_HTML)
    for url in ("/admin/mail", f"/admin/mail/{message.id}"):
        body = page_text(admin_client.get(url))
        assert "<script>alert" not in body and "<img src=x" not in body
        assert "&lt;script&gt;alert(&#34;subject&#34;)&lt;/script&gt;" in body
    detail = page_text(admin_client.get(f"/admin/mail/{message.id}"))
    assert "&lt;img src=x onerror=alert(&#34;text&#34;)&gt;" in detail, "the plain text is shown as text"
    assert "&lt;/pre&gt;&lt;script&gt;" in detail
    assert "tracker.example" not in detail and "Look" not in detail, "the HTML part is never in the page"
    frame = re.search(r"<iframe[^>]*>", detail).group(0)
    assert f'src="/admin/mail/{message.id}/html"' in frame
    assert 'sandbox=""' in frame


def test_the_html_part_is_served_sandboxed_without_scripts_and_never_sniffed(admin_client):
    message = write_email(html=HOSTILE_HTML)
    response = admin_client.get(f"/admin/mail/{message.id}/html")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == HOSTILE_HTML
    assert response.mimetype == "text/html" and response.mimetype_params["charset"] == "utf-8"
    policy = [directive.strip() for directive in response.headers["Content-Security-Policy"].split(";")]
    assert "sandbox" in policy, "a bare sandbox: no scripts, an opaque origin"
    assert "default-src 'none'" in policy, "no scripts, images or fonts from anywhere"
    assert not any(directive.startswith(("script-src", "connect-src")) for directive in policy)
    assert "frame-ancestors 'self'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN", "the portal's own page may frame it"
    assert response.headers["Cache-Control"] == "no-store"


def test_an_email_without_an_html_part_has_no_frame(admin_client):
    message = write_email(html="")
    detail = page_text(admin_client.get(f"/admin/mail/{message.id}"))
    assert "<iframe" not in detail and "Plain words." in detail
    assert admin_client.get(f"/admin/mail/{message.id}/html").status_code == 404


def test_unknown_ids_and_messages_to_other_systems_are_not_found(admin_client, make_user):
    from tests.test_permissions import sample_ticket

    _ticket, zendesk_message = sample_ticket(make_user)
    email = write_email()
    for message_id in (email.id + 1000, zendesk_message.id):
        assert admin_client.get(f"/admin/mail/{message_id}").status_code == 404
        assert admin_client.get(f"/admin/mail/{message_id}/html").status_code == 404
    assert admin_client.get("/admin/mail/99999999999999999999").status_code == 404


@pytest.mark.parametrize("role", ["partner", "agent_l1", "agent_l2", "vp", "tech_team", "business"])
def test_only_the_administrator_reads_emails(app, make_user, role):
    message = write_email(subject="Private matters")
    user = make_user(role, email=f"{role}-reader@example.test")
    client = app.test_client()
    assert login(client, user.email).status_code == 302
    for url in ("/admin/mail", f"/admin/mail/{message.id}", f"/admin/mail/{message.id}/html"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Private matters" not in response.get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_the_login(app):
    message = write_email()
    for url in ("/admin/mail", f"/admin/mail/{message.id}/html"):
        response = app.test_client().get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


# Services ---------------------------------------------------------------------------------------


def test_the_services_see_only_emails(app, make_user):
    from tests.test_permissions import sample_ticket

    _ticket, zendesk_message = sample_ticket(make_user)
    older, newer = write_email(subject="older"), write_email(subject="newer")
    assert list(db.session.scalars(admin_services.emails())) == [newer, older]
    assert admin_services.email(older.id) == older
    assert admin_services.email(zendesk_message.id) is None
    assert admin_services.email(newer.id + 1000) is None
