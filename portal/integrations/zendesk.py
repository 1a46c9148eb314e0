"""A thin client for the Zendesk Support API, and webhook signature checks.

What it relies on (developer.zendesk.com, as cited in tests/fakes/zendesk.py): ticket creation takes
an `Idempotency-Key` remembered about two hours (`x-idempotency-lookup: hit|miss` in the answer; a
409 while the first request is still in progress); a closed ticket refuses updates (422) and is
continued by a follow-up ticket; `users/me` names the API user, `users/search` finds a user by
e-mail, and `tickets.json?external_id=` lists the tickets of an external id. Updates take no
idempotency key, but each may carry up to 1 KB of `metadata` that Zendesk stores on the update's
audit (`metadata.custom`), and `tickets/{id}/audits.json` lists a ticket's audits. Files travel
as uploads whose tokens a comment names, and come back as comments' attachments (`upload`,
`ticket_comments`, `download`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from portal.integrations.http import (
    Rejected,
    RetryLater,
    check_status,
    excerpt,
    json_object,
    retry_after_seconds,
    send,
)

WEBHOOK_MAX_AGE = timedelta(minutes=5)
# Zendesk ids are 64-bit integers: comment and audit ids are already around 3·10^13.
ZENDESK_ID_MAX = 2**63 - 1
RATE_LIMIT_WAIT = 60.0  # seconds to wait after a 429 without Retry-After
REFUSAL_MAX = 1000  # characters of Zendesk's explanation of a refusal
AUDITS_PAGE_SIZE = 100  # the most audits Zendesk answers per page
COMMENTS_PAGE_SIZE = 100  # the most comments Zendesk answers per page
UPLOAD_TOKEN_MAX = 255  # characters of an upload token taken from Zendesk (theirs are 25)
BINARY_TYPE = "application/octet-stream"  # a file's type when it has none
# Where an attachment's content_url may lead without the API token: Zendesk's own hosts and its
# file host, whose links are signed. Only the configured Zendesk's origin gets the token.
FILE_SCHEME = "https"
FILE_HOSTS = (".zendesk.com", ".zdusercontent.com")
REDIRECTS_MAX = 3  # redirects followed for one attachment
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
DOWNLOAD_CHUNK = 64 * 1024


def parse_id(value) -> int | None:
    """A Zendesk id as JSON carries it (a number, or a string of digits as webhooks send ticket
    ids), or None when `value` cannot be one: floats, booleans, zero, negatives, beyond 64 bits."""
    if isinstance(value, str):
        text = value.strip()
        # 19 digits hold every 64-bit id; the check spares int() an attacker's ten thousand digits.
        value = int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= ZENDESK_ID_MAX else None


@dataclass
class ZendeskResponse:
    data: dict
    rate_limit_remaining: int | None
    idempotency_lookup: str = ""  # Zendesk's x-idempotency-lookup: "hit" (a replay) or "miss"


class TicketClosed(Rejected):
    """Zendesk refuses every update of a closed ticket (422, "Status: closed prevents ticket
    update"); only a follow-up ticket (`via_followup_source_id`) can carry the conversation on."""


CLOSED_REFUSAL = "closed prevents ticket update"
# The API user's own Zendesk id per (base URL, e-mail), asked once per process (users/me).
_own_ids: dict[tuple[str, str], int] = {}


class ZendeskClient:
    """Creates, finds and updates tickets with API-token authentication (`{email}/token:{token}`)."""

    def __init__(self, base_url: str, email: str, token: str, timeout=(3.05, 15.0), session=None):
        self.base_url = base_url.rstrip("/")
        self.email = email
        self.session = session or requests.Session()
        self.session.auth = (f"{email}/token", token)
        self.session.headers["Content-Type"] = "application/json"
        self.session.headers["Accept"] = "application/json"
        self.timeout = timeout

    def _call(
        self,
        method: str,
        path: str,
        body: dict | None,
        idempotency_key: str | None = None,
        params=None,
        file: tuple[bytes, str] | None = None,
    ) -> ZendeskResponse:
        """One API request: `body` as JSON, or `file` (its bytes and content type) as the body."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        data = None
        if file is not None:
            data, headers["Content-Type"] = file  # replaces the session's JSON type for this request
        url = f"{self.base_url}{path}"
        response = send(self.session, method, url, self.timeout, json=body, data=data, headers=headers, params=params)
        remaining = response.headers.get("X-Rate-Limit-Remaining")
        remaining = int(remaining) if remaining and remaining.isdigit() else None
        if response.status_code == 409:
            # The first request with this idempotency key is still being processed: ask again later.
            raise RetryLater(f"409 {_error_text(response)}", retry_after_seconds(response))
        if response.status_code == 422 and CLOSED_REFUSAL in _error_text(response).lower():
            raise TicketClosed(f"422 {_error_text(response)}")
        check_status(response, RATE_LIMIT_WAIT, _error_text)
        return ZendeskResponse(
            data=json_object(response),
            rate_limit_remaining=remaining,
            idempotency_lookup=response.headers.get("x-idempotency-lookup", "")[:20],
        )

    def create_ticket(self, ticket: dict, idempotency_key: str) -> ZendeskResponse:
        """POST /api/v2/tickets.json; the key makes a retry within its lifetime (about two hours)
        return the ticket already created."""
        return self._call("POST", "/api/v2/tickets.json", {"ticket": ticket}, idempotency_key)

    def tickets_with_external_id(self, external_id: str) -> list[dict]:
        """GET /api/v2/tickets.json?external_id=…: the tickets carrying that external id."""
        response = self._call("GET", "/api/v2/tickets.json", None, params={"external_id": external_id})
        tickets = response.data.get("tickets")
        return [ticket for ticket in tickets if isinstance(ticket, dict)] if isinstance(tickets, list) else []

    def show_ticket(self, zendesk_id: int) -> ZendeskResponse:
        """GET /api/v2/tickets/{id}.json: `{"ticket": {..., "status": ...}}` ("Show Ticket")."""
        return self._call("GET", f"/api/v2/tickets/{zendesk_id}.json", None)

    def update_ticket(self, zendesk_id: int, ticket: dict) -> ZendeskResponse:
        """PUT /api/v2/tickets/{id}.json (comments, status, assignee, priority, type)."""
        return self._call("PUT", f"/api/v2/tickets/{zendesk_id}.json", {"ticket": ticket})

    def ticket_audits(self, zendesk_id: int) -> Iterator[dict]:
        """The ticket's audits, page by page (GET /api/v2/tickets/{id}/audits.json, "List Audits for
        a Ticket", developer.zendesk.com/api-reference/ticketing/tickets/ticket_audits), at most 100
        per page. Newest first is asked (`sort_order=desc`, as integrations ask it), but nothing here
        relies on the order: the caller stops reading when it finds what it needs."""
        params = {"sort_order": "desc", "page[size]": AUDITS_PAGE_SIZE}
        yield from self._pages(f"/api/v2/tickets/{zendesk_id}/audits.json", "audits", params)

    def ticket_comments(self, zendesk_id: int) -> Iterator[dict]:
        """Every comment of the ticket, oldest first, page by page (GET /api/v2/tickets/{id}/
        comments.json, "List Comments", developer.zendesk.com/api-reference/ticketing/tickets/
        ticket_comments), at most 100 per page. Each has `id`, `author_id`, `public`, `body`,
        `html_body` and `attachments` (`id`, `file_name`, `content_type`, `size`, `content_url`:
        fetch that with `download`, never by hand)."""
        params = {"page[size]": COMMENTS_PAGE_SIZE}
        yield from self._pages(f"/api/v2/tickets/{zendesk_id}/comments.json", "comments", params)

    def _pages(self, path: str, key: str, params: dict) -> Iterator[dict]:
        """The records under `key` of every page, by cursor pagination ("Paginating through lists
        using cursor pagination", developer.zendesk.com/api-reference/introduction/pagination):
        `page[after]` = `meta.after_cursor` while `meta.has_more`."""
        while True:
            data = self._call("GET", path, None, params=params).data
            records = data.get(key)
            yield from (record for record in records if isinstance(record, dict)) if isinstance(records, list) else ()
            meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
            cursor = meta.get("after_cursor")
            if meta.get("has_more") is not True or not isinstance(cursor, str) or not cursor:
                return
            params = {**params, "page[after]": cursor}

    def upload(self, filename: str, data: bytes, content_type: str) -> str:
        """Upload one file (POST /api/v2/uploads.json?filename=…, "Upload Files", developer.zendesk.com/
        api-reference/ticketing/tickets/ticket-attachments): the raw bytes as the body, with the
        file's own Content-Type; the upload token, which attaches the file when a comment names it
        in `uploads` on a ticket's creation or update. A token is valid 60 minutes and attaches once:
        upload in the same delivery as the comment. An upload whose answer was lost leaves an orphan
        that Zendesk deletes when its token expires, so uploading again is safe."""
        file = (data, content_type or BINARY_TYPE)
        response = self._call("POST", "/api/v2/uploads.json", None, params={"filename": filename}, file=file)
        upload = response.data.get("upload")
        token = upload.get("token") if isinstance(upload, dict) else None
        if not isinstance(token, str) or not 0 < len(token) <= UPLOAD_TOKEN_MAX:
            raise Rejected("Zendesk's upload answered without a valid token")
        return token

    def download(self, url: str, max_bytes: int) -> bytes:
        """The file at an attachment's `content_url`, refused (Rejected) when larger than `max_bytes`:
        by its Content-Length before reading, else as soon as the body passes the limit.

        A content_url "may be hosted externally" and Zendesk's credentials must not reach third
        parties ("Working with url properties", linked from "List Comments"). So a URL is fetched
        with the API token (which private attachments need) only on the configured Zendesk's own
        origin; over https on Zendesk's hosts (`*.zendesk.com`, its file host `*.zdusercontent.com`,
        whose links are signed) without it; anything else is Rejected unasked. Redirects (Zendesk
        sends attachments on to its file host) are followed here, at most REDIRECTS_MAX, each hop
        judged the same way, so the token never leaves the configured origin whatever requests
        would do."""
        bare = requests.Session()  # no credentials: for hops off the configured origin
        try:
            for _hop in range(REDIRECTS_MAX + 1):
                response = self._fetch_file(url, bare)
                if response.status_code not in REDIRECT_STATUSES:
                    return _read_capped(response, max_bytes)
                response.close()
                location = response.headers.get("Location")
                if not location:
                    raise Rejected(f"{response.status_code} redirect without a Location for an attachment")
                url = urljoin(url, location)
            raise Rejected(f"more than {REDIRECTS_MAX} redirects for an attachment")
        finally:
            bare.close()

    def _fetch_file(self, url: str, bare: requests.Session) -> requests.Response:
        """One GET of a file, not following redirects: with the API token on the configured origin,
        without it on Zendesk's other hosts over https; Rejected anywhere else."""
        if not _unambiguous(url):
            raise Rejected(f"an attachment address that can be read two ways is not fetched: {url[:REFUSAL_MAX]!r}")
        parts = urlsplit(url)
        own = _origin(url) == _origin(self.base_url)
        zendesk_host = parts.scheme == FILE_SCHEME and (parts.hostname or "").endswith(FILE_HOSTS)
        if not own and not zendesk_host:
            raise Rejected(f"an attachment outside Zendesk is not fetched: {url[:REFUSAL_MAX]}")
        # Identity encoding keeps the byte count honest (no compressed bomb behind a small body).
        headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
        session = self.session if own else bare
        return send(session, "GET", url, self.timeout, headers=headers, stream=True, allow_redirects=False)

    def own_user_id(self) -> int:
        """The API user's own id (GET /api/v2/users/me.json), asked once per process."""
        key = (self.base_url, self.email)
        if key not in _own_ids:
            user = self._call("GET", "/api/v2/users/me.json", None).data.get("user")
            user_id = parse_id(user.get("id")) if isinstance(user, dict) else None
            if user_id is None:
                raise Rejected("Zendesk's users/me answered without a valid user id")
            _own_ids[key] = user_id
        return _own_ids[key]

    def user_id_for_email(self, email: str) -> int | None:
        """GET /api/v2/users/search.json?query=email:…: the id of the Zendesk user with that
        e-mail, or None when Zendesk has none."""
        response = self._call("GET", "/api/v2/users/search.json", None, params={"query": f"email:{email}"})
        users = response.data.get("users")
        for user in users if isinstance(users, list) else []:
            if isinstance(user, dict) and str(user.get("email", "")).lower() == email.lower():
                return parse_id(user.get("id"))
        return None


def _unambiguous(url: str) -> bool:
    """Whether `url` names the same host for urllib, which judges where the token may go, and for
    urllib3, which requests connects with: they read backslashes, user information, spaces and
    control characters differently (`https://evil.example` + backslash + `@edye.zendesk.com/` is
    Zendesk to one and evil.example to the other), so such addresses are refused."""
    if not url.isascii() or any(char <= " " or char in "\\\x7f" for char in url):
        return False
    parts = urlsplit(url)
    if "@" in parts.netloc:
        return False
    try:
        return (parse_url(url).host or "").lower() == (parts.hostname or "")
    except LocationParseError:
        return False


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port: what must match for the API token to be sent."""
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # a port that is no number
        port = None
    return parts.scheme, (parts.hostname or ""), port


def _read_capped(response: requests.Response, max_bytes: int) -> bytes:
    """The body of a file's answer, at most `max_bytes`; its status classified as any answer's."""
    try:
        check_status(response, RATE_LIMIT_WAIT, _error_text)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise Rejected(f"the attachment has {declared} bytes, over {max_bytes}")
        body = bytearray()
        for chunk in response.iter_content(DOWNLOAD_CHUNK):
            body += chunk
            if len(body) > max_bytes:
                raise Rejected(f"the attachment is over {max_bytes} bytes")
        return bytes(body)
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
        raise RetryLater(f"{type(error).__name__}: {error}") from None
    finally:
        response.close()


def _error_text(response: requests.Response) -> str:
    """Zendesk's own words for a refusal (error, description and field details)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return excerpt(response)
    parts = [str(data.get("error", "")), str(data.get("description", ""))]
    for field, problems in (data.get("details") or {}).items():
        for problem in problems if isinstance(problems, list) else [problems]:
            text = problem.get("description", problem) if isinstance(problem, dict) else problem
            parts.append(f"{field}: {text}")
    return " — ".join(part for part in parts if part)[:REFUSAL_MAX]


def sign_webhook(secret: str, timestamp: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, timestamp + body)), as Zendesk signs its webhooks."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def parse_timestamp(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return moment if moment.tzinfo else None


def webhook_is_authentic(secret: str, signature: str, timestamp: str, body: bytes, now: datetime) -> bool:
    """A valid signature over a timestamp no older than five minutes (nor from the future)."""
    if not secret or not signature or not timestamp:
        return False
    moment = parse_timestamp(timestamp)
    if moment is None or abs(now - moment) > WEBHOOK_MAX_AGE:
        return False
    return hmac.compare_digest(sign_webhook(secret, timestamp, body), signature)
