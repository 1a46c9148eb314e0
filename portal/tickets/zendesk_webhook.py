"""The events Zendesk sends back through its webhook: parsed field by field, applied once.

Zendesk retries a webhook request on some failures and may deliver one event more than once;
its circuit breaker pauses a webhook whose answers are mostly errors. So an event already applied
(a replay, or a duplicate arriving at the same moment) and an event refused on purpose are
answered 2xx; only a body that can never be applied (malformed) is a 4xx.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.core.extensions import db
from portal.core.text import CONTROL_CHARACTERS, clean_block, clean_line
from portal.core.types import utcnow
from portal.integrations.models import EVENT_ID_MAX, WebhookReceipt
from portal.integrations.zendesk import parse_id
from portal.tickets import conversation, sla_clock, states
from portal.tickets.models import AUTHOR_NAME_MAX, Comment, EventKind, Status, Ticket
from portal.tickets.states import move, record_event
from portal.tickets.zendesk_delivery import ECHO_SOURCE

log = logging.getLogger("portal.zendesk")

STATUS_CHANGED = "zen:event-type:ticket.status_changed"
COMMENT_ADDED = "zen:event-type:ticket.comment_added"
EVENT_SOURCE = "zendesk"
NAME_MAX = 60  # event types and statuses are short names


class UnknownTicket(LookupError):
    """No portal ticket belongs to the event's Zendesk ticket."""


class ForeignEvent(LookupError):
    """The event names a portal ticket that is not its Zendesk ticket's own: refused, nothing changes."""


class MalformedEvent(ValueError):
    """A field of the event is missing or of the wrong kind; the message names the field."""


@dataclass(frozen=True)
class NewComment:
    """A comment a Zendesk agent added, as the portal will store it."""

    zendesk_id: int
    body: str
    public: bool
    author_name: str
    by_staff: bool = True  # false: an end user wrote it (the partner, the ticket's requester)


@dataclass(frozen=True)
class ZendeskEvent:
    """One webhook ticket event, checked field by field before anything is stored."""

    event_id: str
    kind: str
    zendesk_ticket_id: int
    reference: str | None
    status: str = ""
    previous: str = ""  # the status it left, when the event says (a status change's)
    comment: NewComment | None = None


