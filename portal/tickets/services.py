"""Ticket operations: intake, the timeline, partner confirmation, auto-close, KB deflection, and
keeping Zendesk in step. Every status change goes through `move()`, the state machine's only door."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from auth.models import Role, User
from kb import search as kb_search
from kb import services as kb_services
from portal.errors import InvalidInput
from portal.extensions import db
from portal.integrations import outbox
from portal.integrations.models import Target
from portal.tickets import states
from portal.tickets.models import Comment, Deflection, Status, Ticket, TicketEvent, TicketForm
from portal.types import utcnow

SUGGESTION_COUNT = 5
DEFLECTION_IDLE = timedelta(hours=1)
# Portal status -> the Zendesk status partners' Zendesk view should show.
ZENDESK_STATUS = {Status.AWAITING_CONFIRMATION: "solved", Status.CLOSED: "closed", Status.REOPENED: "open"}


class TransitionRefused(Exception):
    """A status change the state machine does not allow (answered with 409)."""

    def __init__(self, ticket: Ticket, target: Status, role: str):
        super().__init__(
            _("A ticket that is “%(current)s” cannot become “%(target)s” by this action.",
              current=ticket.status_label, target=str(target.value))
        )
        self.message = str(self.args[0])


def role_of(actor: User | None) -> str:
    return actor.role if actor is not None else states.SYSTEM


def move(ticket: Ticket, target: Status, actor: User | None, kind: str, data: dict | None = None,
         public: bool = True, now: datetime | None = None) -> TicketEvent:
    """Change the ticket's status if the state machine allows it, recording the event (the caller
    commits, together with any outbox message)."""
    now = now or utcnow()
    current = Status(ticket.status)
    if not states.allowed(current, target, role_of(actor)):
        raise TransitionRefused(ticket, target, role_of(actor))
    ticket.status = target.value
    ticket.updated_at = now
    if target is Status.AWAITING_CONFIRMATION:
        ticket.awaiting_since = now
    if target is Status.CLOSED:
        ticket.closed_at = now
    return record_event(ticket, actor, kind, current.value, target.value, data, public, now)


def record_event(ticket: Ticket, actor: User | None, kind: str, from_status: str | None = None,
                 to_status: str | None = None, data: dict | None = None, public: bool = True,
                 now: datetime | None = None) -> TicketEvent:
    event = TicketEvent(
        ticket_id=ticket.id,
        actor_id=getattr(actor, "id", None),
        actor_label=actor.name if actor is not None else "",
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        data=data or {},
        public=public,
        created_at=now or utcnow(),
    )
    db.session.add(event)
    return event


def _zendesk_status(ticket: Ticket, status: Status, comment: str | None = None, key: str = "") -> None:
    body: dict = {"status": ZENDESK_STATUS[status]}
    if comment:
        body["comment"] = {"body": comment, "public": True}
    outbox.enqueue(Target.ZENDESK, "update_ticket", {"ticket": body}, f"zendesk:status:{ticket.id}:{key}",
                   ticket_id=ticket.id)


# Intake -----------------------------------------------------------------------------------

TECHNICAL_DETAILS = ("service", "device", "app_version", "region", "content_id", "error_code", "started_at", "impact")
MARKETING_DETAILS = ("topic", "desired_date")
DETAIL_LABELS = {
    "service": _l("Affected service or platform"), "device": _l("Device and operating system"),
    "app_version": _l("App version"), "region": _l("Region / country"), "content_id": _l("Content or stream id"),
    "error_code": _l("Error code"), "started_at": _l("When did it start?"), "impact": _l("Impact on end users"),
    "topic": _l("Topic"), "desired_date": _l("Desired date"),
}


def _zendesk_ticket(ticket: Ticket, requester: User) -> dict:
    details = "\n".join(
        f"- {DETAIL_LABELS[key]}: {value}" for key, value in ticket.details.items() if value not in (None, "")
    )
    body = ticket.description + (f"\n\n---\n{details}" if details else "")
    custom_fields = [
        {"id": int(field_id), "value": ticket.details[key]}
        for key, field_id in current_app.config["ZENDESK_CUSTOM_FIELDS"].items()
        if ticket.details.get(key) not in (None, "")
    ]
    payload = {
        "subject": f"[{ticket.reference}] {ticket.subject}",
        "comment": {"body": body, "public": True},
        "requester": {"name": requester.name, "email": requester.email},
        "tags": ["edye_portal", f"form_{ticket.form}"],
        "external_id": ticket.reference,
    }
    if custom_fields:
        payload["custom_fields"] = custom_fields
    if ticket.organization.zendesk_organization_id:
        payload["organization_id"] = ticket.organization.zendesk_organization_id
    return payload


def create_ticket(user: User, form: str, subject: str, description: str, details: dict,
                  deflection_token: str | None = None, now: datetime | None = None) -> Ticket:
    """A partner's new ticket; its forwarding to Zendesk is committed with it."""
    if user.role_enum is not Role.PARTNER or user.organization is None:
        raise InvalidInput(_("Only partners open tickets."))
    if form not in {f.value for f in TicketForm}:
        raise InvalidInput(_("Unknown form."), "form")
    allowed_keys = TECHNICAL_DETAILS if form == TicketForm.TECHNICAL else MARKETING_DETAILS
    now = now or utcnow()
    ticket = Ticket(
        organization_id=user.organization_id,
        organization=user.organization,
        requester_id=user.id,
        form=form,
        subject=subject.strip(),
        description=description.strip(),
        details={key: details.get(key) for key in allowed_keys if details.get(key) not in (None, "")},
        created_at=now,
        updated_at=now,
    )
    db.session.add(ticket)
    db.session.flush()
    ticket.reference = f"EDY-{ticket.id:06d}"
    record_event(ticket, user, "created", None, Status.NEW.value, {"form": form}, True, now)
    outbox.enqueue(Target.ZENDESK, "create_ticket", {"ticket": _zendesk_ticket(ticket, user)},
                   f"zendesk:create:{ticket.reference}", ticket_id=ticket.id)
    if deflection_token:
        deflection = db.session.scalar(select(Deflection).where(
            Deflection.token == deflection_token, Deflection.user_id == user.id))
        if deflection is not None and deflection.outcome == "pending":
            deflection.outcome, deflection.ticket_id, deflection.updated_at = "ticket", ticket.id, now
    db.session.commit()
    return ticket


