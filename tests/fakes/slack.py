"""A fake Slack incoming webhook: `ok`, text errors such as invalid_payload / no_service, or 429."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from tests.fakes.server import FakeServer

ERRORS = {"invalid_payload": 400, "no_service": 404, "channel_is_archived": 410}


@dataclass
class FakeSlack:
    faults: list[str] = field(default_factory=list)  # "invalid_payload", "no_service", "429"
    messages: list[dict] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._server = FakeServer(self.handle)

    def __enter__(self):
        self._server.__enter__()
        return self

    def __exit__(self, *exc):
        self._server.__exit__(*exc)

    @property
    def url(self) -> str:
        return self._server.url + "/services/T000/B000/XXXX"

    def handle(self, method, path, headers, body):
        with self._lock:
            fault = self.faults.pop(0) if self.faults else None
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
