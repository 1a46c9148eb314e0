"""Zendesk's webhook side for tests: signed event requests as Zendesk sends them; a fake Zendesk that
also answers "Show User" (GET /api/v2/users/{user_id}.json), so tickets born in Zendesk can be
matched to partners by their requester's e-mail; and a fake Zendesk that calls the portal's webhook
itself (`FakeZendeskWithWebhook`), for a portal served over HTTP.

- The event envelope ("Webhook event types", developer.zendesk.com/api-reference/webhooks/event-types/
  webhook-event-types): `type` ("zen:event-type:ticket.created", "…ticket.status_changed",
  "…ticket.comment_added"), `id`, `time`, `account_id`, `zendesk_event_version`, `subject`
  ("zen:ticket:<id>"), `detail` and `event`.
- A ticket event's `detail` ("Ticket events", …/event-types/ticket-events) carries `actor_id`,
  `assignee_id`, `created_at`, `description`, `external_id` (a string), `id`, `organization_id`,
  `requester_id`, `status`, `subject`, `submitter_id`, `via.channel`…; ids are strings, as in
  Zendesk's own example (`"id": "35436"`, prismatic.io/docs/example-payloads/zendesk/triggers/
  webhook.json) and in the user events' `"organization_id": "0"` for none.
- A status change's `event` is `{"current", "previous"}` (the envelope's own example, a user event's
  `"event": {"current": false, "previous": true}`); `detail.status` is the ticket's status after it.
- One action (an audit) can send a sequence of events, and Zendesk "doesn't guarantee this order"
  (`event.meta.sequence`, "Ticket events"): the portal must not rely on a comment arriving before the
  status change it came with.
- Signing: base64(HMAC-SHA256(secret, timestamp + body)) in `X-Zendesk-Webhook-Signature`, the
  timestamp in `X-Zendesk-Webhook-Signature-Timestamp` (developer.zendesk.com/documentation/
  webhooks/verifying).
- Who acts: `detail.actor_id` is the user who made the change. An API update is made by the API
  user (the portal's integration user), also when its comment is posted in the requester's name
  (`comment.author_id`, "Ticket comments", developer.zendesk.com/rest_api/docs/support/
  ticket_comments); an e-mail reply is the requester's own (via channel "email").
- A requester's answer reopens: "When the requester responds and a new comment is added, the ticket
  status is automatically reset to Open" for a pending ticket ("Updating and solving tickets",
  support.zendesk.com/hc/en-us/articles/4408832151834), and "solved tickets are reopened whenever a
  reply comes in from an end user" until they are closed (signpost-global.zendesk.com/hc/en-us/
  articles/14547808422173, a Zendesk help center); a reply to a closed ticket makes a follow-up,
  which the fake does not play.
- A comment's event carries only the comment's `id`, `body`, `is_public` and `author` (`id`, `name`,
  `is_staff`): no attachments (the ticket.comment_added schema and example as dust-tt's Zendesk
  webhook preset transcribes them); a comment's files are read with List Comments.
- Webhooks are delivered asynchronously, after the change ("Webhook retries", developer.zendesk.com/
  api-reference/webhooks/introduction: requests are retried and may arrive more than once).
- "Show User" answers `{"user": {"id", "name", "email", "role", "organization_id", …}}`
  (developer.zendesk.com/api-reference/ticketing/users/users); an unknown id is a 404 RecordNotFound.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import requests

from portal.core.types import utcnow
from portal.integrations.zendesk import sign_webhook
from tests.fakes.server import json_body
from tests.fakes.zendesk import FakeZendesk

WEBHOOK_URL = "/integrations/zendesk/webhook"
USER_PATH = re.compile(r"^/api/v2/users/(\d+)\.json$")
REAL_COMMENT_ID = 30064117810589  # a comment id Zendesk really handed out (see tests/fakes/zendesk.py)
WEBHOOK_TIMEOUT = 10.0  # seconds the fake waits for the portal's answer to one event
REOPENED_BY_REQUESTER = ("pending", "solved")  # statuses a requester's reply sets back to open


def stamp(moment: datetime | None = None) -> str:
    return (moment or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")


def signed_headers(secret: str, body: bytes) -> dict:
    """The headers Zendesk sends a webhook request with: its signature of `body`, now."""
    timestamp = stamp()
    return {
        "X-Zendesk-Webhook-Signature": sign_webhook(secret, timestamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


def signed_post(client, payload, secret: str, body: bytes | None = None):
    """POST `payload` (or the raw `body`) to the portal's webhook, signed as Zendesk signs."""
    body = body if body is not None else json.dumps(payload).encode()
    return client.post(WEBHOOK_URL, data=body, headers=signed_headers(secret, body))


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
    status: str = "NEW",
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
        "status": status,
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


def status_changed(event_id: str, current: str, previous: str, **detail) -> dict:
    """A status change (statuses spelled as Zendesk's events spell them, e.g. "SOLVED")."""
    return envelope(
        "status_changed", event_id, ticket_detail(status=current, **detail), {"current": current, "previous": previous}
    )


