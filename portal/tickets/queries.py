"""Reading tickets: who sees which, partner and staff lists, queues, the timeline, exports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, or_, select
from sqlalchemy.orm import joinedload

from auth.models import User
from portal.core.extensions import db
from portal.tickets import states
from portal.tickets.models import Comment, EventKind, Status, StatusReport, Ticket, TicketEvent


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
    statement = (
        select(Ticket).options(joinedload(Ticket.requester)).order_by(Ticket.created_at.desc(), Ticket.id.desc())
    )
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
    report: object | None = None


def timeline(ticket: Ticket, include_internal: bool) -> list[TimelineEntry]:
    """Comments, events and partner-visible status reports in time order; partners get only
    public ones (staff see reports in their own panel)."""
    comments = select(Comment).where(Comment.ticket_id == ticket.id)
    events = select(TicketEvent).options(joinedload(TicketEvent.actor)).where(TicketEvent.ticket_id == ticket.id)
    if not include_internal:
        comments = comments.where(Comment.public.is_(True))
        events = events.where(TicketEvent.public.is_(True))
    entries = [TimelineEntry(at=c.created_at, comment=c) for c in db.session.scalars(comments)]
    entries += [TimelineEntry(at=e.created_at, event=e) for e in db.session.scalars(events)]
    if not include_internal:
        shared = select(StatusReport).where(
            StatusReport.ticket_id == ticket.id, StatusReport.visible_to_partner.is_(True)
        )
        entries += [TimelineEntry(at=r.created_at, report=r) for r in db.session.scalars(shared)]
    return sorted(entries, key=lambda entry: (entry.at, entry.event is None))


def staff_queue(
    statuses,
    request_type: str = "",
    organization_id: int = 0,
    tier: int = 0,
    status: str = "",
    assignee_id: int = 0,
    order: str = "sla",
):
    """A select of tickets for staff queues, filtered, ordered by SLA due time (default), or age."""
    statement = (
        select(Ticket)
        .options(joinedload(Ticket.organization), joinedload(Ticket.assignee))
        .where(Ticket.status.in_([s.value for s in statuses]))
    )
    if request_type:
        statement = statement.where(Ticket.request_type == request_type)
    if organization_id:
        statement = statement.where(Ticket.organization_id == organization_id)
    if tier:
        statement = statement.where(Ticket.tier == tier)
    if status:
        statement = statement.where(Ticket.status == status)
    if assignee_id:
        statement = statement.where(Ticket.assignee_id == assignee_id)
    if order == "sla":
        # Most urgent first; tickets already answered (or without a deadline) last.
        pending_first = case((Ticket.first_response_at.is_(None), 0), else_=1)
        return statement.order_by(pending_first, Ticket.sla_due_at.is_(None), Ticket.sla_due_at, Ticket.id)
    ordering = Ticket.created_at.desc() if order == "newest" else Ticket.created_at.asc()
    return statement.order_by(ordering, Ticket.id)


def status_reports(ticket: Ticket):
    return list(
        db.session.scalars(
            select(StatusReport)
            .options(joinedload(StatusReport.author))
            .where(StatusReport.ticket_id == ticket.id)
            .order_by(StatusReport.created_at)
        )
    )


def event_data_text(data: dict) -> str:
    """An event's data as `key=value` pairs, for exports."""
    return "; ".join(f"{key}={value}" for key, value in sorted((data or {}).items()) if value not in (None, ""))


def last_summary(ticket: Ticket) -> str:
    """The latest solution summary (an agent's, or level 3's result): the start of the message to the partner."""
    event = db.session.scalar(
        select(TicketEvent)
        .where(
            TicketEvent.ticket_id == ticket.id,
            TicketEvent.kind.in_([EventKind.RESOLVED.value, EventKind.LEVEL_THREE_RESULT.value]),
        )
        .order_by(TicketEvent.id.desc())
    )
    return event.data.get("summary", "") if event else ""


def tickets_with_ids(ids) -> list[Ticket]:
    """The tickets among `ids` that exist, by id (a staff selection)."""
    if not ids:
        return []
    return list(db.session.scalars(select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id)))


def ticket_audit():
    """Every ticket event with its ticket's reference, oldest first: the ticket audit."""
    return db.session.execute(
        select(TicketEvent, Ticket.reference)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .order_by(TicketEvent.created_at, TicketEvent.id)
    )
