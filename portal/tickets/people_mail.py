"""The e-mails people receive about tickets (issue 13, "who gets what"): staff about the tickets
given to them (assignment, level 3, SLA alerts), the partner about their own ticket (a solution to
confirm, reopened, closed; only when `PARTNER_EMAIL` is `portal`). Each is rendered in the
recipient's language with the account e-mails' look and written to the outbox in the caller's
transaction, once per ticket, event and recipient. Every kind here is optional: a user who turned
them off on their account page gets none (password reset and invitation, in `portal.people.mail`,
always go)."""

from __future__ import annotations

from enum import StrEnum

from flask import current_app, has_request_context, url_for
from flask_babel import force_locale, format_datetime
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from auth.models import Role, User
from portal.core.config import PartnerEmail, partner_email
from portal.core.extensions import db
from portal.integrations import outbox
from portal.integrations.models import Target
from portal.sla.models import REQUEST_TYPE_LABELS, RequestType
from portal.tickets.contact_mail import EMAIL_DATE_FORMAT
from portal.tickets.models import FORM_LABELS, PRIORITY_LABELS, Ticket, TicketForm
from portal.tickets.outbound import staff_url


class TicketMail(StrEnum):
    ASSIGNED = "assigned"
    ESCALATED = "escalated"
    SLA_AT_RISK = "sla_at_risk"
    SLA_BREACHED = "sla_breached"
    SOLUTION = "solution"  # the partner is asked to confirm
    REOPENED = "reopened"
    CLOSED = "closed"


SUBJECTS = {
    TicketMail.ASSIGNED: _l("[%(reference)s] Assigned to you: %(subject)s"),
    TicketMail.ESCALATED: _l("[%(reference)s] Escalated to level 3: %(subject)s"),
    TicketMail.SLA_AT_RISK: _l("[%(reference)s] SLA at risk: %(subject)s"),
    TicketMail.SLA_BREACHED: _l("[%(reference)s] SLA breached: %(subject)s"),
    TicketMail.SOLUTION: _l("[%(reference)s] Did this solve your problem?"),
    TicketMail.REOPENED: _l("[%(reference)s] Your ticket was reopened"),
    TicketMail.CLOSED: _l("[%(reference)s] Your ticket is closed"),
}
MESSAGES = {
    TicketMail.ASSIGNED: _l("The ticket %(reference)s is assigned to you."),
    TicketMail.ESCALATED: _l("The ticket %(reference)s was escalated to level 3 (VP and technical team)."),
    TicketMail.SLA_AT_RISK: _l("Nobody has answered %(reference)s yet: its first response is due %(due)s."),
    TicketMail.SLA_BREACHED: _l("The first response to %(reference)s was due %(due)s: the SLA is breached."),
    TicketMail.SOLUTION: _l(
        "We sent a solution to your ticket %(reference)s. Open it and tell us whether it solved the problem: "
        "“Yes, close it” or “No, it persists”."
    ),
    TicketMail.REOPENED: _l("Your ticket %(reference)s was reopened: our team continues working on it."),
    TicketMail.CLOSED: _l("Your ticket %(reference)s is closed: we consider the problem solved."),
}
SLA_KINDS = {"at_risk": TicketMail.SLA_AT_RISK, "breached": TicketMail.SLA_BREACHED}
LEVEL_THREE_ROLES = (Role.VP.value, Role.TECH_TEAM.value)


def email_assignee(ticket: Ticket, event: str) -> None:
    """The ticket's new assignee hears of it (classified and assigned, level 2, business area)."""
    if ticket.assignee is not None:
        _send_to_staff(ticket.assignee, ticket, TicketMail.ASSIGNED, event)


def email_level_three(ticket: Ticket, event: str) -> None:
    """The VP and the technical team hear of a ticket escalated to them."""
    for person in _active(User.role.in_(LEVEL_THREE_ROLES)):
        _send_to_staff(person, ticket, TicketMail.ESCALATED, event)