def _name(value, maximum: int) -> str | None:
    """An identifier-like string (event id, type, status): no control characters, not too long."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or CONTROL_CHARACTERS.search(value) or not value.strip():
        return None
    return value.strip() if len(value.strip()) <= maximum else None


def parse_event(payload) -> ZendeskEvent:
    """The event in a webhook body; MalformedEvent names the first field that is wrong."""
    if not isinstance(payload, dict):
        raise MalformedEvent("the body must be a JSON object")
    try:
        # JSON escapes can spell lone surrogates, which no database can store.
        json.dumps(payload, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise MalformedEvent("the body holds text that is not valid Unicode") from None
    detail, event = payload.get("detail"), payload.get("event")
    if not isinstance(detail, dict) or not isinstance(event, dict):
        raise MalformedEvent("detail and event must be objects")
    kind, event_id = _name(payload.get("type"), NAME_MAX), _name(payload.get("id"), EVENT_ID_MAX)
    if kind is None:
        raise MalformedEvent(f"type must be a name of at most {NAME_MAX} characters")
    if event_id is None:
        raise MalformedEvent(f"id must be a string of at most {EVENT_ID_MAX} characters")
    zendesk_ticket_id = parse_id(detail.get("id"))
    if zendesk_ticket_id is None:
        raise MalformedEvent("detail.id must be a Zendesk ticket id (a positive 64-bit integer)")
    reference = detail.get("external_id")
    if reference is not None and (not isinstance(reference, str) or CONTROL_CHARACTERS.search(reference)):
        raise MalformedEvent("detail.external_id must be a string or null")
    parsed = ZendeskEvent(event_id, kind, zendesk_ticket_id, (reference or "").strip() or None)
    if kind == STATUS_CHANGED:
        status = _name(event.get("current"), NAME_MAX)
        if status is None:
            raise MalformedEvent("event.current must be a status name")
        previous = _name(event.get("previous"), NAME_MAX) or ""
        return replace(parsed, status=status.lower(), previous=previous.lower())
    if kind == COMMENT_ADDED:
        return replace(parsed, comment=_parse_comment(event.get("comment")))
    return parsed


def _parse_comment(comment) -> NewComment:
    if not isinstance(comment, dict):
        raise MalformedEvent("a comment event needs event.comment")
    zendesk_id = parse_id(comment.get("id"))
    if zendesk_id is None:
        raise MalformedEvent("comment.id must be a Zendesk comment id (a positive 64-bit integer)")
    if not isinstance(comment.get("body"), str):
        raise MalformedEvent("comment.body must be a string")
    author = comment.get("author") if isinstance(comment.get("author"), dict) else {}
    name = author.get("name") if isinstance(author.get("name"), str) else ""
    # Control characters (a NUL, which PostgreSQL refuses, among them) are dropped from what people
    # wrote, as the portal does with its own texts: the agent's message still arrives.
    return NewComment(
        zendesk_id,
        clean_block(comment["body"]),
        comment.get("is_public") is True,
        clean_line(name)[:AUTHOR_NAME_MAX] or "Zendesk",
        author.get("is_staff") is not False,
    )


def apply_event(payload, now: datetime | None = None) -> str:
    """Apply one Zendesk ticket event; returns what was done ("replay" when it was applied
    already, by an earlier or a simultaneous delivery: nothing changes). Raises MalformedEvent,
    UnknownTicket or ForeignEvent, and then nothing changes either."""
    now = now or utcnow()
    event = parse_event(payload)
    if _applied_already(event.event_id):
        return "replay"
    ticket = _ticket_for(event)
    # The receipt is written first: a simultaneous duplicate waits on it, then fails its unique key.
    db.session.add(WebhookReceipt(source=EVENT_SOURCE, event_id=event.event_id, received_at=now))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        if _applied_already(event.event_id):
            return "replay"
        raise
    outcome = "ignored"
    if event.kind == STATUS_CHANGED:
        outcome = _apply_status(ticket, event, now)
    elif event.kind == COMMENT_ADDED:
        outcome = _apply_comment(ticket, event.comment, now)
    db.session.commit()
    return outcome


def _applied_already(event_id: str) -> bool:
    return (
        db.session.scalar(
            select(WebhookReceipt.id).where(WebhookReceipt.source == EVENT_SOURCE, WebhookReceipt.event_id == event_id)
        )
        is not None
    )


def _ticket_for(event: ZendeskEvent) -> Ticket:
    """The event's own portal ticket: the one linked to its Zendesk ticket, whose reference must be
    the event's external_id when that is given; by reference only a ticket not linked yet (its
    creation answer was lost), which is linked now."""
    ticket = db.session.scalar(select(Ticket).where(Ticket.zendesk_id == event.zendesk_ticket_id))
    if ticket is None and event.reference:
        ticket = db.session.scalar(select(Ticket).where(Ticket.reference == event.reference))
        if ticket is not None and ticket.zendesk_id is None:
            ticket.zendesk_id = event.zendesk_ticket_id
            return ticket
    if ticket is None:
        raise UnknownTicket(event.zendesk_ticket_id)
    if event.reference and (ticket.zendesk_id != event.zendesk_ticket_id or ticket.reference != event.reference):
        log.warning(
            "Zendesk event %s ignored: its external_id %.40r does not match Zendesk ticket %s "
            "(portal ticket %s is linked to Zendesk ticket %s)",
            event.event_id,
            event.reference,
            event.zendesk_ticket_id,
            ticket.reference,
            ticket.zendesk_id,
        )
        raise ForeignEvent(event.event_id)
    return ticket


# The Zendesk statuses the portal follows: the portal status, and the event that records the move.
# "open" is followed only while a solution awaits confirmation (the one system move to "reopened"),
# and only when it leaves "solved": Zendesk reopens a solved ticket when its requester answers it,
# while a late delivery of an older change (new → open) says nothing about the solution.
FOLLOWED_STATUSES = {
    "solved": (Status.AWAITING_CONFIRMATION, EventKind.ZENDESK_SOLVED),
    "closed": (Status.CLOSED, EventKind.ZENDESK_CLOSED),
    "open": (Status.REOPENED, EventKind.REOPENED),
}
REOPENED_IN_ZENDESK = "Reopened in Zendesk"  # the reason when Zendesk reopens without the partner's words


def _apply_status(ticket: Ticket, event: ZendeskEvent, now: datetime) -> str:
    target, kind = FOLLOWED_STATUSES.get(event.status, (None, None))
    if target is Status.REOPENED and event.previous not in ("", "solved"):
        target = None
    if target is not None and states.allowed(Status(ticket.status), target, states.SYSTEM):
        if target is Status.REOPENED:
            conversation.reopen(None, ticket, REOPENED_IN_ZENDESK, now, tell_zendesk=False, answered_as="Zendesk")
        else:
            move(ticket, target, None, kind, {"zendesk_status": event.status}, now=now)
        return f"status:{target.value}"
    record_event(ticket, None, EventKind.ZENDESK_STATUS, data={"zendesk_status": event.status}, public=False, now=now)
    return "noted"


def _apply_comment(ticket: Ticket, comment: NewComment, now: datetime) -> str:
    known = db.session.scalar(
        select(WebhookReceipt.id).where(
            WebhookReceipt.source == ECHO_SOURCE, WebhookReceipt.event_id == str(comment.zendesk_id)
        )
    )
    if known or db.session.scalar(select(Comment.id).where(Comment.zendesk_comment_id == comment.zendesk_id)):
        return "echo"
    db.session.add(
        Comment(
            ticket_id=ticket.id,
            author_name=comment.author_name,
            body=comment.body,
            public=comment.public,
            source="zendesk",
            zendesk_comment_id=comment.zendesk_id,
            created_at=now,
        )
    )
    ticket.updated_at = now
    if comment.public and comment.by_staff:
        sla_clock.record_first_response(ticket, None, now)
    if comment.public and not comment.by_staff:
        conversation.reopen_on_answer(
            None, ticket, comment.body, now, tell_zendesk=False, answered_as=comment.author_name
        )
    return "comment:public" if comment.public else "comment:private"
