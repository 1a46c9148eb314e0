"""The conversation on a ticket: public comments, internal notes, the partner's confirmation of a
solution and the auto-close of tickets nobody answered."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from auth.models import User
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations import outbox
from portal.integrations.models import Target
from portal.sla import services as sla
from portal.tickets.models import (
    Comment,
    Status,
    Ticket,
)
from portal.tickets.outbound import zendesk_status
from portal.tickets.states import TransitionRefused, move, role_of
from portal.tickets.validation import (
    COMMENT_MAX,
    NOTE_MAX,
    REASON_MAX,
    text_block,
)


def add_comment(user: User, ticket: Ticket, body: str, now: datetime | None = None) -> Comment:
    """A public comment from the partner (or staff), sent on to Zendesk."""
    body = text_block(body, "body", COMMENT_MAX, _("Write a message first."))
    if ticket.status == Status.CLOSED:
        raise TransitionRefused(ticket, Status.CLOSED, role_of(user))
    now = now or utcnow()
    comment = Comment(
        ticket_id=ticket.id, author_id=user.id, author_name=user.name, body=body, public=True, created_at=now
    )
    db.session.add(comment)
    if user.is_staff:
        sla.record_first_response(ticket, user, now)
    db.session.flush()
    ticket.updated_at = now
    outbox.enqueue(
        Target.ZENDESK,
        "update_ticket",
        {"ticket": {"comment": {"body": f"{user.name}:\n\n{body}", "public": True}}, "comment_id": comment.id},
        f"zendesk:comment:{comment.id}",
        ticket_id=ticket.id,
    )
    db.session.commit()
    return comment


def add_internal_note(staff: User, ticket: Ticket, body: str, now: datetime | None = None) -> Comment:
    """A note for staff only: never shown to partners, never sent to Zendesk as public."""
    body = text_block(body, "body", NOTE_MAX, _("Write a message first."))
    note = Comment(
        ticket_id=ticket.id,
        author_id=staff.id,
        author_name=staff.name,
        body=body,
        public=False,
        created_at=now or utcnow(),
    )
    db.session.add(note)
    db.session.commit()
    return note


def mark_solved(actor: User | None, ticket: Ticket, message: str = "", now: datetime | None = None) -> Ticket:
    """The solution goes to the partner, who is asked to confirm it."""
    message = text_block(message, "message", COMMENT_MAX)
    event = move(ticket, Status.AWAITING_CONFIRMATION, actor, "solution_sent", {"message": message}, now=now)
    db.session.flush()
    zendesk_status(ticket, Status.AWAITING_CONFIRMATION, message or None, key=str(event.id))
    db.session.commit()
    return ticket


def confirm(user: User, ticket: Ticket, solved: bool, reason: str = "", now: datetime | None = None) -> Ticket:
    """The partner's answer: solved (closed, accepted) or not (reopened, back to its agent)."""
    reason = text_block(reason, "reason", REASON_MAX)
    if solved:
        event = move(ticket, Status.CLOSED, user, "confirmed", {"accepted": True}, now=now)
        db.session.flush()
        zendesk_status(ticket, Status.CLOSED, key=str(event.id))
    else:
        if not reason:
            raise InvalidInput(_("Tell us what still fails, so the agent can continue."), "reason")
        event = move(
            ticket, Status.REOPENED, user, "reopened", {"reason": reason, "assignee_id": ticket.assignee_id}, now=now
        )
        db.session.flush()
        zendesk_status(
            ticket,
            Status.REOPENED,
            _("The partner says the problem persists: %(reason)s", reason=reason),
            key=str(event.id),
        )
    db.session.commit()
    return ticket


def auto_close(now: datetime | None = None) -> int:
    """Close tickets whose partner did not answer within AUTO_CLOSE_AFTER_HOURS (accepted by silence)."""
    now = now or utcnow()
    deadline = now - timedelta(hours=current_app.config["AUTO_CLOSE_AFTER_HOURS"])
    due = list(
        db.session.scalars(
            select(Ticket).where(Ticket.status == Status.AWAITING_CONFIRMATION.value, Ticket.awaiting_since <= deadline)
        )
    )
    for ticket in due:
        event = move(
            ticket,
            Status.CLOSED,
            None,
            "auto_closed",
            {"accepted": True, "hours": current_app.config["AUTO_CLOSE_AFTER_HOURS"]},
            now=now,
        )
        db.session.flush()
        zendesk_status(ticket, Status.CLOSED, key=str(event.id))
    db.session.commit()
    return len(due)
