"""Tickets born in Zendesk (the procedure's "multicanal"): matched to a partner by the requester's
e-mail or by the linked Zendesk organization, in triage with the SLA clock started at Zendesk's
creation time; unknown requesters wait in the administrator's "Unmatched from Zendesk" list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from auth.models import User
from portal.core.audit import AuditEntry
from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations.models import OutboxMessage
from portal.integrations.outbox import Deliverer
from portal.reports import figures
from portal.tickets.models import Comment, Ticket, ZendeskArrival
from portal.tickets.zendesk_files import FETCH_FILES
from tests.conftest import QUICK_OUTBOX, login, serving_fake
from tests.fakes.zendesk_events import FakeZendeskWithUsers, comment_added, created_event, signed_post
from tests.test_permissions import ROLES

SECRET = "whsec-born"
ZENDESK_TICKET = 5000000001
REQUESTER = 21000000001


@pytest.fixture
def app_config():
    return {"ZENDESK_WEBHOOK_SECRET": SECRET}


@pytest.fixture
def zendesk(app):
    fake = FakeZendeskWithUsers()
    settings = {"ZENDESK_BASE_URL": fake.url, "ZENDESK_EMAIL": fake.email, "ZENDESK_API_TOKEN": fake.token}
    yield from serving_fake(app, fake, **settings, **QUICK_OUTBOX)


def post(client, payload):
    return signed_post(client, payload, SECRET)


def test_a_known_partner_email_makes_a_ticket_in_triage_clocked_from_zendesk(client, zendesk, partner, matrix):
    zendesk.add_user(REQUESTER, partner.email.upper(), "Pablo in Zendesk")
    born_at = utcnow().replace(microsecond=0) - timedelta(hours=2)
    response = post(client, created_event(zendesk_id=ZENDESK_TICKET, requester_id=REQUESTER, created_at=born_at))
    assert response.status_code == 200 and response.json == {"status": "applied", "outcome": "ticket:created"}
    ticket = db.session.scalar(select(Ticket))
    assert (ticket.organization_id, ticket.requester_id, ticket.zendesk_id) == (
        partner.organization_id,
        partner.id,
        ZENDESK_TICKET,
    )
    assert ticket.status == "new" and ticket.created_at == born_at and ticket.reference.startswith("EDY-")
    assert ticket.sla_due_at is not None and ticket.sla_due_at > born_at
    assert figures.tickets_per_day(2)[-1].total + figures.tickets_per_day(2)[-2].total == 1
    # The description comes again as the first comment, and a replay changes nothing.
    first = comment_added("evt-first", 30064117810590, ticket.description, REQUESTER, False, zendesk_id=ZENDESK_TICKET)
    assert post(client, first).json["outcome"] == "description"
    assert post(client, created_event(zendesk_id=ZENDESK_TICKET, requester_id=REQUESTER)).json["status"] == "replay"
    assert (
        db.session.scalar(select(func.count(Ticket.id))) == 1 and db.session.scalar(select(func.count(Comment.id))) == 0
    )


def test_a_linked_organization_makes_a_ticket_with_an_inactive_requester_account(client, zendesk, partner):
    partner.organization.zendesk_organization_id = 360000000777
    db.session.commit()
    zendesk.add_user(REQUESTER, "nora@andes.test", "Nora Nueva")
    event = comment_added(
        "evt-c",
        30064117810589,
        "The channel is black.",
        REQUESTER,
        False,
        zendesk_id=ZENDESK_TICKET,
        requester_id=REQUESTER,
        organization_id=360000000777,
        description="",
    )
    response = post(client, event)
    assert response.json["outcome"] == "ticket:created+description"
    ticket = db.session.scalar(select(Ticket))
    nora = db.session.scalar(select(User).where(User.email == "nora@andes.test"))
    assert ticket.organization_id == partner.organization_id and ticket.requester_id == nora.id
    assert nora.active is False and nora.role == "partner"
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.target_id == nora.id)) == (
        "user.created_from_zendesk"
    )


def test_unknown_requester_waits_then_the_admin_links_it(client, zendesk, partner, staff, matrix):
    zendesk.add_user(REQUESTER, "stranger@elsewhere.test", "Sam Stranger")
    born_at = utcnow().replace(microsecond=0) - timedelta(hours=1)
    event = created_event(zendesk_id=ZENDESK_TICKET, requester_id=REQUESTER, created_at=born_at)
    assert post(client, event).json == {"status": "applied", "outcome": "unmatched"}
    later = comment_added("evt-2", 30064117810600, "hello?", REQUESTER, False, zendesk_id=ZENDESK_TICKET)
    assert post(client, later).json["status"] == "ignored" and db.session.scalar(select(func.count(Ticket.id))) == 0
    login(client, staff["admin"].email)
    page = client.get("/staff/unmatched").get_data(as_text=True)
    assert "stranger@elsewhere.test" in page and "No video on channel 5" in page
    arrival = db.session.scalar(select(ZendeskArrival))
    assert client.post(f"/staff/unmatched/{arrival.id}/link", data={"organization_id": ""}).status_code == 422
    assert db.session.scalar(select(func.count(Ticket.id))) == 0
    response = client.post(
        f"/staff/unmatched/{arrival.id}/link", data={"organization_id": str(partner.organization_id)}
    )
    assert response.status_code == 302
    ticket = db.session.scalar(select(Ticket))
    assert ticket.organization_id == partner.organization_id and ticket.created_at == born_at
    assert ticket.status == "new" and ticket.sla_due_at is not None
    assert arrival.state == "linked" and arrival.decided_by_id == staff["admin"].id
    assert "stranger@elsewhere.test" not in client.get("/staff/unmatched").get_data(as_text=True)
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.action.like("zendesk.%"))) == (
        "zendesk.arrival_linked"
    )
    assert client.post(f"/staff/unmatched/{arrival.id}/ignore").status_code == 409


def test_the_admin_ignores_an_unmatched_ticket(client, zendesk, staff):
    post(client, created_event(zendesk_id=ZENDESK_TICKET, requester_id=REQUESTER))  # unknown to Zendesk's users
    arrival = db.session.scalar(select(ZendeskArrival))
    assert arrival.state == "unmatched" and arrival.requester_email == ""
    login(client, staff["admin"].email)
    assert client.post(f"/staff/unmatched/{arrival.id}/ignore").status_code == 302
    assert arrival.state == "ignored" and db.session.scalar(select(func.count(Ticket.id))) == 0
    again = created_event("evt-again", zendesk_id=ZENDESK_TICKET, requester_id=REQUESTER)
    assert post(client, again).json["reason"].startswith("this Zendesk ticket is ignored")


@pytest.mark.parametrize("body", [b"{", b"[1]", b'{"type": "zen:event-type:ticket.created", "id": "x"}'])
def test_bad_bodies_are_400_and_a_bad_signature_401(client, body):
    assert signed_post(client, None, SECRET, body=body).status_code == 400
    bad_time = created_event(zendesk_id=ZENDESK_TICKET, requester_id=REQUESTER)
    bad_time["detail"]["created_at"] = "yesterday"
    assert post(client, bad_time).status_code == 400
    bad_requester = created_event(zendesk_id=ZENDESK_TICKET, requester_id=REQUESTER)
    bad_requester["detail"]["requester_id"] = "-5"
    assert post(client, bad_requester).status_code == 400
    forged = signed_post(client, created_event(zendesk_id=ZENDESK_TICKET), "not-the-secret")
    assert forged.status_code == 401 and db.session.scalar(select(func.count(ZendeskArrival.id))) == 0


ROUTES = [("get", "/staff/unmatched", 200), ("post", "/staff/unmatched/{id}/ignore", 302)]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "allowed"), ROUTES)
def test_only_the_administrator_sees_and_decides(client, make_user, role, method, path, allowed):
    db.session.add(
        ZendeskArrival(zendesk_ticket_id=ZENDESK_TICKET, subject="s", zendesk_created_at=utcnow(), state="unmatched")
    )
    db.session.commit()
    arrival_id = db.session.scalar(select(ZendeskArrival.id))
    if role != "anonymous":
        login(client, make_user(role).email)
    response = getattr(client, method)(path.format(id=arrival_id))
    expected = allowed if role == "ticket_admin" else (302 if role == "anonymous" else 403)
    assert response.status_code == expected


def test_a_ticket_born_in_zendesk_gets_its_monday_item_on_arrival(client, zendesk, fake_monday, partner, matrix):
    zendesk.add_user(REQUESTER, partner.email, "Pablo in Zendesk")
    assert post(client, created_event(zendesk_id=ZENDESK_TICKET, requester_id=REQUESTER)).status_code == 200
    ticket = db.session.scalar(select(Ticket))
    for _ in range(3):
        Deliverer().run_pass(now=utcnow())
    db.session.expire_all()
    assert fake_monday.operations().count("create_item") == 1 and ticket.monday_item_id in fake_monday.items
    # Nothing is written to Zendesk, where the ticket lives already; its files are only read.
    messages = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.target == "zendesk")))
    assert [(message.kind, message.state) for message in messages] == [(FETCH_FILES, "delivered")]
