"""What Zendesk, Monday and Slack are told about a ticket: every outbound payload is built here, once,
and written to the outbox in the caller's transaction.

Each message's idempotency key is part of what was already sent: messages in an outbox must still
find theirs, so the keys' shapes never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from html import escape

from flask import current_app
from flask_babel import force_locale, format_datetime
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from auth.models import User
from portal.core.config import MondayColumnType, monday_columns
from portal.core.extensions import db
from portal.core.i18n import in_staff_language, staff_language
from portal.core.markdown import render_markdown
from portal.integrations import outbox, slack
from portal.integrations.models import OutboxMessage, Target
from portal.sla.models import REQUEST_TYPE_LABELS, RequestType
from portal.tickets.models import (
    DETAIL_LABELS,
    FORM_LABELS,
    STATUS_LABELS,
    Comment,
    EventKind,
    Status,
    Ticket,
    TicketForm,
    name_for_partners,
)

ZENDESK_STATUS = {Status.AWAITING_CONFIRMATION: "solved", Status.CLOSED: "closed", Status.REOPENED: "open"}
# Zendesk's ticket type for each request type: day-to-day questions are questions; technical errors
# are incidents; marketing and business requests ask for work by a desired date, Zendesk's tasks
# (the type with a due date). "problem" (the cause behind linked incidents) is Zendesk's own.
ZENDESK_TYPE = {
    RequestType.DAY_TO_DAY: "question",
    RequestType.TECHNICAL: "incident",
    RequestType.MARKETING_BUSINESS: "task",
}
MONDAY_ITEM_NAME_MAX = 250
CLOSE_IF_SOLVED = "close_if_solved"  # the outbox kind of the auto-close's message to Zendesk


# Zendesk ------------------------------------------------------------------------------------


def zendesk_classification(ticket: Ticket) -> dict:
    """The ticket's priority and, once classified, its type, as Zendesk names them."""
    fields = {"priority": ticket.priority}
    if ticket.request_type:
        fields["type"] = ZENDESK_TYPE[RequestType(ticket.request_type)]
    return fields


def _zendesk_new_ticket(ticket: Ticket, requester: User) -> dict:
    details = "\n".join(
        f"- **{DETAIL_LABELS[key]}:** {value}" for key, value in ticket.details.items() if value not in (None, "")
    )
    description = ticket.description + (f"\n\n---\n\n{details}" if details else "")
    custom_fields = [
        {"id": int(field_id), "value": ticket.details[key]}
        for key, field_id in current_app.config["ZENDESK_CUSTOM_FIELDS"].items()
        if ticket.details.get(key) not in (None, "")
    ]
    payload = {
        "subject": f"[{ticket.reference}] {ticket.subject}",
        # The partner writes Markdown: Zendesk gets it rendered and sanitized, so formatting survives.
        "comment": {"html_body": str(render_markdown(description)), "public": True},
        "requester": {"name": requester.name, "email": requester.email},
        "tags": ["edye_portal", f"form_{ticket.form}"],
        "external_id": ticket.reference,
        **zendesk_classification(ticket),
    }
    if custom_fields:
        payload["custom_fields"] = custom_fields
    if ticket.organization.zendesk_organization_id:
        payload["organization_id"] = ticket.organization.zendesk_organization_id
    return payload


def zendesk_create(ticket: Ticket, requester: User) -> None:
    """Create the ticket in Zendesk (the key doubles as the request's Idempotency-Key)."""
    outbox.enqueue(
        Target.ZENDESK,
        "create_ticket",
        {"ticket": _zendesk_new_ticket(ticket, requester)},
        f"zendesk:create:{ticket.reference}",
        ticket_id=ticket.id,
    )


def zendesk_comment(ticket: Ticket, comment: Comment) -> None:
    """A public comment written in the portal, signed as the partner reads it (staff as the support
    team, in the requester's language, unless SHOW_STAFF_NAMES_TO_PARTNERS). A partner's comment
    names its author's e-mail, so it is posted as theirs in Zendesk (`zendesk_delivery`); staff
    comments stay the API user's. Its Zendesk id is remembered on delivery, so the webhook's echo
    is not shown twice."""
    with force_locale(ticket.requester.language):
        signature = name_for_partners(comment.author, comment.author_name)
    payload = {
        "ticket": {"comment": {"body": f"{signature}:\n\n{comment.body}", "public": True}},
        "comment_id": comment.id,
    }
    if comment.author is not None and not comment.author.is_staff:
        payload["author_email"] = comment.author.email
    outbox.enqueue(Target.ZENDESK, "update_ticket", payload, f"zendesk:comment:{comment.id}", ticket_id=ticket.id)


