"""Posting to a Slack incoming webhook."""

from __future__ import annotations

import requests

from portal.integrations.http import Rejected, check_status, excerpt, send

RATE_LIMIT_WAIT = 30.0  # seconds to wait after a 429 without Retry-After


class SlackClient:
    def __init__(self, webhook_url: str, timeout=(3.05, 15.0), session=None):
        self.webhook_url = webhook_url
        self.session = session or requests.Session()
        self.timeout = timeout

    def post(self, text: str, blocks: list[dict] | None = None) -> None:
        """Send a message; Slack answers `ok`, or a text error such as `invalid_payload`."""
        body = {"text": text, **({"blocks": blocks} if blocks else {})}
        response = check_status(send(self.session, "POST", self.webhook_url, self.timeout, json=body), RATE_LIMIT_WAIT)
        if response.status_code != 200 or response.text.strip() != "ok":
            raise Rejected(f"slack: {response.status_code} {excerpt(response)}")
