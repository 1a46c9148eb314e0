"""The Zendesk webhook: signed ticket events applied once; forgeries, stale and replayed events refused."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy import update as sa_update

from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations.models import OutboxMessage
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


def test_what_the_portal_ignores_is_200_with_the_reason(client, ticket):
    """Zendesk retries errors and its circuit breaker pauses a failing webhook: refusals are 2xx."""
    foreign = status_event(ticket, event_id="evt-foreign")
    foreign["detail"] = {"id": "999999", "external_id": "EDY-999999"}
    other = status_event(ticket, event_id="evt-prio")
    other["type"] = "zen:event-type:ticket.priority_changed"
    answers = [post(client, foreign), post(client, other), post(client, status_event(ticket, event_id="evt-prio"))]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert answers[0].json == {
        "status": "ignored",
        "outcome": "ignored",
        "reason": "no portal ticket has this external_id",
    }
    assert answers[1].json["status"] == "ignored" and "ticket.priority_changed" in answers[1].json["reason"]
    assert ticket.status == "awaiting_confirmation"  # an ignored event id stays free for a real event
    assert post(client, status_event(ticket, event_id="evt-prio")).json == {
        "status": "replay",
        "outcome": "replay",
        "reason": "event already applied",
    }


def test_a_trigger_webhook_body_is_refused_as_unsupported(client, ticket):
    """A webhook connected to a trigger sends the JSON its trigger spells: 400, saying so."""
    response = post(client, {"ticket_id": "35436", "status": "solved"})
    assert response.status_code == 400 and "triggers or automations are not supported" in response.json["error"]
    assert ticket.status == "new"


def test_requester_comment_does_not_stop_the_sla_clock_staff_comment_does(client, ticket):
    requester = comment_event(ticket, "Any news?", comment_id=7101, event_id="evt-r", is_staff=False, author="Pablo")
    assert post(client, requester).json["outcome"] == "comment:public"
    assert ticket.first_response_at is None and ticket.sla_state == "on_track"
    private = comment_event(ticket, "internal", public=False, comment_id=7102, event_id="evt-p")
    assert post(client, private).json["outcome"] == "comment:private" and ticket.first_response_at is None
    assert post(client, comment_event(ticket, "Looking into it.", comment_id=7103, event_id="evt-s")).status_code == 200
    assert ticket.first_response_at is not None and ticket.sla_state == "met"


class TestEchoByAuthor:
    INTEGRATION_USER = 4200000000001

    @pytest.fixture
    def app_config(self):
        return {"ZENDESK_WEBHOOK_SECRET": SECRET, "ZENDESK_INTEGRATION_USER_ID": str(self.INTEGRATION_USER)}

    def test_webhook_before_the_worker_commits_shows_the_comment_once(self, client, fake_zendesk, open_ticket, partner):
        """Zendesk holds the partner's comment and calls the webhook before the worker has committed
        the id it answered with (here: the answer is lost, so the worker commits on its retry). The
        update's actor is the integration user, so the event is the portal's own: one comment."""
        from portal.integrations.outbox import Deliverer

        created = open_ticket()
        Deliverer().run_pass()
        conversation.add_comment(partner, created, "from the portal")
        fake_zendesk.faults.append("500-after")  # done in Zendesk, its answer lost
        Deliverer().run_pass()
        posted = fake_zendesk.comments[created.zendesk_id][-1]["id"]
        assert db.session.scalar(select(Comment.zendesk_comment_id)) is None  # the portal does not know it yet
        event = comment_event(created, "Pablo Partner:\n\nfrom the portal", comment_id=posted, event_id="e-race")
        event["detail"]["actor_id"] = str(self.INTEGRATION_USER)
        event["event"]["comment"]["author"] = {"id": 1234567890123, "name": "Pablo Partner", "is_staff": False}
        answer = post(client, event)
        assert answer.status_code == 200 and answer.json["outcome"] == "echo"
        assert db.session.scalar(select(func.count(Comment.id))) == 1
        db.session.execute(sa_update(OutboxMessage).values(next_attempt_at=utcnow()))
        db.session.commit()
        Deliverer().run_pass()  # the worker's commit, after the webhook
        assert db.session.scalar(select(func.count(Comment.id))) == 1
        assert db.session.scalar(select(Comment.zendesk_comment_id)) is not None
        assert created.status == "new"
        staff_reply = comment_event(created, "Posted by the API user", comment_id=7301, event_id="e-staff")
        staff_reply["event"]["comment"]["author"]["id"] = self.INTEGRATION_USER
        assert post(client, staff_reply).json["status"] == "ignored"
        assert db.session.scalar(select(func.count(Comment.id))) == 1 and created.first_response_at is None


def test_a_real_sized_comment_id_is_stored_and_shown_once(client, ticket, partner):
    event = comment_event(ticket, "Fixed in 3.2.2.", comment_id=30064117810589, event_id="evt-big")
    assert post(client, event).status_code == 200
    assert post(client, {**event, "id": "evt-big-again"}).json["outcome"] == "echo"
    assert db.session.scalar(select(Comment.zendesk_comment_id)) == 30064117810589
    login(client, partner.email)
    assert client.get(f"/tickets/{ticket.id}").get_data(as_text=True).count("Fixed in 3.2.2.") == 1


class TestWithCsrf:
    @pytest.fixture
    def app_config(self):
        return {"ZENDESK_WEBHOOK_SECRET": SECRET, "WTF_CSRF_ENABLED": True}

    def test_webhook_needs_no_csrf_but_other_posts_do(self, client, ticket):
        assert post(client, status_event(ticket)).status_code == 200
        assert client.post(f"/tickets/{ticket.id}/comments", data={"body": "x"}).status_code == 400
