"""The events Zendesk's webhook sends, parsed field by field before anything is stored.

Only webhooks subscribed to Zendesk's ticket events are supported: their body is Zendesk's event
envelope (`type` "zen:event-type:ticket.…", `id`, `time`, `detail` with the ticket's fields,
`event` with what changed; "Webhook event types" and "Ticket events", developer.zendesk.com/
api-reference/webhooks/event-types/webhook-event-types and …/ticket-events). A webhook connected to
a trigger or an automation sends whatever JSON its trigger spells ("Anatomy of a webhook request",
developer.zendesk.com/documentation/webhooks/anatomy-of-a-webhook-request), so its body is refused
as malformed (400, with a message saying so) and shows as failing in Zendesk's activity log instead
of doing nothing in silence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from portal.core.text import CONTROL_CHARACTERS, clean_block, clean_line
from portal.core.types import utcnow
from portal.integrations.models import EVENT_ID_MAX
from portal.integrations.zendesk import parse_id, parse_timestamp
from portal.tickets.models import AUTHOR_NAME_MAX
from portal.tickets.validation import SUBJECT_MAX
from portal.tickets.zendesk_arrivals import BornInZendesk

TICKET_CREATED = "zen:event-type:ticket.created"
STATUS_CHANGED = "zen:event-type:ticket.status_changed"
COMMENT_ADDED = "zen:event-type:ticket.comment_added"
FOLLOWED_EVENTS = (TICKET_CREATED, STATUS_CHANGED, COMMENT_ADDED)
NAME_MAX = 60  # event types, statuses and channels are short names


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
