"""A fake Slack incoming webhook: `ok`, text errors such as invalid_payload / no_service, or 429."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tests.fakes.server import FakeService

ERRORS = {"invalid_payload": 400, "no_service": 404, "channel_is_archived": 410}


@dataclass
class FakeSlack(FakeService):
    path_prefix = "/services/T000/B000/XXXX"
    faults: list[str] = field(default_factory=list)  # "invalid_payload", "no_service", "429"
    messages: list[dict] = field(default_factory=list)

    def __post_init__(self):
        self.start_server()

    def handle(self, method, path, headers, body):
        fault = self.next_fault()
        if fault == "429":
            return 429, {"Retry-After": "3", "Content-Type": "text/plain"}, b"rate_limited"
        if fault in ERRORS:
            return ERRORS[fault], {"Content-Type": "text/plain"}, fault.encode()
        try:
            message = json.loads(body)
        except ValueError:
            return 400, {"Content-Type": "text/plain"}, b"invalid_payload"
        if not message.get("text"):
            return 400, {"Content-Type": "text/plain"}, b"no_text"
        with self._lock:
            self.messages.append(message)
        return 200, {"Content-Type": "text/plain"}, b"ok"