def zendesk_status(
    ticket: Ticket, status: Status, comment: str | None = None, key: str = "", kind: str = "update_ticket"
) -> None:
    """The Zendesk ticket's status follows the portal's, after the public comment that explains it.
    The comment goes first, as a message of its own: when Zendesk refuses the status (a solve
    without a valid assignee is a 422), the status becomes a dead letter an administrator retries,
    and the comment has reached the partner all the same."""
    if comment:
        outbox.enqueue(
            Target.ZENDESK,
            "update_ticket",
            {"ticket": {"comment": {"body": comment, "public": True}}},
            f"zendesk:status:{ticket.id}:{key}:comment",
            ticket_id=ticket.id,
        )
    outbox.enqueue(
        Target.ZENDESK,
        kind,
        {"ticket": {"status": ZENDESK_STATUS[status]}},
        f"zendesk:status:{ticket.id}:{key}",
        ticket_id=ticket.id,
    )


def zendesk_close_if_solved(ticket: Ticket, key: str) -> None:
    """Closed by silence: Zendesk is told `closed` only if its ticket is still `solved` there (an
    answer in Zendesk reopens it, and then the silence was not the partner's)."""
    zendesk_status(ticket, Status.CLOSED, key=key, kind=CLOSE_IF_SOLVED)


def zendesk_reclassified(ticket: Ticket, key: str) -> None:
    """The ticket's priority or type changed in the portal: Zendesk's follow."""
    outbox.enqueue(
        Target.ZENDESK,
        "update_ticket",
        {"ticket": zendesk_classification(ticket)},
        f"zendesk:classification:{ticket.id}:{key}",
        ticket_id=ticket.id,
    )


# Monday ---------------------------------------------------------------------------------------

# The update a status change writes when its caller gives none (the partner's and Zendesk's moves).
STATUS_UPDATES = {
    EventKind.CONFIRMED: _l("The partner confirmed the solution: closed."),
    EventKind.AUTO_CLOSED: _l("Closed: the partner did not answer in time, so the solution counts as accepted."),
    EventKind.ZENDESK_SOLVED: _l("Solved in Zendesk: waiting for the partner's confirmation."),
    EventKind.ZENDESK_CLOSED: _l("Closed in Zendesk."),
}


def monday_configured() -> bool:
    config = current_app.config
    return bool(config["MONDAY_API_TOKEN"] and config["MONDAY_BOARD_ID"])


def _sent_already(key: str) -> bool:
    return db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)) is not None


def on_the_board(ticket: Ticket) -> bool:
    """Whether the ticket's steps go to Monday: Monday is configured, or its item was asked for
    already (staff steps ask for it even before Monday is configured; they wait in the outbox)."""
    return monday_configured() or ticket.monday_item_id is not None or _sent_already(f"monday:item:{ticket.id}")


def _people(user: User | None):
    """A people column's value: the staff member's Monday account, or cleared (null)."""
    if user is None or user.monday_user_id is None:
        return None
    return {"personsAndTeams": [{"id": user.monday_user_id, "kind": "person"}]}


def _labelled(ticket: Ticket, field: str) -> str:
    """A field as a status column's label, in the team's language."""
    if field == "status":
        return in_staff_language(STATUS_LABELS[Status(ticket.status)])
    if field == "type":
        label = REQUEST_TYPE_LABELS.get(ticket.request_type) or FORM_LABELS[TicketForm(ticket.form)]
        return in_staff_language(label)
    return str(ticket.tier)


def _column_value(ticket: Ticket, field: str, column_type: str):
    """One field in the format Monday accepts for its column type (dates and times in UTC)."""
    due = ticket.sla_due_at.astimezone(UTC) if ticket.sla_due_at else None
    if column_type == MondayColumnType.STATUS:
        return {"label": _labelled(ticket, field)}
    if column_type == MondayColumnType.DATE:
        return {"date": due.strftime("%Y-%m-%d"), "time": due.strftime("%H:%M:%S")} if due else None
    if column_type == MondayColumnType.NUMBERS:
        return str(ticket.tier)
    return {
        "reference": ticket.reference,
        "type": ticket.request_type or ticket.form,
        "tier": str(ticket.tier),
        "status": ticket.status,
        "assignee": ticket.assignee.name if ticket.assignee else "",
        "sla_due": due.strftime("%Y-%m-%d %H:%M UTC") if due else "",
    }[field]


def _monday_columns(ticket: Ticket) -> dict:
    """The ticket's Monday column values, for the columns configured in MONDAY_COLUMNS. A people
    column is filled on delivery (`monday_column_values`), once the assignee's Monday id is known."""
    columns = monday_columns(current_app.config["MONDAY_COLUMNS"])
    values: dict = {"columns": {}}
    for field, column in columns.items():
        if column["type"] == MondayColumnType.PEOPLE:
            values["people"] = {"column": column["id"], "user_id": ticket.assignee_id}
        else:
            values["columns"][column["id"]] = _column_value(ticket, field, column["type"])
    return values


