"""Business time: which moments count, and adding business hours to a moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

DEFAULT_HOURS = {str(day): ["09:00", "18:00"] for day in range(5)}


@lru_cache(maxsize=32)
def _federal(year: int) -> frozenset[date]:
    # Observed dates included (e.g. a Saturday holiday observed on Friday), as the package gives them.
    return frozenset(holidays.country_holidays("US", years=year).keys())


@dataclass(frozen=True)
class BusinessCalendar:
    """Business hours per weekday in one timezone; holidays are closed all day. Hours are
    half-open: the opening minute counts, the closing one does not."""

    timezone: ZoneInfo
    hours: dict[int, tuple[time, time]]
    extra_holidays: frozenset[date] = frozenset()
    us_federal: bool = True

    @classmethod
    def from_settings(cls, zone: str, business_hours: dict, extra_holidays, us_federal: bool = True):
        hours = {}
        for day, span in (business_hours or {}).items():
            opening, closing = (time.fromisoformat(value) for value in span)
            if opening < closing:
                hours[int(day)] = (opening, closing)
        extra = frozenset(
            date.fromisoformat(item["date"] if isinstance(item, dict) else item) for item in extra_holidays or []
        )
        return cls(ZoneInfo(zone), hours, extra, us_federal)

    def is_holiday(self, day: date) -> bool:
        return day in self.extra_holidays or (self.us_federal and day in _federal(day.year))

    def _span(self, day: date) -> tuple[datetime, datetime] | None:
        if self.is_holiday(day) or day.weekday() not in self.hours:
            return None
        opening, closing = self.hours[day.weekday()]
        return (
            datetime.combine(day, opening, tzinfo=self.timezone),
            datetime.combine(day, closing, tzinfo=self.timezone),
        )

    def is_business_time(self, moment: datetime) -> bool:
        local = moment.astimezone(self.timezone)
        span = self._span(local.date())
        return span is not None and span[0] <= local < span[1]

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` of business time after `start` (returned in UTC)."""
        remaining = timedelta(hours=hours)
        cursor = start.astimezone(self.timezone)
        for _ in range(3660):  # ten years of days: a calendar with no business time at all stops here
            span = self._span(cursor.date())
            if span is not None:
                begin = max(cursor, span[0])
                if begin < span[1]:
                    available = span[1] - begin
                    if remaining <= available:
                        return (begin + remaining).astimezone(UTC)
                    remaining -= available
            next_day = cursor.date() + timedelta(days=1)
            cursor = datetime.combine(next_day, time(0, 0), tzinfo=self.timezone)
        raise ValueError("the business calendar has no business hours")
