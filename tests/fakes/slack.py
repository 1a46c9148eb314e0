"""A fake Slack incoming webhook that refuses what Slack refuses.

Answers, as Slack documents them (a plain-text body, the error's name):
- 200 `ok` for a message it accepts;
- 400 `invalid_payload` for a body that is not a JSON object, or whose `text`/`blocks` have the
  wrong shape (https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks);
- 400 `no_text` when there is neither text nor blocks, 400 `too_many_attachments` beyond 100
  attachments (https://api.slack.com/messaging/webhooks#handling_errors);
- 400 `invalid_blocks` for a section block whose text is over 3,000 characters, or more than 50
  blocks (https://api.slack.com/reference/block-kit/blocks#section);
- 429 `rate_limited` with `Retry-After` when messages come faster than `per_second` (about one a
  second per webhook; short bursts of `burst` are tolerated) (https://api.slack.com/docs/rate-limits);
- injected faults (`faults`): "429", or an error name such as "no_service", "channel_is_archived".

It keeps what it accepted (`messages`) and when each request arrived (`received`, monotonic
seconds, with the status answered), so tests can measure the pacing of what the portal sends.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from tests.fakes.server import FakeService

ERRORS = {"invalid_payload": 400, "no_service": 404, "channel_is_archived": 410}
SECTION_TEXT_MAX = 3_000
BLOCKS_MAX = 50
ATTACHMENTS_MAX = 100


def _refusal(message) -> str | None:
    """The name of Slack's error for a message it would refuse, or None."""
    if not isinstance(message, dict):
        return "invalid_payload"
    text, blocks, attachments = message.get("text"), message.get("blocks"), message.get("attachments")
    if text is not None and not isinstance(text, str):
        return "invalid_payload"
    if blocks is not None and not (isinstance(blocks, list) and all(isinstance(b, dict) for b in blocks)):
        return "invalid_payload"
    if attachments is not None and not isinstance(attachments, list):
        return "invalid_payload"
    if not text and not blocks and not attachments:
        return "no_text"
    if attachments and len(attachments) > ATTACHMENTS_MAX:
        return "too_many_attachments"
    if blocks and len(blocks) > BLOCKS_MAX:
        return "invalid_blocks"
    for block in blocks or []:
        if block.get("type") == "section":
            section_text = (block.get("text") or {}).get("text", "")
            if not isinstance(section_text, str) or not section_text or len(section_text) > SECTION_TEXT_MAX:
                return "invalid_blocks"
    return None


@dataclass
class FakeSlack(FakeService):
    path_prefix = "/services/T000/B000/XXXX"
    faults: list[str] = field(default_factory=list)  # "429", or an error name of ERRORS
    messages: list[dict] = field(default_factory=list)
    received: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, status answered)
    per_second: float | None = None  # None: no rate limit
    burst: int = 2
    retry_after: str = "1"

    def __post_init__(self):
        self.start_server()
        self._tokens = float(self.burst)
        self._refilled = time.monotonic()

    def handle(self, method, path, headers, body):
        status, payload = self._answer(body)
        with self._lock:
            self.received.append((time.monotonic(), status))
        extra = {"Retry-After": self.retry_after} if status == 429 else {}
        return status, {"Content-Type": "text/plain", **extra}, payload.encode()

    def _answer(self, body: bytes) -> tuple[int, str]:
        fault = self.next_fault()
        if fault == "429" or not self._take_token():
            return 429, "rate_limited"
        if fault in ERRORS:
            return ERRORS[fault], fault
        try:
            message = json.loads(body)
        except ValueError:
            return 400, "invalid_payload"
        refusal = _refusal(message)
        if refusal:
            return 400, refusal
        with self._lock:
            self.messages.append(message)
        return 200, "ok"

    def _take_token(self) -> bool:
        """A token bucket: `burst` messages at once, then `per_second` on average."""
        if self.per_second is None:
            return True
        with self._lock:
            now = time.monotonic()
            self._tokens = min(float(self.burst), self._tokens + (now - self._refilled) * self.per_second)
            self._refilled = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True
