"""A fake Zendesk Support API (tickets create/update) with Zendesk's response shapes and faults
injected on demand: 500, 429 with Retry-After, slow answers (client timeouts), dropped connections."""
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


@dataclass
class FakeZendesk(FakeService):
    email: str = "api@edye.test"
    token: str = "secret-token"
    faults: list[str] = field(default_factory=list)  # consumed one per request: "500", "429", "slow", "drop"
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
        self._ids = itertools.count(1001)
        self._comment_ids = itertools.count(50001)
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
        elif method == "PUT" and TICKET_PATH.match(path):
            status, response_headers, payload = self._update(int(TICKET_PATH.match(path).group(1)), data)
        else:
            return json_body({"error": "InvalidEndpoint", "description": "Not found"}, 404)
        if fault == "slow":
            time.sleep(self.slow_seconds)
        if fault == "500-after":
            return 500, {"Content-Type": "text/plain"}, b"Internal Server Error"
        return status, response_headers, payload

    def _comment(self, ticket_id: int, comment: dict) -> dict:
        event = {"id": next(self._comment_ids), "type": "Comment", "body": comment.get("body", ""),
                 "public": comment.get("public", True)}
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
                return json_body({"error": "RecordInvalid", "description": "Record validation errors",
                                  "details": problems}, 422)
            ticket_id = next(self._ids)
            stored = {
                "id": ticket_id, "url": f"{self.url}/api/v2/tickets/{ticket_id}.json", "subject": ticket["subject"],
                "external_id": ticket.get("external_id"), "status": "new", "tags": ticket.get("tags", []),
                "requester": ticket.get("requester"), "custom_fields": ticket.get("custom_fields", []),
            }
            self.tickets[ticket_id] = stored
            event = self._comment(ticket_id, ticket["comment"])
            response = {"ticket": stored, "audit": {"id": ticket_id * 10, "ticket_id": ticket_id, "events": [event]}}
            if key:
                self.idempotency[key] = response
        return json_body(response, 201, Location=stored["url"], **self._headers())

    def _update(self, ticket_id, data):
        ticket = data.get("ticket") or {}
        with self._lock:
            stored = self.tickets.get(ticket_id)
            if stored is None:
                return json_body({"error": "RecordNotFound", "description": "Not found"}, 404)
            if "comment" in ticket and "public" not in ticket["comment"]:
                return json_body({"error": "RecordInvalid", "description": "public must be explicit",
                                  "details": {"comment": [{"description": "public missing"}]}}, 422)
            events = []
            if "status" in ticket:
                events.append({"id": next(self._comment_ids), "type": "Change", "field_name": "status",
                               "value": ticket["status"], "previous_value": stored["status"]})
                stored["status"] = ticket["status"]
            if "comment" in ticket:
                events.append(self._comment(ticket_id, ticket["comment"]))
        return json_body({"ticket": stored, "audit": {"id": ticket_id * 10 + len(events), "events": events}}, 200,
                         **self._headers())
