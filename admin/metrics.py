"""The figures of the metrics dashboard, each one SQL aggregation (no loops over tickets):
tickets received per day, SLA met per agent and type per week, first-response times, backlog,
reopen rate, deflection and knowledge-base searches without results."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, case, func, literal_column, or_, select

from auth.models import User
from kb.models import SearchLogEntry
from portal.core.extensions import db
from portal.core.types import utcnow
from portal.sla.models import RequestType
from portal.tickets.models import Deflection, DeflectionOutcome, EventKind, Ticket, TicketEvent, TicketForm
from portal.tickets.states import OPEN_STATUSES

REQUEST_TYPES = tuple(RequestType)  # the columns of the per-day figures and their CSV, in order


def _dialect() -> str:
    return db.engine.dialect.name


def _hour_bucket(column):
    if _dialect() == "postgresql":
        return func.date_trunc("hour", column)
    return func.strftime("%Y-%m-%d %H:00:00", column)


def _seconds_between(later, earlier):
    if _dialect() == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _as_datetime(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _type_of():
    """The ticket's request type as the SLA applies it (`sla_clock.request_type_of`), in SQL."""
    return func.coalesce(
        Ticket.request_type,
        case(
            (Ticket.form == TicketForm.MARKETING_BUSINESS.value, RequestType.MARKETING_BUSINESS.value),
            else_=RequestType.TECHNICAL.value,
        ),
    )


@dataclass(frozen=True)
class DayCount:
    day: date
    by_type: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_type.values())


def tickets_per_day(days: int, organization_id: int = 0, now: datetime | None = None) -> list[DayCount]:
    """Tickets received per local day over the last `days` days, by request type. SQL groups by
    UTC hour; the hours fold into local days here (at most 24 × days rows)."""
    now = now or utcnow()
    zone = ZoneInfo(current_app.config["PORTAL_TIMEZONE"])
    first_day = (now.astimezone(zone) - timedelta(days=days - 1)).date()
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    # Grouped by the output labels: PostgreSQL would not match two copies of an expression with
    # parameters in SELECT and GROUP BY.
    statement = select(
        _hour_bucket(Ticket.created_at).label("bucket"), _type_of().label("kind"), func.count(Ticket.id)
    ).where(Ticket.created_at >= since)
    if organization_id:
        statement = statement.where(Ticket.organization_id == organization_id)
    statement = statement.group_by("bucket", "kind")
    counts: dict[date, dict[str, int]] = {
        first_day + timedelta(days=n): dict.fromkeys(REQUEST_TYPES, 0) for n in range(days)
    }
    for hour, request_type, count in db.session.execute(statement):
        day = _as_datetime(hour).astimezone(zone).date()
        if day in counts:
            counts[day][request_type] = counts[day].get(request_type, 0) + count
    return [DayCount(day, by_type) for day, by_type in sorted(counts.items())]


@dataclass(frozen=True)
class SlaWeek:
    week: date
    agent: str
    request_type: str
    met: int
    breached: int

    @property
    def share(self) -> float:
        decided = self.met + self.breached
        return self.met / decided if decided else 0.0


def _week_start(column):
    if _dialect() == "postgresql":
        return func.date_trunc("week", column)
    return func.date(column, "weekday 0", "-6 days")


def sla_per_agent_week(weeks: int, now: datetime | None = None) -> list[SlaWeek]:
    """Met and breached first responses per agent, request type and week (of reception).
    Met: answered by the due time. Breached: answered late, or unanswered past the due time."""
    now = now or utcnow()
    since = now - timedelta(weeks=weeks)
    agent_id = func.coalesce(Ticket.first_responder_id, Ticket.assignee_id)
    met = func.sum(
        case((and_(Ticket.first_response_at.is_not(None), Ticket.first_response_at <= Ticket.sla_due_at), 1), else_=0)
    )
    breached = func.sum(
        case(
            (
                or_(
                    Ticket.first_response_at > Ticket.sla_due_at,
                    and_(Ticket.first_response_at.is_(None), Ticket.sla_due_at < now),
                ),
                1,
            ),
            else_=0,
        )
    )
    statement = (
        select(
            _week_start(Ticket.created_at).label("week"),
            func.coalesce(User.name, literal_column("'—'")).label("agent"),
            _type_of().label("kind"),
            met,
            breached,
        )
        .select_from(Ticket)
        .outerjoin(User, User.id == agent_id)
        .where(Ticket.created_at >= since, Ticket.sla_due_at.is_not(None))
        .group_by("week", "agent", "kind")
        .order_by(literal_column("week").desc(), "agent", "kind")
    )
    result = []
    for week_value, agent, request_type, met_count, breached_count in db.session.execute(statement):
        if met_count or breached_count:
            start = (
                _as_datetime(week_value).date()
                if isinstance(week_value, datetime)
                else date.fromisoformat(str(week_value)[:10])
            )
            result.append(SlaWeek(start, agent, request_type, int(met_count or 0), int(breached_count or 0)))
    return result


