"""Forwarding to Zendesk through the outbox: delivery, ordering, retries, dead letters, chaos."""

from __future__ import annotations

import os
import random
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations.models import MessageState, OutboxMessage
from portal.integrations.outbox import Deliverer
from portal.tickets import conversation, intake
from portal.tickets.models import Comment, Ticket
from tests.conftest import login


def deliver(now=None) -> int:
    return Deliverer().run_pass(now=now)


def states() -> list[str]:
    return list(db.session.scalars(select(OutboxMessage.state).order_by(OutboxMessage.id)))


def test_ticket_reaches_zendesk_with_its_fields(fake_zendesk, open_ticket, app):
    app.config["ZENDESK_CUSTOM_FIELDS"] = {"error_code": 360001, "region": 360002}
    ticket = open_ticket()
    assert deliver() == 1
    assert ticket.zendesk_id is not None and states() == ["delivered"]
    remote = fake_zendesk.tickets[ticket.zendesk_id]
    assert remote["external_id"] == ticket.reference and ticket.reference in remote["subject"]
    assert remote["requester"] == {"name": "Pablo Partner", "email": "pablo@andes.test"}
    assert {"id": 360001, "value": "EDY-4031"} in remote["custom_fields"]
    assert fake_zendesk.comments[ticket.zendesk_id][0]["public"] is True


def test_comment_waits_for_its_ticket_and_goes_in_order(fake_zendesk, open_ticket, partner):
    ticket = open_ticket()
    conversation.add_comment(partner, ticket, "first follow-up")
    conversation.add_comment(partner, ticket, "second follow-up")
    fake_zendesk.faults = ["500"]
    first_now = utcnow()
    deliver(now=first_now)
    assert states() == ["pending", "pending", "pending"]
    deliver(now=first_now + timedelta(minutes=5))
    assert states() == ["delivered"] * 3
    bodies = [event["body"] for event in fake_zendesk.comments[ticket.zendesk_id]]
    assert bodies[1].endswith("first follow-up") and bodies[2].endswith("second follow-up")
    comments = list(db.session.scalars(select(Comment).order_by(Comment.id)))
    assert all(comment.zendesk_comment_id for comment in comments)
    assert [m[0] for m in fake_zendesk.requests] == ["POST", "PUT", "PUT"]


def test_unconfigured_zendesk_keeps_messages_pending(app, open_ticket, client, partner):
    app.config["ZENDESK_BASE_URL"] = ""
    ticket = open_ticket()
    assert deliver() == 0 and states() == ["pending"]
    login(client, partner.email)
    assert client.get(f"/tickets/{ticket.id}").status_code == 200


def test_429_waits_for_retry_after(fake_zendesk, open_ticket):
    fake_zendesk.retry_after = "30"
    fake_zendesk.faults = ["429"]
    open_ticket()
    now = utcnow()
    deliver(now=now)
    message = db.session.scalar(select(OutboxMessage))
    assert message.state == "pending" and "429" in message.last_error
    assert abs((message.next_attempt_at - now).total_seconds() - 30) < 1
    assert deliver(now=now + timedelta(seconds=29)) == 0
    assert deliver(now=now + timedelta(seconds=31)) == 1


def test_server_errors_back_off_exponentially_with_jitter(fake_zendesk, open_ticket, app):
    app.config.update(OUTBOX_RETRY_BASE_SECONDS=10, OUTBOX_RETRY_MAX_SECONDS=60)
    fake_zendesk.faults = ["500"] * 5
    open_ticket()
    now = utcnow()
    delays = []
    for _ in range(5):
        deliver(now=now)
        message = db.session.scalar(select(OutboxMessage))
        delays.append((message.next_attempt_at - now).total_seconds())
        now = message.next_attempt_at
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20 and 20 <= delays[2] <= 40
    assert all(30 <= delay <= 60 for delay in delays[3:])
    assert deliver(now=now) == 1


@pytest.mark.parametrize("fault", ["slow", "drop", "500-after"])
def test_lost_answers_never_duplicate_the_ticket(fake_zendesk, open_ticket, fault):
    fake_zendesk.faults = [fault]
    ticket = open_ticket()
    now = utcnow()
    deliver(now=now)
    assert ticket.zendesk_id is None
    deliver(now=now + timedelta(minutes=5))
    assert len(fake_zendesk.tickets) == 1
    assert ticket.zendesk_id in fake_zendesk.tickets
    posts = [r for r in fake_zendesk.requests if r[0] == "POST"]
    assert len(posts) == (2 if fault != "drop" else 1)


def test_refused_connection_is_retried(fake_zendesk, open_ticket, app):
    real = app.config["ZENDESK_BASE_URL"]
    app.config["ZENDESK_BASE_URL"] = "http://127.0.0.1:9"
    ticket = open_ticket()
    now = utcnow()
    deliver(now=now)
    assert "ConnectionError" in db.session.scalar(select(OutboxMessage.last_error))
    app.config["ZENDESK_BASE_URL"] = real
    deliver(now=now + timedelta(minutes=1))
    assert ticket.zendesk_id in fake_zendesk.tickets


