"""The events Zendesk sends back through its webhook: parsed field by field, applied once.

Only webhooks subscribed to Zendesk's ticket events are supported: their body is Zendesk's event
envelope (`type` "zen:event-type:ticket.…", `id`, `time`, `detail` with the ticket's fields,
`event` with what changed; "Webhook event types" and "Ticket events", developer.zendesk.com/
api-reference/webhooks/event-types/webhook-event-types and …/ticket-events). A webhook connected to
a trigger or an automation sends whatever JSON its trigger spells ("Anatomy of a webhook request",
developer.zendesk.com/documentation/webhooks/anatomy-of-a-webhook-request), so its body is refused
as malformed (400, with a message saying so) and shows as failing in Zendesk's activity log instead
of doing nothing in silence. Requests are signed: base64(HMAC-SHA256(secret, timestamp + body))
("Verifying webhook authenticity", developer.zendesk.com/documentation/webhooks/verifying).

Zendesk retries a webhook request on some failures and may deliver one event more than once; its
circuit breaker pauses a webhook whose answers are mostly errors (70 % in five minutes; "Webhook
retries", developer.zendesk.com/api-reference/webhooks/introduction), which would stop every portal
ticket's events. So what the portal chooses not to apply — an event of a type it does not follow,
an unknown or foreign ticket, its own echo, a replay — is answered 200 with the reason; only a body
that can never be applied (malformed) is a 4xx, and a bad signature a 401.

The portal follows `ticket.created`, `ticket.status_changed` and `ticket.comment_added`. A ticket
Zendesk knows and the portal does not (created by e-mail or by an agent) is born in Zendesk: see
`zendesk_arrivals`. Events whose actor (`detail.actor_id`) or comment author is the integration
user (`ZENDESK_INTEGRATION_USER_ID`, the API user's Zendesk id) are the portal's own: a comment it
posted, a status it set; they are never applied again, even before the worker has committed the
ids Zendesk answered with.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.core.extensions import db
from portal.core.text import CONTROL_CHARACTERS, clean_block, clean_line
from portal.core.types import utcnow
from portal.integrations.models import EVENT_ID_MAX, WebhookReceipt
from portal.integrations.zendesk import parse_id, parse_timestamp
from portal.tickets import conversation, sla_clock, states, zendesk_arrivals
from portal.tickets.models import AUTHOR_NAME_MAX, Comment, EventKind, Status, Ticket
from portal.tickets.states import move, record_event
from portal.tickets.validation import SUBJECT_MAX
from portal.tickets.zendesk_arrivals import BornInZendesk
from portal.tickets.zendesk_delivery import ECHO_SOURCE

log = logging.getLogger("portal.zendesk")

TICKET_CREATED = "zen:event-type:ticket.created"
STATUS_CHANGED = "zen:event-type:ticket.status_changed"
COMMENT_ADDED = "zen:event-type:ticket.comment_added"
FOLLOWED_EVENTS = (TICKET_CREATED, STATUS_CHANGED, COMMENT_ADDED)
EVENT_SOURCE = "zendesk"
NAME_MAX = 60  # event types, statuses and channels are short names
ATTEMPTS = 2  # a simultaneous first event of the same new ticket makes this one run again


class MalformedEvent(ValueError):
    """A field of the event is missing or of the wrong kind; the message names the field."""


@dataclass(frozen=True)
class Outcome:
    """What the portal did with an event: `outcome` names it; `reason` says why nothing changed."""

    outcome: str
    reason: str = ""

    @property
    def status(self) -> str:
        """Applied, a replay (applied before) or ignored (refused on purpose): all answered 200."""
        if self.outcome == "replay":
            return "replay"
        return "ignored" if self.reason else "applied"


REPLAY = Outcome("replay", "event already applied")


@dataclass(frozen=True)
class NewComment:
    """A comment a Zendesk agent added, as the portal will store it."""

    zendesk_id: int
    body: str
    public: bool
    author_name: str
    by_staff: bool = True  # false: an end user wrote it (the partner, the ticket's requester)
    author_id: int | None = None  # the author's Zendesk user id


@dataclass(frozen=True)
class ZendeskEvent:
    """One webhook ticket event, checked field by field before anything is stored."""

    event_id: str
    kind: str
    zendesk_ticket_id: int
    reference: str | None
    actor_id: int | None = None  # who did it in Zendesk (`detail.actor_id`)
    status: str = ""
    previous: str = ""  # the status it left, when the event says (a status change's)
    comment: NewComment | None = None
    born: BornInZendesk | None = None  # the ticket as Zendesk describes it, should the portal not know it


def _name(value, maximum: int) -> str | None:
    """An identifier-like string (event id, type, status): no control characters, not too long."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or CONTROL_CHARACTERS.search(value) or not value.strip():
        return None
    return value.strip() if len(value.strip()) <= maximum else None


