"""Round trips with Zendesk as it behaves: the fake Zendesk calls the portal's webhook itself, over
real HTTP, when things happen in it — the partner's e-mail reply to a solution, and the echoes of
the portal's own updates, also before Zendesk has answered the update (the echo race)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select

from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations.models import OutboxMessage
from portal.integrations.outbox import Deliverer
from portal.tickets import conversation, queries, workflow
from portal.tickets.models import Comment, EventKind, Status, TicketEvent
from portal.tickets.zendesk_files import FETCH_FILES

COMMENT_ADDED = "zen:event-type:ticket.comment_added"
STATUS_CHANGED = "zen:event-type:ticket.status_changed"
STILL_FAILING = "Reinstalled it as you said, and channel 5 is still black on the Roku."


def deliver() -> int:
    """One pass of the worker, in the test thread (the fake's webhook calls reach the live portal)."""
    return Deliverer().run_pass()


def outcomes(answers) -> list[tuple[str, int, str]]:
    return [(kind, status, answer.get("outcome", answer)) for kind, status, answer in answers]


def zendesk_messages() -> int:
    """The messages that write to Zendesk (bringing a comment's files only reads)."""
    return db.session.scalar(
        select(func.count(OutboxMessage.id)).where(OutboxMessage.target == "zendesk", OutboxMessage.kind != FETCH_FILES)
    )


def comments_saying(ticket, text: str) -> int:
    return db.session.scalar(
        select(func.count(Comment.id)).where(Comment.ticket_id == ticket.id, Comment.body.contains(text))
    )


@pytest.fixture
def zendesk(fake_zendesk_with_webhook):
    return fake_zendesk_with_webhook


@pytest.fixture
def solution_awaiting(zendesk, open_ticket, send_solution):
    """A ticket whose solution (by level 1's agent) awaits the partner's confirmation, in the portal
    and, solved, in Zendesk; the echoes of the portal's updates delivered."""
    ticket = open_ticket()
    send_solution(ticket, message="Reinstall the app from the store.")
    deliver()
    echoes = zendesk.deliver_webhooks()
    assert echoes and all(status == 200 and answer["outcome"] == "echo" for _kind, status, answer in echoes)
    db.session.expire_all()
    assert ticket.status == Status.AWAITING_CONFIRMATION and zendesk.tickets[ticket.zendesk_id]["status"] == "solved"
    return ticket


def test_a_reply_by_email_reopens_the_solution_to_its_agent(zendesk, solution_awaiting, staff, clients):
    """The partner answers the solution's e-mail in Zendesk: Zendesk adds the comment and reopens its
    ticket, and tells the portal. The portal reopens to the agent who resolved it, with the partner's
    words; the auto-close passes it by; Zendesk is not told a status it set itself."""
    ticket = solution_awaiting
    told_zendesk, puts = zendesk_messages(), len(zendesk.paths("PUT"))

    answers = zendesk.reply_by_email(ticket.zendesk_id, STILL_FAILING)

    assert outcomes(answers) == [(COMMENT_ADDED, 200, "comment:public"), (STATUS_CHANGED, 200, "noted")]
    assert zendesk.tickets[ticket.zendesk_id]["status"] == "open"
    db.session.expire_all()
    assert ticket.status == Status.REOPENED and ticket.assignee_id == staff["l1"].id and ticket.tier == 1
    reopened = db.session.scalar(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.REOPENED)
    )
    assert reopened.data["reason"] == STILL_FAILING and reopened.actor_id is None
    shown = [entry.comment for entry in queries.timeline(ticket, include_internal=False) if entry.comment]
    assert [(c.author_name, c.body, c.source) for c in shown][-1] == ("Pablo Partner", STILL_FAILING, "zendesk")
    page = clients["partner"].get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert STILL_FAILING in page

    later = utcnow() + timedelta(hours=current_app.config["AUTO_CLOSE_AFTER_HOURS"] + 1)
    assert conversation.auto_close(now=later) == 0
    db.session.expire_all()
    assert ticket.status == Status.REOPENED

    deliver()
    assert zendesk_messages() == told_zendesk and len(zendesk.paths("PUT")) == puts
    assert zendesk.tickets[ticket.zendesk_id]["status"] == "open" and zendesk.webhook_queue == []


