"""The dashboard's own figures, each one SQL aggregation (no loops over tickets): first-response
times, backlog, reopen rate, deflection and knowledge-base searches without results. The figures of
§14 (tickets per day, SLA met), which the posted reports share, are in `portal.reports.figures`."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select

from kb.models import SearchLogEntry
from portal.core.extensions import db
from portal.core.types import utcnow
from portal.reports.figures import dialect, request_type_column
from portal.tickets.models import Deflection, DeflectionOutcome, EventKind, Ticket, TicketEvent
from portal.tickets.states import OPEN_STATUSES


def _seconds_between(later, earlier):
    if dialect() == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


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
    kind = request_type_column().label("kind")
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