def _optional_id(detail: dict, field: str) -> int | None:
    """A Zendesk id the event may leave out (null, "", or "0" for none, as Zendesk writes it)."""
    value = detail.get(field)
    if value in (None, "", 0, "0"):
        return None
    parsed = parse_id(value)
    if parsed is None:
        raise MalformedEvent(f"detail.{field} must be a Zendesk id (a positive 64-bit integer)")
    return parsed


def _text(detail: dict, field: str) -> str:
    value = detail.get(field)
    if value is not None and not isinstance(value, str):
        raise MalformedEvent(f"detail.{field} must be a string")
    return value or ""


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
    kind, event_id = _name(payload.get("type"), NAME_MAX), _name(payload.get("id"), EVENT_ID_MAX)
    if kind is None or not isinstance(detail, dict) or not isinstance(event, dict):
        raise MalformedEvent(
            "not a Zendesk event (type, detail and event are required): subscribe the webhook to ticket "
            "events; webhooks connected to triggers or automations are not supported"
        )
    if event_id is None:
        raise MalformedEvent(f"id must be a string of at most {EVENT_ID_MAX} characters")
    zendesk_ticket_id = parse_id(detail.get("id"))
    if zendesk_ticket_id is None:
        raise MalformedEvent("detail.id must be a Zendesk ticket id (a positive 64-bit integer)")
    reference = detail.get("external_id")
    if reference is not None and (not isinstance(reference, str) or CONTROL_CHARACTERS.search(reference)):
        raise MalformedEvent("detail.external_id must be a string or null")
    parsed = ZendeskEvent(
        event_id, kind, zendesk_ticket_id, (reference or "").strip() or None, _optional_id(detail, "actor_id")
    )
    if kind == STATUS_CHANGED:
        status = _name(event.get("current"), NAME_MAX)
        if status is None:
            raise MalformedEvent("event.current must be a status name")
        previous = _name(event.get("previous"), NAME_MAX) or ""
        parsed = replace(parsed, status=status.lower(), previous=previous.lower())
    elif kind == COMMENT_ADDED:
        parsed = replace(parsed, comment=_parse_comment(event.get("comment")))
    if kind in FOLLOWED_EVENTS:
        parsed = replace(parsed, born=_parse_born(payload, detail, parsed))
    return parsed


def _parse_born(payload: dict, detail: dict, parsed: ZendeskEvent) -> BornInZendesk:
    """The ticket as the event's `detail` describes it: its requester and organization, subject,
    description (else the comment that brought it), creation time (else the event's) and channel."""
    created = detail.get("created_at", payload.get("time"))
    created_at = parse_timestamp(created) if isinstance(created, str) else None
    if created is not None and created_at is None:
        raise MalformedEvent("detail.created_at must be an ISO 8601 time with its offset")
    via = detail.get("via") if isinstance(detail.get("via"), dict) else {}
    description = clean_block(_text(detail, "description")) or (parsed.comment.body if parsed.comment else "")
    return BornInZendesk(
        zendesk_ticket_id=parsed.zendesk_ticket_id,
        requester_id=_optional_id(detail, "requester_id"),
        organization_id=_optional_id(detail, "organization_id"),
        subject=clean_line(_text(detail, "subject"))[:SUBJECT_MAX] or f"Zendesk #{parsed.zendesk_ticket_id}",
        description=description,
        created_at=min(created_at, utcnow()) if created_at else utcnow(),
        channel=_name(via.get("channel"), NAME_MAX) or "",
    )


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
        parse_id(author.get("id")),
    )


def apply_event(payload, now: datetime | None = None) -> Outcome:
    """Apply one Zendesk ticket event and say what was done; a replay (applied already, by an
    earlier or a simultaneous delivery) and an event refused on purpose change nothing. Raises
    MalformedEvent, and then nothing changes either."""
    now = now or utcnow()
    event = parse_event(payload)
    if event.kind not in FOLLOWED_EVENTS:
        return Outcome("ignored", f"the portal does not follow {event.kind} events")
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _apply(event, now)
        except IntegrityError:
            # A simultaneous delivery (or another event of a new ticket) was stored first.
            db.session.rollback()
            if _applied_already(event.event_id):
                return REPLAY
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _apply(event: ZendeskEvent, now: datetime) -> Outcome:
    if _applied_already(event.event_id):
        return REPLAY
    ticket = _ticket_for(event)
    if isinstance(ticket, Outcome):
        return ticket
    # The receipt is written first: a simultaneous duplicate waits on it, then fails its unique key.
    db.session.add(WebhookReceipt(source=EVENT_SOURCE, event_id=event.event_id, received_at=now))
    db.session.flush()
    if ticket is None:
        arrival = zendesk_arrivals.receive(event.born, now)
        db.session.flush()
        if arrival.ticket is None:
            db.session.commit()
            return Outcome("unmatched")
        ticket, created = arrival.ticket, "ticket:created"
    else:
        created = ""
    outcome = _apply_to(ticket, event, now)
    db.session.commit()
    return Outcome("+".join(part for part in (created, outcome.outcome) if part) or "noted", outcome.reason)