def test_record_invalid_becomes_a_dead_letter_and_can_be_retried(fake_zendesk, open_ticket, client, make_user):
    ticket = open_ticket()
    message = db.session.scalar(select(OutboxMessage))
    payload = dict(message.payload)
    payload["ticket"] = {**payload["ticket"], "subject": ""}
    message.payload = payload
    db.session.commit()
    deliver()
    assert (
        message.state == "dead"
        and "RecordInvalid" in message.last_error
        and "Subject: cannot be blank" in message.last_error
    )
    admin = make_user("ticket_admin")
    login(client, admin.email)
    page = client.get("/admin/integrations").get_data(as_text=True)
    assert "RecordInvalid" in page and f"message-{message.id}" in page
    message.payload = {**payload, "ticket": {**payload["ticket"], "subject": "Fixed subject"}}
    db.session.commit()
    assert client.post(f"/admin/integrations/messages/{message.id}/retry").status_code == 302
    deliver()
    assert message.state == "delivered" and ticket.zendesk_id in fake_zendesk.tickets
    assert client.post(f"/admin/integrations/messages/{message.id}/discard").status_code == 409


def test_discarded_dead_letter_releases_later_messages(fake_zendesk, open_ticket, partner, client, make_user):
    ticket = open_ticket()
    conversation.add_comment(partner, ticket, "follow-up")
    first = db.session.scalar(select(OutboxMessage).order_by(OutboxMessage.id))
    first.payload = {"ticket": {**first.payload["ticket"], "subject": ""}}
    db.session.commit()
    deliver()
    assert states() == ["dead", "pending"]
    admin = make_user("ticket_admin")
    login(client, admin.email)
    client.post(f"/admin/integrations/messages/{first.id}/discard")
    deliver()
    later = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()[1]
    assert later.state == "dead" and "never created in Zendesk" in later.last_error


def test_rate_limit_headroom_pauses_the_target(fake_zendesk, open_ticket, partner):
    fake_zendesk.rate_limit_remaining = 0
    open_ticket()
    open_ticket(subject="A second problem")
    deliverer = Deliverer()
    now = utcnow()
    assert deliverer.run_pass(now=now) == 1
    assert deliverer.run_pass(now=now + timedelta(seconds=1)) == 0
    fake_zendesk.rate_limit_remaining = 500
    assert deliverer.run_pass(now=now + timedelta(seconds=6)) == 1


def test_worker_once_command(fake_zendesk, open_ticket, app):
    open_ticket()
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0 and "1 messages delivered" in result.output
    assert len(fake_zendesk.tickets) == 1


def run_chaos(app, fake_zendesk, partner, workers: int, count: int = 300):
    fake_zendesk.fault_rate = 0.3
    fake_zendesk.slow_seconds = 0.4
    app.config.update(OUTBOX_RETRY_BASE_SECONDS=1.0, OUTBOX_RETRY_MAX_SECONDS=20.0, OUTBOX_LEASE_SECONDS=60.0)
    real_url = app.config["ZENDESK_BASE_URL"]
    for number in range(count):
        intake.create_ticket(
            partner,
            "technical",
            f"Chaos ticket {number}",
            "Something fails under chaos today.",
            {"service": "app", "region": "MX", "impact": "some"},
        )
    start, started = utcnow(), time.monotonic()
    done = threading.Event()
    rng = random.Random(11)

    def virtual_now():
        # One real second is one virtual minute, so back-offs pass quickly.
        return start + timedelta(seconds=(time.monotonic() - started) * 60)

    def work():
        with app.app_context():
            deliverer = Deliverer()
            while not done.is_set():
                deliverer.run_pass(now=virtual_now(), batch=10)
                db.session.remove()
                time.sleep(0.02)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            # Now and then Zendesk is unreachable altogether (connection refused).
            app.config["ZENDESK_BASE_URL"] = "http://127.0.0.1:9" if rng.random() < 0.15 else real_url
            time.sleep(0.2)
            app.config["ZENDESK_BASE_URL"] = real_url
            remaining = db.session.scalar(
                select(func.count(OutboxMessage.id)).where(OutboxMessage.state != MessageState.DELIVERED.value)
            )
            db.session.rollback()
            if remaining == 0:
                break
    finally:
        app.config["ZENDESK_BASE_URL"] = real_url
        done.set()
        for thread in threads:
            thread.join()
    db.session.expire_all()
    tickets = list(db.session.scalars(select(Ticket)))
    assert len(tickets) == count
    external_ids = [remote["external_id"] for remote in fake_zendesk.tickets.values()]
    assert sorted(external_ids) == sorted(ticket.reference for ticket in tickets), "missing or duplicated tickets"
    by_reference = {remote["external_id"]: remote_id for remote_id, remote in fake_zendesk.tickets.items()}
    assert all(ticket.zendesk_id == by_reference[ticket.reference] for ticket in tickets)
    assert set(states()) == {"delivered"}


@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")), reason="the SQLite run uses one worker")
def test_chaos_sqlite_one_worker(app, fake_zendesk, partner):
    run_chaos(app, fake_zendesk, partner, workers=1)


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs PostgreSQL (TEST_DATABASE_URL)")
def test_chaos_postgresql_three_workers(app, fake_zendesk, partner):
    run_chaos(app, fake_zendesk, partner, workers=3)
