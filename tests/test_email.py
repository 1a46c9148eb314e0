"""E-mail to the escalation matrix's contacts (issue 11, items 3 and 4; issue 13's e-mail channel):
told at reception (the out-of-hours first contact, the marketing and business area) and on the
escalation to the second contact, through the outbox, over SMTP to a real server on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal import create_app
from portal.core import config
from portal.core.config import ConfigError
from portal.core.extensions import db
from portal.integrations.mail import MailClient, MailSettings
from portal.integrations.models import MessageState, OutboxMessage, Target
from portal.integrations.outbox import Deliverer
from portal.tickets import intake, sla_clock
from portal.tickets.models import TECHNICAL_DETAILS, Ticket
from tests.conftest import MAIL_SENDER, TECHNICAL, closed_today, config_for_tests
from tests.fakes.smtp import HOST, FakeSmtp, Fault, free_port

SATURDAY_3AM_NY = datetime(2026, 2, 7, 8, 0, tzinfo=UTC)
FIRST_CONTACT, SECOND_CONTACT, MARKETING_CONTACT = "ccostopoulos@hitn.org", "agustin@edye.com", "mvaccaro@hitn.org"
PORTAL_URL = "https://support.example.test/"
LATER = timedelta(hours=1)  # past any back-off of the first retries
CAMPAIGN = {
    "subject": "Key art for the Christmas campaign",
    "description": "We need EDYE logos and key art for a co-marketing campaign in December.",
    "topic": "Co-marketing",
    "desired_date": "2026-12-10",
}


@pytest.fixture
def app_config(request):
    return getattr(request, "param", {})


def deliver(now: datetime | None = None) -> int:
    return Deliverer().run_pass(now=now)


def email_rows() -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.target == Target.EMAIL.value).order_by(OutboxMessage.id)
        )
    )


def parts(message) -> tuple[str, str]:
    """The plain-text and HTML bodies of a multipart/alternative message."""
    assert message.get_content_type() == "multipart/alternative"
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def out_of_hours_ticket(partner, subject="Night outage") -> Ticket:
    details = {key: TECHNICAL[key] for key in TECHNICAL_DETAILS}
    return intake.create_ticket(partner, "technical", subject, "Nothing plays.", details, now=SATURDAY_3AM_NY)


# Reception --------------------------------------------------------------------------------------


def test_an_out_of_hours_ticket_emails_the_first_contact_at_reception(app, matrix, partner, fake_smtp):
    app.config["PORTAL_URL"] = PORTAL_URL
    ticket = out_of_hours_ticket(partner, subject="Night outage <b>now</b>")
    assert [row.idempotency_key for row in email_rows()] == [f"email:{ticket.id}:arrival-technical_out_of_hours_first"]
    assert deliver() == 1, "Zendesk and Slack wait (not configured); the e-mail goes out"

    [message] = fake_smtp.messages
    assert message["To"] == FIRST_CONTACT and fake_smtp.envelopes == [("soporte@edye.test", [FIRST_CONTACT])]
    assert message["From"] == MAIL_SENDER
    assert message["Subject"] == f"[{ticket.reference}] Night outage <b>now</b>"
    text, html = parts(message)
    assert "Constantine Costopoulos" in text
    # The team's language (Spanish by default): labels, request type and dates.
    for words in ("Asunto: Night outage <b>now</b>", "Organización: Org A", "Errores o preguntas técnicas"):
        assert words in text
    assert "Recibido: sábado, 7 de febrero de 2026, 3:00:00" in text
    assert "domingo, 8 de febrero de 2026, 3:00:00" in text and "· 24 h" in text, "24 h from reception"
    link = f"https://support.example.test/staff/tickets/{ticket.id}"
    assert link in text and f'href="{link}"' in html
    assert "Night outage &lt;b&gt;now&lt;/b&gt;" in html and "<b>now</b>" not in html, "escaped in HTML"
    assert "Soporte a partners" in html and 'lang="es"' in html


@pytest.mark.parametrize("app_config", [{"STAFF_LANGUAGE": "en"}], indirect=True)
def test_the_contacts_email_is_in_the_staff_language(app, matrix, partner, fake_smtp):
    ticket = out_of_hours_ticket(partner)
    deliver()
    text, html = parts(fake_smtp.to(FIRST_CONTACT)[0])
    assert "Hello Constantine Costopoulos," in text and "Subject: Night outage" in text
    assert "A partner's ticket needs you: received outside business hours; you are the first contact." in text
    assert "First response due: Sunday, February 8, 2026, 3:00:00" in text  # the time is CLDR's (narrow space, AM)
    assert "Eastern Standard Time · 24 h from reception" in text
    assert "Technical errors or questions" in text and "Sunday, February 8, 2026" in text
    assert "Asunto" not in text and 'lang="en"' in html
    assert "/staff/tickets/" not in text + html, "no link without PORTAL_URL"
    assert ticket.reference in html


def test_a_business_hours_ticket_emails_nobody(matrix, partner, fake_smtp):
    details = {key: TECHNICAL[key] for key in TECHNICAL_DETAILS}
    tuesday = datetime(2026, 2, 10, 15, 0, tzinfo=UTC)  # 10:00 New York
    intake.create_ticket(partner, "technical", "Day question", "A question.", details, now=tuesday)
    deliver()
    assert email_rows() == [] and fake_smtp.messages == []


def test_a_partner_opening_a_ticket_out_of_hours_reaches_the_first_contact(app, clients, matrix, fake_smtp):
    """HTTP journey: the partner's form → the outbox → the worker → the first contact's inbox."""
    app.config["PORTAL_URL"] = PORTAL_URL
    closed_today()
    assert clients["partner"].post("/tickets/new/technical", data=TECHNICAL).status_code == 302
    ticket = db.session.scalar(select(Ticket))
    assert ticket.sla_row_key == "technical_out_of_hours_first"
    deliver()
    [message] = fake_smtp.to(FIRST_CONTACT)
    assert message["Subject"] == f"[{ticket.reference}] {TECHNICAL['subject']}"
    assert f"{PORTAL_URL}staff/tickets/{ticket.id}" in parts(message)[0]


def test_a_marketing_request_emails_the_areas_contact_on_arrival(clients, matrix, fake_smtp):
    assert clients["partner"].post("/tickets/new/marketing_business", data=CAMPAIGN).status_code == 302
    ticket = db.session.scalar(select(Ticket))
    deliver()
    assert len(fake_smtp.messages) == 1
    [message] = fake_smtp.to(MARKETING_CONTACT)
    text, _ = parts(message)
    assert message["Subject"] == f"[{ticket.reference}] {CAMPAIGN['subject']}"
    assert "Maximiliano Vaccaro" in text and "Mercadeo y Negocio" in text
    assert "Preguntas de mercadeo y negocio" in text and "· 24 h" in text


# The second contact -------------------------------------------------------------------------------


def test_the_monitor_emails_the_second_contact_once_with_the_deadline_from_reception(app, matrix, partner, fake_smtp):
    app.config["PORTAL_URL"] = PORTAL_URL
    ticket = out_of_hours_ticket(partner)
    assert sla_clock.check(now=SATURDAY_3AM_NY + timedelta(hours=24, minutes=1))["second_contact"] == 1
    assert sla_clock.check(now=SATURDAY_3AM_NY + timedelta(hours=25))["second_contact"] == 0
    keys = [row.idempotency_key for row in email_rows()]
    assert keys == [f"email:{ticket.id}:arrival-technical_out_of_hours_first", f"email:{ticket.id}:second-contact"]
    deliver()
    assert len(fake_smtp.to(FIRST_CONTACT)) == 1
    [message] = fake_smtp.to(SECOND_CONTACT)
    text, html = parts(message)
    assert "Agustín Gomez Vega" in text
    assert "sin primera respuesta tras 24 h" in text, "the reason, in the team's language"
    # 48 h from reception (Saturday 03:00 New York), not from the escalation.
    assert "lunes, 9 de febrero de 2026, 3:00:00" in text and "· 48 h" in text
    assert f"https://support.example.test/staff/tickets/{ticket.id}" in html


def test_a_problem_that_persists_emails_the_second_contact(clients, matrix, partner, send_solution, fake_smtp):
    ticket = out_of_hours_ticket(partner)
    send_solution(ticket, now=SATURDAY_3AM_NY + timedelta(hours=2))
    answer = {"answer": "no", "reason": "Playback still stops after ten seconds."}
    assert clients["partner"].post(f"/tickets/{ticket.id}/confirm", data=answer).status_code == 302
    assert ticket.tier == 2 and ticket.sla_due_at == SATURDAY_3AM_NY + timedelta(hours=48)
    deliver()
    [message] = fake_smtp.to(SECOND_CONTACT)
    text, _ = parts(message)
    assert "el partner dice que el problema persiste" in text and "· 48 h" in text
    assert "lunes, 9 de febrero de 2026, 3:00:00" in text


# Failures ----------------------------------------------------------------------------------------


def test_a_temporary_failure_is_retried_and_delivered(matrix, partner, fake_smtp):
    fake_smtp.faults.append(Fault.TEMPORARY)
    out_of_hours_ticket(partner)
    assert deliver() == 0
    [row] = email_rows()
    assert row.state == MessageState.PENDING and "421 4.3.2" in row.last_error and row.attempts == 1
    assert fake_smtp.messages == []
    assert deliver(now=datetime.now(UTC) + LATER) == 1
    assert row.state == MessageState.DELIVERED and len(fake_smtp.to(FIRST_CONTACT)) == 1


def test_a_refused_recipient_is_a_dead_letter_shown_with_the_servers_words(clients, matrix, partner, fake_smtp):
    fake_smtp.faults.append(Fault.REFUSED)
    out_of_hours_ticket(partner)
    deliver()
    [row] = email_rows()
    assert row.state == MessageState.DEAD and fake_smtp.messages == []
    assert "550 5.1.1" in row.last_error and "mailbox unavailable (unknown user)" in row.last_error
    page = clients["admin"].get("/admin/integrations").get_data(as_text=True)
    assert "mailbox unavailable (unknown user)" in page and f"&lt;{FIRST_CONTACT}&gt;" in page
    assert deliver(now=datetime.now(UTC) + LATER) == 0, "a dead letter waits for the administrator"


def test_a_matrix_address_that_is_no_address_is_a_dead_letter(matrix, partner, fake_smtp):
    matrix["technical_out_of_hours_first"].contact_email = "Constantine at hitn"
    db.session.commit()
    out_of_hours_ticket(partner)
    deliver()
    [row] = email_rows()
    assert row.state == MessageState.DEAD and "cannot write to 'Constantine at hitn'" in row.last_error
    assert fake_smtp.messages == []


def test_a_connection_dropped_after_data_resends_with_the_same_message_id(matrix, partner, fake_smtp):
    """SMTP has no idempotency: the server kept the message but its answer was lost, so the retry
    sends it again — with the same Message-ID, so the copies are recognisably one message."""
    fake_smtp.faults.append(Fault.DROP_AFTER_DATA)
    out_of_hours_ticket(partner)
    assert deliver() == 0
    [row] = email_rows()
    assert row.state == MessageState.PENDING and "SMTPServerDisconnected" in row.last_error
    assert deliver(now=datetime.now(UTC) + LATER) == 1
    first, second = fake_smtp.to(FIRST_CONTACT)
    assert first["Message-ID"] == second["Message-ID"] and first["Message-ID"].endswith("@edye.test>")


def test_with_the_server_down_the_email_waits_and_nothing_is_lost(app, matrix, partner):
    port = free_port()
    app.config.update(MAIL_SERVER=HOST, MAIL_PORT=port, MAIL_DEFAULT_SENDER=MAIL_SENDER)
    out_of_hours_ticket(partner)
    assert deliver() == 0 and deliver(now=datetime.now(UTC) + LATER) == 0
    [row] = email_rows()
    assert row.state == MessageState.PENDING and row.attempts == 2 and "ConnectionRefusedError" in row.last_error
    with FakeSmtp(port=port) as server:
        assert deliver(now=datetime.now(UTC) + 2 * LATER) == 1
        assert len(server.to(FIRST_CONTACT)) == 1


def test_without_a_mail_server_the_email_waits_in_the_outbox(app, clients, matrix, partner):
    out_of_hours_ticket(partner)
    deliver(now=datetime.now(UTC) + LATER)
    [row] = email_rows()
    assert row.state == MessageState.PENDING and row.attempts == 0, "not even tried"
    page = clients["admin"].get("/admin/integrations").get_data(as_text=True)
    email_line = page[page.index(">Email<") :].split("</tr>")[0]
    assert "no: los mensajes esperan" in email_line
    with FakeSmtp() as server:
        app.config.update(MAIL_SERVER=HOST, MAIL_PORT=server.port, MAIL_DEFAULT_SENDER=MAIL_SENDER)
        assert deliver() == 1 and len(server.to(FIRST_CONTACT)) == 1


# The client and its settings --------------------------------------------------------------------


def test_the_message_id_follows_the_idempotency_key():
    client = MailClient(MailSettings(HOST, 25, False, False, "", "", MAIL_SENDER, 1.0, 1.0))
    one = client.compose("a@example.test", "S", "text", "<p>html</p>", "email:1:second-contact")
    again = client.compose("a@example.test", "S", "text", "<p>html</p>", "email:1:second-contact")
    other = client.compose("a@example.test", "S", "text", "<p>html</p>", "email:2:second-contact")
    assert one["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert one["Message-ID"].startswith("<") and one["Message-ID"].endswith(".edye-portal@edye.test>")


BAD_SETTINGS = [
    ({"MAIL_SERVER": "smtp.example.test"}, "MAIL_DEFAULT_SENDER must be set"),
    ({"MAIL_SERVER": "smtp.example.test", "MAIL_DEFAULT_SENDER": "EDYE Support"}, "MAIL_DEFAULT_SENDER must be set"),
    ({"MAIL_PORT": "smtp"}, "MAIL_PORT must be an integer"),
    ({"MAIL_SERVER": "smtp.example.test", "MAIL_DEFAULT_SENDER": "a@edye.test", "MAIL_PORT": "70000"}, "MAIL_PORT"),
    (
        {
            "MAIL_SERVER": "smtp.example.test",
            "MAIL_DEFAULT_SENDER": "a@edye.test",
            "MAIL_USE_TLS": "1",
            "MAIL_USE_SSL": "1",
        },
        "exclude each other",
    ),
    (
        {"MAIL_SERVER": "smtp.example.test", "MAIL_DEFAULT_SENDER": "a@edye.test", "MAIL_USERNAME": "portal"},
        "MAIL_USERNAME and MAIL_PASSWORD",
    ),
]


@pytest.mark.parametrize(("environment", "message"), BAD_SETTINGS)
def test_bad_mail_settings_stop_the_portal_at_start(monkeypatch, tmp_path, environment, message):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        config.load(tmp_path)


def test_mail_settings_are_read_from_the_environment(monkeypatch, tmp_path):
    assert config.load(tmp_path)["MAIL_SERVER"] == "", "not configured by default"
    settings = {
        "MAIL_SERVER": "smtp.example.test",
        "MAIL_PORT": "587",
        "MAIL_USE_TLS": "true",
        "MAIL_USERNAME": "portal",
        "MAIL_PASSWORD": "secret",
        "MAIL_DEFAULT_SENDER": "EDYE Soporte <soporte@edye.test>",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    loaded = config.load(tmp_path)
    assert (loaded["MAIL_PORT"], loaded["MAIL_USE_TLS"], loaded["MAIL_USE_SSL"]) == (587, True, False)
    assert loaded["MAIL_DEFAULT_SENDER"] == "EDYE Soporte <soporte@edye.test>"


def test_an_app_given_a_mail_server_without_a_sender_does_not_start(database_url, tmp_path):
    with pytest.raises(ConfigError, match="MAIL_DEFAULT_SENDER"):
        create_app(config_for_tests(database_url, tmp_path, MAIL_SERVER=HOST))