@dataclass(frozen=True)
class ResponseTimes:
    request_type: str
    count: int
    median_hours: float
    p90_hours: float


def first_response_times(days: int, now: datetime | None = None) -> list[ResponseTimes]:
    """Median and 90th percentile (nearest rank) of the time to first response, by request type."""
    now = now or utcnow()
    seconds = _seconds_between(Ticket.first_response_at, Ticket.created_at).label("seconds")
    kind = _type_of().label("kind")
    ranked = (
        select(
            kind,
            seconds,
            func.row_number().over(partition_by=kind, order_by=seconds).label("position"),
            func.count().over(partition_by=kind).label("total"),
        )
        .where(Ticket.first_response_at.is_not(None), Ticket.created_at >= now - timedelta(days=days))
        .subquery()
    )

    def nearest_rank(share: float):
        # position == ceil(total × share), written so SQLite and PostgreSQL agree
        return and_(ranked.c.position >= ranked.c.total * share, ranked.c.position - 1 < ranked.c.total * share)

    rows = db.session.execute(
        select(ranked.c.kind, ranked.c.seconds, ranked.c.position, ranked.c.total).where(
            or_(nearest_rank(0.5), nearest_rank(0.9))
        )
    )
    found: dict[str, dict] = defaultdict(dict)
    for kind_value, secs, position, total in rows:
        secs = float(secs)
        entry = found[kind_value]
        entry["count"] = total
        if position == math.ceil(total * 0.5):
            entry["median"] = secs / 3600
        if position == math.ceil(total * 0.9):
            entry["p90"] = secs / 3600
    return [
        ResponseTimes(
            kind_value, values["count"], round(values.get("median", 0.0), 2), round(values.get("p90", 0.0), 2)
        )
        for kind_value, values in sorted(found.items())
    ]


def backlog(now: datetime | None = None) -> dict[int, dict[str, int]]:
    """Open tickets by tier and age."""
    now = now or utcnow()
    age = case(
        (Ticket.created_at >= now - timedelta(days=1), "< 1 d"),
        (Ticket.created_at >= now - timedelta(days=3), "1–3 d"),
        (Ticket.created_at >= now - timedelta(days=7), "3–7 d"),
        else_="> 7 d",
    )
    rows = db.session.execute(
        select(Ticket.tier, age.label("age"), func.count(Ticket.id))
        .where(Ticket.status.in_([s.value for s in OPEN_STATUSES]))
        .group_by(Ticket.tier, "age")
    )
    table = {tier: dict.fromkeys(("< 1 d", "1–3 d", "3–7 d", "> 7 d"), 0) for tier in (1, 2, 3)}
    for tier, bucket, count in rows:
        table.setdefault(tier, dict.fromkeys(("< 1 d", "1–3 d", "3–7 d", "> 7 d"), 0))[bucket] = count
    return table


def reopen_rate(days: int, now: datetime | None = None) -> tuple[int, int]:
    """(tickets reopened, tickets sent to the partner as solved) in the period."""
    since = (now or utcnow()) - timedelta(days=days)
    reopened = db.session.scalar(
        select(func.count(func.distinct(TicketEvent.ticket_id))).where(
            TicketEvent.kind == EventKind.REOPENED.value, TicketEvent.created_at >= since
        )
    )
    solved = db.session.scalar(
        select(func.count(func.distinct(TicketEvent.ticket_id))).where(
            TicketEvent.kind.in_([EventKind.SOLUTION_SENT.value, EventKind.ZENDESK_SOLVED.value]),
            TicketEvent.created_at >= since,
        )
    )
    return int(reopened or 0), int(solved or 0)


def deflection(days: int, now: datetime | None = None) -> dict[str, int]:
    """KB suggestions by outcome, and tickets created, in the period."""
    since = (now or utcnow()) - timedelta(days=days)
    outcomes = dict(
        db.session.execute(
            select(Deflection.outcome, func.count(Deflection.id))
            .where(Deflection.created_at >= since)
            .group_by(Deflection.outcome)
        ).all()
    )
    created = db.session.scalar(select(func.count(Ticket.id)).where(Ticket.created_at >= since))
    counts = {outcome.value: outcomes.get(outcome.value, 0) for outcome in DeflectionOutcome}
    return {**counts, "tickets_created": int(created or 0)}


def zero_result_searches(days: int, limit: int = 10, now: datetime | None = None) -> list[tuple[str, int]]:
    since = (now or utcnow()) - timedelta(days=days)
    rows = db.session.execute(
        select(SearchLogEntry.normalized_query, func.count(SearchLogEntry.id))
        .where(SearchLogEntry.created_at >= since, SearchLogEntry.result_count == 0)
        .group_by(SearchLogEntry.normalized_query)
        .order_by(func.count(SearchLogEntry.id).desc(), SearchLogEntry.normalized_query)
        .limit(limit)
    )
    return [(query, count) for query, count in rows]
