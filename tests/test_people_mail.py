"""Issue 13, "who gets what": the e-mails people receive about tickets, through the outbox and the
worker to a real SMTP server on 127.0.0.1 — the assignee (assignment, level 2, business area), level
3 (the VP and the technical team), the assignee and the administrators on SLA alerts, the partner
(solution to confirm, reopened, closed) as `PARTNER_EMAIL` says, and each user's opt-out."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from auth.models import User
from portal import create_app
from portal.core.audit import AuditEntry
from portal.core.config import ConfigError, PartnerEmail, partner_email
from portal.core.extensions import db
from portal.integrations.models import OutboxMessage, Target
from portal.integrations.outbox import Deliverer
from portal.tickets import conversation, intake, sla_clock, workflow
from portal.tickets.models import TECHNICAL_DETAILS, EventKind, Ticket, TicketEvent
from tests.conftest import TECHNICAL, config_for_tests, file_report, login
from tests.test_zendesk_webhook import SECRET as WEBHOOK_SECRET
from tests.test_zendesk_webhook import post as post_event
from tests.test_zendesk_webhook import status_event

PORTAL_URL = "https://support.example.test/"
TUESDAY_10AM_NY = datetime(2026, 2, 10, 15, 0, tzinfo=UTC)  # inside business hours
CAMPAIGN = {
    "subject": "Key art for the Christmas campaign",
    "description": "We need EDYE logos and key art for a co-marketing campaign in December.",
    "topic": "Co-marketing",
    "desired_date": "2026-12-10",
}


@pytest.fixture
def app_config(request):
    return {"PORTAL_URL": PORTAL_URL, **getattr(request, "param", {})}


def deliver() -> None:
    """The worker's passes, past any back-off."""
    deliverer, moment = Deliverer(), datetime.now(UTC)
    for _ in range(3):
        deliverer.run_pass(now=moment)
        moment += timedelta(hours=1)


def parts(message) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def only_one(fake_smtp, address: str):
    """The one e-mail `address` received (fails on none or several)."""
    received = fake_smtp.to(address)
    assert len(received) == 1, [message["Subject"] for message in received]
    return received[0]


def workspace(ticket: Ticket) -> str:
    return f"{PORTAL_URL}staff/tickets/{ticket.id}"


def technical_ticket(partner, now=None) -> Ticket:
    details = {key: TECHNICAL[key] for key in TECHNICAL_DETAILS}
    return intake.create_ticket(partner, "technical", TECHNICAL["subject"], TECHNICAL["description"], details, now=now)


def english(user: User) -> User:
    user.language = "en"
    db.session.commit()
    return user


# The assignee ------------------------------------------------------------------------------------


def test_assignment_level_two_and_level_three_reach_their_people_through_http(
    clients, staff, partner, make_user, fake_smtp
):
    english(staff["l1"])
    make_user("tech_team", email="tomas@edye.test", name="Tomás Tech")
    make_user("tech_team", email="gone@edye.test", name="Gone Tech").active = False
    db.session.commit()
    ticket = technical_ticket(partner)
    t = ticket.id

    def act(who, action, **data):
        response = clients[who].post(f"/staff/tickets/{t}/{action}", data=data, headers={"HX-Request": "true"})
        assert response.status_code == 200, (action, response.get_data(as_text=True)[:300])

    act("admin", "assign", request_type="technical", priority="high", agent_id=staff["l1"].id)
    deliver()
    message = only_one(fake_smtp, "l1@edye.test")
    assert message["Subject"] == f"[{ticket.reference}] Assigned to you: {TECHNICAL['subject']}"
    text, html = parts(message)
    assert "Hello Luis Uno," in text and f"The ticket {ticket.reference} is assigned to you." in text
    assert "Organization: Org A" in text and "Priority: High" in text
    assert f"Open the ticket: {workspace(ticket)}" in text and f'href="{workspace(ticket)}"' in html
    assert 'lang="en"' in html

    file_report(staff["l1"], ticket)
    act("l1", "cannot-resolve", reason="Needs the license server logs")
    act("admin", "reassign", agent_id=staff["l2"].id, channels="slack")
    deliver()
    text, html = parts(only_one(fake_smtp, "l2@edye.test"))
    assert "Hola, Marta Dos:" in text and "Asunto: " in text and 'lang="es"' in html, "Marta reads Spanish"
    assert workspace(ticket) in text

    file_report(staff["l2"], ticket)
    act("l2", "cannot-resolve", reason="Regression in release 3.2.1")
    act("admin", "escalate", note="Release regression")
    deliver()
    for address in ("vp@edye.test", "tomas@edye.test"):
        assert (
            only_one(fake_smtp, address)["Subject"]
            == f"[{ticket.reference}] Escalado al nivel 3: Playback fails on Roku"
        )
    assert fake_smtp.to("gone@edye.test") == [], "an inactive member is not written to"
    assert fake_smtp.to("admin@edye.test") == [] and len(fake_smtp.to("l1@edye.test")) == 1
    assert fake_smtp.to(partner.email) == [], "staff steps are not the partner's news"


