"""The events Zendesk sends back through its webhook (parsed by `zendesk_events`), applied once.

Requests are signed: base64(HMAC-SHA256(secret, timestamp + body)) ("Verifying webhook
authenticity", developer.zendesk.com/documentation/webhooks/verifying).

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

import logging
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations.models import WebhookReceipt
from portal.integrations.zendesk import parse_id
from portal.tickets import conversation, sla_clock, states, zendesk_arrivals
from portal.tickets.models import Comment, EventKind, Status, Ticket
from portal.tickets.people_mail import TicketMail, email_requester
from portal.tickets.states import move, record_event
from portal.tickets.zendesk_delivery import ECHO_SOURCE
from portal.tickets.zendesk_events import (
    COMMENT_ADDED,
    FOLLOWED_EVENTS,
    STATUS_CHANGED,
    NewComment,
    ZendeskEvent,
    parse_event,
)
from portal.tickets.zendesk_files import fetch_files

log = logging.getLogger("portal.zendesk")

EVENT_SOURCE = "zendesk"
ATTEMPTS = 2  # a simultaneous first event of the same new ticket makes this one run again


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
# What the partner is e-mailed of a solve or close made in Zendesk (when the portal e-mails partners).
PARTNER_NEWS = {Status.AWAITING_CONFIRMATION: TicketMail.SOLUTION, Status.CLOSED: TicketMail.CLOSED}
REOPENED_IN_ZENDESK = "Reopened in Zendesk"  # the reason when Zendesk reopens without the partner's words


def _apply_status(ticket: Ticket, event: ZendeskEvent, now: datetime) -> str:
    target, kind = FOLLOWED_STATUSES.get(event.status, (None, None))
    if target is Status.REOPENED and event.previous not in ("", "solved"):
        target = None
    if target is not None and states.allowed(Status(ticket.status), target, states.SYSTEM):
        if target is Status.REOPENED:
            conversation.reopen(None, ticket, REOPENED_IN_ZENDESK, now, tell_zendesk=False, answered_as="Zendesk")
        else:
            moved = move(ticket, target, None, kind, {"zendesk_status": event.status}, now=now)
            db.session.flush()
            email_requester(ticket, PARTNER_NEWS[target], str(moved.id))
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
    shown = Comment(
        ticket_id=ticket.id,
        author_name=comment.author_name,
        body=comment.body,
        public=comment.public,
        source="zendesk",
        zendesk_comment_id=comment.zendesk_id,
        created_at=now,
    )
    db.session.add(shown)
    db.session.flush()
    fetch_files(ticket, shown)
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
