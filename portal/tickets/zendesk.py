"""Keeping portal tickets and Zendesk tickets in step: delivery handlers for the outbox, and the
events Zendesk sends back through its webhook."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select

from portal.extensions import db
from portal.integrations import outbox
from portal.integrations.http import Rejected
from portal.integrations.models import Target, WebhookReceipt
from portal.sla import services as sla
from portal.tickets import states
from portal.tickets.models import Comment, Status, Ticket
from portal.tickets.services import move, record_event
from portal.types import utcnow

STATUS_CHANGED = "zen:event-type:ticket.status_changed"
COMMENT_ADDED = "zen:event-type:ticket.comment_added"
ECHO_SOURCE = "zendesk-comment"  # comments the portal itself wrote into Zendesk


class UnknownTicket(LookupError):
    pass


class MalformedEvent(ValueError):
    pass


def _remember_comments(audit: dict | None) -> None:
    """Note the ids of comments the portal wrote, so their webhook echo is not shown twice."""
    ids = {str(event["id"]) for event in (audit or {}).get("events", [])
           if event.get("type") == "Comment" and event.get("id") is not None}
    known = set(db.session.scalars(select(WebhookReceipt.event_id).where(
        WebhookReceipt.source == ECHO_SOURCE, WebhookReceipt.event_id.in_(ids)))) if ids else set()
    db.session.add_all(WebhookReceipt(source=ECHO_SOURCE, event_id=comment_id) for comment_id in ids - known)


def deliver_new_ticket(message, client) -> outbox.HandlerResult:
    """Create the ticket in Zendesk and remember its id."""
    response = client.create_ticket(message.payload["ticket"], message.idempotency_key)
    ticket = db.session.get(Ticket, message.ticket_id)
    created = response.data.get("ticket") or {}
    if "id" not in created:
        raise Rejected(f"Zendesk answered without a ticket id: {str(response.data)[:300]}")
    ticket.zendesk_id = int(created["id"])
    _remember_comments(response.data.get("audit"))
    return outbox.HandlerResult(response.rate_limit_remaining)


def deliver_update(message, client) -> outbox.HandlerResult:
    """Add a comment or change the status of the ticket in Zendesk."""
    ticket = db.session.get(Ticket, message.ticket_id)
    if ticket.zendesk_id is None:
        raise Rejected("the ticket was never created in Zendesk (its creation was discarded)")
    response = client.update_ticket(ticket.zendesk_id, message.payload["ticket"])
    comment_id = message.payload.get("comment_id")
    audit = response.data.get("audit") or {}
    if comment_id:
        comment = db.session.get(Comment, comment_id)
        for event in audit.get("events", []):
            if event.get("type") == "Comment" and event.get("id") is not None:
                comment.zendesk_comment_id = int(event["id"])
    _remember_comments(audit)
    return outbox.HandlerResult(response.rate_limit_remaining)


def register_handlers() -> None:
    outbox.register(Target.ZENDESK, "create_ticket", deliver_new_ticket)
    outbox.register(Target.ZENDESK, "update_ticket", deliver_update)


def _ticket_for(detail: dict) -> Ticket:
    zendesk_id = str(detail.get("id", "")).strip()
    reference = str(detail.get("external_id") or "").strip()
    conditions = []
    if zendesk_id.isdigit():
        conditions.append(Ticket.zendesk_id == int(zendesk_id))
    if reference:
        conditions.append(Ticket.reference == reference)
    ticket = db.session.scalar(select(Ticket).where(or_(*conditions))) if conditions else None
    if ticket is None:
        raise UnknownTicket(f"no portal ticket for Zendesk ticket {zendesk_id or '?'} / {reference or '?'}")
    if ticket.zendesk_id is None and zendesk_id.isdigit():
        ticket.zendesk_id = int(zendesk_id)
    return ticket


def apply_event(payload: dict, now: datetime | None = None) -> str:
    """Apply one Zendesk ticket event; returns what was done. Raises MalformedEvent, UnknownTicket,
    or returns "replay" when the event was already applied (nothing changes)."""
    now = now or utcnow()
    if not isinstance(payload, dict):
        raise MalformedEvent("the body must be a JSON object")
    event_type, event_id = payload.get("type"), payload.get("id")
    detail, event = payload.get("detail"), payload.get("event")
    if not isinstance(event_type, str) or not event_id or not isinstance(detail, dict) or not isinstance(event, dict):
        raise MalformedEvent("expected type, id, detail and event")
    if db.session.scalar(select(WebhookReceipt.id).where(
            WebhookReceipt.source == "zendesk", WebhookReceipt.event_id == str(event_id))):
        return "replay"
    ticket = _ticket_for(detail)
    outcome = "ignored"
    if event_type == STATUS_CHANGED:
        outcome = _apply_status(ticket, str(event.get("current", "")).lower(), now)
    elif event_type == COMMENT_ADDED:
        outcome = _apply_comment(ticket, event.get("comment"), now)
    db.session.add(WebhookReceipt(source="zendesk", event_id=str(event_id), received_at=now))
    db.session.commit()
    return outcome


def _apply_status(ticket: Ticket, status: str, now: datetime) -> str:
    targets = {"solved": Status.AWAITING_CONFIRMATION, "closed": Status.CLOSED}
    target = targets.get(status)
    if target is not None and states.allowed(Status(ticket.status), target, states.SYSTEM):
        move(ticket, target, None, f"zendesk_{status}", {"zendesk_status": status}, now=now)
        return f"status:{target.value}"
    record_event(ticket, None, "zendesk_status", data={"zendesk_status": status}, public=False, now=now)
    return "noted"


def _apply_comment(ticket: Ticket, comment: object, now: datetime) -> str:
    if not isinstance(comment, dict) or "id" not in comment or not isinstance(comment.get("body"), str):
        raise MalformedEvent("a comment event needs comment.id and comment.body")
    known = db.session.scalar(select(WebhookReceipt.id).where(
        WebhookReceipt.source == ECHO_SOURCE, WebhookReceipt.event_id == str(comment["id"])))
    if known or db.session.scalar(select(Comment.id).where(Comment.zendesk_comment_id == int(comment["id"]))):
        return "echo"
    author = comment.get("author") if isinstance(comment.get("author"), dict) else {}
    is_public = comment.get("is_public") is True
    db.session.add(Comment(
        ticket_id=ticket.id, author_name=str(author.get("name") or "Zendesk"), body=comment["body"],
        public=is_public, source="zendesk", zendesk_comment_id=int(comment["id"]), created_at=now,
    ))
    ticket.updated_at = now
    if is_public:
        sla.record_first_response(ticket, None, now)
    return "comment:public" if is_public else "comment:private"
