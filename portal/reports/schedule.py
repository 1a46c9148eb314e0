"""When a report is due: the daily report of yesterday from REPORTS_DAILY_AT each day, the weekly
report of last week (Monday to Sunday) from REPORTS_WEEKLY_AT each Monday, both in
REPORTS_TIMEZONE (else PORTAL_TIMEZONE). A report whose time passed while no worker ran is still
posted later that day (daily) or that week (weekly); older periods are not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app

from portal.reports.models import ReportKind

PERIOD_DAYS = {ReportKind.DAILY: 1, ReportKind.WEEKLY: 7}


@dataclass(frozen=True)
class Period:
    """One report's period: local days from `start`, and the same bounds in UTC."""

    kind: ReportKind
    start: date
    zone: ZoneInfo

    @property
    def last_day(self) -> date:
        return self.start + timedelta(days=PERIOD_DAYS[self.kind] - 1)

    @property
    def since(self) -> datetime:
        return _midnight(self.start, self.zone)

    @property
    def until(self) -> datetime:
        return _midnight(self.last_day + timedelta(days=1), self.zone)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _posting_time(setting: str) -> time | None:
    value = current_app.config[setting]
    return time.fromisoformat(value) if value else None


def zone() -> ZoneInfo:
    config = current_app.config
    return ZoneInfo(config["REPORTS_TIMEZONE"] or config["PORTAL_TIMEZONE"])


def due_periods(now: datetime) -> list[Period]:
    """The periods whose report time has come by `now` (each report off while its time is unset)."""
    local_zone = zone()
    local = now.astimezone(local_zone)
    today = local.date()
    due = []
    daily_at = _posting_time("REPORTS_DAILY_AT")
    if daily_at is not None and local >= datetime.combine(today, daily_at, tzinfo=local_zone):
        due.append(Period(ReportKind.DAILY, today - timedelta(days=1), local_zone))
    weekly_at = _posting_time("REPORTS_WEEKLY_AT")
    monday = today - timedelta(days=today.weekday())
    if weekly_at is not None and local >= datetime.combine(monday, weekly_at, tzinfo=local_zone):
        due.append(Period(ReportKind.WEEKLY, monday - timedelta(days=7), local_zone))
    return due