def _apply_to(ticket: Ticket, event: ZendeskEvent, now: datetime) -> Outcome:
    if _by_integration_user(event):
        return Outcome("echo", "the portal's own change (its integration user made it)")
    if event.kind == STATUS_CHANGED:
        return Outcome(_apply_status(ticket, event, now))
    if event.kind == COMMENT_ADDED:
        return _apply_comment(ticket, event.comment, now)
    return Outcome("")


def _applied_already(event_id: str) -> bool:
    return (
        db.session.scalar(
            select(WebhookReceipt.id).where(WebhookReceipt.source == EVENT_SOURCE, WebhookReceipt.event_id == event_id)
        )
        is not None
    )


def _integration_user_id() -> int | None:
    return parse_id(current_app.config.get("ZENDESK_INTEGRATION_USER_ID"))


def _by_integration_user(event: ZendeskEvent) -> bool:
    """Whether the portal itself did this in Zendesk: it acted (a status, a comment it posted in a
    partner's name with the partner as author) or wrote the comment."""
    own = _integration_user_id()
    author = event.comment.author_id if event.comment else None
    return own is not None and own in (event.actor_id, author)


def _ticket_for(event: ZendeskEvent) -> Ticket | Outcome | None:
    """The event's own portal ticket: the one linked to its Zendesk ticket, whose reference must be
    the event's external_id when that is given; by reference only a ticket not linked yet (its
    creation answer was lost), which is linked now. None: a ticket born in Zendesk, new here; an
    Outcome: the event is refused, and why."""
    ticket = db.session.scalar(select(Ticket).where(Ticket.zendesk_id == event.zendesk_ticket_id))
    if ticket is None and event.reference:
        ticket = db.session.scalar(select(Ticket).where(Ticket.reference == event.reference))
        if ticket is not None and ticket.zendesk_id is None:
            ticket.zendesk_id = event.zendesk_ticket_id
            return ticket
    if ticket is None:
        return _unknown(event)
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
        return Outcome("ignored", "external_id names a ticket of another Zendesk ticket")
    return ticket


def _unknown(event: ZendeskEvent) -> Outcome | None:
    """Why an event of a Zendesk ticket no portal ticket belongs to is refused, or None when the
    ticket was born in Zendesk and is new here."""
    if event.reference:
        return Outcome("ignored", "no portal ticket has this external_id")
    if _by_integration_user(event):
        return Outcome("ignored", "the portal's own change on a ticket it does not know")
    arrival = zendesk_arrivals.arrival_of(event.zendesk_ticket_id)
    if arrival is not None:
        return Outcome("ignored", f"this Zendesk ticket is {arrival.state} in the portal, with no portal ticket")
    return None


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


def _apply_comment(ticket: Ticket, comment: NewComment, now: datetime) -> Outcome:
    """A comment added in Zendesk: shown once; only a public one by staff (`author.is_staff`) is
    EDYE's first response — a requester's comment is the partner speaking, which reopens a solution
    awaiting confirmation."""
    known = db.session.scalar(
        select(WebhookReceipt.id).where(
            WebhookReceipt.source == ECHO_SOURCE, WebhookReceipt.event_id == str(comment.zendesk_id)
        )
    )
    if known or db.session.scalar(select(Comment.id).where(Comment.zendesk_comment_id == comment.zendesk_id)):
        return Outcome("echo", "a comment the portal has already")
    if _is_the_description(ticket, comment):
        return Outcome("description", "the ticket's first comment, its description")
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
    return Outcome("comment:public" if comment.public else "comment:private")


def _is_the_description(ticket: Ticket, comment: NewComment) -> bool:
    """Zendesk's description is its ticket's first comment ("Tickets", developer.zendesk.com/
    api-reference/ticketing/tickets/tickets): on a ticket born in Zendesk its event repeats what the
    portal holds as the description already, and is neither shown again nor a response."""
    if ticket.description != comment.body:
        return False
    return not db.session.scalar(select(func.count(Comment.id)).where(Comment.ticket_id == ticket.id))
