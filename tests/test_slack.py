"""Slack as it really is: texts escaped once, blocks within 3,000 characters (cut with a link to the
ticket), one message per second per webhook across workers, and 429 + Retry-After retried."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from itertools import pairwise

import pytest
import requests
from sqlalchemy import select

from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations import outbox, slack
from portal.integrations.http import RateLimited, Rejected
from portal.integrations.models import MessageState, OutboxMessage, Target
from portal.integrations.outbox import Deliverer
from portal.integrations.pacing import SendSlot, destination_key
from portal.reports import texts
from portal.tickets import outbound
from portal.tickets.models import Ticket

PORTAL = "https://support.example.test/"
HX = {"HX-Request": "true"}
# Between two messages at one a second: a generous floor, so a busy machine never fails the test.
SPACING_FLOOR = 0.8


SLACK_INTERVAL = 1.0  # Slack's documented pace for an incoming webhook


def delivered_slack() -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.target == Target.SLACK.value, OutboxMessage.state == MessageState.DELIVERED.value
            )
        )
    )


def section_text(message: dict) -> str:
    return message["blocks"][0]["text"]["text"]


def gaps(fake) -> list[float]:
    times = sorted(moment for moment, status in fake.received if status == 200)
    return [later - earlier for earlier, later in pairwise(times)]


def test_a_subject_with_channel_and_ampersand_arrives_escaped_once_with_a_working_link(
    app, client, partner, matrix, fake_slack
):
    app.config["PORTAL_URL"] = PORTAL
    from tests.conftest import login

    login(client, partner.email)
    form = {
        "subject": "Launch <!channel> & promo",
        "description": "We need the key art for the launch & the promo <b>now</b>.",
        "topic": "Co-marketing",
        "desired_date": "2026-12-10",
    }
    assert client.post("/tickets/new/marketing_business", data=form).status_code == 302
    ticket = db.session.scalar(select(Ticket))
    assert Deliverer().run_pass() >= 1
    [message] = fake_slack.messages  # the business area hears of it on arrival (§8)
    for text in (message["text"], section_text(message)):
        assert "Launch &lt;!channel&gt; &amp; promo" in text
        assert "<!channel>" not in text and "&amp;lt;" not in text and "&amp;amp;" not in text
        assert f"{PORTAL.rstrip('/')}/staff/tickets/{ticket.id}" in text, "the portal's own link, intact"
    assert section_text(message).startswith(f"*{ticket.reference}* ")


def test_the_one_escape_serves_reports_and_tickets(app):
    written = "Ana & Bob <!here> &amp;"
    assert texts.for_slack(written) == slack.escape(written) == "Ana &amp; Bob &lt;!here&gt; &amp;amp;"
    assert slack.message(written)["text"] == slack.escape(written)
    long_report = "• Org & Co · técnico: 3 of 4 on time (75 %)\n" * 400
    cut = texts.for_slack(long_report)
    assert len(cut) <= slack.TEXT_MAX and cut.endswith("…") and not cut[:-1].rstrip().endswith("&amp")


def test_a_10000_character_text_is_cut_under_3000_with_the_link(app, open_ticket, fake_slack):
    app.config["PORTAL_URL"] = PORTAL
    ticket = open_ticket()
    description = ("The partner explains at length & in detail <why>. " * 250)[:10_000]
    outbound.to_slack(ticket, description, "long")
    db.session.commit()
    assert Deliverer().run_pass() == 1
    [message] = fake_slack.messages
    link = f"<{PORTAL.rstrip('/')}/staff/tickets/{ticket.id}|{ticket.reference}>"
    block = section_text(message)
    assert len(block) <= slack.SECTION_TEXT_MAX and block.endswith(f"… {link}")
    assert len(message["text"]) <= slack.TEXT_MAX and message["text"].endswith(f"… {link}")
    before_ellipsis = block[: -len(f"… {link}")]
    assert not before_ellipsis.endswith(("&", "&a", "&am", "&amp", "&l", "&lt", "&g", "&gt")), "no half entity"


def test_without_portal_url_a_long_text_is_just_cut(app, open_ticket, fake_slack):
    ticket = open_ticket()
    outbound.to_slack(ticket, "x" * 10_000, "long")
    db.session.commit()
    assert Deliverer().run_pass() == 1
    block = section_text(fake_slack.messages[0])
    assert len(block) == slack.SECTION_TEXT_MAX and block.endswith("x…")


def test_a_long_escalation_note_reaches_slack_cut(app, clients, staff, open_ticket, fake_slack):
    app.config["PORTAL_URL"] = PORTAL
    ticket = open_ticket()
    ticket.status, ticket.tier = "cannot_resolve", 2
    db.session.commit()
    note = "Tom & Jerry <break> the player. " * 156  # 5,000 characters; escaped, far more
    response = clients["admin"].post(f"/staff/tickets/{ticket.id}/escalate", data={"note": note[:5000]}, headers=HX)
    assert response.status_code == 200 and ticket.status == "escalated_l3"
    Deliverer().run_pass()
    assert [m.kind for m in delivered_slack()] == ["notify"]
    block = section_text(fake_slack.messages[0])
    assert len(block) <= slack.SECTION_TEXT_MAX and "Tom &amp; Jerry &lt;break&gt;" in block
    assert block.endswith(f"|{ticket.reference}>")


def test_the_fake_refuses_what_slack_refuses(app, fake_slack):
    client = slack.SlackClient(fake_slack.url)
    with pytest.raises(Rejected, match="invalid_blocks"):
        client.post("uncut", [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3_001}}])
    client.post("fits", [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3_000}}])
    answers = [
        requests.post(fake_slack.url, data=b"not json", timeout=5),
        requests.post(fake_slack.url, json=["a", "list"], timeout=5),
        requests.post(fake_slack.url, json={"text": 42}, timeout=5),
        requests.post(fake_slack.url, json={"text": ""}, timeout=5),
        requests.post(fake_slack.url, json={"text": "x", "attachments": [{}] * 101}, timeout=5),
    ]
    assert [(a.status_code, a.text) for a in answers] == [
        (400, "invalid_payload"),
        (400, "invalid_payload"),
        (400, "invalid_payload"),
        (400, "no_text"),
        (400, "too_many_attachments"),
    ]
    assert [section_text(m) for m in fake_slack.messages] == ["x" * 3_000]


def test_the_fake_answers_429_to_messages_faster_than_its_limit(app, fake_slack):
    app.config["SLACK_MESSAGE_INTERVAL_SECONDS"] = 0  # no pacing: Slack's limit shows
    fake_slack.per_second = 1.0
    client = slack.SlackClient(fake_slack.url)
    refused = 0
    for number in range(4):
        try:
            client.post(f"message {number}")
        except RateLimited:
            refused += 1
    assert refused >= 1 and [status for _, status in fake_slack.received].count(429) == refused


def test_two_workers_take_turns_at_one_message_a_second(app, fake_slack):
    app.config["SLACK_MESSAGE_INTERVAL_SECONDS"] = SLACK_INTERVAL
    """Two workers, each with its own client, post at once: the shared slot spaces them out."""
    fake_slack.per_second = 1.0
    errors = []

    def worker(name):
        with app.app_context():
            client = slack.SlackClient(fake_slack.url)
            try:
                for number in range(3):
                    client.post(f"{name} {number}")
            except Exception as error:  # collected: an assertion below names it
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [status for _, status in fake_slack.received] == [200] * 6, "no 429 from a webhook at one a second"
    assert all(gap >= SPACING_FLOOR for gap in gaps(fake_slack)), gaps(fake_slack)
    slot = db.session.get(SendSlot, destination_key(fake_slack.url))
    assert slot is not None and fake_slack.url not in slot.destination, "the webhook's address is not stored"


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="two outbox workers need PostgreSQL")
def test_two_outbox_workers_deliver_slack_at_one_message_a_second(app, fake_slack):
    app.config["SLACK_MESSAGE_INTERVAL_SECONDS"] = SLACK_INTERVAL
    fake_slack.per_second = 1.0
    for number in range(5):
        outbox.enqueue(Target.SLACK, "notify", slack.message(f"Message {number} & more"), f"test:pacing:{number}")
    db.session.commit()
    done = threading.Event()

    def work():
        with app.app_context():
            deliverer = Deliverer()
            while not done.is_set():
                deliverer.run_pass(batch=1)  # one at a time, so both workers hold Slack messages
                db.session.remove()
                time.sleep(0.01)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(fake_slack.messages) < 5:
            time.sleep(0.1)
    finally:
        done.set()
        for thread in threads:
            thread.join()
    db.session.expire_all()
    assert sorted(m["text"] for m in fake_slack.messages) == [f"Message {n} &amp; more" for n in range(5)]
    assert 429 not in [status for _, status in fake_slack.received]
    assert all(gap >= SPACING_FLOOR for gap in gaps(fake_slack)), gaps(fake_slack)
    assert len(delivered_slack()) == 5


def test_429_with_retry_after_is_retried_and_holds_back_every_worker(app, open_ticket, fake_slack):
    app.config["SLACK_MESSAGE_INTERVAL_SECONDS"] = SLACK_INTERVAL
    fake_slack.faults, fake_slack.retry_after = ["429"], "1"
    ticket = open_ticket()
    outbound.to_slack(ticket, "Reassigned to level 2.", "retry")
    db.session.commit()
    now = utcnow()
    assert Deliverer().run_pass(now=now) == 0
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.target == Target.SLACK.value))
    assert message.state == "pending" and "429" in message.last_error
    assert abs((message.next_attempt_at - now).total_seconds() - 1) < 0.5
    held_until = db.session.get(SendSlot, destination_key(fake_slack.url)).next_at
    assert held_until >= now + timedelta(seconds=0.9), "the shared slot waits for Retry-After"
    # Another worker (a Deliverer that never saw the 429) still waits for the webhook's turn.
    assert Deliverer().run_pass(now=now + timedelta(seconds=2)) == 1
    assert message.state == "delivered"
    [(refused_at, _), (accepted_at, status)] = fake_slack.received
    assert status == 200 and accepted_at - refused_at >= SPACING_FLOOR
