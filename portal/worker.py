"""`flask worker`: delivers the outbox and runs the periodic jobs (SLA monitor, auto-close, deflection
expiry, the reports of §14 when they are due)."""

from __future__ import annotations

import signal
import threading

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.core.extensions import db
from portal.integrations.outbox import Deliverer
from portal.reports import posting
from portal.tickets import conversation, intake, sla_clock


def run_jobs(deliverer: Deliverer, batch: int) -> int:
    """One pass of everything the worker does; returns the messages delivered."""
    delivered = deliverer.run_pass(batch=batch)
    sla_clock.check()
    conversation.auto_close()
    intake.expire_deflections()
    posting.post_due()
    return delivered


@click.command("worker")
@click.option("--once", is_flag=True, help="Do one pass of everything due, then exit (for cron and tests).")
@click.option("--batch", default=20, show_default=True, help="Messages claimed at a time.")
@with_appcontext
def worker_command(once: bool, batch: int):
    """Deliver outbox messages to Zendesk, Monday and Slack, and run periodic jobs.
    Stops gracefully on SIGTERM or Ctrl-C after the message in hand."""
    deliverer = Deliverer()
    if once:
        click.echo(f"{run_jobs(deliverer, batch)} messages delivered")
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    poll = current_app.config["WORKER_POLL_SECONDS"]
    click.echo(f"worker started (poll every {poll}s)")
    while not stop.is_set():
        try:
            run_jobs(deliverer, batch)
        except Exception:  # a passing database error must not end the worker; the next pass retries
            db.session.rollback()
            current_app.logger.exception("worker pass failed")
        finally:
            db.session.remove()
        stop.wait(poll)
    click.echo("worker stopped")
