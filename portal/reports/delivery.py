"""Outbox delivery of the reports: to the Slack webhook, and as an update of the configured Monday
item; each records when its channel took the report."""

from __future__ import annotations

from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations import outbox
from portal.integrations.models import OutboxMessage, Target
from portal.reports.models import PostedReport
from portal.reports.posting import REPORT_MESSAGE


def to_slack(message: OutboxMessage, client) -> None:
    client.post(message.payload["text"])
    db.session.get(PostedReport, message.payload["report_id"]).slack_posted_at = utcnow()


def to_monday(message: OutboxMessage, client) -> None:
    client.create_update(message.payload["item_id"], message.payload["body"])
    db.session.get(PostedReport, message.payload["report_id"]).monday_posted_at = utcnow()


def register_handlers() -> None:
    outbox.register(Target.SLACK, REPORT_MESSAGE, to_slack)
    outbox.register(Target.MONDAY, REPORT_MESSAGE, to_monday)
