"""A ticket's first-response clock: its deadline from the SLA matrix (or its organization's
contract), the contact told on arrival, the first response that stops it, and the monitor that
warns, declares breaches and escalates to the second contact."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from portal.core.extensions import db
from portal.core.types import utcnow
from portal.sla import services as sla
from portal.sla.models import Applies, EscalationRow, RequestType, SlaState
from portal.sla.targets import target_for
from portal.tickets.contact_mail import MatrixContact, email_matrix_contact
from portal.tickets.models import Ticket, TicketForm
from portal.tickets.outbound import sla_alert, staff_url, to_slack
from portal.tickets.people_mail import email_sla_alert
from portal.tickets.states import OPEN_STATUSES

# The thresholds the monitor counts; each is notified once per ticket.
AT_RISK, BREACHED, SECOND_CONTACT = SlaState.AT_RISK.value, SlaState.BREACHED.value, "second_contact"
STILL_RUNNING = (SlaState.ON_TRACK.value, SlaState.AT_RISK.value)
# The matrix calls the out-of-hours second contact level 2 (the Head of Technology).
SECOND_CONTACT_TIER = 2


# The request type each intake form stands for until the administrator classifies the ticket.
FORM_REQUEST_TYPES = {
    TicketForm.TECHNICAL: RequestType.TECHNICAL,
    TicketForm.MARKETING_BUSINESS: RequestType.MARKETING_BUSINESS,
}


def request_type_of(ticket: Ticket) -> RequestType:
    """The request type the deadline follows: the administrator's classification, or until then
    the form's."""
    if ticket.request_type:
        return RequestType(ticket.request_type)
    return FORM_REQUEST_TYPES[TicketForm(ticket.form)]


def expected_first_response(ticket: Ticket) -> str:
    """What the partner is promised for this ticket, from its matrix row and its organization's
    contract ("within 24 hours"); empty when the ticket has no deadline (no matrix loaded) or has
    been answered."""
    row = sla.row(ticket.sla_row_key)
    if row is None or ticket.first_response_at is not None:
        return ""
    return _("within %(time)s", time=sla.response_time(target_for(row, ticket.organization_id)))


def assign_deadline(ticket: Ticket) -> None:
    """Set (or, before the first response, recompute) the ticket's deadline; the caller commits."""
    if ticket.first_response_at is not None:
        return
    deadline = sla.due(request_type_of(ticket), ticket.created_at, ticket.organization_id)
    if deadline is None:
        return
    ticket.sla_row_key, ticket.sla_warn_at, ticket.sla_due_at = deadline.row.key, deadline.warn_at, deadline.due_at
    ticket.second_contact_at = None
    ticket.sla_state = SlaState.ON_TRACK.value


def tell_the_contact_on_arrival(ticket: Ticket) -> None:
    """The contact of the ticket's matrix row hears of it at reception, in Slack and by e-mail (the
    matrix's medium), where the procedure sends it to someone at once (`sla.told_on_arrival`: a
    technical request out of hours, §10; a marketing and business request, §8), not when its
    deadline is near; the caller commits."""
    row = sla.row(ticket.sla_row_key)
    if row is None or not sla.told_on_arrival(row):
        return
    why = _l("received outside business hours") if row.applies == Applies.OUT_OF_HOURS else row.area
    hours = target_for(row, ticket.organization_id).due_hours
    to_slack(
        ticket,
        _l(
            "%(subject)s — %(why)s: first contact %(contact)s; first response due %(due)s "
            "(%(hours)s h from reception).%(link)s",
            subject=ticket.subject,
            why=why,
            contact=_contact(row),
            due=_utc(ticket.sla_due_at),
            hours=f"{hours:g}",
            link=staff_link(ticket),
        ),
        f"arrival-{row.key}",
    )
    if row.applies == Applies.OUT_OF_HOURS:
        reason = _l("received outside business hours; you are the first contact")
    else:
        reason = _l("a request for the %(area)s area", area=row.area)
    _email(ticket, row, reason, hours, f"arrival-{row.key}")


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
            hours = f"{target_for(row, ticket.organization_id).due_hours:g}"
            reason = _l("no first response after %(hours)s h", hours=hours)
            crossed = _escalate_to_second_contact(ticket, second, now, reason, unanswered_only=True)
        else:
            crossed = _mark(ticket, BREACHED if ticket.sla_due_at <= now else AT_RISK)
        if crossed:
            counts[crossed] += 1
        db.session.commit()
    return counts


