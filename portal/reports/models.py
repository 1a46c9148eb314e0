"""The reports the worker posted: one row per report kind and period, never two."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, Date, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from auth.models import Role
from portal.core.extensions import db
from portal.core.types import UTCDateTime, utcnow

# §14 makes the ticket administrator responsible for the reports; the VP reads them too.
READERS = frozenset({Role.TICKET_ADMIN, Role.VP})


class ReportKind(StrEnum):
    DAILY = "daily"  # tickets received on one local day, by request type
    WEEKLY = "weekly"  # SLA met per agent and per organization, one local week from Monday

    @property
    def label(self) -> str:
        return str(REPORT_KIND_LABELS[self])


REPORT_KIND_LABELS = {
    ReportKind.DAILY: _l("Tickets received (daily)"),
    ReportKind.WEEKLY: _l("SLA met (weekly)"),
}


class PostedReport(db.Model):
    """A report as posted: its text and figures, when it was written, and when each channel took
    it. The unique (kind, period_start) makes a second post of one period impossible, even from
    workers racing each other."""

    __tablename__ = "posted_reports"
    __table_args__ = (
        UniqueConstraint("kind", "period_start", name="uq_posted_reports_kind_period_start"),
        CheckConstraint("kind IN ('daily', 'weekly')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    period_start: Mapped[date] = mapped_column(Date)  # the day, or the Monday of the week
    text: Mapped[str] = mapped_column(Text)
    figures: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    slack_posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    monday_posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def report_kind(self) -> ReportKind:
        return ReportKind(self.kind)
