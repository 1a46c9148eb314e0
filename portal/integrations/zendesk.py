"""A thin client for the Zendesk Support API, and webhook signature checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests

from portal.integrations.http import check_status, excerpt, json_object, send

WEBHOOK_MAX_AGE = timedelta(minutes=5)
# Zendesk ids are 64-bit integers: comment and audit ids are already around 3·10^13.
ZENDESK_ID_MAX = 2**63 - 1
RATE_LIMIT_WAIT = 60.0  # seconds to wait after a 429 without Retry-After
REFUSAL_MAX = 1000  # characters of Zendesk's explanation of a refusal


def parse_id(value) -> int | None:
    """A Zendesk id as JSON carries it (a number, or a string of digits as webhooks send ticket
    ids), or None when `value` cannot be one: floats, booleans, zero, negatives, beyond 64 bits."""
    if isinstance(value, str):
        text = value.strip()
        # 19 digits hold every 64-bit id; the check spares int() an attacker's ten thousand digits.
        value = int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= ZENDESK_ID_MAX else None


@dataclass
class ZendeskResponse:
    data: dict
    rate_limit_remaining: int | None


class ZendeskClient:
    """Creates and updates tickets with API-token authentication (`{email}/token:{token}`)."""

    def __init__(self, base_url: str, email: str, token: str, timeout=(3.05, 15.0), session=None):
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.auth = (f"{email}/token", token)
        self.session.headers["Content-Type"] = "application/json"
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict | None, idempotency_key: str | None = None) -> ZendeskResponse:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        response = send(self.session, method, f"{self.base_url}{path}", self.timeout, json=body, headers=headers)
        remaining = response.headers.get("X-Rate-Limit-Remaining")
        remaining = int(remaining) if remaining and remaining.isdigit() else None
        check_status(response, RATE_LIMIT_WAIT, _error_text)
        return ZendeskResponse(data=json_object(response), rate_limit_remaining=remaining)

    def create_ticket(self, ticket: dict, idempotency_key: str) -> ZendeskResponse:
        """POST /api/v2/tickets.json; the key makes a retry return the ticket already created."""
        return self._call("POST", "/api/v2/tickets.json", {"ticket": ticket}, idempotency_key)

    def show_ticket(self, zendesk_id: int) -> ZendeskResponse:
        """GET /api/v2/tickets/{id}.json: `{"ticket": {..., "status": ...}}` ("Show Ticket")."""
        return self._call("GET", f"/api/v2/tickets/{zendesk_id}.json", None)

    def update_ticket(self, zendesk_id: int, ticket: dict) -> ZendeskResponse:
        """PUT /api/v2/tickets/{id}.json (comments, status)."""
        return self._call("PUT", f"/api/v2/tickets/{zendesk_id}.json", {"ticket": ticket})


def _error_text(response: requests.Response) -> str:
    """Zendesk's own words for a refusal (error, description and field details)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return excerpt(response)
    parts = [str(data.get("error", "")), str(data.get("description", ""))]
    for field, problems in (data.get("details") or {}).items():
        for problem in problems if isinstance(problems, list) else [problems]:
            text = problem.get("description", problem) if isinstance(problem, dict) else problem
            parts.append(f"{field}: {text}")
    return " — ".join(part for part in parts if part)[:REFUSAL_MAX]


def sign_webhook(secret: str, timestamp: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, timestamp + body)), as Zendesk signs its webhooks."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def parse_timestamp(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return moment if moment.tzinfo else None


def webhook_is_authentic(secret: str, signature: str, timestamp: str, body: bytes, now: datetime) -> bool:
    """A valid signature over a timestamp no older than five minutes (nor from the future)."""
    if not secret or not signature or not timestamp:
        return False
    moment = parse_timestamp(timestamp)
    if moment is None or abs(now - moment) > WEBHOOK_MAX_AGE:
        return False
    return hmac.compare_digest(sign_webhook(secret, timestamp, body), signature)
