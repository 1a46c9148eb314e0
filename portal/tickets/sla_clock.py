"""A ticket's first-response clock: its deadline from the SLA matrix, the first response that stops
it, and the monitor that warns, declares breaches and escalates to the second contact."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from portal.core.extensions import db
from portal.core.types import utcnow
from portal.sla import services as sla
from portal.sla.models import Applies, EscalationRow, RequestType, SlaState
from portal.tickets.models import Ticket, TicketForm
from portal.tickets.outbound import sla_alert
from portal.tickets.states import OPEN_STATUSES

# The thresholds the monitor counts; each is notified once per ticket.
AT_RISK, BREACHED, SECOND_CONTACT = SlaState.AT_RISK.value, SlaState.BREACHED.value, "second_contact"
STILL_RUNNING = (SlaState.ON_TRACK.value, SlaState.AT_RISK.value)


def request_type_of(ticket: Ticket) -> RequestType:
    """The request type the deadline follows: the administrator's classification, or until then
    the form's."""
    if ticket.request_type:
        return RequestType(ticket.request_type)
    return RequestType.MARKETING_BUSINESS if ticket.form == TicketForm.MARKETING_BUSINESS else RequestType.TECHNICAL


def assign_deadline(ticket: Ticket) -> None:
    """Set (or, before the first response, recompute) the ticket's deadline; the caller commits."""
    if ticket.first_response_at is not None:
        return
    deadline = sla.due(request_type_of(ticket), ticket.created_at)
    if deadline is None:
        return
    ticket.sla_row_key, ticket.sla_warn_at, ticket.sla_due_at = deadline.row.key, deadline.warn_at, deadline.due_at
    ticket.second_contact_at = None
    ticket.sla_state = SlaState.ON_TRACK.value


def record_first_response(ticket: Ticket, responder, now: datetime | None = None) -> None:
    """The first public reply from staff: the SLA is met (or stays breached); the caller commits."""
    if ticket.first_response_at is not None:
        return
    now = now or utcnow()
    ticket.first_response_at = now
    ticket.first_responder_id = getattr(responder, "id", None)
    met = ticket.sla_due_at is None or now <= ticket.sla_due_at
    ticket.sla_state = (SlaState.MET if met else SlaState.BREACHED).value


def check(now: datetime | None = None) -> dict[str, int]:
    """Find tickets crossing their warning or due time; each threshold notifies once per ticket,
    even with several workers (a conditional UPDATE decides who notifies)."""
    now = now or utcnow()
    counts = {AT_RISK: 0, BREACHED: 0, SECOND_CONTACT: 0}
    matrix = {row.key: row for row in sla.rows()}
    second = sla.second_contact_row(list(matrix.values()))
    candidates = db.session.scalars(
        select(Ticket).where(
            Ticket.first_response_at.is_(None),
            Ticket.status.in_([status.value for status in OPEN_STATUSES]),
            Ticket.sla_state.in_(STILL_RUNNING),
            Ticket.sla_warn_at <= now,
        )
    )
    for ticket in list(candidates):
        row = matrix.get(ticket.sla_row_key)
        if ticket.sla_due_at <= now and row is not None and row.applies == Applies.OUT_OF_HOURS and second is not None:
            crossed = _escalate_to_second_contact(ticket, row, second, now)
        else:
            crossed = _mark(ticket, BREACHED if ticket.sla_due_at <= now else AT_RISK)
        if crossed:
            counts[crossed] += 1
        db.session.commit()
    return counts


def _escalate_to_second_contact(ticket: Ticket, row: EscalationRow, second: EscalationRow, now: datetime) -> str:
    """An out-of-hours ticket unanswered at its due time goes to the second contact, with a new
    deadline; returns the threshold when this worker made the change."""
    deadline = sla.deadline_for(second, now, sla.calendar())
    claimed = db.session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.second_contact_at.is_(None), Ticket.first_response_at.is_(None))
        .values(
            second_contact_at=now,
            sla_row_key=second.key,
            sla_warn_at=deadline.warn_at,
            sla_due_at=deadline.due_at,
            sla_state=SlaState.ON_TRACK.value,
        )
    ).rowcount
    if not claimed:
        return ""
    db.session.refresh(ticket)
    sla_alert(
        ticket,
        f"no first response after {row.due_hours:g} h: second contact "
        f"{second.contact_name} ({second.contact_role}, {second.contact_email}, "
        f"{second.contact_phone}); new deadline {deadline.due_at:%Y-%m-%d %H:%M} UTC.",
        "second-contact",
    )
    return SECOND_CONTACT


def _mark(ticket: Ticket, state: str) -> str:
    """Move the ticket to `state` (at risk, or breached) unless another worker did; returns the
    threshold when this worker made the change."""
    allowed_from = list(STILL_RUNNING) if state == BREACHED else [SlaState.ON_TRACK.value]
    claimed = db.session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.sla_state.in_(allowed_from), Ticket.first_response_at.is_(None))
        .values(sla_state=state)
    ).rowcount
    if not claimed:
        return ""
    db.session.refresh(ticket)
    label = "SLA at risk" if state == AT_RISK else "SLA breached"
    sla_alert(
        ticket, f"{label}: first response due {ticket.sla_due_at:%Y-%m-%d %H:%M} UTC ({ticket.sla_row_key}).", state
    )
    return state
