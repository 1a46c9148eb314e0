"""Delivery handlers for the internal channels: Monday (items, updates, columns, notifications,
users' Monday ids), Slack and e-mail."""

from __future__ import annotations

from flask import current_app

from auth.models import User
from portal.core.config import monday_columns
from portal.core.extensions import db
from portal.integrations import outbox
from portal.integrations.http import Rejected
from portal.integrations.models import Target
from portal.tickets.board import monday_column_values
from portal.tickets.models import Ticket


def create_item(message, client) -> None:
    """One Monday item per ticket, on the configured board and group. Monday takes no idempotency
    key, so a retry (the answer to an earlier attempt may have been lost) first looks the item up by
    the ticket's reference column, when one is configured."""
    config = current_app.config
    ticket = db.session.get(Ticket, message.ticket_id)
    if ticket.monday_item_id:
        return
    reference = monday_columns(config["MONDAY_COLUMNS"]).get("reference")
    if message.attempts > 1 and reference:
        ticket.monday_item_id = client.find_item(config["MONDAY_BOARD_ID"], reference["id"], ticket.reference)
        if ticket.monday_item_id:
            return
    ticket.monday_item_id = client.create_item(
        config["MONDAY_BOARD_ID"],
        config["MONDAY_GROUP_ID"] or None,
        message.payload["name"],
        monday_column_values(message.payload),
    )


def _item(message) -> str:
    ticket = db.session.get(Ticket, message.ticket_id)
    if not ticket.monday_item_id:
        raise Rejected("the ticket has no Monday item (its creation was discarded)")
    return ticket.monday_item_id


def create_update(message, client) -> None:
    client.create_update(_item(message), message.payload["body"])


def change_columns(message, client) -> None:
    values = monday_column_values(message.payload)
    if values:
        client.change_columns(current_app.config["MONDAY_BOARD_ID"], _item(message), values)


def notify(message, client) -> None:
    """The assignee's Monday notification, when the assignee has a Monday id."""
    user = db.session.get(User, message.payload["user_id"])
    if user is not None and user.monday_user_id is not None:
        client.notify(user.monday_user_id, _item(message), message.payload["text"])


def find_user(message, client) -> None:
    """A staff member's Monday id, looked up by e-mail (unless the administrator typed it meanwhile)."""
    user = db.session.get(User, message.payload["user_id"])
    if user is not None and user.monday_user_id is None:
        user.monday_user_id = client.find_user(user.email)


def notify_slack(message, client) -> None:
    client.post(message.payload["text"], message.payload.get("blocks"))


def send_email(message, client) -> None:
    """The e-mail as `outbound` wrote it; its idempotency key gives every attempt one Message-ID."""
    payload = message.payload
    client.send(payload["to"], payload["subject"], payload["text"], payload["html"], message.idempotency_key)


def register_handlers() -> None:
    outbox.register(Target.MONDAY, "create_item", create_item)
    outbox.register(Target.MONDAY, "create_update", create_update)
    outbox.register(Target.MONDAY, "change_columns", change_columns)
    outbox.register(Target.MONDAY, "notify", notify)
    outbox.register(Target.MONDAY, "find_user", find_user)
    outbox.register(Target.SLACK, "notify", notify_slack)
    outbox.register(Target.EMAIL, "send", send_email)
