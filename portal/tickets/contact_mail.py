"""The e-mails the escalation matrix's contacts receive (§8, §10: the medium the matrix lists),
rendered from `templates/email/` in the team's language and written to the outbox in the caller's
transaction."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import format_datetime

from portal.core.i18n import staff_language
from portal.integrations import outbox
from portal.integrations.models import Target
from portal.sla.models import REQUEST_TYPE_LABELS, RequestType
from portal.tickets.models import (
    Ticket,
)

EMAIL_DATE_FORMAT = "full"  # the weekday, the date, the time and the portal's time zone, in words


@dataclass(frozen=True)
class MatrixContact:
    """A contact of the escalation matrix told of a ticket, and why (`reason`, a lazy string)."""

    name: str
    email: str
    reason: object
    request_type: RequestType
    hours: float  # the deadline's hours from reception
    link: str  # the staff workspace's address, or empty without PORTAL_URL


def email_matrix_contact(ticket: Ticket, contact: MatrixContact, key: str) -> None:
    """A contact of the escalation matrix hears of a ticket by e-mail, the medium the matrix lists
    (§8): the ticket's summary, why it is theirs, its first-response deadline and, with PORTAL_URL,
    the link to the staff workspace; written in the team's language (matrix contacts are staff).
    `key` names the purpose, so each contact is told once per ticket and purpose."""
    with staff_language():
        summary = {
            "name": contact.name,
            "reason": str(contact.reason),
            "reference": ticket.reference,
            "subject": ticket.subject,
            "organization": ticket.organization.name,
            "request_type": str(REQUEST_TYPE_LABELS[contact.request_type]),
            "received_at": format_datetime(ticket.created_at, EMAIL_DATE_FORMAT),
            "due_at": format_datetime(ticket.sla_due_at, EMAIL_DATE_FORMAT),
            "hours": f"{contact.hours:g}",
            "link": contact.link,
        }
        text, html = (_render_email(f"email/contact.{kind}", summary) for kind in ("txt", "html"))
    outbox.enqueue(
        Target.EMAIL,
        "send",
        {"to": contact.email, "subject": f"[{ticket.reference}] {ticket.subject}", "text": text, "html": html},
        f"email:{ticket.id}:{key}",
        ticket_id=ticket.id,
    )


def _render_email(template: str, context: dict) -> str:
    """A template of `templates/email/`, without the context processors of web pages: an e-mail is
    written for someone else than the signed-in person, often by the worker, outside any request."""
    return current_app.jinja_env.get_template(template).render(context)
