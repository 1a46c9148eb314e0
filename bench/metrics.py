"""Metrics dashboard benchmark: 1,000,000 tickets, each dashboard query timed (median of 3 runs).

Seeds the tickets with bulk inserts (COPY-free, plain executemany in chunks) on SQLite and on
PostgreSQL, then times the queries behind /staff/metrics. Target: under 1 s each on PostgreSQL.
Run: `.venv/bin/python bench/metrics.py [--tickets 1000000] [--database sqlite|postgresql|both]`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal import create_app  # noqa: E402
from portal.core.extensions import db  # noqa: E402
from tests.conftest import fresh_postgres_database  # noqa: E402

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def seed(count: int, rng: random.Random) -> float:
    from auth import services as auth_services
    from portal.sla.models import RequestType, SlaState
    from portal.tickets.models import Status, Ticket, TicketForm

    organizations = [auth_services.create_organization(None, f"Bench org {n}") for n in range(20)]
    requester, _ = auth_services.create_user(
        None, "bench@partner.test", "Bench", "partner", organizations[0], password="load test secret 1"
    )
    agents = [
        auth_services.create_user(None, f"agent{n}@edye.test", f"Agent {n}", "agent_l1", password="load test secret 1")[
            0
        ]
        for n in range(12)
    ]
    statuses = [
        Status.NEW,
        Status.ASSIGNED_L1,
        Status.ASSIGNED_L2,
        Status.ESCALATED_L3,
        Status.AWAITING_CONFIRMATION,
        Status.CLOSED,
        Status.CLOSED,
        Status.CLOSED,
    ]
    types = list(RequestType)
    started = time.perf_counter()
    table = Ticket.__table__
    for start in range(0, count, 20_000):
        rows = []
        for number in range(start, min(count, start + 20_000)):
            created = NOW - timedelta(minutes=rng.randint(0, 400 * 24 * 60))
            due = created + timedelta(hours=rng.choice([3, 24, 48]))
            responded = created + timedelta(minutes=rng.randint(5, 4000)) if rng.random() < 0.85 else None
            rows.append(
                {
                    "reference": f"EDY-{number + 1:07d}",
                    "organization_id": rng.choice(organizations).id,
                    "requester_id": requester.id,
                    "form": TicketForm.TECHNICAL.value,
                    "subject": "Benchmark",
                    "description": "d",
                    "details": {},
                    "status": rng.choice(statuses).value,
                    "request_type": rng.choice(types).value,
                    "priority": "normal",
                    "tier": rng.choice([1, 1, 1, 2, 3]),
                    "created_at": created,
                    "updated_at": created,
                    "sla_due_at": due,
                    "sla_state": SlaState.ON_TRACK.value,
                    "first_response_at": responded,
                    "first_responder_id": rng.choice(agents).id if responded else None,
                    "assignee_id": rng.choice(agents).id,
                }
            )
        db.session.execute(table.insert(), rows)
        db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(db.text("ANALYZE tickets"))
        db.session.commit()
    return time.perf_counter() - started


def time_queries() -> dict[str, float]:
    from admin import metrics
    from portal.reports import figures

    queries = {
        "tickets_per_day_30": lambda: figures.tickets_per_day(30, now=NOW),
        "tickets_per_day_90": lambda: figures.tickets_per_day(90, now=NOW),
        "tickets_per_day_90_one_org": lambda: figures.tickets_per_day(90, organization_id=1, now=NOW),
        "sla_per_agent_week_12": lambda: figures.sla_per_agent_week(12, now=NOW),
        "first_response_times_30": lambda: metrics.first_response_times(30, now=NOW),
        "first_response_times_90": lambda: metrics.first_response_times(90, now=NOW),
        "backlog": lambda: metrics.backlog(now=NOW),
        "reopen_rate_30": lambda: metrics.reopen_rate(30, now=NOW),
        "deflection_30": lambda: metrics.deflection(30, now=NOW),
    }
    results = {}
    for name, query in queries.items():
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            query()
            timings.append(time.perf_counter() - started)
            db.session.rollback()
        results[name] = round(statistics.median(timings), 3)
    return results


def run(url: str, count: int) -> dict:
    app = create_app(
        {
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url,
            "LOG_LEVEL": "ERROR",
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "PORTAL_TIMEZONE": "America/New_York",
        }
    )
    with app.app_context():
        db.create_all()
        seconds = seed(count, random.Random(2026))
        result = {
            "database": db.engine.dialect.name,
            "tickets": count,
            "seed_seconds": round(seconds, 1),
            "query_seconds": time_queries(),
        }
        db.session.remove()
        db.engine.dispose()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    results = []
    if args.database in ("postgresql", "both"):
        with fresh_postgres_database(args.postgres_url) as url:
            results.append(run(url, args.tickets))
    if args.database in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            results.append(run(f"sqlite:///{folder}/metrics.sqlite3", args.tickets))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
