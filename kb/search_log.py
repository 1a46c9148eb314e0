"""The search log: what people search for, kept small, and the staff report built from it.

Rows carry a keyed hash of the client (`client_key`) rather than who or where they are: it lets
one client's repeats merge and lets the report count distinct clients.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import distinct, func, or_, select

from auth.models import User
from kb.models import SearchLogEntry
from kb.search_rules import normalize_query
from portal.core.extensions import db
from portal.core.types import utcnow

# One client's searches within this window merge into one row: typing ("rok", "roku", ...)
# becomes its last query, and the same query again (pages, reloads) keeps its row.
SEARCH_LOG_MERGE_SECONDS = 60
MIN_LOGGED_QUERY_LENGTH = 2


def client_key(identity: str) -> str:
    """A keyed hash (HMAC-SHA256 with the app's SECRET_KEY, 64 hex digits) of a client identity
    such as "user:42" or an anonymous visitor's address and browser."""
    secret = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    return hmac.new(secret, identity.encode("utf-8", "replace"), hashlib.sha256).hexdigest()


def _recent_row(key: str, normalized: str, since) -> SearchLogEntry | None:
    return db.session.scalar(
        select(SearchLogEntry)
        .where(
            SearchLogEntry.client_key == key,
            SearchLogEntry.normalized_query == normalized,
            SearchLogEntry.created_at >= since,
        )
        .order_by(SearchLogEntry.id.desc())
        .limit(1)
    )


def _typed_on(previous: tuple[int, str] | None, key: str, normalized: str, since) -> SearchLogEntry | None:
    """The row of the query this one continues (the same client, typing on or back)."""
    if previous is None:
        return None
    candidate = db.session.get(SearchLogEntry, previous[0])
    typing_on = normalized.startswith(previous[1]) or previous[1].startswith(normalized)
    if candidate is not None and typing_on and candidate.client_key == key and candidate.created_at >= since:
        return candidate
    return None


def log_search(
    query: str,
    language: str,
    result_count: int,
    user: User | None,
    client: str,
    previous: tuple[int, str] | None = None,
) -> tuple[int, str] | None:
    """Record a search by `client` (an identity for `client_key`). The same client's same query
    within SEARCH_LOG_MERGE_SECONDS is the row already there (unchanged); while someone types,
    each keystroke's query replaces the previous one (given as (entry id, query)). Returns what
    to pass next time."""
    query = normalize_query(query)
    if len(query) < MIN_LOGGED_QUERY_LENGTH:
        return previous
    normalized = query.lower()
    key = client_key(client)
    since = utcnow() - timedelta(seconds=SEARCH_LOG_MERGE_SECONDS)
    repeated = _recent_row(key, normalized, since)
    if repeated is not None:
        # Pages, reloads and floods of one query cost no write.
        return repeated.id, normalized
    entry = _typed_on(previous, key, normalized, since)
    if entry is None:
        entry = SearchLogEntry(
            user_id=getattr(user, "id", None),
            organization_id=getattr(user, "organization_id", None),
            client_key=key,
        )
        db.session.add(entry)
    entry.query, entry.normalized_query = query, normalized
    entry.language, entry.result_count = language, result_count
    entry.created_at = utcnow()
    db.session.commit()
    return entry.id, normalized


@dataclass(frozen=True)
class QueryStat:
    query: str
    searches: int
    average_results: float


def search_report(days: int, min_clients: int, limit: int = 25) -> tuple[list[QueryStat], list[QueryStat]]:
    """Top queries and queries that found nothing, over the last `days` days. Signed-in users'
    searches always count; anonymous visitors' only for queries that at least `min_clients`
    distinct anonymous clients made, so that nobody can write into the report alone."""
    since = utcnow() - timedelta(days=days)
    asked_by_enough = (
        select(SearchLogEntry.normalized_query)
        .where(SearchLogEntry.created_at >= since, SearchLogEntry.user_id.is_(None))
        .group_by(SearchLogEntry.normalized_query)
        .having(func.count(distinct(SearchLogEntry.client_key)) >= min_clients)
    )
    base = (
        select(
            SearchLogEntry.normalized_query,
            func.count(SearchLogEntry.id).label("searches"),
            func.avg(SearchLogEntry.result_count),
        )
        .where(
            SearchLogEntry.created_at >= since,
            or_(SearchLogEntry.user_id.is_not(None), SearchLogEntry.normalized_query.in_(asked_by_enough)),
        )
        .group_by(SearchLogEntry.normalized_query)
        .order_by(func.count(SearchLogEntry.id).desc(), SearchLogEntry.normalized_query)
        .limit(limit)
    )
    top = [QueryStat(q, n, float(avg or 0)) for q, n, avg in db.session.execute(base)]
    zero = [QueryStat(q, n, 0.0) for q, n, _avg in db.session.execute(base.where(SearchLogEntry.result_count == 0))]
    return top, zero
