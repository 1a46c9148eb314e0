"""A partner's new ticket and the KB suggestions shown while it is written (deflection)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from auth.models import Role, User
from kb import backends as kb_search
from kb import services as kb_services
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.text import clean_line
from portal.core.types import utcnow
from portal.tickets import attachments, sla_clock
from portal.tickets.attachments import Upload
from portal.tickets.board import monday_new_ticket
from portal.tickets.models import (
    DEFLECTION_QUERY_MAX,
    MARKETING_DETAILS,
    TECHNICAL_DETAILS,
    Deflection,
    DeflectionOutcome,
    EventKind,
    Status,
    Ticket,
    TicketForm,
)
from portal.tickets.outbound import zendesk_create
from portal.tickets.states import record_event
from portal.tickets.validation import (
    DESCRIPTION_MAX,
    DETAIL_MAX,
    SUBJECT_MAX,
    text_block,
    text_line,
)


def create_ticket(
    user: User,
    form: str,
    subject: str,
    description: str,
    details: dict,
    deflection_token: str | None = None,
    now: datetime | None = None,
    files: Sequence[Upload] = (),
) -> Ticket:
    """A partner's new ticket, with the files attached to its description; its forwarding to
    Zendesk is committed with it. Nothing is stored when a file is refused."""
    if user.role_enum is not Role.PARTNER or user.organization is None:
        raise InvalidInput(_("Only partners open tickets."))
    if form not in {f.value for f in TicketForm}:
        raise InvalidInput(_("Unknown form."), "form")
    subject = text_line(subject, "subject", SUBJECT_MAX, _("Write a subject."))
    description = text_block(description, "description", DESCRIPTION_MAX, _("Describe the problem."))
    checked = attachments.check(files)
    allowed_keys = TECHNICAL_DETAILS if form == TicketForm.TECHNICAL else MARKETING_DETAILS
    details = {
        key: clean_line(value)[:DETAIL_MAX] if isinstance(value, str) else value
        for key, value in details.items()
        if key in allowed_keys
    }
    now = now or utcnow()
    ticket = Ticket(
        organization_id=user.organization_id,
        organization=user.organization,
        requester_id=user.id,
        form=form,
        subject=subject,
        description=description,
        details={key: value for key, value in details.items() if value not in (None, "")},
        created_at=now,
        updated_at=now,
    )
    _arrive(ticket, user, {"form": form}, now)
    zendesk_create(ticket, user, attachments.store(ticket, checked, user))
    if deflection_token:
        deflection = db.session.scalar(
            select(Deflection).where(Deflection.token == deflection_token, Deflection.user_id == user.id)
        )
        if deflection is not None and deflection.outcome == DeflectionOutcome.PENDING:
            deflection.outcome, deflection.ticket_id, deflection.updated_at = DeflectionOutcome.TICKET, ticket.id, now
    db.session.commit()
    return ticket


def create_from_zendesk(
    requester: User, subject: str, description: str, zendesk_id: int, created_at: datetime, channel: str
) -> Ticket:
    """A ticket born in Zendesk (an e-mail to support, an agent creating it there: the procedure's
    "multicanal") as a portal ticket of its requester's organization: new, so in triage, with its
    first-response clock started at Zendesk's creation time; nothing is sent back to Zendesk, where
    it lives already. It takes the technical form's request type until the administrator classifies
    it. The caller commits (with the webhook receipt or the administrator's decision)."""
    ticket = Ticket(
        organization_id=requester.organization_id,
        organization=requester.organization,
        requester_id=requester.id,
        form=TicketForm.TECHNICAL.value,
        subject=subject,
        description=description,
        details={},
        zendesk_id=zendesk_id,
        created_at=created_at,
        updated_at=created_at,
    )
    data = {"form": ticket.form, "source": "zendesk", "channel": channel, "zendesk_id": zendesk_id}
    _arrive(ticket, None, data, created_at, actor_label="Zendesk")
    return ticket


def _arrive(ticket: Ticket, actor: User | None, data: dict, now: datetime, actor_label: str = "") -> None:
    """What every new ticket goes through, wherever it was born: its reference, its first-response
    deadline, the contact the procedure tells at once, the "created" event and its Monday item."""
    db.session.add(ticket)
    db.session.flush()
    ticket.reference = f"EDY-{ticket.id:06d}"
    sla_clock.assign_deadline(ticket)
    sla_clock.tell_the_contact_on_arrival(ticket)
    deadline = {
        "sla_row": ticket.sla_row_key,
        "sla_due_at": ticket.sla_due_at.isoformat() if ticket.sla_due_at else None,
    }
    record_event(ticket, actor, EventKind.CREATED, None, Status.NEW.value, {**data, **deadline}, True, now, actor_label)
    monday_new_ticket(ticket)


SUGGESTION_COUNT = 5
DEFLECTION_IDLE = timedelta(hours=1)


def suggest(user: User, text: str, token: str | None, now: datetime | None = None) -> tuple[list, str | None]:
    """The top KB articles for what the partner is writing; the articles shown are recorded
    under a token that follows the form until a ticket is sent or an article solves it."""
    now = now or utcnow()
    results = kb_search.search(text, [user.language], kb_services.visibilities_for(user), per_page=SUGGESTION_COUNT)
    hits = results.hits[:SUGGESTION_COUNT]
    deflection = None
    if token:
        deflection = db.session.scalar(
            select(Deflection).where(Deflection.token == token, Deflection.user_id == user.id)
        )
    if not hits:
        return hits, token
    if deflection is None:
        deflection = Deflection(
            token=secrets.token_urlsafe(16),
            organization_id=user.organization_id,
            user_id=user.id,
            created_at=now,
            outcome=DeflectionOutcome.PENDING,
            suggested_article_ids=[],
        )
        db.session.add(deflection)
    if deflection.outcome == DeflectionOutcome.PENDING:
        shown = list(dict.fromkeys([*(deflection.suggested_article_ids or []), *(hit.article_id for hit in hits)]))
        deflection.query = text[:DEFLECTION_QUERY_MAX]
        deflection.suggested_article_ids, deflection.updated_at = shown, now
    db.session.commit()
    return hits, deflection.token


def deflect(user: User, token: str, article_id: int, now: datetime | None = None) -> Deflection:
    """The partner's problem was solved by an article: no ticket, and the deflection is recorded."""
    deflection = db.session.scalar(select(Deflection).where(Deflection.token == token, Deflection.user_id == user.id))
    if deflection is None:
        raise InvalidInput(_("These suggestions have expired. Search the knowledge base again."), "token")
    if article_id not in deflection.suggested_article_ids:
        raise InvalidInput(_("That article was not among the suggestions."), "article_id")
    deflection.outcome, deflection.article_id = DeflectionOutcome.SOLVED, article_id
    deflection.updated_at = now or utcnow()
    db.session.commit()
    return deflection


def expire_deflections(now: datetime | None = None) -> int:
    """Suggestions shown an hour ago with neither a solution nor a ticket count as abandoned."""
    now = now or utcnow()
    stale = list(
        db.session.scalars(
            select(Deflection).where(
                Deflection.outcome == DeflectionOutcome.PENDING, Deflection.updated_at <= now - DEFLECTION_IDLE
            )
        )
    )
    for deflection in stale:
        deflection.outcome = DeflectionOutcome.ABANDONED
    db.session.commit()
    return len(stale)
