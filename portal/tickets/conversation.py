"""The conversation on a ticket: public comments, internal notes, the partner's confirmation of a
solution and the auto-close of tickets nobody answered."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from auth.models import Role, User
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.types import utcnow
from portal.tickets import attachments, policy, sla_clock
from portal.tickets.attachments import Upload
from portal.tickets.models import (
    Comment,
    EventKind,
    Status,
    Ticket,
    TicketEvent,
)
from portal.tickets.outbound import zendesk_close_if_solved, zendesk_comment, zendesk_status
from portal.tickets.people_mail import TicketMail, email_requester
from portal.tickets.policy import Action
from portal.tickets.states import move
from portal.tickets.validation import (
    COMMENT_MAX,
    NOTE_MAX,
    REASON_MAX,
    text_block,
)


def add_comment(
    user: User, ticket: Ticket, body: str, now: datetime | None = None, files: Sequence[Upload] = ()
) -> Comment:
    """A public comment from the partner (or a reply from staff) with its files, sent on to
    Zendesk. Nothing is stored when a file is refused."""
    policy.check(user, ticket, Action.REPLY if user.is_staff else Action.COMMENT)
    body = text_block(body, "body", COMMENT_MAX, _("Write a message first."))
    checked = attachments.check(files)
    now = now or utcnow()
    comment = Comment.written(user, ticket, body, public=True, now=now)
    if user.is_staff:
        sla_clock.record_first_response(ticket, user, now)
    db.session.flush()
    ticket.updated_at = now
    zendesk_comment(ticket, comment, attachments.store(ticket, checked, user, comment))
    if not user.is_staff:
        reopen_on_answer(user, ticket, body, now, tell_zendesk=True)
    db.session.commit()
    return comment


def add_internal_note(
    staff: User, ticket: Ticket, body: str, now: datetime | None = None, files: Sequence[Upload] = ()
) -> Comment:
    """A note for staff only, with its files: never shown to partners, never sent to Zendesk."""
    policy.check(staff, ticket, Action.NOTE)
    body = text_block(body, "body", NOTE_MAX, _("Write a message first."))
    checked = attachments.check(files)
    note = Comment.written(staff, ticket, body, public=False, now=now or utcnow())
    db.session.flush()
    attachments.store(ticket, checked, staff, note)
    db.session.commit()
    return note


# Those a reopened ticket goes back to, and the tier it is at with them (the business area, outside
# the support levels, works its tickets at the first).
AGENT_TIERS = {Role.AGENT_L1: 1, Role.AGENT_L2: 2, Role.BUSINESS: 1}


def agent_who_resolved(ticket: Ticket) -> User | None:
    """The active level-1 or level-2 agent, or business area member, whose solution the partner is
    answering: the actor of the ticket's latest move to "resolved" since it was last reopened. None
    when the administrator resolved it, level 3 did, or Zendesk solved it without a portal resolution."""
    latest = db.session.scalar(
        select(TicketEvent)
        .where(
            TicketEvent.ticket_id == ticket.id,
            or_(
                TicketEvent.to_status == Status.RESOLVED_BY_AGENT.value,
                TicketEvent.kind == EventKind.REOPENED.value,
            ),
        )
        .order_by(TicketEvent.id.desc())
        .limit(1)
    )
    if latest is None or latest.kind != EventKind.RESOLVED or latest.actor is None:
        return None
    agent = latest.actor
    return agent if agent.active and agent.role_enum in AGENT_TIERS else None


def reopen(
    user: User | None,
    ticket: Ticket,
    reason: str,
    now: datetime | None,
    zendesk_comment: str | None = None,
    tell_zendesk: bool = True,
    answered_as: str = "",
) -> None:
    """Back to the agent who resolved it (at that agent's tier), or, when no agent did, unassigned
    to the administrator's triage, who may then assign, reassign, escalate or resolve it. `user` is
    None when the partner answered in Zendesk (`answered_as` names them); Zendesk, which reopened
    its ticket itself then, is not told (`tell_zendesk`)."""
    agent = agent_who_resolved(ticket)
    ticket.assignee = agent
    if agent is not None:
        ticket.tier = AGENT_TIERS[agent.role_enum]
        update = _l(
            "Reopened by the partner, back to %(name)s (level %(tier)d): %(reason)s",
            name=agent.name,
            tier=ticket.tier,
            reason=reason,
        )
    else:
        update = _l("Reopened by the partner, back to the administrator's triage: %(reason)s", reason=reason)
    event = move(
        ticket,
        Status.REOPENED,
        user,
        EventKind.REOPENED,
        {"reason": reason, "assignee_id": agent.id if agent else None, "tier": ticket.tier},
        now=now,
        actor_label=answered_as,
        board_update=update,
    )
    if tell_zendesk:
        zendesk_status(ticket, Status.REOPENED, zendesk_comment, key=str(event.id))
    if user is not None:  # answered in Zendesk, the partner reopened it themselves
        email_requester(ticket, TicketMail.REOPENED, str(event.id), actor=user)


def reopen_on_answer(
    user: User | None, ticket: Ticket, words: str, now: datetime, tell_zendesk: bool, answered_as: str = ""
) -> None:
    """Only silence is acceptance (§9.8): anything the partner says while a solution awaits their
    confirmation stops the auto-close clock and reopens the ticket, their words as the reason
    (the caller commits). Said at any other time, it changes no status."""
    if ticket.status != Status.AWAITING_CONFIRMATION:
        return
    reason = words if len(words) <= REASON_MAX else words[: REASON_MAX - 1] + "…"
    reopen(user, ticket, reason, now, tell_zendesk=tell_zendesk, answered_as=answered_as)


def confirm(user: User, ticket: Ticket, solved: bool, reason: str = "", now: datetime | None = None) -> Ticket:
    """The partner's answer: solved (closed, accepted) or not (reopened, back to the agent who
    resolved it, or to the administrator)."""
    policy.check(user, ticket, Action.CONFIRM)
    reason = text_block(reason, "reason", REASON_MAX)
    if solved:
        event = move(ticket, Status.CLOSED, user, EventKind.CONFIRMED, {"accepted": True}, now=now)
        db.session.flush()
        zendesk_status(ticket, Status.CLOSED, key=str(event.id))
        email_requester(ticket, TicketMail.CLOSED, str(event.id), actor=user)
    else:
        if not reason:
            raise InvalidInput(_("Tell us what still fails, so the agent can continue."), "reason")
        reopen(user, ticket, reason, now, _("The partner says the problem persists: %(reason)s", reason=reason))
        sla_clock.escalate_when_the_problem_persists(ticket, now)
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
            EventKind.AUTO_CLOSED,
            {"accepted": True, "hours": current_app.config["AUTO_CLOSE_AFTER_HOURS"]},
            now=now,
        )
        db.session.flush()
        zendesk_close_if_solved(ticket, key=str(event.id))
        email_requester(ticket, TicketMail.CLOSED, str(event.id))
    db.session.commit()
    return len(due)
