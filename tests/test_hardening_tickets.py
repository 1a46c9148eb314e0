"""Issue 9, tickets side: 64-bit Zendesk ids, the webhook bound to its own ticket, malformed webhook
fields, limits on ticket creation, comments and typing, cleaned ticket texts, length caps, error
bodies without Python's words. (The SLA screen's validation is in tests/test_sla.py, the staff
workflow's length caps in tests/test_workflow.py.)"""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from auth import services as auth_services
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations.models import MessageState, OutboxMessage, WebhookReceipt
from portal.integrations.outbox import Deliverer
from portal.integrations.zendesk import sign_webhook
from portal.tickets import conversation, intake
from portal.tickets.models import Comment, Ticket, TicketEvent
from tests.conftest import TECHNICAL, login
from tests.fakes.zendesk import FIRST_EVENT_ID

SECRET = "whsec-hardening"
WEBHOOK = "/integrations/zendesk/webhook"
BIG_COMMENT_ID = 30064117810589  # a real Zendesk comment id (see tests/fakes/zendesk.py)
PYTHON_WORDS = (
    "Expecting",
    "Traceback",
    "invalid literal",
    "object has no attribute",
    "not subscriptable",
    "NoneType",
    "Error:",
    "line 1 column",
)


@pytest.fixture
def app_config():
    return {"ZENDESK_WEBHOOK_SECRET": SECRET}