def email_sla_alert(ticket: Ticket, state: str, event: str) -> None:
    """A first-response deadline is near (`at_risk`) or past (`breached`): the assignee and the
    administrators hear of it."""
    people = {person.id: person for person in _active(User.role == Role.TICKET_ADMIN.value)}
    if ticket.assignee is not None and ticket.assignee.active:
        people.setdefault(ticket.assignee.id, ticket.assignee)
    for person in people.values():
        _send_to_staff(person, ticket, SLA_KINDS[state], event)


def email_requester(ticket: Ticket, kind: TicketMail, event: str, actor: User | None = None) -> None:
    """The partner who opened the ticket hears its news, when the portal is who e-mails partners
    (`PARTNER_EMAIL`); not of a step they took themselves (`actor`)."""
    requester = ticket.requester
    if partner_email(current_app.config) is not PartnerEmail.PORTAL or not requester.is_active:
        return
    if actor is not None and actor.id == requester.id:
        return
    link = _portal_link("tickets.detail", ticket_id=ticket.id)
    if link and kind is TicketMail.SOLUTION:
        link += "#confirm"  # the answer's two buttons
    _send(requester, ticket, kind, event, link, lambda: [(_l("Subject"), ticket.subject)])


def _active(condition) -> list[User]:
    return list(db.session.scalars(select(User).where(condition, User.active.is_(True)).order_by(User.id)))


def _send_to_staff(person: User, ticket: Ticket, kind: TicketMail, event: str) -> None:
    def facts():
        request_type = (
            REQUEST_TYPE_LABELS[RequestType(ticket.request_type)]
            if ticket.request_type
            else FORM_LABELS[TicketForm(ticket.form)]
        )
        listed = [
            (_l("Subject"), ticket.subject),
            (_l("Organization"), ticket.organization.name),
            (_l("Request type"), request_type),
            (_l("Priority"), PRIORITY_LABELS[ticket.priority]),
        ]
        if ticket.sla_due_at is not None and ticket.first_response_at is None:
            listed.append((_l("First response due"), format_datetime(ticket.sla_due_at, EMAIL_DATE_FORMAT)))
        return listed

    _send(person, ticket, kind, event, staff_url(ticket), facts)


def _send(person: User, ticket: Ticket, kind: TicketMail, event: str, link: str, facts) -> None:
    """Write `person` the e-mail of `kind` in their language (`facts`, called in it, gives the
    summary's lines), unless they turned the optional e-mails off. Without a mail server none is
    written in production (news of a ticket sent once mail is configured, days later, would
    mislead); in development they are, so a newcomer reads them on the e-mails page."""
    if not person.optional_emails or not (current_app.config["MAIL_SERVER"] or _development()):
        return
    with force_locale(person.language):
        due = format_datetime(ticket.sla_due_at, EMAIL_DATE_FORMAT) if ticket.sla_due_at else ""
        context = {
            "name": person.name,
            "message": str(MESSAGES[kind] % {"reference": ticket.reference, "due": due}),
            "reference": ticket.reference,
            "facts": [(str(label), str(value)) for label, value in facts()],
            "link": link,
        }
        text, html = (_render(f"email/ticket.{part}", context) for part in ("txt", "html"))
        subject = str(SUBJECTS[kind] % {"reference": ticket.reference, "subject": ticket.subject})
    outbox.enqueue(
        Target.EMAIL,
        "send",
        {"to": person.email, "subject": subject, "text": text, "html": html},
        f"email:{ticket.id}:{kind.value}:{event}:{person.id}",
        ticket_id=ticket.id,
    )


def _portal_link(endpoint: str, **values) -> str:
    """A page's full address: from PORTAL_URL when set, else from the request's host; empty in the
    worker without PORTAL_URL."""
    base = current_app.config["PORTAL_URL"].rstrip("/")
    if base:
        return base + current_app.url_map.bind("portal").build(endpoint, values)
    return url_for(endpoint, **values, _external=True) if has_request_context() else ""


def _render(template: str, context: dict) -> str:
    """A template of `templates/email/`, without the web pages' context processors: it is written
    for the recipient, not for whoever is signed in."""
    return current_app.jinja_env.get_template(template).render(context)


def _development() -> bool:
    return current_app.config["PORTAL_ENV"] == "development"
