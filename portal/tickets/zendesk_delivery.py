"""Delivering the portal's messages to Zendesk (outbox handlers): creating the ticket, comments
and status changes, and remembering the ids Zendesk answers with, so their webhook echo is
recognised (`zendesk_webhook`)."""

from __future__ import annotations

import logging

from sqlalchemy import select

from portal.core.extensions import db
from portal.integrations import outbox
from portal.integrations.http import Rejected
from portal.integrations.models import Target, WebhookReceipt
from portal.integrations.zendesk import parse_id
from portal.tickets.models import Comment, EventKind, Ticket
from portal.tickets.outbound import CLOSE_IF_SOLVED
from portal.tickets.states import record_event

log = logging.getLogger("portal.zendesk")

ECHO_SOURCE = "zendesk-comment"  # comments the portal itself wrote into Zendesk


def _comment_ids(audit) -> list[int]:
    """Ids of the comments among an audit's events (an id that is not a 64-bit integer is skipped:
    the comment is in Zendesk already, and failing now would post it again on the retry)."""
    events = audit.get("events") if isinstance(audit, dict) else None
    ids = []
    for event in events if isinstance(events, list) else []:
        if isinstance(event, dict) and event.get("type") == "Comment":
            comment_id = parse_id(event.get("id"))
            if comment_id is None:
                log.warning("Zendesk answered with a comment id that is not a 64-bit integer: %.40r", event.get("id"))
            else:
                ids.append(comment_id)
    return ids


def _remember_comments(comment_ids: list[int]) -> None:
    """Note the ids of comments the portal wrote, so their webhook echo is not shown twice."""
    ids = {str(comment_id) for comment_id in comment_ids}
    known = (
        set(
            db.session.scalars(
                select(WebhookReceipt.event_id).where(
                    WebhookReceipt.source == ECHO_SOURCE, WebhookReceipt.event_id.in_(ids)
                )
            )
        )
        if ids
        else set()
    )
    db.session.add_all(WebhookReceipt(source=ECHO_SOURCE, event_id=comment_id) for comment_id in ids - known)


def deliver_new_ticket(message, client) -> outbox.HandlerResult:
    """Create the ticket in Zendesk and remember its id."""
    response = client.create_ticket(message.payload["ticket"], message.idempotency_key)
    ticket = db.session.get(Ticket, message.ticket_id)
    created = response.data.get("ticket")
    zendesk_id = parse_id(created.get("id")) if isinstance(created, dict) else None
    if zendesk_id is None:
        raise Rejected(f"Zendesk answered without a valid ticket id: {str(response.data)[:300]}")
    ticket.zendesk_id = zendesk_id
    _remember_comments(_comment_ids(response.data.get("audit")))
    return outbox.HandlerResult(response.rate_limit_remaining)


def _still_solved(ticket: Ticket, client) -> tuple[bool, int | None]:
    """Whether the Zendesk ticket is still "solved": an answer there reopens it, and then the
    silence the portal saw was not the partner's."""
    response = client.show_ticket(ticket.zendesk_id)
    shown = response.data.get("ticket")
    status = shown.get("status") if isinstance(shown, dict) else None
    if status != "solved":
        log.info(
            "Zendesk ticket %s is %.20r, not solved: not closing it for portal ticket %s (closed by silence)",
            ticket.zendesk_id,
            status,
            ticket.reference,
        )
        record_event(
            ticket, None, EventKind.ZENDESK_STATUS, data={"zendesk_status": status, "close_sent": False}, public=False
        )
    return status == "solved", response.rate_limit_remaining


def _ticket_in_zendesk(message) -> Ticket:
    ticket = db.session.get(Ticket, message.ticket_id)
    if ticket.zendesk_id is None:
        raise Rejected("the ticket was never created in Zendesk (its creation was discarded)")
    return ticket


def deliver_close_if_solved(message, client) -> outbox.HandlerResult:
    """The close of a solution nobody answered: sent only while the Zendesk ticket is still solved;
    otherwise nothing is sent (and the portal notes what Zendesk said)."""
    solved, remaining = _still_solved(_ticket_in_zendesk(message), client)
    return deliver_update(message, client) if solved else outbox.HandlerResult(remaining)


def deliver_update(message, client) -> outbox.HandlerResult:
    """Add a comment or change the status of the ticket in Zendesk."""
    ticket = _ticket_in_zendesk(message)
    response = client.update_ticket(ticket.zendesk_id, message.payload["ticket"])
    comment_ids = _comment_ids(response.data.get("audit"))
    comment = db.session.get(Comment, message.payload["comment_id"]) if message.payload.get("comment_id") else None
    if comment is not None and comment_ids:
        comment.zendesk_comment_id = comment_ids[-1]
    _remember_comments(comment_ids)
    return outbox.HandlerResult(response.rate_limit_remaining)


def register_handlers() -> None:
    outbox.register(Target.ZENDESK, "create_ticket", deliver_new_ticket)
    outbox.register(Target.ZENDESK, "update_ticket", deliver_update)
    outbox.register(Target.ZENDESK, CLOSE_IF_SOLVED, deliver_close_if_solved)
