"""A fake Zendesk Support API (tickets create/show/update) with Zendesk's response shapes and faults
injected on demand: 500, 429 with Retry-After, slow answers (client timeouts), dropped connections.

Ids are handed out as the real service does, so the portal meets 64-bit ids in every test:
- Ticket audits ("Ticket Audits", developer.zendesk.com/api-reference/ticketing/tickets/ticket_audits):
  creating or updating a ticket answers with the ticket and one audit, whose `events` hold one
  `{"type": "Comment", "id": <integer>, "body", "public"}` per comment added and `Change` events;
  audit and event ids are JSON integers. Comments are audit events (support.zendesk.com community
  post 4411665316506, "Cannot get Comment by id"), so comments and audits share one sequence here.
- Their size: a real comment delivered in 2025 had id 30064117810589, its audit 30064117810461
  (github.com/PipedreamHQ/pipedream issue 18260): comment and audit ids start at 30064117810589.
- Ticket ids are per-account counters and usually small, but nothing keeps them below 2**31: the
  fake starts past 2**32 (FIRST_TICKET_ID), so an `integer` column anywhere would overflow.
- Showing a ticket ("Show Ticket", GET /api/v2/tickets/{ticket_id}.json, developer.zendesk.com/
  api-reference/ticketing/tickets/tickets/#show-ticket, as linked from pipedream.com/apps/zendesk/
  actions/get-ticket-info) answers `{"ticket": {...}}` with the ticket's `status`, one of new, open,
  pending, hold, solved, closed (help.okta.com's Zendesk "Read Ticket" card lists the same); an
  unknown id is a 404 "RecordNotFound", as for updates. Tests set `tickets[id]["status"]` to play
  what happened in Zendesk meanwhile.
- Webhook ticket events ("Ticket events", developer.zendesk.com/api-reference/webhooks/event-types/
  ticket-events): `detail.external_id` is returned as a string; the event's comment carries the
  same comment id the audit gave.
- What the portal answers the webhook relies on "Webhook retries" (developer.zendesk.com/api-reference/
  webhooks/introduction): Zendesk retries requests that fail with certain status codes and has a
  circuit breaker, which pauses a webhook when 70 % of its requests in five minutes are errors; one
  action may invoke a webhook more than once (the excerpt read was cut before the list of codes; the
  70 % and the duplicates as summarized at alboz.eu/insights/master-webhooks-maximize-stability-
  performance). Hence replays and refused events are answered 2xx (see portal/tickets/zendesk_webhook.py).
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import re
import time
from dataclasses import dataclass, field

from tests.fakes.server import FakeService, json_body

TICKET_PATH = re.compile(r"^/api/v2/tickets/(\d+)\.json$")
FIRST_TICKET_ID = 2**32 + 1001
FIRST_EVENT_ID = 30064117810589  # comments, audits and other audit events


@dataclass
class FakeZendesk(FakeService):
    email: str = "api@edye.test"
    token: str = "secret-token"
    # Consumed one per request: "500", "429", "slow", "drop", "500-after" (done, then 500), "junk-ids"
    # (done, but the answer's ticket and event ids are not integers).
    faults: list[str] = field(default_factory=list)
    fault_rate: float = 0.0  # chance of a random fault per request (chaos)
    slow_seconds: float = 0.5
    retry_after: str = "1"
    rate_limit_remaining: int = 700
    tickets: dict[int, dict] = field(default_factory=dict)
    comments: dict[int, list[dict]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    idempotency: dict[str, dict] = field(default_factory=dict)
    seed: int = 7

    def __post_init__(self):
        self.start_server()
        self._ids = itertools.count(FIRST_TICKET_ID)
        self._event_ids = itertools.count(FIRST_EVENT_ID)
        self._random = random.Random(self.seed)

    def _next_fault(self) -> str | None:
        with self._lock:
            if self.faults:
                return self.faults.pop(0)
            if self.fault_rate and self._random.random() < self.fault_rate:
                return self._random.choice(["500", "500-after", "429", "slow", "drop"])
        return None

    def _authorized(self, headers) -> bool:
        expected = base64.b64encode(f"{self.email}/token:{self.token}".encode()).decode()
        return headers.get("Authorization") == f"Basic {expected}"

    def _headers(self):
        return {"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": str(self.rate_limit_remaining)}

    def handle(self, method, path, headers, body):
        fault = self._next_fault()
        if fault == "drop":
            return 0, {}, None
        if fault == "500":
            return 500, {"Content-Type": "text/plain"}, b"Internal Server Error"
        if fault == "429":
            return json_body({"error": "TooManyRequests"}, 429, **{"Retry-After": self.retry_after})
        if not self._authorized(headers):
            return json_body({"error": "Couldn't authenticate you"}, 401)
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return json_body({"error": "InvalidJSON"}, 400)
        with self._lock:
            self.requests.append((method, path, data))
        if method == "POST" and path == "/api/v2/tickets.json":
            status, response_headers, payload = self._create(data, headers.get("Idempotency-Key"))
        elif method == "GET" and TICKET_PATH.match(path):
            status, response_headers, payload = self._show(int(TICKET_PATH.match(path).group(1)))
        elif method == "PUT" and TICKET_PATH.match(path):
            status, response_headers, payload = self._update(int(TICKET_PATH.match(path).group(1)), data)
        else:
            return json_body({"error": "InvalidEndpoint", "description": "Not found"}, 404)
        if fault == "slow":
            time.sleep(self.slow_seconds)
        if fault == "500-after":
            return 500, {"Content-Type": "text/plain"}, b"Internal Server Error"
        if fault == "junk-ids":
            payload = json.dumps(self._junk_ids(json.loads(payload))).encode()
        return status, response_headers, payload

    @staticmethod
    def _junk_ids(answer: dict) -> dict:
        if isinstance(answer.get("ticket"), dict):
            answer["ticket"] = {**answer["ticket"], "id": float(answer["ticket"]["id"])}
        for event in (answer.get("audit") or {}).get("events", []):
            event["id"] = [event["id"]]
        return answer

    def _comment(self, ticket_id: int, comment: dict) -> dict:
        event = {
            "id": next(self._event_ids),
            "type": "Comment",
            "body": comment.get("body", ""),
            "public": comment.get("public", True),
        }
        self.comments.setdefault(ticket_id, []).append(event)
        return event

    def _create(self, data, key):
        ticket = data.get("ticket") or {}
        with self._lock:
            if key and key in self.idempotency:
                return json_body(self.idempotency[key], 201, **{"x-idempotency-lookup": "hit"}, **self._headers())
            problems = {}
            if not ticket.get("subject"):
                problems["subject"] = [{"description": "Subject: cannot be blank", "error": "BlankValue"}]
            if not (ticket.get("comment") or {}).get("body"):
                problems["description"] = [{"description": "Description: cannot be blank", "error": "BlankValue"}]
            if problems:
                return json_body(
                    {"error": "RecordInvalid", "description": "Record validation errors", "details": problems}, 422
                )
            ticket_id = next(self._ids)
            audit_id = next(self._event_ids)
            stored = {
                "id": ticket_id,
                "url": f"{self.url}/api/v2/tickets/{ticket_id}.json",
                "subject": ticket["subject"],
                "external_id": ticket.get("external_id"),
                "status": "new",
                "tags": ticket.get("tags", []),
                "requester": ticket.get("requester"),
                "custom_fields": ticket.get("custom_fields", []),
            }
            self.tickets[ticket_id] = stored
            event = self._comment(ticket_id, ticket["comment"])
            response = {"ticket": stored, "audit": {"id": audit_id, "ticket_id": ticket_id, "events": [event]}}
            if key:
                self.idempotency[key] = response
        return json_body(response, 201, Location=stored["url"], **self._headers())

    def _show(self, ticket_id):
        with self._lock:
            stored = self.tickets.get(ticket_id)
            if stored is None:
                return json_body({"error": "RecordNotFound", "description": "Not found"}, 404)
            return json_body({"ticket": dict(stored)}, 200, **self._headers())

    def _update(self, ticket_id, data):
        ticket = data.get("ticket") or {}
        with self._lock:
            stored = self.tickets.get(ticket_id)
            if stored is None:
                return json_body({"error": "RecordNotFound", "description": "Not found"}, 404)
            if "comment" in ticket and "public" not in ticket["comment"]:
                return json_body(
                    {
                        "error": "RecordInvalid",
                        "description": "public must be explicit",
                        "details": {"comment": [{"description": "public missing"}]},
                    },
                    422,
                )
            audit_id = next(self._event_ids)
            events = []
            if "status" in ticket:
                events.append(
                    {
                        "id": next(self._event_ids),
                        "type": "Change",
                        "field_name": "status",
                        "value": ticket["status"],
                        "previous_value": stored["status"],
                    }
                )
                stored["status"] = ticket["status"]
            if "comment" in ticket:
                events.append(self._comment(ticket_id, ticket["comment"]))
        return json_body(
            {"ticket": stored, "audit": {"id": audit_id, "ticket_id": ticket_id, "events": events}},
            200,
            **self._headers(),
        )
