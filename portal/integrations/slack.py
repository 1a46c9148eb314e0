"""Posting to a Slack incoming webhook, and writing texts as Slack reads them.

What Slack documents, and this module follows:
- `&`, `<` and `>` are Slack's control characters: any text not meant as markup is sent with them
  as `&amp;`, `&lt;`, `&gt;` (and only those), so `<!channel>` in a subject pings nobody; the
  portal's own links are added after escaping, as `<url|label>`
  (https://api.slack.com/reference/surfaces/formatting#escaping).
- A section block's text holds at most 3,000 characters; a longer one is refused with 400
  `invalid_blocks` (https://api.slack.com/reference/block-kit/blocks#section).
- The top-level `text` should stay under 4,000 characters (Slack truncates beyond 40,000)
  (https://api.slack.com/methods/chat.postMessage#truncating).
- About one message per second per webhook, with 429 and `Retry-After` beyond it
  (https://api.slack.com/docs/rate-limits): every worker takes its turn (`pacing`).
"""

from __future__ import annotations

import re

import requests
from flask import current_app

from portal.integrations import pacing
from portal.integrations.http import RateLimited, Rejected, check_status, excerpt, send

RATE_LIMIT_WAIT = 30.0  # seconds to wait after a 429 without Retry-After
SECTION_TEXT_MAX = 3_000  # characters of a section block's text, as sent (escaped)
TEXT_MAX = 4_000  # characters of a message's top-level text, as sent
ELLIPSIS = "…"
_TRAILING_PART_OF_ENTITY = re.compile(r"&[a-z]*$")


def escape(text: str) -> str:
    """`text` shown as written: Slack's three control characters as the entities it reads."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """A link Slack shows as `label`."""
    return f"<{escape(url)}|{escape(label)}>"


def fit(text: str, limit: int, more: str = "") -> str:
    """`text` escaped, in at most `limit` characters: a longer one is cut (never inside an
    entity) and ends with an ellipsis and `more` (Slack markup, e.g. a `link()` to the whole)."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    tail = ELLIPSIS + (f" {more}" if more else "")
    return _TRAILING_PART_OF_ENTITY.sub("", escaped[: limit - len(tail)]) + tail


def message(text: str, heading: str = "", url: str = "", label: str = "") -> dict:
    """A webhook body: `text` after a bold `heading` in one section block, and as the top-level
    text (what notifications show); when cut, each ends with a link to `url` (if any) as `label`."""
    more = link(url, label or url) if url else ""
    bold = f"*{escape(heading)}* " if heading else ""
    prefix = f"{heading} " if heading else ""
    section = bold + fit(text, SECTION_TEXT_MAX - len(bold), more)
    return {
        "text": fit(prefix + text, TEXT_MAX, more),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": section}}],
    }


class SlackClient:
    def __init__(self, webhook_url: str, timeout=(3.05, 15.0), session=None, interval: float | None = None):
        """`interval`: seconds between two messages to this webhook, shared by every worker (None:
        the SLACK_MESSAGE_INTERVAL_SECONDS setting; 0: unpaced, as a lone script may post)."""
        self.webhook_url = webhook_url
        self.session = session or requests.Session()
        self.timeout = timeout
        self.interval = interval

    def post(self, text: str, blocks: list[dict] | None = None) -> None:
        """Send a message (already Slack markup) in this webhook's turn; Slack answers `ok`, or a
        text error such as `invalid_payload`. A 429 holds every worker back for its Retry-After."""
        body = {"text": text, **({"blocks": blocks} if blocks else {})}
        interval = current_app.config["SLACK_MESSAGE_INTERVAL_SECONDS"] if self.interval is None else self.interval
        paced = interval > 0
        if paced:
            pacing.wait_for_turn(self.webhook_url, interval)
        try:
            response = check_status(
                send(self.session, "POST", self.webhook_url, self.timeout, json=body), RATE_LIMIT_WAIT
            )
        except RateLimited as error:
            if paced:
                pacing.hold(self.webhook_url, error.retry_after)
            raise
        if response.status_code != 200 or response.text.strip() != "ok":
            raise Rejected(f"slack: {response.status_code} {excerpt(response)}")
