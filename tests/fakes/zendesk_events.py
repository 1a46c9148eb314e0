"""Zendesk's webhook side for tests: signed event requests as Zendesk sends them, and a fake Zendesk
that also answers "Show User" (GET /api/v2/users/{user_id}.json), so tickets born in Zendesk can be
matched to partners by their requester's e-mail.

- The event envelope ("Webhook event types", developer.zendesk.com/api-reference/webhooks/event-types/
  webhook-event-types): `type` ("zen:event-type:ticket.created", "…ticket.status_changed",
  "…ticket.comment_added"), `id`, `time`, `account_id`, `zendesk_event_version`, `subject`
  ("zen:ticket:<id>"), `detail` and `event`.
- A ticket event's `detail` ("Ticket events", …/event-types/ticket-events) carries `actor_id`,
  `assignee_id`, `created_at`, `description`, `external_id` (a string), `id`, `organization_id`,
  `requester_id`, `status`, `subject`, `submitter_id`, `via.channel`…; ids are strings, as in
  Zendesk's own example (`"id": "35436"`, prismatic.io/docs/example-payloads/zendesk/triggers/
  webhook.json) and in the user events' `"organization_id": "0"` for none.
- Signing: base64(HMAC-SHA256(secret, timestamp + body)) in `X-Zendesk-Webhook-Signature`, the
  timestamp in `X-Zendesk-Webhook-Signature-Timestamp` (developer.zendesk.com/documentation/
  webhooks/verifying).
- "Show User" answers `{"user": {"id", "name", "email", "role", "organization_id", …}}`
  (developer.zendesk.com/api-reference/ticketing/users/users); an unknown id is a 404 RecordNotFound.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from portal.core.types import utcnow
from portal.integrations.zendesk import sign_webhook
from tests.fakes.server import json_body
from tests.fakes.zendesk import FakeZendesk

WEBHOOK_URL = "/integrations/zendesk/webhook"
USER_PATH = re.compile(r"^/api/v2/users/(\d+)\.json$")
REAL_COMMENT_ID = 30064117810589  # a comment id Zendesk really handed out (see tests/fakes/zendesk.py)


def stamp(moment: datetime | None = None) -> str:
    return (moment or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")


def signed_post(client, payload, secret: str, body: bytes | None = None):
    """POST `payload` (or the raw `body`) to the portal's webhook, signed as Zendesk signs."""
    body = body if body is not None else json.dumps(payload).encode()
    timestamp = stamp()
    headers = {
        "X-Zendesk-Webhook-Signature": sign_webhook(secret, timestamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        "Content-Type": "application/json",
    }
    return client.post(WEBHOOK_URL, data=body, headers=headers)


def ticket_detail(
    zendesk_id: int,
    requester_id: int | None = None,
    organization_id: int | None = None,
    created_at: datetime | None = None,
    subject: str = "No video on channel 5",
    description: str = "Since yesterday channel 5 shows a black screen on every device.",
    channel: str = "email",
    actor_id: int | None = None,
    external_id: str | None = None,
) -> dict:
    return {
        "id": str(zendesk_id),
        "actor_id": str(actor_id or requester_id or 0),
        "requester_id": str(requester_id or 0),
        "submitter_id": str(requester_id or 0),
        "organization_id": str(organization_id or 0),
        "created_at": stamp(created_at),
        "updated_at": stamp(created_at),
        "subject": subject,
        "description": description,
        "status": "NEW",
        "external_id": external_id,
        "via": {"channel": channel},
    }


def envelope(kind: str, event_id: str, detail: dict, event: dict) -> dict:
    return {
        "type": f"zen:event-type:ticket.{kind}",
        "account_id": 88888888,
        "id": event_id,
        "time": stamp(),
        "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{detail['id']}",
        "detail": detail,
        "event": event,
    }


def created_event(event_id: str = "evt-created", **detail) -> dict:
    return envelope("created", event_id, ticket_detail(**detail), {"current": {"status": "NEW"}})


def comment_added(
    event_id: str,
    comment_id: int,
    body: str,
    author_id: int,
    is_staff: bool,
    public: bool = True,
    author_name: str = "Zoe Zendesk",
    **detail,
) -> dict:
    comment = {
        "id": comment_id,
        "body": body,
        "is_public": public,
        "author": {"id": str(author_id), "name": author_name, "is_staff": is_staff},
    }
    return envelope("comment_added", event_id, ticket_detail(**detail), {"comment": comment})


@dataclass
class FakeZendeskWithUsers(FakeZendesk):
    """The fake Zendesk of tests/fakes/zendesk.py, answering "Show User" for `users` too."""

    users: dict[int, dict] = field(default_factory=dict)

    def add_user(self, user_id: int, email: str, name: str, organization_id: int | None = None) -> None:
        self.users[user_id] = {
            "id": user_id,
            "name": name,
            "email": email,
            "role": "end-user",
            "organization_id": organization_id,
        }

    def handle(self, method, path, headers, body):
        found = USER_PATH.match(path)
        if method != "GET" or found is None:
            return super().handle(method, path, headers, body)
        if not self._authorized(headers):
            return json_body({"error": "Couldn't authenticate you"}, 401)
        with self._lock:
            self.requests.append((method, path, {}))
            user = self.users.get(int(found.group(1)))
        if user is None:
            return json_body({"error": "RecordNotFound", "description": "Not found"}, 404)
        return json_body({"user": user}, 200, **self._headers())
