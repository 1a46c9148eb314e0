"""The Zendesk webhook: signed ticket events applied once; forgeries, stale and replayed events refused."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations.zendesk import sign_webhook
from portal.tickets import conversation
from portal.tickets.models import Comment, TicketEvent
from tests.conftest import login

SECRET = "whsec-test"
URL = "/integrations/zendesk/webhook"


@pytest.fixture
def app_config():
    return {"ZENDESK_WEBHOOK_SECRET": SECRET}


def stamp(moment=None) -> str:
    return (moment or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")


def post(client, payload, secret=SECRET, timestamp=None, raw=None, signature=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    timestamp = timestamp or stamp()
    headers = {
        "X-Zendesk-Webhook-Signature": signature or sign_webhook(secret, timestamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        "Content-Type": "application/json",
    }
    return client.post(URL, data=body, headers=headers)


def status_event(ticket, status="SOLVED", event_id="evt-1", previous=None):
    """A status change; by default from "OPEN", or to "OPEN" from "SOLVED" (Zendesk reopening)."""
    previous = previous or ("SOLVED" if status.upper() == "OPEN" else "OPEN")
    return {
        "type": "zen:event-type:ticket.status_changed",
        "id": event_id,
        "time": stamp(),
        "subject": f"zen:ticket:{ticket.zendesk_id or 0}",
        "account_id": 1,
        "detail": {"id": str(ticket.zendesk_id or ""), "external_id": ticket.reference, "status": status},
        "event": {"current": status, "previous": previous},
    }


def comment_event(ticket, body, public=True, comment_id=7001, event_id="evt-c1", is_staff=True, author="Zoe Zendesk"):
    return {
        "type": "zen:event-type:ticket.comment_added",
        "id": event_id,
        "time": stamp(),
        "subject": f"zen:ticket:{ticket.zendesk_id}",
        "detail": {"id": str(ticket.zendesk_id), "external_id": ticket.reference, "status": "OPEN"},
        "event": {
            "comment": {
                "id": comment_id,
                "body": body,
                "is_public": public,
                "author": {"id": 99, "name": author, "is_staff": is_staff},
            }
        },
    }


@pytest.fixture
def ticket(open_ticket):
    created = open_ticket()
    created.zendesk_id = 35436
    db.session.commit()
    return created


def test_status_solved_asks_the_partner_to_confirm_once(client, ticket):
    response = post(client, status_event(ticket))
    assert response.status_code == 200 and response.json["outcome"] == "status:awaiting_confirmation"
    assert ticket.status == "awaiting_confirmation" and ticket.awaiting_since is not None
    replay = post(client, status_event(ticket))
    # 2xx: Zendesk retries a 409 and counts errors towards its circuit breaker; a replay is no error.
    assert replay.status_code == 200 and replay.json["status"] == "replay"
    assert db.session.scalar(select(func.count(TicketEvent.id)).where(TicketEvent.kind == "zendesk_solved")) == 1


def test_found_by_external_id_when_zendesk_id_unknown(client, open_ticket):
    fresh = open_ticket()
    payload = status_event(fresh)
    payload["detail"]["id"] = "88001"
    assert post(client, payload).status_code == 200
    assert fresh.zendesk_id == 88001 and fresh.status == "awaiting_confirmation"


def test_public_agent_comment_reaches_the_partner_private_never(client, ticket, partner):
    assert post(client, comment_event(ticket, "Please update the app to 3.2.2.")).status_code == 200
    assert (
        post(
            client, comment_event(ticket, "internal: blame the CDN", public=False, comment_id=7002, event_id="evt-c2")
        ).status_code
        == 200
    )
    login(client, partner.email)
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "Please update the app to 3.2.2." in page and "Zoe Zendesk" in page
    assert "blame the CDN" not in page
    assert db.session.scalar(select(Comment.public).where(Comment.zendesk_comment_id == 7002)) is False


def test_echo_of_the_portal_own_comment_is_not_duplicated(client, fake_zendesk, open_ticket, partner):
    from portal.integrations.outbox import Deliverer

    created = open_ticket()
    conversation.add_comment(partner, created, "from the portal")
    Deliverer().run_pass()
    echo_id = fake_zendesk.comments[created.zendesk_id][1]["id"]
    response = post(client, comment_event(created, "Pablo Partner:\n\nfrom the portal", comment_id=echo_id))
    assert response.json["outcome"] == "echo"
    description_id = fake_zendesk.comments[created.zendesk_id][0]["id"]
    assert (
        post(client, comment_event(created, "desc", comment_id=description_id, event_id="e2")).json["outcome"] == "echo"
    )
    assert db.session.scalar(select(func.count(Comment.id))) == 1


@pytest.mark.parametrize("case", ["wrong secret", "tampered body", "no signature", "stale", "future", "bad timestamp"])
def test_forged_or_stale_requests_change_nothing(client, ticket, case):
    payload = status_event(ticket)
    body = json.dumps(payload).encode()
    if case == "wrong secret":
        response = post(client, payload, secret="not-the-secret")
    elif case == "tampered body":
        timestamp = stamp()
        signature = sign_webhook(SECRET, timestamp, body)
        response = post(client, None, raw=body.replace(b"SOLVED", b"CLOSED"), timestamp=timestamp, signature=signature)
    elif case == "no signature":
        response = client.post(URL, data=body, headers={"Content-Type": "application/json"})
    elif case == "stale":
        response = post(client, payload, timestamp=stamp(utcnow() - timedelta(minutes=6)))
    elif case == "future":
        response = post(client, payload, timestamp=stamp(utcnow() + timedelta(minutes=6)))
    else:
        response = post(client, payload, timestamp="yesterday")
    assert response.status_code == 401
    assert ticket.status == "new"


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[]",
        b'{"type": "x"}',
        json.dumps(
            {
                "type": "zen:event-type:ticket.comment_added",
                "id": "e9",
                "detail": {"id": "35436"},
                "event": {"comment": {}},
            }
        ).encode(),
    ],
)
def test_malformed_bodies_are_400(client, ticket, raw):
    assert post(client, None, raw=raw).status_code == 400
    assert ticket.status == "new" and db.session.scalar(select(func.count(Comment.id))) == 0


def test_unknown_ticket_is_404_and_other_events_are_ignored(client, ticket):
    payload = status_event(ticket)
    payload["detail"] = {"id": "999999", "external_id": "EDY-999999"}
    assert post(client, payload).status_code == 404
    other = status_event(ticket, event_id="evt-prio")
    other["type"] = "zen:event-type:ticket.priority_changed"
    response = post(client, other)
    assert response.status_code == 200 and response.json["outcome"] == "ignored" and ticket.status == "new"


class TestWithCsrf:
    @pytest.fixture
    def app_config(self):
        return {"ZENDESK_WEBHOOK_SECRET": SECRET, "WTF_CSRF_ENABLED": True}

    def test_webhook_needs_no_csrf_but_other_posts_do(self, client, ticket):
        assert post(client, status_event(ticket)).status_code == 200
        assert client.post(f"/tickets/{ticket.id}/comments", data={"body": "x"}).status_code == 400