# Reading ------------------------------------------------------------------------------------


def ticket_for(user: User, ticket_id: int) -> Ticket | None:
    """The ticket if this user may see it: partners only their organization's, staff all."""
    ticket = db.session.get(Ticket, ticket_id, options=[joinedload(Ticket.organization)])
    if ticket is None:
        return None
    if user.is_staff or ticket.organization_id == user.organization_id:
        return ticket
    return None


def ticket_list(user: User, status_filter: str = "", query: str = ""):
    """A select of the tickets this user may see, newest first, filtered."""
    statement = select(Ticket).options(joinedload(Ticket.requester)).order_by(Ticket.created_at.desc(), Ticket.id.desc())
    if not user.is_staff:
        statement = statement.where(Ticket.organization_id == user.organization_id)
    else:
        statement = statement.options(joinedload(Ticket.organization))
    if status_filter == "open":
        statement = statement.where(Ticket.status.in_([s.value for s in states.OPEN_STATUSES]))
    elif status_filter in (Status.AWAITING_CONFIRMATION.value, Status.CLOSED.value):
        statement = statement.where(Ticket.status == status_filter)
    query = (query or "").strip()
    if query:
        statement = statement.where(or_(Ticket.reference.ilike(f"%{query}%"), Ticket.subject.ilike(f"%{query}%")))
    return statement


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    comment: Comment | None = None
    event: TicketEvent | None = None


def timeline(ticket: Ticket, include_internal: bool) -> list[TimelineEntry]:
    """Comments and events in time order; partners get only public ones."""
    comments = select(Comment).where(Comment.ticket_id == ticket.id)
    events = select(TicketEvent).options(joinedload(TicketEvent.actor)).where(TicketEvent.ticket_id == ticket.id)
    if not include_internal:
        comments = comments.where(Comment.public.is_(True))
        events = events.where(TicketEvent.public.is_(True))
    entries = [TimelineEntry(at=c.created_at, comment=c) for c in db.session.scalars(comments)]
    entries += [TimelineEntry(at=e.created_at, event=e) for e in db.session.scalars(events)]
    return sorted(entries, key=lambda entry: (entry.at, entry.event is None))


def expected_first_response(ticket: Ticket) -> str:
    """The first-response target partners are promised for this kind of request."""
    if ticket.form == TicketForm.MARKETING_BUSINESS:
        return _("within 24 hours")
    return _("within 2–3 business hours (24 hours outside business hours)")


# Conversation and confirmation -------------------------------------------------------------


def add_comment(user: User, ticket: Ticket, body: str, now: datetime | None = None) -> Comment:
    """A public comment from the partner (or staff), sent on to Zendesk."""
    body = (body or "").strip()
    if not body:
        raise InvalidInput(_("Write a message first."), "body")
    if len(body) > 20_000:
        raise InvalidInput(_("The message is too long."), "body")
    if ticket.status == Status.CLOSED:
        raise TransitionRefused(ticket, Status.CLOSED, role_of(user))
    now = now or utcnow()
    comment = Comment(ticket_id=ticket.id, author_id=user.id, author_name=user.name, body=body, public=True,
                      created_at=now)
    db.session.add(comment)
    db.session.flush()
    ticket.updated_at = now
    outbox.enqueue(Target.ZENDESK, "update_ticket",
                   {"ticket": {"comment": {"body": f"{user.name}:\n\n{body}", "public": True}}, "comment_id": comment.id},
                   f"zendesk:comment:{comment.id}", ticket_id=ticket.id)
    db.session.commit()
    return comment


