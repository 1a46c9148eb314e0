"""Posting the reports that are due, once per period: the report's row and its outbox messages
(Slack always, Monday when MONDAY_REPORTS_ITEM_ID names the item) are written in one transaction,
and the row is inserted with ON CONFLICT DO NOTHING on (kind, period_start), so when several
workers race, exactly one inserts it and writes the messages; the others change nothing."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import Select, select
from sqlalchemy.dialects import postgresql, sqlite

from portal.core.extensions import db
from portal.core.i18n import staff_language
from portal.core.types import utcnow
from portal.integrations import outbox
from portal.integrations.models import Target
from portal.reports import schedule, texts
from portal.reports.models import PostedReport
from portal.reports.schedule import Period

REPORT_MESSAGE = "post_report"  # the outbox kind of a report, on Slack and on Monday
INSERT_OF = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _posted(period: Period) -> bool:
    return (
        db.session.scalar(
            select(PostedReport.id).where(
                PostedReport.kind == period.kind.value, PostedReport.period_start == period.start
            )
        )
        is not None
    )


def _insert_once(period: Period, text: str, figures: dict) -> int | None:
    """Insert the period's report unless it exists (a racing worker's insert waits for the other's
    commit, then does nothing); returns the new row's id, or None."""
    statement = (
        INSERT_OF[db.engine.dialect.name](PostedReport)
        .values(kind=period.kind.value, period_start=period.start, text=text, figures=figures)
        .on_conflict_do_nothing(index_elements=["kind", "period_start"])
        .returning(PostedReport.id)
    )
    return db.session.execute(statement).scalar()


def _enqueue(report_id: int, period: Period, text: str) -> None:
    key = f"report:{period.kind.value}:{period.start.isoformat()}"
    outbox.enqueue(
        Target.SLACK, REPORT_MESSAGE, {"report_id": report_id, "text": texts.for_slack(text)}, f"{key}:slack"
    )
    item_id = current_app.config["MONDAY_REPORTS_ITEM_ID"]
    if item_id:
        outbox.enqueue(
            Target.MONDAY,
            REPORT_MESSAGE,
            {"report_id": report_id, "item_id": item_id, "body": texts.for_monday(text)},
            f"{key}:monday",
        )


def post(period: Period, now: datetime) -> PostedReport | None:
    """Write `period`'s report and its messages, unless another worker did; None then."""
    with staff_language():
        text, figures = texts.compose(period, now)
    report_id = _insert_once(period, text, figures)
    if report_id is None:
        db.session.rollback()
        return None
    _enqueue(report_id, period, text)
    db.session.commit()
    return db.session.get(PostedReport, report_id)


def post_due(now: datetime | None = None) -> list[PostedReport]:
    """Post every report whose time has come and that no worker has posted yet (the worker's job)."""
    now = now or utcnow()
    return [
        report
        for period in schedule.due_periods(now)
        if not _posted(period) and (report := post(period, now)) is not None
    ]


def newest_first() -> Select:
    """Every posted report, the newest first (for the Reports page)."""
    return select(PostedReport).order_by(PostedReport.created_at.desc(), PostedReport.id.desc())