def escalate_when_the_problem_persists(ticket: Ticket, now: datetime | None = None) -> bool:
    """The partner says an out-of-hours ticket's solution did not work: the second contact gets it
    at once (§10), with the deadline counted from reception; the caller commits."""
    matrix = sla.rows()
    row = next((row for row in matrix if row.key == ticket.sla_row_key), None)
    second = sla.second_contact_row(matrix)
    if row is None or second is None or row.applies != Applies.OUT_OF_HOURS:
        return False
    persists = _l("the partner says the problem persists")
    return bool(_escalate_to_second_contact(ticket, second, now or utcnow(), persists))


def _escalate_to_second_contact(
    ticket: Ticket, second: EscalationRow, now: datetime, reason: str, unanswered_only: bool = False
) -> str:
    """Give the ticket to the second contact (level 2 in the matrix) with the deadline the matrix
    (or the organization's contract) sets from reception, and tell them; returns the threshold when
    this worker made the change (`unanswered_only`: the monitor's case, which a first response
    arriving meanwhile cancels)."""
    deadline = sla.deadline_for(second, ticket.created_at, sla.calendar(), ticket.organization_id)
    # Unanswered, the clock runs again towards the new deadline; answered, its result stands.
    still_due = [Ticket.first_response_at.is_(None)] if unanswered_only else []
    running = {"sla_state": SlaState.ON_TRACK.value} if unanswered_only else {}
    claimed = db.session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.second_contact_at.is_(None), *still_due)
        .values(
            second_contact_at=now,
            sla_row_key=second.key,
            sla_warn_at=deadline.warn_at,
            sla_due_at=deadline.due_at,
            tier=max(ticket.tier, SECOND_CONTACT_TIER),
            **running,
        )
    ).rowcount
    if not claimed:
        return ""
    db.session.refresh(ticket)
    sla_alert(
        ticket,
        _l(
            "%(subject)s — %(reason)s: second contact %(contact)s; deadline %(due)s "
            "(%(hours)s h from reception).%(link)s",
            subject=ticket.subject,
            reason=reason,
            contact=_contact(second),
            due=_utc(deadline.due_at),
            hours=f"{deadline.target.due_hours:g}",
            link=staff_link(ticket),
        ),
        "second-contact",
    )
    you_are = _l("you are the second contact (%(reason)s)", reason=reason)
    _email(ticket, second, you_are, deadline.target.due_hours, "second-contact")
    return SECOND_CONTACT


def staff_link(ticket: Ticket) -> str:
    """The ticket's workspace address after a space (`outbound.staff_url`), to end a Slack or Monday
    text; empty without PORTAL_URL."""
    url = staff_url(ticket)
    return f" {url}" if url else ""


def _email(ticket: Ticket, row: EscalationRow, reason, hours: float, key: str) -> None:
    """E-mail the row's contact, when the matrix gives an address (its medium: e-mail and phone)."""
    if not row.contact_email:
        return
    contact = MatrixContact(
        row.contact_name, row.contact_email, reason, request_type_of(ticket), hours, staff_url(ticket)
    )
    email_matrix_contact(ticket, contact, key)


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
    # The second contact's deadline crosses the same thresholds again: its alerts are other messages.
    key = state if ticket.second_contact_at is None else f"second-contact-{state}"
    due, row = _utc(ticket.sla_due_at), ticket.sla_row_key
    if state == AT_RISK:
        text = _l("SLA at risk: first response due %(due)s (%(row)s).", due=due, row=row)
    else:
        text = _l("SLA breached: first response was due %(due)s (%(row)s).", due=due, row=row)
    sla_alert(ticket, text, key)
    email_sla_alert(ticket, state, key)
    return state


def _contact(row: EscalationRow) -> str:
    """A matrix contact as the team reads it in Slack and Monday."""
    return f"{row.contact_name} ({row.contact_role}, {row.contact_email}, {row.contact_phone})"


def _utc(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"
