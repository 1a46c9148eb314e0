"""Delivery handlers for the internal channels: Monday (items, updates, columns), Slack and e-mail."""

from __future__ import annotations

from flask import current_app

from portal.core.extensions import db
from portal.integrations import outbox
from portal.integrations.http import Rejected
from portal.integrations.models import Target
from portal.tickets.models import Ticket


def create_item(message, client) -> None:
    """One Monday item per ticket, on the configured board and group."""
    config = current_app.config
    ticket = db.session.get(Ticket, message.ticket_id)
    if ticket.monday_item_id:
        return
    ticket.monday_item_id = client.create_item(
        config["MONDAY_BOARD_ID"],
        config["MONDAY_GROUP_ID"] or None,
        message.payload["name"],
        message.payload["columns"],
    )


def _item(message) -> str:
    ticket = db.session.get(Ticket, message.ticket_id)
    if not ticket.monday_item_id:
        raise Rejected("the ticket has no Monday item (its creation was discarded)")
    return ticket.monday_item_id


def create_update(message, client) -> None:
    client.create_update(_item(message), message.payload["body"])


def change_columns(message, client) -> None:
    if message.payload["columns"]:
        client.change_columns(current_app.config["MONDAY_BOARD_ID"], _item(message), message.payload["columns"])


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
    outbox.register(Target.SLACK, "notify", notify_slack)
    outbox.register(Target.EMAIL, "send", send_email)