def mark_solved(actor: User | None, ticket: Ticket, message: str = "", now: datetime | None = None) -> Ticket:
    """The solution goes to the partner, who is asked to confirm it."""
    event = move(ticket, Status.AWAITING_CONFIRMATION, actor, "solution_sent", {"message": message}, now=now)
    db.session.flush()
    _zendesk_status(ticket, Status.AWAITING_CONFIRMATION, message or None, key=str(event.id))
    db.session.commit()
    return ticket


def confirm(user: User, ticket: Ticket, solved: bool, reason: str = "", now: datetime | None = None) -> Ticket:
    """The partner's answer: solved (closed, accepted) or not (reopened, back to its agent)."""
    reason = (reason or "").strip()
    if solved:
        event = move(ticket, Status.CLOSED, user, "confirmed", {"accepted": True}, now=now)
        db.session.flush()
        _zendesk_status(ticket, Status.CLOSED, key=str(event.id))
    else:
        if not reason:
            raise InvalidInput(_("Tell us what still fails, so the agent can continue."), "reason")
        event = move(ticket, Status.REOPENED, user, "reopened", {"reason": reason, "assignee_id": ticket.assignee_id},
                     now=now)
        db.session.flush()
        _zendesk_status(ticket, Status.REOPENED, _("The partner says the problem persists: %(reason)s", reason=reason),
                        key=str(event.id))
    db.session.commit()
    return ticket


def auto_close(now: datetime | None = None) -> int:
    """Close tickets whose partner did not answer within AUTO_CLOSE_AFTER_HOURS (accepted by silence)."""
    now = now or utcnow()
    deadline = now - timedelta(hours=current_app.config["AUTO_CLOSE_AFTER_HOURS"])
    due = list(db.session.scalars(select(Ticket).where(
        Ticket.status == Status.AWAITING_CONFIRMATION.value, Ticket.awaiting_since <= deadline)))
    for ticket in due:
        event = move(ticket, Status.CLOSED, None, "auto_closed",
                     {"accepted": True, "hours": current_app.config["AUTO_CLOSE_AFTER_HOURS"]}, now=now)
        db.session.flush()
        _zendesk_status(ticket, Status.CLOSED, key=str(event.id))
    db.session.commit()
    return len(due)


# Deflection --------------------------------------------------------------------------------


def suggest(user: User, text: str, token: str | None, now: datetime | None = None) -> tuple[list, str | None]:
    """The top KB articles for what the partner is writing; the articles shown are recorded
    under a token that follows the form until a ticket is sent or an article solves it."""
    now = now or utcnow()
    results = kb_search.search(text, [user.language], kb_services.visibilities_for(user), per_page=SUGGESTION_COUNT)
    hits = results.hits[:SUGGESTION_COUNT]
    deflection = None
    if token:
        deflection = db.session.scalar(select(Deflection).where(Deflection.token == token, Deflection.user_id == user.id))
    if not hits:
        return hits, token
    if deflection is None:
        deflection = Deflection(token=secrets.token_urlsafe(16), organization_id=user.organization_id,
                                user_id=user.id, created_at=now, outcome="pending", suggested_article_ids=[])
        db.session.add(deflection)
    if deflection.outcome == "pending":
        shown = list(dict.fromkeys([*(deflection.suggested_article_ids or []), *(hit.article_id for hit in hits)]))
        deflection.query, deflection.suggested_article_ids, deflection.updated_at = text[:500], shown, now
    db.session.commit()
    return hits, deflection.token


def deflect(user: User, token: str, article_id: int, now: datetime | None = None) -> Deflection:
    """The partner's problem was solved by an article: no ticket, and the deflection is recorded."""
    deflection = db.session.scalar(select(Deflection).where(Deflection.token == token, Deflection.user_id == user.id))
    if deflection is None:
        raise InvalidInput(_("These suggestions have expired. Search the knowledge base again."), "token")
    if article_id not in deflection.suggested_article_ids:
        raise InvalidInput(_("That article was not among the suggestions."), "article_id")
    deflection.outcome, deflection.article_id, deflection.updated_at = "solved", article_id, now or utcnow()
    db.session.commit()
    return deflection


def expire_deflections(now: datetime | None = None) -> int:
    """Suggestions shown an hour ago with neither a solution nor a ticket count as abandoned."""
    now = now or utcnow()
    stale = list(db.session.scalars(select(Deflection).where(
        Deflection.outcome == "pending", Deflection.updated_at <= now - DEFLECTION_IDLE)))
    for deflection in stale:
        deflection.outcome = "abandoned"
    db.session.commit()
    return len(stale)