@dataclass
class FakeZendeskWithUsers(FakeZendesk):
    """The fake Zendesk of tests/fakes/zendesk.py, answering "Show User" for the `profiles` added."""

    profiles: dict[int, dict] = field(default_factory=dict)  # user id → the user as Zendesk shows it

    def add_user(self, user_id: int, email: str, name: str, organization_id: int | None = None) -> None:
        self.users[email.lower()] = user_id  # found by e-mail too (users/search)
        self.profiles[user_id] = {
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
            user = self.profiles.get(int(found.group(1)))
        if user is None:
            return json_body({"error": "RecordNotFound", "description": "Not found"}, 404)
        return json_body({"user": user}, 200, **self._headers())


@dataclass
class FakeZendeskWithWebhook(FakeZendesk):
    """The fake Zendesk of tests/fakes/zendesk.py with the portal's webhook configured (`webhook_url`,
    `webhook_secret`): what happens in it is posted to the portal, signed, over real HTTP.

    - Every update the API makes sends its audit's events: `ticket.comment_added` per comment (its
      author the comment's `author_id`: staff when an agent, else the requester by name) and
      `ticket.status_changed` per status change, with `detail.actor_id` the API user. They wait in
      `webhook_queue` until `deliver_webhooks()` (Zendesk delivers after its answer); with
      `webhook_before_answer` they are sent while the update's request still waits for its answer
      (the echo race: the portal's worker has not committed Zendesk's answer yet).
    - `reply_by_email()`: the requester answers by e-mail (see the module's notes); its events are
      sent at once.
    - `comment_with_files()`: someone adds a comment with files in Zendesk; its event is sent at once.
    The fake's lock is never held while it waits for the portal, which may call the fake meanwhile.
    The portal's answers, (event type, HTTP status, JSON body), are kept in `webhook_answers`."""

    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_before_answer: bool = False
    webhook_queue: list[dict] = field(default_factory=list)
    webhook_answers: list[tuple[str, int, dict]] = field(default_factory=list)

    def deliver_webhooks(self) -> list[tuple[str, int, dict]]:
        """Send the events waiting since earlier updates; the portal's answers."""
        with self._lock:
            events, self.webhook_queue = self.webhook_queue, []
        return self._send(events)

    def reply_by_email(self, zendesk_ticket_id: int, body: str) -> list[tuple[str, int, dict]]:
        """The requester's e-mail reply: their public comment, a pending or solved ticket back to
        open, and the events (comment, then status) sent at once; the portal's answers."""
        with self._lock:
            stored = self.tickets[zendesk_ticket_id]
            if stored["status"] == "closed":
                raise ValueError("a reply to a closed ticket makes a follow-up, which this fake does not play")
            requester = stored["requester_id"]
            events = [self._comment(zendesk_ticket_id, {"body": body, "public": True, "author_id": requester})]
            if stored["status"] in REOPENED_BY_REQUESTER:
                events.append(self._change(stored, "status", "open"))
            audit = self._audit(next(self._event_ids), zendesk_ticket_id, {}, events, requester, channel="email")
            webhook_events = self._events_of(stored, audit)
        return self._send(webhook_events)

    def comment_with_files(
        self,
        zendesk_ticket_id: int,
        author_id: int,
        body: str,
        files: list[tuple[str, bytes, str]],
        public: bool = True,
    ) -> list[tuple[str, int, dict]]:
        """An agent's (or the requester's, on the help center) comment made in Zendesk with `files`
        ((name, bytes, content type) each) attached, and its `ticket.comment_added` event, which names
        no attachments, sent at once; the portal's answers. The status is left as it is (a reply
        that reopens the ticket is `reply_by_email`'s)."""
        audit = self.add_comment_with_files(zendesk_ticket_id, author_id, body, files, public)
        with self._lock:
            events = self._events_of(self.tickets[zendesk_ticket_id], audit)
        return self._send(events)

    def _update(self, ticket_id, data):
        status, headers, payload = super()._update(ticket_id, data)
        if status != 200:
            return status, headers, payload
        with self._lock:
            events = self._events_of(self.tickets[ticket_id], json.loads(payload)["audit"])
            if not self.webhook_before_answer:
                self.webhook_queue.extend(events)
        if self.webhook_before_answer:
            self._send(events)
        return status, headers, payload

    def _events_of(self, stored: dict, audit: dict) -> list[dict]:
        """The webhook events of `audit` (a comment or a status change each), in the audit's order."""
        detail = {
            "zendesk_id": stored["id"],
            "requester_id": stored["requester_id"],
            "subject": stored["subject"],
            "description": self.comments[stored["id"]][0]["body"],
            "channel": audit["via"]["channel"],
            "actor_id": audit["author_id"],
            "external_id": stored["external_id"],
        }
        events = []
        for change in audit["events"]:
            if change["type"] == "Comment":
                author = change["author_id"]
                events.append(
                    comment_added(
                        str(uuid.uuid4()),
                        change["id"],
                        change["body"],
                        author,
                        author in self.agents,
                        public=change["public"],
                        author_name=self._name(stored, author),
                        status=stored["status"].upper(),
                        **detail,
                    )
                )
            elif change.get("field_name") == "status":
                current, previous = change["value"].upper(), str(change["previous_value"]).upper()
                events.append(status_changed(str(uuid.uuid4()), current, previous, **detail))
        return events

    def _name(self, stored: dict, user_id: int) -> str:
        """The requester as the ticket's creation named them; another user by e-mail."""
        requester = stored.get("requester") or {}
        if user_id == stored["requester_id"] and requester.get("name"):
            return requester["name"]
        return next((email for email, known in self.users.items() if known == user_id), "Zendesk")

    def _send(self, events: list[dict]) -> list[tuple[str, int, dict]]:
        answers = []
        for event in events:
            body = json.dumps(event).encode()
            response = requests.post(
                self.webhook_url, data=body, headers=signed_headers(self.webhook_secret, body), timeout=WEBHOOK_TIMEOUT
            )
            try:
                answer = response.json()
            except ValueError:  # an error page: kept for the test to show
                answer = {"body": response.text[:500]}
            answers.append((event["type"], response.status_code, answer))
        with self._lock:
            self.webhook_answers.extend(answers)
        return answers