def signed(client, payload=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    timestamp = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    return client.post(
        WEBHOOK,
        data=body,
        headers={
            "X-Zendesk-Webhook-Signature": sign_webhook(SECRET, timestamp, body),
            "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
            "Content-Type": "application/json",
        },
    )


def comment_event(zendesk_id, reference, comment_id=BIG_COMMENT_ID, body="Please update to 3.2.2.", event_id="evt-1"):
    return {
        "type": "zen:event-type:ticket.comment_added",
        "id": event_id,
        "time": "2026-03-04T15:00:00Z",
        "detail": {"id": str(zendesk_id), "external_id": reference, "status": "OPEN"},
        "event": {
            "comment": {
                "id": comment_id,
                "body": body,
                "is_public": True,
                "author": {"id": 99, "name": "Zoe Zendesk", "is_staff": True},
            }
        },
    }


def status_event(zendesk_id, reference, status="SOLVED", event_id="evt-s1"):
    return {
        "type": "zen:event-type:ticket.status_changed",
        "id": event_id,
        "time": "2026-03-04T15:00:00Z",
        "detail": {"id": str(zendesk_id), "external_id": reference, "status": status},
        "event": {"current": status, "previous": "OPEN"},
    }


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def linked(open_ticket):
    """A ticket already linked to a Zendesk ticket with a 64-bit id."""
    ticket = open_ticket()
    ticket.zendesk_id = 2**40 + 7
    db.session.commit()
    return ticket


@pytest.fixture
def signed_in_partner(client, partner):
    assert login(client, partner.email).status_code == 302
    return partner


# Item 2: Zendesk ids are 64-bit ---------------------------------------------------------------


def test_partner_comment_gets_its_big_zendesk_id_and_is_posted_once(client, signed_in_partner, fake_zendesk):
    client.post("/tickets/new/technical", data=TECHNICAL)
    ticket = db.session.scalar(select(Ticket))
    assert client.post(f"/tickets/{ticket.id}/comments", data={"body": "It fails on Fire TV too."}).status_code == 302
    now = utcnow()
    Deliverer().run_pass(now=now)
    comment = db.session.scalar(select(Comment))
    assert ticket.zendesk_id > 2**32 and comment.zendesk_comment_id > FIRST_EVENT_ID
    assert comment.zendesk_comment_id == fake_zendesk.comments[ticket.zendesk_id][1]["id"]
    for minutes in (5, 60, 600):  # later passes (retries, had anything failed) post nothing again
        Deliverer().run_pass(now=now + timedelta(minutes=minutes))
    assert [method for method, _path, _body in fake_zendesk.requests] == ["POST", "PUT"]
    assert len(fake_zendesk.comments[ticket.zendesk_id]) == 2
    assert set(db.session.scalars(select(OutboxMessage.state))) == {MessageState.DELIVERED.value}
    echo = comment_event(
        ticket.zendesk_id, ticket.reference, comment.zendesk_comment_id, "Pablo Partner:\n\nIt fails on Fire TV too."
    )
    assert signed(client, echo).json["outcome"] == "echo"
    assert count(Comment) == 1


def test_ids_that_are_not_integers_are_refused_without_posting_twice(fake_zendesk, open_ticket, partner):
    ticket = open_ticket()
    fake_zendesk.faults = ["junk-ids"]
    now = utcnow()
    Deliverer().run_pass(now=now)
    creation = db.session.scalar(select(OutboxMessage))
    assert creation.state == "dead" and "without a valid ticket id" in creation.last_error and ticket.zendesk_id is None
    creation.state = MessageState.PENDING.value  # as an administrator's retry does
    db.session.commit()
    Deliverer().run_pass(now=now)
    assert ticket.zendesk_id in fake_zendesk.tickets and len(fake_zendesk.tickets) == 1, (
        "the retry found the same ticket"
    )
    conversation.add_comment(partner, ticket, "One more detail")
    fake_zendesk.faults = ["junk-ids"]
    for minutes in (1, 10):
        Deliverer().run_pass(now=now + timedelta(minutes=minutes))
    assert [method for method, _path, _body in fake_zendesk.requests] == ["POST", "POST", "PUT"]
    assert db.session.scalar(select(Comment.zendesk_comment_id)) is None
    assert set(db.session.scalars(select(OutboxMessage.state))) == {MessageState.DELIVERED.value}


def test_webhook_comment_with_a_64_bit_id_is_stored_and_its_echo_recognised(client, linked):
    response = signed(client, comment_event(linked.zendesk_id, linked.reference))
    assert response.status_code == 200 and response.json["outcome"] == "comment:public"
    stored = db.session.scalar(select(Comment))
    assert stored.zendesk_comment_id == BIG_COMMENT_ID and stored.ticket_id == linked.id
    again = signed(client, comment_event(linked.zendesk_id, linked.reference, event_id="evt-2"))
    assert again.status_code == 200 and again.json["outcome"] == "echo"
    assert count(Comment) == 1


@pytest.mark.parametrize(
    "value,expected",
    [
        (BIG_COMMENT_ID, BIG_COMMENT_ID),
        (str(BIG_COMMENT_ID), BIG_COMMENT_ID),
        (2**63 - 1, 2**63 - 1),
        (2**63, None),
        ("9" * 40, None),
        (0, None),
        (-5, None),
        (1.0, None),
        (True, None),
        (None, None),
        ([1], None),
        ("12a", None),
        ("١٢", None),
        ("", None),
    ],
)
def test_zendesk_ids_are_positive_64_bit_integers(value, expected):
    from portal.integrations.zendesk import parse_id

    assert parse_id(value) == expected


# Item 7: the webhook applies an event only to its own ticket ----------------------------------------


@pytest.fixture
def two_partners(open_ticket, partner, make_user):
    """Partner A's ticket and partner B's (another organization), both linked to Zendesk."""
    ticket_a = open_ticket()
    other = make_user("partner", email="bea@b.test", organization=auth_services.create_organization(None, "Org B"))
    ticket_b = open_ticket(user=other, subject="Partner B's own problem")
    ticket_a.zendesk_id, ticket_b.zendesk_id = 35436, 35437
    db.session.commit()
    return ticket_a, ticket_b


@pytest.mark.parametrize("zendesk_id", [5555, 35436])
def test_event_naming_another_ticket_is_ignored_and_logged(client, two_partners, caplog, zendesk_id):
    _ticket_a, ticket_b = two_partners
    with caplog.at_level(logging.WARNING, logger="portal.zendesk"):
        comment = signed(client, comment_event(zendesk_id, ticket_b.reference, body="Injected into B"))
        status = signed(client, status_event(zendesk_id, ticket_b.reference))
    for response in (comment, status):
        assert response.status_code == 200 and response.json["status"] == "ignored"
    assert count(Comment) == 0 and count(WebhookReceipt) == 0
    assert ticket_b.status == "new" and _ticket_a.status == "new"
    assert sum("ignored" in record.getMessage() for record in caplog.records if record.levelno == logging.WARNING) == 2


def test_event_is_applied_to_the_ticket_of_its_zendesk_id(client, two_partners):
    ticket_a, ticket_b = two_partners
    assert signed(client, comment_event(35437, ticket_b.reference, body="For B")).json["outcome"] == "comment:public"
    no_reference = status_event(35436, None)
    assert signed(client, no_reference).json["outcome"] == "status:awaiting_confirmation"
    assert db.session.scalar(select(Comment.ticket_id)) == ticket_b.id
    assert ticket_a.status == "awaiting_confirmation" and ticket_b.status == "new"


def test_found_by_reference_only_while_not_linked(client, open_ticket):
    fresh = open_ticket()
    assert signed(client, status_event(88001, fresh.reference)).json["outcome"] == "status:awaiting_confirmation"
    assert fresh.zendesk_id == 88001
    taken = signed(client, comment_event(88002, fresh.reference, event_id="evt-other"))
    assert taken.json["status"] == "ignored" and fresh.zendesk_id == 88001 and count(Comment) == 0
    unknown = signed(client, comment_event(88003, None, event_id="evt-unknown"))
    # A Zendesk ticket the portal does not know, without an external_id, was born in Zendesk (200).
    assert unknown.status_code == 200 and unknown.json["outcome"] == "unmatched" and count(Comment) == 0


def test_a_duplicate_arriving_while_the_first_is_applied_is_a_replay(app, client, linked):
    """The receipt of the same event is committed by another delivery between this delivery's
    replay check and its own insert: answered as a replay, nothing stored twice."""
    payload = comment_event(linked.zendesk_id, linked.reference, event_id="evt-race")

    def other_delivery_commits(conn, cursor, statement, parameters, context, executemany):
        if "FROM webhook_receipts" in statement and not getattr(other_delivery_commits, "done", False):
            other_delivery_commits.done = True
            with db.engine.connect() as other:
                other.execute(
                    WebhookReceipt.__table__.insert().values(
                        source="zendesk", event_id="evt-race", received_at=utcnow()
                    )
                )
                other.commit()

    sa.event.listen(db.engine, "after_cursor_execute", other_delivery_commits)
    try:
        response = signed(client, payload)
    finally:
        sa.event.remove(db.engine, "after_cursor_execute", other_delivery_commits)
    assert response.status_code == 200 and response.json["status"] == "replay"
    assert count(Comment) == 0 and count(WebhookReceipt) == 1


def test_simultaneous_duplicate_deliveries_store_one_comment(app, linked):
    """Zendesk may deliver one event twice at once: both answers are 2xx, one comment is stored."""
    payloads = [
        comment_event(linked.zendesk_id, linked.reference, comment_id=BIG_COMMENT_ID + n, event_id=f"evt-{n}")
        for n in range(8)
    ]
    answers = []

    def deliver(barrier):
        with app.app_context():
            client = app.test_client()
            for payload in payloads:
                barrier.wait()
                answers.append(signed(client, payload))
            db.session.remove()

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=deliver, args=(barrier,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.session.expire_all()
    assert sorted(answer.status_code for answer in answers) == [200] * 16
    assert sorted(answer.json.get("outcome", answer.json.get("status")) for answer in answers) == (
        ["comment:public"] * 8 + ["replay"] * 8
    )
    assert count(Comment) == 8


# Item 4: malformed webhook fields ------------------------------------------------------------------


def with_comment(**fields):
    def change(payload):
        payload["event"]["comment"].update(fields)

    return change


def with_detail(**fields):
    def change(payload):
        payload["detail"].update(fields)

    return change


def with_top(**fields):
    def change(payload):
        payload.update(fields)

    return change


MALFORMED = {
    "comment.id null": with_comment(id=None),
    "comment.id list": with_comment(id=[BIG_COMMENT_ID]),
    "comment.id string": with_comment(id="seven"),
    "comment.id float": with_comment(id=30064117810589.5),
    "comment.id past 64 bits": with_comment(id=2**64 + 1),
    "comment.id negative": with_comment(id=-1),
    "comment.id true": with_comment(id=True),
    "comment.body number": with_comment(body=12),
    "comment.body list": with_comment(body=["x"]),
    "comment missing": lambda payload: payload["event"].pop("comment"),
    "detail.id junk": with_detail(id="35436; DROP TABLE"),
    "detail.id null": with_detail(id=None),
    "detail.id exponent": with_detail(id="3e4"),
    "detail.id huge": with_detail(id="9" * 30),
    "detail.external_id object": with_detail(external_id={"a": 1}),
    "detail.external_id NUL": with_detail(external_id="EDY-000001\x00"),
    "id NUL": with_top(id="evt\x00"),
    "id too long": with_top(id="e" * 121),
    "id object": with_top(id={"x": 1}),
    "type NUL": with_top(type="zen:event-type:ticket.comment_added\x00"),
    "detail list": with_top(detail=[]),
    "lone surrogate in id": with_top(id="evt-\ud800"),
    "lone surrogate in body": with_comment(body="Hola \udfff"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_fields_are_a_clear_400_and_change_nothing(client, linked, case):
    payload = comment_event(linked.zendesk_id, linked.reference)
    MALFORMED[case](payload)
    response = signed(client, payload)
    assert response.status_code == 400 and response.is_json
    assert response.json["error"].startswith("malformed event: ")
    assert not any(word in response.json["error"] for word in PYTHON_WORDS)
    assert count(Comment) == 0 and count(WebhookReceipt) == 0


def test_status_that_is_no_name_is_malformed(client, linked):
    for current in (None, ["SOLVED"], "SOL\x00VED", "S" * 61):
        payload = status_event(linked.zendesk_id, linked.reference)
        payload["event"]["current"] = current
        assert signed(client, payload).status_code == 400
    assert linked.status == "new" and count(TicketEvent) == 1


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000, b"1" * 5000, b"null"])
def test_bodies_that_are_not_events_are_a_400_without_python_words(client, linked, raw):
    response = signed(client, raw=raw)
    assert response.status_code == 400 and response.is_json
    assert not any(word in response.json["error"] for word in PYTHON_WORDS)


def test_control_characters_in_a_comment_are_dropped_not_refused(client, linked):
    payload = comment_event(linked.zendesk_id, linked.reference, body="Reinstall\x00 the app\x1b now")
    payload["event"]["comment"]["author"]["name"] = "Zoe\x00 " + "Z" * 300
    assert signed(client, payload).status_code == 200
    stored = db.session.scalar(select(Comment))
    assert (
        stored.body == "Reinstall the app now"
        and stored.author_name.startswith("Zoe ")
        and len(stored.author_name) == 200
    )


def test_webhook_body_too_large_is_json(app, client, linked):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = signed(client, comment_event(linked.zendesk_id, linked.reference, body="x" * 2000))
    assert response.status_code == 413 and response.is_json and "larger" in response.json["error"]


@pytest.mark.parametrize(
    "name",
    [
        "meta",
        "validate",
        "data",
        "__class__",
        "populate_obj",
        "process",
        "errors",
        "csrf_token",
        "deflection_token",
        "_fields",
        "nonexistent",
    ],
)
def test_only_real_form_fields_can_be_checked(client, signed_in_partner, name):
    for kind in ("technical", "marketing_business"):
        assert client.post(f"/tickets/new/{kind}/check/{name}", data={name: "x"}).status_code == 404


def test_deflect_with_an_id_out_of_range_is_refused(client, signed_in_partner):
    for article_id in ("99999999999999999999", "-1", "abc", ""):
        response = client.post("/tickets/deflect", data={"deflection_token": "t", "article_id": article_id})
        assert response.status_code == 422


# Item 5: limits on ticket creation, comments and typing are in tests/test_tickets.py (TestLimits).


# Item 14: ticket texts are cleaned before they are measured -------------------------------------------


def test_invisible_subject_is_missing_and_bidi_overrides_are_removed(client, signed_in_partner):
    blank = client.post("/tickets/new/technical", data={**TECHNICAL, "subject": "  \u200b\u200d\u2060\ufeff  "})
    assert blank.status_code == 422 and "Este campo es obligatorio" in blank.get_data(as_text=True)
    padded = client.post("/tickets/new/technical", data={**TECHNICAL, "subject": "   abcd\u200b   "})
    assert padded.status_code == 422 and "entre 5 y 200" in padded.get_data(as_text=True)
    assert count(Ticket) == 0
    sent = client.post(
        "/tickets/new/technical",
        data={
            **TECHNICAL,
            "subject": "  Invoice \u202eexe.pdf\u202c fails\x1b ",
            "description": "\n\n  " + TECHNICAL["description"] + "\x07 \n",
            "service": " \u2066EDYE app\u2069 ",
        },
    )
    assert sent.status_code == 302
    ticket = db.session.scalar(select(Ticket))
    assert ticket.subject == "Invoice exe.pdf fails" and ticket.description == TECHNICAL["description"]
    assert ticket.details["service"] == "EDYE app"


def test_services_clean_and_cap_what_they_are_given(partner, open_ticket):
    ticket = intake.create_ticket(partner, "technical", "\u202eSpoofed subject\u202c", "x" * 30, {"service": "a\x00b"})
    assert ticket.subject == "Spoofed subject" and ticket.details == {"service": "ab"}
    with pytest.raises(InvalidInput) as refused:
        intake.create_ticket(partner, "technical", "s" * 201, "x" * 30, {})
    assert refused.value.field == "subject"
    with pytest.raises(InvalidInput):
        conversation.add_comment(partner, ticket, "y" * 20_001)
    assert count(Ticket) == 1 and count(Comment) == 0


# Item 15: staff input validated (the SLA screen: tests/test_sla.py; the staff workflow's length caps:
# tests/test_workflow.py) -----------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, login_as):
    # English: the new messages are checked by their msgid, translated or not yet.
    login_as("ticket_admin", language="en")
    return client


def test_confirmation_reason_has_a_cap(client, signed_in_partner, open_ticket, send_solution):
    ticket = open_ticket()
    send_solution(ticket, "Reinstall the app.")
    response = client.post(f"/tickets/{ticket.id}/confirm", data={"answer": "no", "reason": "r" * 5_001})
    assert response.status_code == 422 and ticket.status == "awaiting_confirmation"


# Item 17: no Python words in error bodies; staff see delivery errors escaped ------------------------------


def test_integrations_screen_escapes_delivery_errors(admin_client, open_ticket):
    open_ticket()
    message = db.session.scalar(select(OutboxMessage))
    message.state, message.last_error = "dead", '422 RecordInvalid <script>alert("x")</script>'
    db.session.commit()
    page = admin_client.get("/admin/integrations").get_data(as_text=True)
    assert "&lt;script&gt;alert(" in page and '<script>alert("x")' not in page
    assert admin_client.post(f"/admin/integrations/messages/{message.id}/discard").status_code == 302
    again = admin_client.post(f"/admin/integrations/messages/{message.id}/retry")
    assert again.status_code == 409 and "Only dead letters can be sent again" in again.get_data(as_text=True)


def test_admin_user_filter_with_an_organization_id_out_of_range(admin_client):
    for value in ("99999999999999999999", "-1", "1e3", "\uff11"):
        assert admin_client.get("/admin/users", query_string={"organization_id": value}).status_code == 200


def test_admin_searches_longer_than_any_name_find_nothing(admin_client):
    for url in ("/admin/users", "/admin/organizations"):
        response = admin_client.get(url, query_string={"q": "y" * 60_000})
        assert response.status_code == 200
