"""Outbox delivery benchmark on PostgreSQL against the fake Zendesk with zero latency.

1. Throughput: N tickets are written first, then 1 or 3 `flask worker` processes deliver them;
   messages per second from the first claim to the last delivery.
2. End-to-end latency: with one worker running, tickets are submitted at a steady rate and the time
   from commit to delivery is measured (p50/p95).
Run: `.venv/bin/python bench/outbox.py [--tickets 2000] [--database-url postgresql+psycopg://...]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from portal import create_app  # noqa: E402
from portal.core.extensions import db  # noqa: E402
from portal.integrations.models import OutboxMessage  # noqa: E402
from tests.conftest import fresh_postgres_database  # noqa: E402
from tests.fakes.zendesk import FakeZendesk  # noqa: E402


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def make_tickets(partner, count):
    from portal.tickets import intake

    for number in range(count):
        intake.create_ticket(
            partner,
            "technical",
            f"Benchmark ticket {number}",
            "Playback stops after ten seconds.",
            {"service": "app", "region": "MX", "impact": "some"},
        )


def start_workers(count, env):
    return [
        subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--batch", "50"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def stop(workers):
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(timeout=30)


def pending():
    count = db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.state != "delivered"))
    db.session.rollback()
    return count


def throughput(app, env, partner, tickets, workers):
    with app.app_context():
        db.session.execute(OutboxMessage.__table__.delete())
        db.session.commit()
        make_tickets(db.session.merge(partner), tickets)
        started = time.perf_counter()
        processes = start_workers(workers, env)
        try:
            while pending():
                time.sleep(0.05)
        finally:
            stop(processes)
        elapsed = time.perf_counter() - started
        first, last = db.session.execute(
            select(func.min(OutboxMessage.delivered_at), func.max(OutboxMessage.delivered_at))
        ).one()
    return {
        "workers": workers,
        "messages": tickets,
        "seconds_including_start": round(elapsed, 2),
        "messages_per_second": round(tickets / (last - first).total_seconds(), 1),
    }


def latency(app, env, partner, rate, seconds):
    with app.app_context():
        processes = start_workers(1, env)
        try:
            time.sleep(2)
            started = time.perf_counter()
            made = 0
            while time.perf_counter() - started < seconds:
                make_tickets(db.session.merge(partner), 1)
                made += 1
                time.sleep(max(0.0, made / rate - (time.perf_counter() - started)))
            while pending():
                time.sleep(0.05)
        finally:
            stop(processes)
        rows = db.session.execute(
            select(OutboxMessage.created_at, OutboxMessage.delivered_at).order_by(OutboxMessage.id.desc()).limit(made)
        ).all()
    waits = [(delivered - created).total_seconds() * 1000 for created, delivered in rows]
    return {
        "tickets": made,
        "rate_per_second": rate,
        "p50_ms": round(statistics.median(waits), 1),
        "p95_ms": round(percentile(waits, 0.95), 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    with FakeZendesk() as fake, fresh_postgres_database(args.database_url) as url:
        env = dict(
            os.environ,
            SECRET_KEY="bench",
            DATABASE_URL=url,
            ZENDESK_BASE_URL=fake.url,
            ZENDESK_EMAIL=fake.email,
            ZENDESK_API_TOKEN=fake.token,
            WORKER_POLL_SECONDS="0.05",
            LOG_LEVEL="ERROR",
            SEARCH_INDEX_DIR=str(Path("/tmp") / "outbox-bench-index"),
        )
        app = create_app(
            {
                "SECRET_KEY": "bench",
                "SQLALCHEMY_DATABASE_URI": url,
                "LOG_LEVEL": "ERROR",
                "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            }
        )
        with app.app_context():
            db.create_all()
            from auth import services as auth_services

            organization = auth_services.create_organization(None, "Bench Org")
            partner, _ = auth_services.create_user(
                None, "bench@partner.test", "Bench", "partner", organization, password="load test secret 1"
            )
            db.session.expunge(partner)
        results = {
            "throughput": [throughput(app, env, partner, args.tickets, workers) for workers in (1, 3)],
            "latency": latency(app, env, partner, rate=20, seconds=10),
        }
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