def test_a_marketing_request_assigned_to_the_business_area_emails_its_member(clients, staff, make_user, fake_smtp):
    member = make_user("business", email="bea@edye.test", name="Bea Business")
    assert clients["partner"].post("/tickets/new/marketing_business", data=CAMPAIGN).status_code == 302
    ticket = db.session.scalar(select(Ticket))
    workflow.classify_and_assign(staff["admin"], ticket, "marketing_business", "normal", member)
    deliver()
    message = only_one(fake_smtp, member.email)
    assert message["Subject"].startswith(f"[{ticket.reference}] ") and workspace(ticket) in parts(message)[0]


def test_each_assignment_is_one_email_even_when_the_worker_delivers_again(staff, partner, fake_smtp):
    ticket = technical_ticket(partner)
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
    deliver()
    deliver()
    keys = db.session.scalars(select(OutboxMessage.idempotency_key).where(OutboxMessage.target == Target.EMAIL.value))
    event = db.session.scalar(select(TicketEvent).where(TicketEvent.kind == EventKind.ASSIGNED))
    assert list(keys) == [f"email:{ticket.id}:assigned:{event.id}:{staff['l1'].id}"]
    assert len(fake_smtp.to("l1@edye.test")) == 1


def test_without_a_mail_server_no_ticket_email_is_written(staff, partner):
    ticket = technical_ticket(partner)
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
    assert db.session.scalar(select(OutboxMessage).where(OutboxMessage.target == Target.EMAIL.value)) is None


@pytest.mark.parametrize("app_config", [{"PORTAL_ENV": "development"}], indirect=True)
def test_in_development_they_wait_for_the_newcomer_to_read_on_the_emails_page(staff, partner, clients):
    ticket = technical_ticket(partner)
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
    waiting = db.session.scalar(select(OutboxMessage).where(OutboxMessage.target == Target.EMAIL.value))
    assert waiting is not None and waiting.state == "pending" and waiting.payload["to"] == staff["l1"].email
    assert waiting.payload["subject"] in clients["admin"].get("/admin/mail").get_data(as_text=True)


# SLA alerts ---------------------------------------------------------------------------------------


def test_sla_at_risk_and_breached_email_the_assignee_and_the_administrators_once(
    matrix, staff, partner, make_user, fake_smtp
):
    second_admin = english(make_user("ticket_admin", email="alba@edye.test", name="Alba Admin"))
    ticket = technical_ticket(partner, now=TUESDAY_10AM_NY)
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"], now=TUESDAY_10AM_NY)
    deliver()
    assert sla_clock.check(now=ticket.sla_warn_at)["at_risk"] == 1
    assert sla_clock.check(now=ticket.sla_warn_at)["at_risk"] == 0, "the second run finds nothing new"
    assert sla_clock.check(now=ticket.sla_due_at)["breached"] == 1
    assert sla_clock.check(now=ticket.sla_due_at + timedelta(minutes=5))["breached"] == 0
    deliver()

    alerts = {"es": ("SLA en riesgo", "SLA incumplido"), "en": ("SLA at risk", "SLA breached")}
    for person in (staff["l1"], staff["admin"], second_admin):  # each in their own language
        subjects = [message["Subject"] for message in fake_smtp.to(person.email) if "SLA" in message["Subject"]]
        assert subjects == [
            f"[{ticket.reference}] {alert}: {TECHNICAL['subject']}" for alert in alerts[person.language]
        ]
    text, _ = parts(fake_smtp.to(second_admin.email)[-1])
    assert "the SLA is breached" in text and "Tuesday, February 10, 2026" in text and workspace(ticket) in text
    assert fake_smtp.to("l2@edye.test") == [] and fake_smtp.to(partner.email) == []


