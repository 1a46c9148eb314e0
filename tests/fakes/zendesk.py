"""A fake Zendesk Support API (tickets create/list/show/update, a ticket's audits, users me/search) with Zendesk's
response shapes and faults injected on demand: 500, 429 with Retry-After, slow answers (client timeouts), dropped
connections, before the request is carried out ("drop") or after it ("drop-answer", as "slow" and "500-after"
are): creations and updates alike.

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
- Ticket creation and updates ("Tickets", developer.zendesk.com/api-reference/ticketing/tickets/
  tickets; "Creating and updating tickets", developer.zendesk.com/documentation/ticketing/
  managing-tickets/creating-and-updating-tickets): a comment is `{"body"}` or `{"html_body"}` with
  `public` and an optional `author_id` (by default the authenticated API user: "Ticket comments",
  developer.zendesk.com/rest_api/docs/support/ticket_comments, shows `author_id` on a PUT); the
  answer's ticket names its `requester_id` (a requester given as name and e-mail becomes a user,
  found again by e-mail). Priority is urgent/high/normal/low and type question/incident/problem/
  task (the ticket JSON schema, api-evangelist/zendesk json-schema/zendesk-ticket-schema.json).
- Zendesk's native rules ("About native system ticket rules", support.zendesk.com/hc/en-us/articles/
  4408894213018): a ticket cannot be set to solved without an assignee (a 422 here, the assignee
  must be an agent: `agents`), and a closed ticket cannot be updated; its requester continues in a
  follow-up ticket. The closed refusal is 422 `RecordInvalid` with `details.status[].description`
  "Status: closed prevents ticket update" (as integrations stub it, e.g. the Revere Zendesk specs
  found by find_string); the wording of the solve refusal was not found and is the fake's own.
- Follow-ups ("Creating a follow-up ticket", same article): `via_followup_source_id` names a closed
  ticket; the parameter has no effect on tickets that are not closed; a follow-up inherits the
  parent's tags unless the request gives tags.
- Idempotency (developer.zendesk.com/api-reference/ticketing/introduction/#idempotency, as cited
  by zendesk/zendesk_api_client_rb issue 510; its content as summarized at eesel.ai/blog/
  zendesk-api-idempotency-keys and in zendesk-java-client's IdempotencyUtil): `Idempotency-Key` on
  ticket creation is kept about two hours (`idempotency_ttl`, on the fake's own clock: `advance()`);
  a replay answers the first response with `x-idempotency-lookup: hit` (a first use: `miss`); the
  same key with another body is a 400 `IdempotentRequestError` "Request parameters don't match the
  given idempotency key"; a 409 answers while the first request is still in progress (played by the
  "409" fault). Only successful creations are remembered (a refused one may be sent again).
- Audit metadata ("Setting Metadata" in Zendesk's Tickets API documentation as the zendesk_api gem
  ships it, lib/zendesk_api/server/docs/tickets.md; "Ticket Audits" above): a creation or update
  may carry `ticket.metadata`, up to 1 KB, that Zendesk stores on the audit it generates as
  `metadata.custom` (beside its own `metadata.system`);
  an update that changes nothing generates no audit and saves no metadata (every update here adds
  a comment or sets a field, so each has its audit).
- Listing a ticket's audits ("List Audits for a Ticket", GET /api/v2/tickets/{ticket_id}/audits.json,
  same page; its parameters as botbrains-io/python-zendesk's generated SDK documents them): `audits`,
  each with `id`, `ticket_id`, `created_at`, `author_id`, `metadata`, `via` and `events`, oldest
  first; cursor pagination ("Paginating through lists using cursor pagination"): `page[size]` up to
  100, `page[after]` taking `meta.after_cursor`, and `meta.has_more`, `links.next` in the answer.
  `sort_order=desc` (newest first), as integrations ask it of this endpoint, is honoured here; the
  reference read names no sort for it, so the portal does not rely on the order.
- Files (uploads, comments' attachments and their downloads, List Comments): tests/fakes/
  zendesk_uploads.py; the refusal and cursor-page shapes: tests/fakes/zendesk_shapes.py.
- Its webhook: tests/fakes/zendesk_events.py (`FakeZendeskWithWebhook` sends the ticket events of
  this fake's audits to a portal served over HTTP).
- `GET /api/v2/users/me.json` answers the authenticated user (`{"user": {"id", ...}}`; "Show
  Self", listed by Zendesk MCP connectors as GET /users/me.json); `GET /api/v2/users/search.json?
  query=email:…` answers `{"users": [...]}`; `GET /api/v2/tickets.json?external_id=…` lists the
  tickets of an external id (`{"tickets": [...]}`, as Workato's "Get list of tickets by external
  ID" action uses it).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from tests.fakes.server import FakeService, json_body
from tests.fakes.zendesk_shapes import cursor_page, not_found, record_invalid
from tests.fakes.zendesk_uploads import UploadsMixin

TICKET_PATH = re.compile(r"^/api/v2/tickets/(\d+)\.json$")
AUDITS_PATH = re.compile(r"^/api/v2/tickets/(\d+)/audits\.json$")
RANDOM_FAULTS = ["500", "500-after", "429", "slow", "drop", "drop-answer"]
FIRST_TICKET_ID = 2**32 + 1001
FIRST_EVENT_ID = 30064117810589  # comments, audits and other audit events
FIRST_USER_ID = 2**40 + 17
IDEMPOTENCY_TTL = 2 * 3600.0  # seconds Zendesk keeps an Idempotency-Key
TAG = re.compile(r"<[^>]*>")


@dataclass
class FakeZendesk(UploadsMixin, FakeService):
    email: str = "api@edye.test"
    token: str = "secret-token"
    # Consumed one per request: "500", "429", "slow" (done, answered late), "drop" (the connection closes
    # before anything is done), "drop-answer" (done, then the connection closes), "500-after" (done,
    # then 500), "junk-ids" (done, but the answer's ticket and event ids are not integers), "409" (a
    # key in progress).
    faults: list[str] = field(default_factory=list)
    fault_rate: float = 0.0  # chance of a random fault per request (chaos)
    injected: Counter = field(default_factory=Counter)  # (method, fault) → how many were injected
    slow_seconds: float = 1.3  # longer than the tests' read timeout (QUICK_OUTBOX)
    retry_after: str = "1"
    rate_limit_remaining: int = 700
    idempotency_ttl: float = IDEMPOTENCY_TTL
    tickets: dict[int, dict] = field(default_factory=dict)
    comments: dict[int, list[dict]] = field(default_factory=dict)
    audits: dict[int, list[dict]] = field(default_factory=dict)  # ticket id → its audits, oldest first
    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    headers_seen: list[dict] = field(default_factory=list)
    idempotency: dict[str, dict] = field(default_factory=dict)
    replayed: list[str] = field(default_factory=list)  # the Idempotency-Keys answered `hit`
    users: dict[str, int] = field(default_factory=dict)  # e-mail → user id
    agents: set[int] = field(default_factory=set)
    seed: int = 7

    def __post_init__(self):
        self.start_server()
        self._ids = itertools.count(FIRST_TICKET_ID)
        self._event_ids = itertools.count(FIRST_EVENT_ID)
        self._user_ids = itertools.count(FIRST_USER_ID)
        self._random = random.Random(self.seed)
        self._clock_offset = 0.0
        self.api_user_id = self.user_for(self.email)
        self.agents.add(self.api_user_id)

    def advance(self, seconds: float) -> None:
        """Move the fake's clock on (idempotency keys expire on it)."""
        self._clock_offset += seconds

    def _now(self) -> float:
        return time.monotonic() + self._clock_offset

    def user_for(self, email: str) -> int:
        """The id of the user with `email`, created on first use (as a requester is)."""
        if email.lower() not in self.users:
            self.users[email.lower()] = next(self._user_ids)
        return self.users[email.lower()]

    def paths(self, method: str = "GET") -> list[str]:
        return [path for verb, path, _data in self.requests if verb == method]

    def _next_fault(self, method: str) -> str | None:
        with self._lock:
            fault = None
            if self.faults:
                fault = self.faults.pop(0)
            elif self.fault_rate and self._random.random() < self.fault_rate:
                fault = self._random.choice(RANDOM_FAULTS)
            if fault is not None:
                self.injected[method, fault] += 1
        return fault

    def _authorized(self, headers) -> bool:
        expected = base64.b64encode(f"{self.email}/token:{self.token}".encode()).decode()
        return headers.get("Authorization") == f"Basic {expected}"

    def _headers(self):
        return {"X-Rate-Limit": "700", "X-Rate-Limit-Remaining": str(self.rate_limit_remaining)}

    def handle(self, method, path, headers, body):
        fault = self._next_fault(method)
        if fault == "drop":
            return 0, {}, None
        if fault == "500":
            return 500, {"Content-Type": "text/plain"}, b"Internal Server Error"
        if fault == "429":
            return json_body({"error": "TooManyRequests"}, 429, **{"Retry-After": self.retry_after})
        if fault == "409":
            return json_body({"error": "Conflict", "description": "A request with this key is in progress"}, 409)
        if not self._authorized(headers):
            return json_body({"error": "Couldn't authenticate you"}, 401)
        url = urlsplit(path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        served = self._route_files(method, url.path, query, headers, body, fault)
        if served is not None:
            return self._late_fault(fault, *served)
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return json_body({"error": "InvalidJSON"}, 400)
        with self._lock:
            self.requests.append((method, url.path, data))
            self.headers_seen.append(dict(headers.items()))
        route = TICKET_PATH.match(url.path)
        audits_route = AUDITS_PATH.match(url.path)
        if method == "POST" and url.path == "/api/v2/tickets.json":
            status, response_headers, payload = self._create(data, headers.get("Idempotency-Key"), body)
        elif method == "GET" and url.path == "/api/v2/tickets.json":
            status, response_headers, payload = self._list(query.get("external_id"))
        elif method == "GET" and route:
            status, response_headers, payload = self._show(int(route.group(1)))
        elif method == "PUT" and route:
            status, response_headers, payload = self._update(int(route.group(1)), data)
        elif method == "GET" and audits_route:
            status, response_headers, payload = self._list_audits(int(audits_route.group(1)), query)
        elif method == "GET" and url.path == "/api/v2/users/me.json":
            status, response_headers, payload = json_body({"user": self._user(self.email)}, 200, **self._headers())
        elif method == "GET" and url.path == "/api/v2/users/search.json":
            status, response_headers, payload = self._search_users(query.get("query", ""))
        else:
            return json_body({"error": "InvalidEndpoint", "description": "Not found"}, 404)
        return self._late_fault(fault, status, response_headers, payload)

    def _late_fault(self, fault: str | None, status: int, response_headers: dict, payload: bytes):
        """The answer, as a fault that strikes after the request was carried out leaves it."""
        if fault == "slow":
            time.sleep(self.slow_seconds)
        if fault == "500-after":
            return 500, {"Content-Type": "text/plain"}, b"Internal Server Error"
        if fault == "drop-answer":
            return 0, {}, None
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

    def _user(self, email: str) -> dict:
        user_id = self.users[email.lower()]
        return {"id": user_id, "email": email.lower(), "role": "admin" if user_id in self.agents else "end-user"}

    def _search_users(self, query: str):
        email = query.removeprefix("email:").strip().lower()
        with self._lock:
            users = [self._user(email)] if query.startswith("email:") and email in self.users else []
        return json_body({"users": users, "count": len(users)}, 200, **self._headers())

    def _list(self, external_id: str | None):
        with self._lock:
            found = [dict(ticket) for ticket in self.tickets.values() if ticket["external_id"] == external_id]
        return json_body({"tickets": found, "count": len(found), "next_page": None}, 200, **self._headers())

    def _comment(self, ticket_id: int, comment: dict) -> dict:
        html = comment.get("html_body")
        event = {
            "id": next(self._event_ids),
            "type": "Comment",
            "body": TAG.sub("", html) if html is not None else comment.get("body", ""),
            "public": comment.get("public", True),
            "author_id": comment.get("author_id", self.api_user_id),
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "attachments": self._attach(ticket_id, comment.get("uploads", [])),
        }
        if html is not None:
            event["html_body"] = html
        self.comments.setdefault(ticket_id, []).append(event)
        return event

    def _remembered(self, key: str, fingerprint: str):
        """The answer to replay for `key`, a 400 for another body, or None (unknown or expired)."""
        entry = self.idempotency.get(key)
        if entry is None or self._now() - entry["at"] > self.idempotency_ttl:
            return None
        if entry["fingerprint"] != fingerprint:
            return json_body(
                {
                    "error": "IdempotentRequestError",
                    "description": "Request parameters don't match the given idempotency key",
                },
                400,
            )
        self.replayed.append(key)
        return json_body(entry["response"], 201, **{"x-idempotency-lookup": "hit"}, **self._headers())

    def _create(self, data, key, raw_body):
        ticket = data.get("ticket") or {}
        fingerprint = hashlib.sha256(raw_body or b"").hexdigest()
        with self._lock:
            replay = self._remembered(key, fingerprint) if key else None
            if replay is not None:
                return replay
            comment = ticket.get("comment") or {}
            if not ticket.get("subject"):
                return record_invalid("subject", "Subject: cannot be blank", "BlankValue")
            if not (comment.get("body") or comment.get("html_body")):
                return record_invalid("description", "Description: cannot be blank", "BlankValue")
            if ticket.get("status") in ("solved", "closed") and not ticket.get("assignee_id"):
                return record_invalid("assignee", "Assignee: is required when solving a ticket", "BlankValue")
            if (refusal := self._uploads_refusal(comment)) is not None:
                return refusal
            requester_id = ticket.get("requester_id") or self.user_for((ticket.get("requester") or {})["email"])
            source = self.tickets.get(ticket.get("via_followup_source_id"))
            follows = source is not None and source["status"] == "closed"
            ticket_id = next(self._ids)
            audit_id = next(self._event_ids)
            stored = {
                "id": ticket_id,
                "url": f"{self.url}/api/v2/tickets/{ticket_id}.json",
                "subject": ticket["subject"],
                "external_id": ticket.get("external_id"),
                "status": ticket.get("status", "new"),
                "priority": ticket.get("priority"),
                "type": ticket.get("type"),
                "tags": ticket.get("tags", source["tags"] if follows else []),
                "requester": ticket.get("requester"),
                "requester_id": requester_id,
                "assignee_id": ticket.get("assignee_id"),
                "custom_fields": ticket.get("custom_fields", []),
                "via_followup_source_id": source["id"] if follows else None,
            }
            self.tickets[ticket_id] = stored
            audit = self._audit(audit_id, ticket_id, ticket, [self._comment(ticket_id, comment)])
            response = {"ticket": stored, "audit": audit}
            if key:
                self.idempotency[key] = {"fingerprint": fingerprint, "response": response, "at": self._now()}
        lookup = {"x-idempotency-lookup": "miss"} if key else {}
        return json_body(response, 201, Location=stored["url"], **lookup, **self._headers())

    def _show(self, ticket_id):
        with self._lock:
            stored = self.tickets.get(ticket_id)
            if stored is None:
                return not_found()
            return json_body({"ticket": dict(stored)}, 200, **self._headers())

    def _refusal(self, stored: dict, ticket: dict):
        """Zendesk's 422 for an update it refuses, or None."""
        if stored["status"] == "closed":
            return record_invalid("status", "Status: closed prevents ticket update", "ClosedTicket")
        if "comment" in ticket and "public" not in ticket["comment"]:
            return record_invalid("comment", "public missing")
        if "assignee_id" in ticket and ticket["assignee_id"] not in self.agents:
            return record_invalid("assignee_id", "Assignee is not an agent")
        if ticket.get("status") in ("solved", "closed") and not (ticket.get("assignee_id") or stored["assignee_id"]):
            return record_invalid("assignee", "Assignee: is required when solving a ticket", "BlankValue")
        return self._uploads_refusal(ticket["comment"]) if "comment" in ticket else None

    def _update(self, ticket_id, data):
        ticket = data.get("ticket") or {}
        with self._lock:
            stored = self.tickets.get(ticket_id)
            if stored is None:
                return not_found()
            refusal = self._refusal(stored, ticket)
            if refusal is not None:
                return refusal
            audit_id = next(self._event_ids)
            events = [
                self._change(stored, name, ticket[name])
                for name in ("status", "priority", "type", "assignee_id")
                if name in ticket
            ]
            if "comment" in ticket:
                events.append(self._comment(ticket_id, ticket["comment"]))
            audit = self._audit(audit_id, ticket_id, ticket, events)
        return json_body({"ticket": stored, "audit": audit}, 200, **self._headers())

    def _change(self, stored: dict, name: str, value) -> dict:
        """Set a field of the stored ticket; the audit's Change event saying so."""
        change = {
            "id": next(self._event_ids),
            "type": "Change",
            "field_name": name,
            "value": value,
            "previous_value": stored[name],
        }
        stored[name] = value
        return change

    def _audit(
        self,
        audit_id: int,
        ticket_id: int,
        ticket: dict,
        events: list[dict],
        author_id: int | None = None,
        channel: str = "api",
    ) -> dict:
        """The audit of a creation or update (by the API user unless `author_id` says, through
        `channel`), kept with its ticket: the request's `metadata` as the audit's `metadata.custom`."""
        custom = ticket.get("metadata")
        audit = {
            "id": audit_id,
            "ticket_id": ticket_id,
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "author_id": author_id or self.api_user_id,
            "metadata": {"custom": dict(custom) if isinstance(custom, dict) else {}, "system": {"client": "fake"}},
            "via": {"channel": channel},
            "events": events,
        }
        self.audits.setdefault(ticket_id, []).append(audit)
        return audit

    def _list_audits(self, ticket_id: int, query: dict):
        """One page of the ticket's audits (cursor pagination; `sort_order=desc`: newest first)."""
        with self._lock:
            if ticket_id not in self.tickets:
                return not_found()
            audits = list(self.audits.get(ticket_id, []))
        if query.get("sort_order") == "desc":
            audits.reverse()
        url = f"{self.url}/api/v2/tickets/{ticket_id}/audits.json"
        return cursor_page(audits, query, "audits", url, self._headers())