def monday_column_values(payload: dict) -> dict:
    """The column values a Monday message sends: its own, and the people column from the
    assignee's Monday id as known at delivery (looked up by e-mail just before, when needed)."""
    values = dict(payload["columns"])
    people = payload.get("people")
    if people:
        values[people["column"]] = _people(db.session.get(User, people["user_id"]) if people["user_id"] else None)
    return values


def _look_up_assignee(ticket: Ticket) -> None:
    """An assignee without a Monday id is looked up by e-mail, once (before the ticket's next
    Monday messages, which wait for it); the administrator may also type the id on the user screen."""
    assignee = ticket.assignee
    key = f"monday:user:{assignee.id}" if assignee is not None else ""
    if assignee is None or assignee.monday_user_id is not None or _sent_already(key):
        return
    outbox.enqueue(Target.MONDAY, "find_user", {"user_id": assignee.id}, key, ticket_id=ticket.id)


def _create_item(ticket: Ticket) -> None:
    """The ticket's item (once), with its column values."""
    if ticket.monday_item_id or _sent_already(f"monday:item:{ticket.id}"):
        return
    _look_up_assignee(ticket)
    outbox.enqueue(
        Target.MONDAY,
        "create_item",
        {"name": f"{ticket.reference} {ticket.subject}"[:MONDAY_ITEM_NAME_MAX], **_monday_columns(ticket)},
        f"monday:item:{ticket.id}",
        ticket_id=ticket.id,
    )


def monday_new_ticket(ticket: Ticket) -> None:
    """A ticket arrived: its item is created on the board at once, when Monday is configured."""
    if monday_configured():
        _create_item(ticket)


def record_in_monday(ticket: Ticket, update, key: str) -> None:
    """Record a step in Monday: the ticket's item (created once), an update (a lazy string, written
    in the team's language, escaped: Monday reads updates as HTML), the changed columns."""
    _create_item(ticket)
    _look_up_assignee(ticket)
    outbox.enqueue(
        Target.MONDAY,
        "create_update",
        {"body": escape(f"[{ticket.reference}] {in_staff_language(update)}", quote=False)},
        f"monday:update:{ticket.id}:{key}",
        ticket_id=ticket.id,
    )
    outbox.enqueue(
        Target.MONDAY,
        "change_columns",
        _monday_columns(ticket),
        f"monday:columns:{ticket.id}:{key}",
        ticket_id=ticket.id,
    )


def record_status_in_monday(ticket: Ticket, event, update, staff_step: bool) -> None:
    """A status change on the board (`states.move()` calls this for every move): the caller's
    update, or the change's own. A staff step always writes it; the partner's and Zendesk's moves
    when the ticket is on the board."""
    if staff_step or on_the_board(ticket):
        text = update or STATUS_UPDATES.get(
            event.kind, _l("Status: %(status)s.", status=STATUS_LABELS[Status(ticket.status)])
        )
        record_in_monday(ticket, text, str(event.id))


def notify_assignee_in_monday(ticket: Ticket, key: str) -> None:
    """§9.4: the assignee hears of the assignment through a Monday notification on the item (sent
    when the assignee has a Monday id, known or found by e-mail)."""
    if ticket.assignee is None:
        return
    text = _l("%(reference)s is assigned to you: %(subject)s", reference=ticket.reference, subject=ticket.subject)
    outbox.enqueue(
        Target.MONDAY,
        "notify",
        {"user_id": ticket.assignee_id, "text": in_staff_language(text)},
        f"monday:notify:{ticket.id}:{key}",
        ticket_id=ticket.id,
    )


# Slack ------------------------------------------------------------------------------------------


def staff_url(ticket: Ticket) -> str:
    """The ticket's workspace address, when PORTAL_URL says where the portal is served (the worker
    has no request to take it from); empty otherwise."""
    base = current_app.config["PORTAL_URL"].rstrip("/")
    if not base:
        return ""
    return base + current_app.url_map.bind("portal").build("staff.workspace", {"ticket_id": ticket.id})


def _slack_message(ticket: Ticket, text, idempotency_key: str) -> None:
    """Escaped once, each part within Slack's limits; a cut text ends with a link to the ticket."""
    body = slack.message(in_staff_language(text), ticket.reference, staff_url(ticket), ticket.reference)
    outbox.enqueue(Target.SLACK, "notify", body, idempotency_key, ticket_id=ticket.id)


def to_slack(ticket: Ticket, text, key: str) -> None:
    """A workflow step the team hears of in Slack (a lazy string, written in the team's language)."""
    _slack_message(ticket, text, f"slack:{ticket.id}:{key}")


def sla_alert(ticket: Ticket, text, key: str) -> None:
    """A first-response deadline crossed (`key` names the threshold): Slack always, and Monday
    when the ticket is there already or Monday is configured."""
    _slack_message(ticket, text, f"slack:sla:{ticket.id}:{key}")
    if on_the_board(ticket):
        record_in_monday(ticket, text, f"sla-{key}")


# E-mail -------------------------------------------------------------------------------------------

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
            "contact_name": contact.name,
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
