"""§9.8 "si no hay respuesta, se asume conforme": only silence is acceptance. While a solution awaits
the partner's confirmation, any answer — a comment on the portal, a reply that reaches Zendesk,
Zendesk reopening its ticket — reopens the ticket as "No, it is not solved" does; only when nothing
comes back is it closed by the worker, and Zendesk is told so only while its ticket is still solved."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations.http import Rejected
from portal.integrations.models import MessageState, OutboxMessage, Target
from portal.integrations.outbox import Deliverer
from portal.integrations.zendesk import ZendeskClient
from portal.tickets import conversation
from portal.tickets.models import Comment, EventKind, Status, TicketEvent
from tests.conftest import login
from tests.test_zendesk_webhook import SECRET, comment_event, post, status_event

WORDS = "It still stops after 10 seconds on the Roku."
LATER = timedelta(hours=73)  # past AUTO_CLOSE_AFTER_HOURS (72)


@pytest.fixture
def app_config():
    return {"ZENDESK_WEBHOOK_SECRET": SECRET}


@pytest.fixture
def awaiting(open_ticket, send_solution):
    """A ticket level 1's agent resolved, awaiting the partner's confirmation since `start`."""
    ticket = open_ticket()
    ticket.zendesk_id = 35436
    db.session.commit()
    ticket.start = utcnow()
    send_solution(ticket, now=ticket.start)
    assert ticket.status == Status.AWAITING_CONFIRMATION
    return ticket


def reopened_event(ticket) -> TicketEvent:
    return db.session.scalar(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.REOPENED.value)
    )


def zendesk_statuses(ticket) -> list[str | None]:
    """The statuses the portal's outbox asks Zendesk to set for `ticket`, oldest first."""
    messages = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.ticket_id == ticket.id, OutboxMessage.target == Target.ZENDESK.value)
        .order_by(OutboxMessage.id)
    )
    return [message.payload["ticket"].get("status") for message in messages if "ticket" in message.payload]


def assert_back_to_the_resolving_agent(ticket, staff) -> None:
    assert (ticket.status, ticket.assignee_id, ticket.tier) == (Status.REOPENED, staff["l1"].id, 1)


def test_a_partner_comment_on_the_portal_reopens_the_ticket(client, awaiting, partner, staff):
    """The partner writes instead of pressing a button: reopened, back to the agent who resolved
    it, the words on the timeline, Zendesk told "open"; the auto-close later leaves it alone."""
    assert login(client, partner.email).status_code == 302
    response = client.post(f"/tickets/{awaiting.id}/comments", data={"body": WORDS})
    assert response.status_code == 302
    assert_back_to_the_resolving_agent(awaiting, staff)
    event = reopened_event(awaiting)
    assert (event.actor_id, event.data["reason"], event.from_status) == (
        partner.id,
        WORDS,
        Status.AWAITING_CONFIRMATION.value,
    )
    assert WORDS in client.get(f"/tickets/{awaiting.id}").get_data(as_text=True)
    assert zendesk_statuses(awaiting)[-2:] == [None, "open"], "the comment, then the reopening"
    assert conversation.auto_close(now=awaiting.start + LATER) == 0
    assert awaiting.status == Status.REOPENED


def test_a_staff_reply_while_awaiting_is_no_answer_from_the_partner(awaiting, staff):
    conversation.add_comment(staff["admin"], awaiting, "Did the reinstall help?")
    assert awaiting.status == Status.AWAITING_CONFIRMATION and reopened_event(awaiting) is None


def test_a_requester_reply_through_zendesk_reopens_the_ticket(client, awaiting, staff):
    """The partner answered the solution's e-mail: Zendesk reopened its ticket already, so only the
    portal moves; the partner's words are on the timeline, by the partner's name."""
    before = zendesk_statuses(awaiting)
    event = comment_event(awaiting, WORDS, comment_id=8001, is_staff=False, author="Pablo Partner")
    response = post(client, event)
    assert response.status_code == 200 and response.json["outcome"] == "comment:public"
    assert_back_to_the_resolving_agent(awaiting, staff)
    reopened = reopened_event(awaiting)
    assert (reopened.actor_id, reopened.actor_label, reopened.data["reason"]) == (None, "Pablo Partner", WORDS)
    assert db.session.scalar(select(Comment.body).where(Comment.zendesk_comment_id == 8001)) == WORDS
    assert zendesk_statuses(awaiting) == before, "Zendesk is not told what it told the portal"
    assert post(client, event).json["status"] == "replay"
    assert conversation.auto_close(now=awaiting.start + LATER) == 0


