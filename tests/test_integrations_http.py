"""One reading of another system's HTTP answer (`portal.integrations.http.check_status`): every client
turns 429, 5xx and other 4xx into the same typed errors, keeps its own quirks, and only a rate limit
pauses its target in the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from requests.structures import CaseInsensitiveDict
from sqlalchemy import select

from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations.http import NotFound, RateLimited, Rejected, RetryLater, check_status
from portal.integrations.models import OutboxMessage
from portal.integrations.monday import MondayClient
from portal.integrations.outbox import Deliverer
from portal.integrations.slack import SlackClient
from portal.integrations.zendesk import TicketClosed, ZendeskClient
from tests.fakes.server import FakeServer


def answer(status: int, body: bytes = b"", **headers) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, body
    response.headers = CaseInsensitiveDict(headers)
    return response


@pytest.mark.parametrize(
    "status,headers,error,retry_after",
    [
        (429, {"Retry-After": "12"}, RateLimited, 12.0),
        (429, {}, RateLimited, 45.0),  # no Retry-After: the client's own wait
        (429, {"Retry-After": "soon"}, RateLimited, 45.0),
        (500, {}, RetryLater, None),  # the outbox backs off
        (503, {"Retry-After": "5"}, RetryLater, 5.0),
        (400, {}, Rejected, None),
        (404, {}, NotFound, None),
        (422, {}, Rejected, None),
    ],
)
def test_failed_statuses_become_typed_errors(status, headers, error, retry_after):
    with pytest.raises(error) as raised:
        check_status(answer(status, b"the other system's words", **headers), 45.0)
    assert type(raised.value) is error
    assert getattr(raised.value, "retry_after", None) == retry_after
    assert str(raised.value).startswith(str(status))
    if issubclass(error, Rejected):
        assert "the other system's words" in str(raised.value)


@pytest.mark.parametrize("status", [200, 201, 204])
def test_success_passes_through(status):
    response = answer(status)
    assert check_status(response, 45.0) is response


def test_a_refusal_is_described_in_the_client_words():
    with pytest.raises(Rejected, match=r"^422 explained"):
        check_status(answer(422, b"{}"), 45.0, lambda response: "explained")


CLIENTS = {
    "zendesk": (lambda url: ZendeskClient(url, "a@b.test", "t").update_ticket(1, {}), 60.0),
    "monday": (lambda url: MondayClient(url, "t", "2024-01").call("query { me { id } }", {}), 60.0),
    "slack": (lambda url: SlackClient(url, interval=0).post("hello"), 30.0),
}


def error_from(client: str, status: int, body: bytes, **headers) -> Exception:
    """What `client` raises when the other system answers `status` with `body` (it must raise)."""
    server = FakeServer(lambda method, path, request_headers, request_body: (status, headers, body))
    with server, pytest.raises(Exception) as raised:
        CLIENTS[client][0](server.url)
    return raised.value


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(
    "status,headers,error,retry_after",
    [
        (429, {}, RateLimited, "the client's wait"),
        (429, {"Retry-After": "4"}, RateLimited, 4.0),
        (502, {}, RetryLater, None),
        (503, {"Retry-After": "9"}, RetryLater, 9.0),
        (403, {}, Rejected, None),
    ],
)
def test_every_client_applies_the_same_ladder(client, status, headers, error, retry_after):
    raised = error_from(client, status, b"nope", **headers)
    assert type(raised) is error
    expected = CLIENTS[client][1] if retry_after == "the client's wait" else retry_after
    assert getattr(raised, "retry_after", None) == expected


@pytest.mark.parametrize("client", CLIENTS)
def test_refused_connections_are_passing(client):
    with pytest.raises(RetryLater, match="ConnectionError") as raised:
        CLIENTS[client][0]("http://127.0.0.1:9")
    assert not isinstance(raised.value, RateLimited)


def test_quirks_stay_with_their_client():
    complexity = (
        b'{"errors": [{"message": "Complexity budget exhausted", '
        b'"extensions": {"code": "COMPLEXITY_BUDGET_EXHAUSTED", "retry_in_seconds": 7}}]}'
    )
    passing = error_from("monday", 200, complexity)
    assert type(passing) is RetryLater and passing.retry_after == 7
    refused = error_from("monday", 200, b'{"errors": [{"message": "No such column"}]}')
    assert type(refused) is Rejected and str(refused) == "monday: No such column"
    unauthenticated = error_from("monday", 401, b'{"errors": [{"message": "Not Authenticated"}]}')
    assert type(unauthenticated) is Rejected and str(unauthenticated) == "401 monday: Not Authenticated"
    not_ok = error_from("slack", 200, b"not ok")
    assert type(not_ok) is Rejected and str(not_ok) == "slack: 200 not ok"
    zendesk = error_from("zendesk", 422, b'{"error": "RecordInvalid", "details": {"subject": ["blank"]}}')
    assert type(zendesk) is Rejected and str(zendesk) == "422 RecordInvalid — subject: blank"
    assert type(error_from("zendesk", 200, b"[]")) is RetryLater


@pytest.mark.parametrize("fault,paused", [("429", True), ("500", False)])
def test_only_a_rate_limit_pauses_the_target(fake_zendesk, open_ticket, fault, paused):
    fake_zendesk.faults = [fault]
    open_ticket()
    open_ticket(subject="A second problem")
    now = utcnow()
    Deliverer().run_pass(now=now)
    first, second = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
    assert first.state == "pending" and first.last_error.startswith(fault)
    assert second.state == ("pending" if paused else "delivered")
    if paused:
        assert "paused by its rate limit" in second.last_error
        assert second.next_attempt_at == now + timedelta(seconds=1)  # the fake's Retry-After


def test_zendesk_quirks_a_key_in_progress_waits_and_a_closed_ticket_is_named():
    in_progress = error_from("zendesk", 409, b'{"error": "Conflict"}', **{"Retry-After": "3"})
    assert type(in_progress) is RetryLater and in_progress.retry_after == 3.0
    closed = (
        b'{"error": "RecordInvalid", "details": {"status": [{"description": "Status: closed prevents ticket update"}]}}'
    )
    refused = error_from("zendesk", 422, closed)
    assert type(refused) is TicketClosed and isinstance(refused, Rejected)
    assert type(error_from("zendesk", 422, b'{"error": "RecordInvalid"}')) is Rejected
