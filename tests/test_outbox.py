"""Forwarding to Zendesk through the outbox: delivery, ordering, retries, dead letters, chaos."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations.models import MessageState, OutboxMessage, WebhookReceipt
from portal.integrations.outbox import Deliverer, claim
from portal.tickets import conversation, intake, workflow
from portal.tickets.models import Comment, Ticket
from portal.tickets.zendesk_delivery import ECHO_SOURCE, OUTBOX_KEY
from tests.conftest import MONDAY_BOARD, file_report, login, serving_fake
from tests.fakes.monday import OPERATION, FakeMonday


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


def test_a_worker_whose_lease_ran_out_does_not_send_what_another_worker_took_over(app, fake_zendesk, open_ticket):
    """Worker A claims a message and is held up past its lease (a slow batch); worker B claims it
    again and delivers it; when A gets to it, A sends nothing: one ticket in Zendesk."""
    open_ticket()
    lease = timedelta(seconds=app.config["OUTBOX_LEASE_SECONDS"])
    start = utcnow()
    claimed, b_done, outcome = threading.Event(), threading.Event(), {}

    def worker_a():
        with app.app_context():
            deliverer = Deliverer()
            (message,) = claim(deliverer.active_targets(start), 10, start)
            claimed.set()
            b_done.wait(10)
            outcome["a"] = deliverer.deliver(message, start + lease * 3)
            db.session.remove()

    thread = threading.Thread(target=worker_a)
    thread.start()
    assert claimed.wait(10)
    assert Deliverer().run_pass(now=start + lease * 2) == 1, "B takes it over once A's lease has run out"
    b_done.set()
    thread.join(10)
    assert outcome == {"a": False}
    assert [verb for verb, _path, _data in fake_zendesk.requests] == ["POST"] and len(fake_zendesk.tickets) == 1
    db.session.expire_all()
    assert set(states()) == {MessageState.DELIVERED.value}


LOST_ANSWERS = ["drop-answer", "slow", "500-after"]  # Zendesk did the work; the portal never heard


def _echo_receipts() -> set[str]:
    return set(db.session.scalars(select(WebhookReceipt.event_id).where(WebhookReceipt.source == ECHO_SOURCE)))


@pytest.mark.parametrize("fault", LOST_ANSWERS)
def test_a_partner_comment_whose_answer_is_lost_is_posted_once(fake_zendesk, open_ticket, partner, fault):
    ticket = open_ticket()
    deliver()
    comment = conversation.add_comment(partner, ticket, "It fails on Fire TV too.")
    fake_zendesk.faults = [fault]
    now = utcnow()
    deliver(now=now)
    message = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert message.state == MessageState.PENDING.value and comment.zendesk_comment_id is None
    assert len(fake_zendesk.comments[ticket.zendesk_id]) == 2, "Zendesk applied the first attempt"
    deliver(now=now + timedelta(minutes=5))
    posted = fake_zendesk.comments[ticket.zendesk_id]
    assert len(posted) == 2 and posted[1]["body"].endswith("It fails on Fire TV too.")
    assert message.state == MessageState.DELIVERED.value and comment.zendesk_comment_id == posted[1]["id"]
    assert str(posted[1]["id"]) in _echo_receipts()
    puts = [body for method, _path, body in fake_zendesk.requests if method == "PUT"]
    assert len(puts) == 1 and puts[0]["ticket"]["metadata"] == {OUTBOX_KEY: message.idempotency_key}
    assert fake_zendesk.paths().count(f"/api/v2/tickets/{ticket.zendesk_id}/audits.json") == 1


def test_a_comment_never_applied_is_sent_on_the_retry(fake_zendesk, open_ticket, partner):
    """The lookup finds nothing when the first attempt never reached Zendesk: the comment is sent."""
    ticket = open_ticket()
    deliver()
    comment = conversation.add_comment(partner, ticket, "Still failing.")
    fake_zendesk.faults = ["drop"]
    now = utcnow()
    deliver(now=now)
    assert len(fake_zendesk.comments[ticket.zendesk_id]) == 1
    deliver(now=now + timedelta(minutes=5))
    posted = fake_zendesk.comments[ticket.zendesk_id]
    assert len(posted) == 2 and comment.zendesk_comment_id == posted[1]["id"]
    assert [method for method, _path, _body in fake_zendesk.requests] == ["POST", "GET", "PUT"]


@pytest.mark.parametrize("fault", LOST_ANSWERS)
def test_a_staff_solution_whose_answer_is_lost_is_posted_once(fake_zendesk, open_ticket, staff, fault):
    ticket = open_ticket()
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
    file_report(staff["l1"], ticket)
    workflow.resolve(staff["l1"], ticket, "Reinstalled the app.", no_kb_reason="Nothing new to document.")
    deliver()
    fake_zendesk.requests.clear()
    workflow.notify_partner(staff["admin"], ticket, "Reinstall the app from the store.")
    fake_zendesk.faults = [fault]
    now = utcnow()
    deliver(now=now)
    assert ticket.zendesk_id in fake_zendesk.audits and len(fake_zendesk.comments[ticket.zendesk_id]) == 2
    deliver(now=now + timedelta(minutes=5))
    posted = fake_zendesk.comments[ticket.zendesk_id]
    assert [event["body"] for event in posted[1:]] == ["Reinstall the app from the store."]
    assert fake_zendesk.tickets[ticket.zendesk_id]["status"] == "solved"
    assert str(posted[1]["id"]) in _echo_receipts()
    solution = db.session.scalar(select(Comment).where(Comment.ticket_id == ticket.id))
    assert solution.zendesk_comment_id == posted[1]["id"], "the portal's copy of the solution knows its Zendesk id"
    zendesk_states = select(OutboxMessage.state).where(OutboxMessage.target == "zendesk")
    assert set(db.session.scalars(zendesk_states)) == {MessageState.DELIVERED.value}
    statuses = [body["ticket"] for method, _path, body in fake_zendesk.requests if method == "PUT"]
    assert [update.get("status") for update in statuses] == [None, "solved"]


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


@dataclass
class ChaosMonday(FakeMonday):
    """The fake Monday losing the answer to a share of `create_item` requests after carrying them out
    (its "drop-answer", drawn at random for that operation only)."""

    create_item_drop_rate: float = 0.0
    seed: int = 5
    dropped: int = 0

    def __post_init__(self):
        super().__post_init__()
        self._random = random.Random(self.seed)

    def handle(self, method, path, headers, body):
        status, answer_headers, answer = super().handle(method, path, headers, body)
        operation = OPERATION.search(json.loads(body or b"{}").get("query", ""))
        if operation and operation.group(1) == "create_item" and status == 200 and b'"data"' in (answer or b""):
            with self._lock:
                drop = self._random.random() < self.create_item_drop_rate
                self.dropped += drop
            if drop:
                return 200, {}, None
        return status, answer_headers, answer


@pytest.fixture
def chaos_monday(app):
    fake = ChaosMonday(create_item_drop_rate=0.3)
    yield from serving_fake(app, fake, MONDAY_API_URL=fake.url, MONDAY_API_TOKEN=fake.token, **MONDAY_BOARD)


def _wait_until_delivered(app, workers: int, real_url: str) -> float:
    """Run `workers` delivery threads on a virtual clock until every message is delivered (or four
    minutes pass); now and then Zendesk refuses connections altogether. Returns the seconds taken."""
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
    return time.monotonic() - started


def run_chaos(app, fake_zendesk, monday, send_solution, partner, workers: int, count: int):
    """Every ticket is created, gets a partner comment and a staff solution (a comment, then the
    status), while Zendesk fails 30 % of requests (errors, 429s, refused connections, and answers
    lost after the work was done: creations and updates alike) and Monday loses the answer to 30 %
    of its item creations. Nothing may be duplicated, and everything must arrive."""
    fake_zendesk.fault_rate = 0.3
    # Tight on purpose: a slow answer times out, and Zendesk has done the work the portal never hears of.
    fake_zendesk.slow_seconds = 0.4
    app.config["OUTBOX_READ_TIMEOUT"] = 0.3
    # The lease (virtual seconds) outlasts a claimed batch: a lease that runs out while its worker is
    # still sending lets a second, live worker send the same message at the same moment.
    app.config.update(OUTBOX_RETRY_BASE_SECONDS=1.0, OUTBOX_RETRY_MAX_SECONDS=20.0, OUTBOX_LEASE_SECONDS=1800.0)
    for number in range(count):
        ticket = intake.create_ticket(
            partner,
            "technical",
            f"Chaos ticket {number}",
            "Something fails under chaos today.",
            {"service": "app", "region": "MX", "impact": "some"},
        )
        conversation.add_comment(partner, ticket, f"Partner detail {number}.")
        send_solution(ticket, f"Solution {number}: reinstall the app.")
    elapsed = _wait_until_delivered(app, workers, app.config["ZENDESK_BASE_URL"])
    db.session.expire_all()
    tickets = list(db.session.scalars(select(Ticket)))
    messages = list(db.session.scalars(select(OutboxMessage)))
    posted = [event for events in fake_zendesk.comments.values() for event in events]
    print(
        f"\nchaos ({db.engine.dialect.name}, {workers} worker(s)): {len(tickets)} tickets, "
        f"{len(fake_zendesk.tickets)} in Zendesk, {len(posted)} Zendesk comments, {len(monday.items)} Monday items; "
        f"{len(messages)} messages ({dict(Counter(m.target for m in messages))}), "
        f"{sum(m.attempts - 1 for m in messages)} retries "
        f"(Zendesk {sum(m.attempts - 1 for m in messages if m.target == 'zendesk')}, "
        f"Monday {sum(m.attempts - 1 for m in messages if m.target == 'monday')}); "
        f"Zendesk faults {dict(sorted(Counter({f'{verb} {kind}': n for (verb, kind), n in fake_zendesk.injected.items()}).items()))}, "
        f"audit lookups {sum(1 for path in fake_zendesk.paths() if path.endswith('/audits.json'))}, "
        f"Monday create_item answers dropped {monday.dropped}; {elapsed:.1f} s"
    )
    assert set(states()) == {MessageState.DELIVERED.value}, "every message delivered"
    assert len(tickets) == count
    external_ids = [remote["external_id"] for remote in fake_zendesk.tickets.values()]
    assert sorted(external_ids) == sorted(ticket.reference for ticket in tickets), "missing or duplicated tickets"
    by_reference = {remote["external_id"]: remote_id for remote_id, remote in fake_zendesk.tickets.items()}
    assert all(ticket.zendesk_id == by_reference[ticket.reference] for ticket in tickets)
    for ticket in tickets:
        number = ticket.subject.removeprefix("Chaos ticket ")
        bodies = [event["body"] for event in fake_zendesk.comments[ticket.zendesk_id]]
        expected = [
            "Something fails under chaos today.",
            f"Pablo Partner:\n\nPartner detail {number}.",
            f"Solution {number}: reinstall the app.",
        ]
        assert [bodies[0].split("\n")[0], *bodies[1:]] == expected, "each comment exactly once"
        detail = db.session.scalar(
            select(Comment).where(Comment.ticket_id == ticket.id, Comment.author_id == partner.id)
        )
        assert detail.zendesk_comment_id == fake_zendesk.comments[ticket.zendesk_id][1]["id"]
    references = Counter(
        item["values"].get(MONDAY_BOARD["MONDAY_COLUMNS"]["reference"]) for item in monday.items.values()
    )
    assert references == Counter({ticket.reference: 1 for ticket in tickets}), "one Monday item per ticket"
    assert all(monday.items[ticket.monday_item_id]["values"]["text_ref"] == ticket.reference for ticket in tickets)
    assert monday.dropped > 0 and fake_zendesk.injected["PUT", "drop-answer"] > 0


@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")), reason="the SQLite run uses one worker")
def test_chaos_sqlite_one_worker(app, fake_zendesk, chaos_monday, send_solution, partner):
    run_chaos(app, fake_zendesk, chaos_monday, send_solution, partner, workers=1, count=100)


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs PostgreSQL (TEST_DATABASE_URL)")
def test_chaos_postgresql_three_workers(app, fake_zendesk, chaos_monday, send_solution, partner):
    run_chaos(app, fake_zendesk, chaos_monday, send_solution, partner, workers=3, count=200)