def test_the_echo_race_shows_a_partner_comment_once(zendesk, open_ticket, staff, clients):
    """The partner writes on the portal; Zendesk calls the webhook with the comment before it
    answers the worker's update, so the portal does not know the comment's Zendesk id yet. The
    event's actor is the integration user: the portal's own, shown once, no reopen, no response."""
    ticket = open_ticket()
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
    deliver()
    zendesk.deliver_webhooks()
    zendesk.webhook_before_answer = True
    body = "It also fails on the Fire TV since this morning."
    assert clients["partner"].post(f"/tickets/{ticket.id}/comments", data={"body": body}).status_code in (200, 302)

    assert deliver() == 1

    posted = zendesk.comments[ticket.zendesk_id][-1]
    assert posted["author_id"] == zendesk.tickets[ticket.zendesk_id]["requester_id"]  # the partner's, in Zendesk
    assert outcomes(zendesk.webhook_answers[-1:]) == [(COMMENT_ADDED, 200, "echo")]
    db.session.expire_all()
    assert comments_saying(ticket, body) == 1
    assert db.session.scalar(select(Comment.zendesk_comment_id).where(Comment.body == body)) == posted["id"]
    page = clients["partner"].get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert page.count(body) == 1
    assert ticket.status == Status.ASSIGNED_L1 and ticket.first_response_at is None
    assert not db.session.scalar(
        select(func.count(TicketEvent.id)).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "reopened")
    )


def test_a_staff_solution_echoed_before_the_answer_stays_awaiting_confirmation(
    zendesk, open_ticket, send_solution, clients
):
    """The solution goes to Zendesk as a comment, then `solved`; Zendesk calls the webhook for each
    before answering. The portal shows the solution once and keeps asking the partner to confirm."""
    ticket = open_ticket()
    deliver()
    zendesk.webhook_before_answer = True
    message = "Reinstall the app from the store, then sign in again."
    send_solution(ticket, message=message)

    deliver()

    echoed = [(kind, status, answer["outcome"]) for kind, status, answer in zendesk.webhook_answers]
    assert (COMMENT_ADDED, 200, "echo") in echoed and (STATUS_CHANGED, 200, "echo") in echoed
    assert {outcome for _kind, _status, outcome in echoed} == {"echo"}
    assert zendesk.tickets[ticket.zendesk_id]["status"] == "solved" and zendesk.webhook_queue == []
    db.session.expire_all()
    assert ticket.status == Status.AWAITING_CONFIRMATION and comments_saying(ticket, message) == 1
    solution = db.session.scalar(select(Comment).where(Comment.body == message))
    assert solution.zendesk_comment_id == zendesk.comments[ticket.zendesk_id][-1]["id"]
    assert clients["partner"].get(f"/tickets/{ticket.id}").get_data(as_text=True).count(message) == 1


def test_a_solve_held_back_is_not_sent_after_the_reply_reopened_the_ticket(zendesk, open_ticket, send_solution):
    """The solution's comment reaches Zendesk, its `solved` waits (a 429 or 5xx back-off, or a dead
    letter retried later); meanwhile the partner answers the comment's e-mail, which reopens the
    portal ticket. Zendesk's status must follow the portal's: `solved` is no longer true."""
    ticket = open_ticket()
    deliver()
    send_solution(ticket)
    held = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.target == "zendesk").order_by(OutboxMessage.id.desc())
    ).first()
    assert held.payload["ticket"] == {"status": "solved"}
    held.next_attempt_at = utcnow() + timedelta(hours=1)
    db.session.commit()
    deliver()
    zendesk.deliver_webhooks()
    assert zendesk.tickets[ticket.zendesk_id]["status"] != "solved"

    zendesk.reply_by_email(ticket.zendesk_id, STILL_FAILING)
    db.session.expire_all()
    assert ticket.status == Status.REOPENED
    held = db.session.get(OutboxMessage, held.id)
    held.next_attempt_at = utcnow()
    db.session.commit()
    deliver()
    zendesk.deliver_webhooks()

    db.session.expire_all()
    assert ticket.status == Status.REOPENED
    assert zendesk.tickets[ticket.zendesk_id]["status"] != "solved"