# The partner --------------------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{"PARTNER_EMAIL": "portal"}], indirect=True)
def test_the_partner_is_asked_to_confirm_and_told_of_the_close_in_their_language(
    staff, partner, send_solution, fake_smtp
):
    english(partner)
    ticket = technical_ticket(partner)
    send_solution(ticket)
    deliver()
    message = only_one(fake_smtp, partner.email)
    assert message["Subject"] == f"[{ticket.reference}] Did this solve your problem?"
    text, html = parts(message)
    link = f"{PORTAL_URL}tickets/{ticket.id}#confirm"
    assert "Hello Pablo Partner," in text and "“Yes, close it” or “No, it persists”" in text
    assert link in text and f'href="{link}"' in html and "/staff/" not in text + html

    conversation.auto_close(now=ticket.awaiting_since + timedelta(days=30))
    deliver()
    closed = fake_smtp.to(partner.email)[-1]
    assert closed["Subject"] == f"[{ticket.reference}] Your ticket is closed" and len(fake_smtp.to(partner.email)) == 2


@pytest.mark.parametrize("app_config", [{"PARTNER_EMAIL": "portal"}], indirect=True)
def test_the_partner_hears_of_a_colleagues_reopen_but_not_of_their_own_steps(
    app, staff, partner, make_user, send_solution, fake_smtp
):
    colleague = make_user("partner", email="carla@andes.test", name="Carla Colleague")
    ticket = technical_ticket(partner)
    send_solution(ticket)
    colleague_client = app.test_client()
    login(colleague_client, colleague.email)
    answer = colleague_client.post(f"/tickets/{ticket.id}/confirm", data={"answer": "no", "reason": "Still stops."})
    assert answer.status_code == 302 and ticket.status == "reopened"
    deliver()
    assert [m["Subject"] for m in fake_smtp.to(partner.email)] == [  # Pablo reads Spanish
        f"[{ticket.reference}] ¿Se solucionó tu problema?",
        f"[{ticket.reference}] Tu ticket se reabrió",
    ]
    assert fake_smtp.to(colleague.email) == [], "only the requester gets the ticket's news"

    # The requester's own "not solved" and "yes, close it" are not news to them.
    file_report(staff["l1"], ticket)
    workflow.resolve(staff["l1"], ticket, "Cleared the cache.", no_kb_reason="Nothing new.")
    workflow.notify_partner(staff["admin"], ticket, "Cleared the cache.")
    conversation.confirm(partner, ticket, solved=False, reason="Still stops.")
    file_report(staff["l1"], ticket)
    workflow.resolve(staff["l1"], ticket, "Replaced the player.", no_kb_reason="Nothing new.")
    workflow.notify_partner(staff["admin"], ticket, "Replaced the player.")
    conversation.confirm(partner, ticket, solved=True)
    deliver()
    subjects = [m["Subject"] for m in fake_smtp.to(partner.email)]
    assert subjects.count(f"[{ticket.reference}] ¿Se solucionó tu problema?") == 3
    assert subjects.count(f"[{ticket.reference}] Tu ticket se reabrió") == 1
    assert f"[{ticket.reference}] Tu ticket está cerrado" not in subjects


@pytest.mark.parametrize(
    ("app_config", "emails"),
    [
        ({"PARTNER_EMAIL": "portal", "ZENDESK_WEBHOOK_SECRET": WEBHOOK_SECRET}, 2),
        ({"PARTNER_EMAIL": "zendesk", "ZENDESK_WEBHOOK_SECRET": WEBHOOK_SECRET}, 0),
    ],
    indirect=["app_config"],
)
def test_a_solve_and_a_close_made_in_zendesk_reach_the_partner_from_the_portal(client, partner, fake_smtp, emails):
    """Solved and closed by an agent in Zendesk: with the portal e-mailing partners, the partner is
    asked to confirm (the link to the answer's buttons) and told of the close; when Zendesk e-mails
    partners, the portal does not, so nobody hears it twice."""
    ticket = technical_ticket(partner)
    ticket.zendesk_id = 35436
    db.session.commit()
    assert (
        post_event(client, status_event(ticket, "SOLVED", "evt-solved")).json["outcome"]
        == "status:awaiting_confirmation"
    )
    closed = status_event(ticket, "CLOSED", "evt-closed", previous="SOLVED")
    assert post_event(client, closed).json["outcome"] == "status:closed"
    deliver()
    received = fake_smtp.to(partner.email)
    assert len(received) == emails
    if not emails:
        return
    assert [message["Subject"] for message in received] == [
        f"[{ticket.reference}] ¿Se solucionó tu problema?",
        f"[{ticket.reference}] Tu ticket está cerrado",
    ]
    assert f"{PORTAL_URL}tickets/{ticket.id}#confirm" in parts(received[0])[0]


