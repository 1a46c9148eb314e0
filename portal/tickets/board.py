"""The ticket's item on the Monday board (§7, §9, §12): created on arrival, every status change an
update and the changed columns (in the formats Monday accepts), and the assignee's notification
(§9.4); written to the outbox in the caller's transaction, in the team's language.

Each message's idempotency key is part of what was already sent: messages in an outbox must still
find theirs, so the keys' shapes never change.
"""

from __future__ import annotations

from datetime import UTC
from html import escape

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from auth.models import User
from portal.core.config import MondayColumnType, monday_columns
from portal.core.extensions import db
from portal.core.i18n import in_staff_language
from portal.integrations import outbox
from portal.integrations.models import OutboxMessage, Target
from portal.sla.models import REQUEST_TYPE_LABELS
from portal.tickets.models import (
    FORM_LABELS,
    STATUS_LABELS,
    EventKind,
    Status,
    Ticket,
    TicketForm,
)

MONDAY_ITEM_NAME_MAX = 250

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
