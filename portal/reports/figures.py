"""The figures of §14, each one SQL aggregation (no loops over tickets): tickets received per day
and by request type, and first responses on time per agent or per partner organization, request
type and week. The metrics dashboard and the posted reports both read them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, case, func, literal_column, or_, select

from auth.models import Organization, User
from portal.core.extensions import db
from portal.core.types import utcnow
from portal.sla.models import RequestType
from portal.tickets.models import Ticket, TicketForm

REQUEST_TYPES = tuple(RequestType)  # the columns of the per-day figures and their CSV, in order


def dialect() -> str:
    return db.engine.dialect.name


def _hour_bucket(column):
    if dialect() == "postgresql":
        return func.date_trunc("hour", column)
    return func.strftime("%Y-%m-%d %H:00:00", column)


def _as_datetime(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def request_type_column():
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
        _hour_bucket(Ticket.created_at).label("bucket"), request_type_column().label("kind"), func.count(Ticket.id)
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


def tickets_received(since: datetime, until: datetime) -> dict[str, int]:
    """Tickets received in [since, until), by request type (every type present, zero or not)."""
    rows = db.session.execute(
        select(request_type_column().label("kind"), func.count(Ticket.id))
        .where(Ticket.created_at >= since, Ticket.created_at < until)
        .group_by("kind")
    )
    counts = dict.fromkeys(REQUEST_TYPES, 0)
    counts.update({request_type: int(count) for request_type, count in rows})
    return counts


class SlaBy(StrEnum):
    """Whose first responses an SLA figure counts: §14's "usuario" is both."""

    AGENT = "agent"  # the first responder, else the assignee
    ORGANIZATION = "organization"  # the partner organization that sent the ticket


@dataclass(frozen=True)
class SlaCount:
    """First responses on time (met) and late or missing past the deadline (breached) of one
    agent or organization and request type, in one week of reception or one whole period."""

    name: str
    request_type: str
    met: int
    breached: int
    week: date | None = None

    @property
    def total(self) -> int:
        return self.met + self.breached

    @property
    def share(self) -> float:
        return self.met / self.total if self.total else 0.0


def _week_start(column):
    if dialect() == "postgresql":
        return func.date_trunc("week", column)
    return func.date(column, "weekday 0", "-6 days")


def _week_of(value) -> date:
    if isinstance(value, datetime):
        return _as_datetime(value).date()
    return date.fromisoformat(str(value)[:10])


def sla_met(
    by: SlaBy,
    since: datetime,
    until: datetime | None = None,
    now: datetime | None = None,
    organization_id: int = 0,
    per_week: bool = False,
) -> list[SlaCount]:
    """Met and breached first responses of tickets received in [since, until), per agent or
    organization and request type (and per UTC week of reception with `per_week`, newest first).
    Met: answered by the due time. Breached: answered late, or unanswered past the due time."""
    now = now or utcnow()
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
    if by is SlaBy.AGENT:
        name = func.coalesce(User.name, literal_column("'—'"))
        joined, on = User, User.id == func.coalesce(Ticket.first_responder_id, Ticket.assignee_id)
    else:
        name, joined, on = Organization.name, Organization, Organization.id == Ticket.organization_id
    week = _week_start(Ticket.created_at) if per_week else literal_column("NULL")
    statement = (
        select(week.label("week"), name.label("name"), request_type_column().label("kind"), met, breached)
        .select_from(Ticket)
        .join(joined, on, isouter=by is SlaBy.AGENT)
        .where(Ticket.created_at >= since, Ticket.sla_due_at.is_not(None))
    )
    if until is not None:
        statement = statement.where(Ticket.created_at < until)
    if organization_id:
        statement = statement.where(Ticket.organization_id == organization_id)
    groups = ("week", "name", "kind") if per_week else ("name", "kind")
    statement = statement.group_by(*groups).order_by(
        *([literal_column("week").desc()] if per_week else []), "name", "kind"
    )
    return [
        SlaCount(
            name, request_type, int(met_count or 0), int(breached_count or 0), _week_of(week) if per_week else None
        )
        for week, name, request_type, met_count, breached_count in db.session.execute(statement)
        if met_count or breached_count
    ]


def sla_per_agent_week(weeks: int, now: datetime | None = None) -> list[SlaCount]:
    """SLA met per agent, request type and week of reception, over the last `weeks` weeks."""
    now = now or utcnow()
    return sla_met(SlaBy.AGENT, now - timedelta(weeks=weeks), now=now, per_week=True)


def sla_per_organization_week(weeks: int, organization_id: int = 0, now: datetime | None = None) -> list[SlaCount]:
    """SLA met per partner organization (or only `organization_id`), request type and week of
    reception, over the last `weeks` weeks."""
    now = now or utcnow()
    return sla_met(
        SlaBy.ORGANIZATION, now - timedelta(weeks=weeks), now=now, organization_id=organization_id, per_week=True
    )