def test_zendesk_reopening_its_ticket_reopens_the_portal_ticket(client, awaiting, staff, partner):
    response = post(client, status_event(awaiting, "OPEN", event_id="evt-open"))
    assert response.status_code == 200 and response.json["outcome"] == "status:reopened"
    assert_back_to_the_resolving_agent(awaiting, staff)
    assert reopened_event(awaiting).actor_label == "Zendesk"
    assert login(client, partner.email).status_code == 302
    page = client.get(f"/tickets/{awaiting.id}").get_data(as_text=True)
    assert "Reabierto en Zendesk: el partner respondió allí." in page and "persiste" not in page
    # Once reopened, a second "open" (the echo of a reopening) changes nothing.
    assert post(client, status_event(awaiting, "OPEN", event_id="evt-open-2")).json["outcome"] == "noted"


def test_a_late_open_from_an_older_change_does_not_reopen(client, awaiting):
    """Webhooks can arrive late and out of order: "new → open" from before the solution was sent
    says nothing about the solution."""
    response = post(client, status_event(awaiting, "OPEN", event_id="evt-late", previous="NEW"))
    assert response.status_code == 200 and response.json["outcome"] == "noted"
    assert awaiting.status == Status.AWAITING_CONFIRMATION and reopened_event(awaiting) is None


@pytest.mark.parametrize(
    "event",
    [
        {"is_staff": True},  # a Zendesk agent's reply
        {"is_staff": False, "public": False},  # never public: no answer to the partner's solution
    ],
)
def test_a_staff_or_private_comment_through_zendesk_does_not_reopen(client, awaiting, event):
    assert post(client, comment_event(awaiting, "Following up.", comment_id=8002, **event)).status_code == 200
    assert awaiting.status == Status.AWAITING_CONFIRMATION and reopened_event(awaiting) is None


def _solved_in_zendesk(open_ticket, send_solution, fake_zendesk):
    ticket = open_ticket()
    Deliverer().run_pass()
    ticket.start = utcnow()
    send_solution(ticket, now=ticket.start)
    Deliverer().run_pass()
    assert fake_zendesk.tickets[ticket.zendesk_id]["status"] == "solved"
    return ticket


def test_silence_closes_the_ticket_and_zendesk_while_it_is_still_solved(open_ticket, send_solution, fake_zendesk):
    ticket = _solved_in_zendesk(open_ticket, send_solution, fake_zendesk)
    assert conversation.auto_close(now=ticket.start + LATER) == 1
    assert ticket.status == Status.CLOSED
    fake_zendesk.requests.clear()
    assert Deliverer().run_pass() == 1
    path = f"/api/v2/tickets/{ticket.zendesk_id}.json"
    assert [(method, sent_to, body) for method, sent_to, body in fake_zendesk.requests] == [
        ("GET", path, {}),
        ("PUT", path, {"ticket": {"status": "closed", "assignee_id": fake_zendesk.api_user_id}}),
    ]
    assert fake_zendesk.tickets[ticket.zendesk_id]["status"] == "closed"


def test_silence_does_not_close_a_zendesk_ticket_someone_reopened(open_ticket, send_solution, fake_zendesk):
    """The requester answered in Zendesk and its webhook never reached the portal: the portal closes
    its ticket on silence, but Zendesk's, open again, is left to its agents (delivered, nothing sent)."""
    ticket = _solved_in_zendesk(open_ticket, send_solution, fake_zendesk)
    fake_zendesk.tickets[ticket.zendesk_id]["status"] = "open"
    assert conversation.auto_close(now=ticket.start + LATER) == 1
    fake_zendesk.requests.clear()
    assert Deliverer().run_pass() == 1
    assert [method for method, _path, _body in fake_zendesk.requests] == ["GET"]
    assert fake_zendesk.tickets[ticket.zendesk_id]["status"] == "open"
    close = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert close.state == MessageState.DELIVERED.value
    skipped = db.session.scalar(
        select(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.ZENDESK_STATUS.value
        )
    )
    assert skipped.data == {"zendesk_status": "open", "close_sent": False} and not skipped.public


def test_the_partner_confirming_still_closes_zendesk_without_asking(open_ticket, send_solution, fake_zendesk, partner):
    ticket = _solved_in_zendesk(open_ticket, send_solution, fake_zendesk)
    conversation.confirm(partner, ticket, True)
    fake_zendesk.requests.clear()
    Deliverer().run_pass()
    assert [method for method, _path, _body in fake_zendesk.requests] == ["PUT"]


def test_the_client_shows_a_ticket_and_an_unknown_one_is_refused(fake_zendesk, open_ticket):
    ticket = open_ticket()
    Deliverer().run_pass()
    client = ZendeskClient(fake_zendesk.url, fake_zendesk.email, fake_zendesk.token)
    shown = client.show_ticket(ticket.zendesk_id)
    assert shown.data["ticket"]["status"] == "new" and shown.rate_limit_remaining is not None
    with pytest.raises(Rejected, match="404 RecordNotFound"):
        client.show_ticket(ticket.zendesk_id + 1)