@pytest.mark.parametrize("app_config", [{"PARTNER_EMAIL": "zendesk"}, {"PARTNER_EMAIL": "off"}], indirect=True)
def test_zendesk_or_off_sends_the_partner_nothing(staff, partner, send_solution, fake_smtp):
    ticket = technical_ticket(partner)
    send_solution(ticket)
    conversation.auto_close(now=ticket.awaiting_since + timedelta(days=30))
    deliver()
    assert ticket.status == "closed" and fake_smtp.to(partner.email) == []
    assert len(fake_smtp.to("l1@edye.test")) == 1, "staff e-mails do not depend on PARTNER_EMAIL"


def test_partner_email_defaults_to_zendesk_when_zendesk_is_configured(app):
    assert partner_email({"PARTNER_EMAIL": "", "ZENDESK_BASE_URL": ""}) is PartnerEmail.PORTAL
    assert partner_email({"PARTNER_EMAIL": "", "ZENDESK_BASE_URL": "https://x.zendesk.com"}) is PartnerEmail.ZENDESK
    assert (
        partner_email({"PARTNER_EMAIL": "portal", "ZENDESK_BASE_URL": "https://x.zendesk.com"}) is PartnerEmail.PORTAL
    )
    assert app.config["PARTNER_EMAIL"] == "" and partner_email(app.config) is PartnerEmail.PORTAL


def test_an_unknown_partner_email_setting_refuses_to_start(database_url, tmp_path):
    with pytest.raises(ConfigError, match=r"PARTNER_EMAIL must be one of portal\|zendesk\|off"):
        create_app(config_for_tests(database_url, tmp_path, PARTNER_EMAIL="sometimes"))


# Opt-out ----------------------------------------------------------------------------------------


def checkbox(page) -> str:
    """The account page's opt-out box, as an <input> tag."""
    [tag] = re.findall(r'<input[^>]*name="optional_emails"[^>]*>', page.get_data(as_text=True))
    return tag


def test_the_account_page_turns_the_optional_emails_off_and_on(clients, staff):
    page = clients["l1"].get("/account/password")
    assert page.status_code == 200 and "checked" in checkbox(page)
    response = clients["l1"].post("/account/emails", data={})
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/password")
    assert staff["l1"].optional_emails is False
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.optional_emails_changed"))
    assert entry.target_id == staff["l1"].id and entry.after == {"optional_emails": False}

    for bad in ("maybe", "false", ""):
        refused = clients["l1"].post("/account/emails", data={"optional_emails": bad})
        assert refused.status_code == 422 and "Marca la casilla o déjala vacía." in refused.get_data(as_text=True)
        db.session.refresh(staff["l1"])
        assert staff["l1"].optional_emails is False, bad

    assert "checked" not in checkbox(clients["l1"].get("/account/password"))
    assert clients["l1"].post("/account/emails", data={"optional_emails": "y"}).status_code == 302
    assert staff["l1"].optional_emails is True
    assert clients["l1"].post("/account/emails", data={"optional_emails": "y"}).status_code == 302
    assert db.session.query(AuditEntry).filter_by(action="user.optional_emails_changed").count() == 2


def test_the_opt_out_needs_a_session(client):
    response = client.post("/account/emails", data={})
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("app_config", [{"PARTNER_EMAIL": "portal"}], indirect=True)
def test_opted_out_people_get_no_ticket_emails_but_still_their_password_reset(
    app, clients, matrix, staff, partner, send_solution, fake_smtp
):
    for name in ("l1", "partner"):
        assert clients[name].post("/account/emails", data={}).status_code == 302
    ticket = technical_ticket(partner, now=TUESDAY_10AM_NY)
    send_solution(ticket, now=TUESDAY_10AM_NY)
    sla_ticket = technical_ticket(partner, now=TUESDAY_10AM_NY)
    workflow.classify_and_assign(staff["admin"], sla_ticket, "technical", "normal", staff["l1"], now=TUESDAY_10AM_NY)
    sla_clock.check(now=sla_ticket.sla_due_at)
    deliver()
    assert fake_smtp.to("l1@edye.test") == [] and fake_smtp.to(partner.email) == []
    assert any("SLA" in m["Subject"] for m in fake_smtp.to("admin@edye.test")), "the administrator still hears"

    assert app.test_client().post("/password/forgot", data={"email": "l1@edye.test"}).status_code == 200
    deliver()
    assert len(fake_smtp.to("l1@edye.test")) == 1, "a password reset is not optional"
