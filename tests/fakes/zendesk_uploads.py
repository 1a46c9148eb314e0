"""The fake Zendesk's files: uploads, comments' attachments, their downloads, and List Comments.

What it plays, from the documentation read:
- "Upload Files" (`POST /api/v2/uploads?filename={filename}[&token=…]`, developer.zendesk.com/
  api-reference/ticketing/tickets/ticket-attachments): the body is the file's bytes and the
  `Content-Type` header its MIME type; `filename` is required. Answer 201 `{"upload": {"token",
  "expires_at", "attachment": {...}, "attachments": [...]}}` (`expires_at` as a real answer showed it,
  zendesk/zendesk_api_client_rb issue 248). A `token` adds the file to that upload. "The token is
  valid for 60 minutes" (the same page; older copies said 3 days: the fake keeps the shorter).
  A blank content type is refused with 422 "Content type cannot be blank" (the real answer quoted
  in Speedygeek/ZendeskApi_v2 issue 351); the wording for a blank filename is the fake's own.
- The attachment object (same page): `id` (64-bit here, from the fake's event ids; the page's
  example is 1503729607981), `file_name`, `content_type`, `size`, `content_url` and
  `mapped_content_url` (`…/attachments/token/<random>/?name=<file>`, as in the example), `url`,
  `inline`, `deleted`, `malware_access_override`, `malware_scan_result`, `thumbnails`, `width`, `height`.
- Attaching ("Can I attach files to tickets using the API", support.zendesk.com/hc/en-us/articles/
  4408887057946; "Adding ticket attachments with the API", developer.zendesk.com/documentation/
  ticketing/managing-tickets/adding-ticket-attachments-with-the-api): a comment's `uploads` names the
  tokens, on ticket creation or update only; files never attached are deleted when their token
  expires (a 404 afterwards). Until attached, any authenticated user may fetch a file; once attached,
  only users with access to the ticket, when private attachments are on. Downloads here always need
  the API credentials (401 otherwise), so the portal is seen to send them.
- What Zendesk answers a comment naming an unknown, expired or already used token was not found
  documented. The fake refuses such a comment with a 422 `RecordInvalid` on `uploads` (nothing of
  the update is applied), so a test sees the mistake instead of a comment without its file; each
  token, once used, belongs to that ticket (`upload_uses`).
- The size limit: 50 MB per file for tickets (eesel.ai's summary of Zendesk's attachment limits);
  what the API answers beyond it was not found: the fake answers 413.
- "List Comments" (`GET /api/v2/tickets/{ticket_id}/comments`, developer.zendesk.com/api-reference/
  ticketing/tickets/ticket_comments): oldest first, cursor pagination of at most 100; each comment
  with `attachments`. Its `content_url` "may be hosted externally", so credentials must not be sent
  to third parties ("Working with url properties", linked from that page). Zendesk sends attachment
  downloads on to its file host, `*.zdusercontent.com`, whose links are signed and which refuses an
  Authorization header (as integrations report it, e.g. a Zendesk MCP server's attachment tool found
  by find_string); `files_redirect` plays that, towards a second server of the test's.
- Faults: the fake's `faults`/`fault_rate` apply to these requests too; an upload whose answer is
  lost ("drop-answer", "500-after") is stored, its token in `answers_lost`, never known to the client.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from tests.fakes.server import json_body
from tests.fakes.zendesk_shapes import cursor_page, not_found, record_invalid

UPLOADS_PATH = "/api/v2/uploads.json"
UPLOAD_TTL = 3600.0  # seconds an upload token stays valid
UPLOAD_MAX_BYTES = 50 * 1024 * 1024
TOKEN_LENGTH = 25  # as the documented example "LXJdriewLBP8JrtzzkN7Ne4k6"
ANSWER_LOST = ("drop-answer", "500-after")  # faults that do the work and lose its answer
COMMENTS_PATH = re.compile(r"^/api/v2/tickets/(\d+)/comments\.json$")
DOWNLOAD_PREFIX = "/attachments/token/"


def random_token() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(TOKEN_LENGTH))


@dataclass
class StoredFile:
    data: bytes
    content_type: str
    attachment: dict  # the attachment object Zendesk shows for it


@dataclass
class Upload:
    expires_at: float  # on the fake's clock
    files: list[StoredFile] = field(default_factory=list)


@dataclass
class UploadsMixin:
    """Files for `FakeZendesk` (tests/fakes/zendesk.py), which gives it `_lock`, `_now()`,
    `_event_ids`, `url`, `tickets`, `comments`, `_comment()`, `_audit()`, `_headers()`, `requests`
    and `headers_seen`."""

    upload_ttl: float = UPLOAD_TTL
    upload_max_bytes: int = UPLOAD_MAX_BYTES
    files_redirect: str = ""  # where downloads are sent on (Zendesk's file host), or "" to serve them
    uploads: dict[str, Upload] = field(default_factory=dict)  # token → its files
    upload_uses: dict[str, int] = field(default_factory=dict)  # token → the ticket it was attached on
    answers_lost: set[str] = field(default_factory=set)  # tokens whose upload's answer was lost
    _files: dict[str, tuple[str, StoredFile]] = field(default_factory=dict)  # download key → (token, file)

    def orphans(self) -> set[str]:
        """Tokens never attached to a comment."""
        with self._lock:
            return set(self.uploads) - set(self.upload_uses)

    def add_comment_with_files(
        self, ticket_id: int, author_id: int, body: str, files: list[tuple[str, bytes, str]], public: bool = True
    ) -> dict:
        """A comment made in Zendesk (the agent interface, or the requester on the help center) with
        `files` ((name, bytes, content type) each) attached; its audit. No status changes."""
        with self._lock:
            token = random_token()
            self.uploads[token] = Upload(self._now() + self.upload_ttl)
            for name, data, content_type in files:
                self._store(token, name, data, content_type)
            comment = {"body": body, "public": public, "author_id": author_id, "uploads": [token]}
            event = self._comment(ticket_id, comment)
            return self._audit(next(self._event_ids), ticket_id, {}, [event], author_id, channel="web")

    def _route_files(self, method: str, path: str, query: dict, headers, body: bytes, fault: str | None):
        """The answer to an upload, a download or a list of comments; None for other requests."""
        comments_route = COMMENTS_PATH.match(path)
        if method == "POST" and path == UPLOADS_PATH:
            self._record(method, path, headers, {"filename": query.get("filename"), "size": len(body)})
            return self._upload(query, headers.get("Content-Type", ""), body, fault)
        if method == "GET" and path.startswith(DOWNLOAD_PREFIX):
            self._record(method, path, headers, {})
            return self._download(path.removeprefix(DOWNLOAD_PREFIX).rstrip("/"))
        if method == "GET" and comments_route:
            self._record(method, path, headers, {})
            return self._list_comments(int(comments_route.group(1)), query)
        return None

    def _record(self, method: str, path: str, headers, data: dict) -> None:
        with self._lock:
            self.requests.append((method, path, data))
            self.headers_seen.append(dict(headers.items()))

    def _upload(self, query: dict, content_type: str, body: bytes, fault: str | None):
        filename = query.get("filename", "").strip()
        if not filename:
            return record_invalid("filename", "Filename: cannot be blank", "BlankValue")
        if not content_type:
            return record_invalid("content_type", "Content type cannot be blank", "BlankValue")
        if len(body) > self.upload_max_bytes:
            return json_body({"error": "PayloadTooLarge", "description": "File is too large"}, 413)
        with self._lock:
            token = query.get("token")
            if token is None:
                token = random_token()
                self.uploads[token] = Upload(self._now() + self.upload_ttl)
            elif not self._open(token):
                return not_found()
            upload = self.uploads[token]
            stored = self._store(token, filename, body, content_type)
            if fault in ANSWER_LOST:
                self.answers_lost.add(token)
            expires = datetime.now(UTC) + timedelta(seconds=upload.expires_at - self._now())
            answer = {
                "token": token,
                "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "attachment": stored.attachment,
                "attachments": [file.attachment for file in upload.files],
            }
        return json_body({"upload": answer}, 201, **self._headers())

    def _open(self, token: str) -> bool:
        """Whether `token` names an upload that may still be attached (known, unused, unexpired)."""
        upload = self.uploads.get(token)
        return upload is not None and token not in self.upload_uses and self._now() < upload.expires_at

    def _store(self, token: str, name: str, data: bytes, content_type: str) -> StoredFile:
        key = random_token()
        content_url = f"{self.url}{DOWNLOAD_PREFIX}{key}/?name={quote(name)}"
        attachment_id = next(self._event_ids)
        attachment = {
            "id": attachment_id,
            "url": f"{self.url}/api/v2/attachments/{attachment_id}.json",
            "file_name": name,
            "content_url": content_url,
            "mapped_content_url": content_url,
            "content_type": content_type,
            "size": len(data),
            "width": None,
            "height": None,
            "inline": False,
            "deleted": False,
            "malware_access_override": False,
            "malware_scan_result": "malware_not_found",
            "thumbnails": [],
        }
        stored = StoredFile(data, content_type, attachment)
        self.uploads[token].files.append(stored)
        self._files[key] = (token, stored)
        return stored

    def _uploads_refusal(self, comment: dict):
        """The 422 for a comment whose `uploads` cannot all be attached, or None."""
        tokens = comment.get("uploads", [])
        if not isinstance(tokens, list) or not all(isinstance(token, str) for token in tokens):
            return record_invalid("uploads", "Uploads: must be a list of upload tokens")
        for token in tokens:
            if token not in self.uploads:
                return record_invalid("uploads", f"Uploads: unknown token {token}")
            if token in self.upload_uses or tokens.count(token) > 1:
                return record_invalid("uploads", f"Uploads: token {token} was already used")
            if not self._open(token):
                return record_invalid("uploads", f"Uploads: token {token} has expired")
        return None

    def _attach(self, ticket_id: int, tokens: list[str]) -> list[dict]:
        """Attach the uploads of `tokens` (checked by `_uploads_refusal`) on `ticket_id`: their files'
        attachment objects."""
        attachments = []
        for token in tokens:
            self.upload_uses[token] = ticket_id
            attachments.extend(dict(file.attachment) for file in self.uploads[token].files)
        return attachments

    def _download(self, key: str):
        with self._lock:
            token, stored = self._files.get(key, (None, None))
            kept = token is not None and (token in self.upload_uses or self._open(token))
        if not kept:
            return not_found()  # unknown, or never attached and expired: Zendesk deleted it
        if self.files_redirect:
            return 302, {"Location": f"{self.files_redirect}/attachment/{key}"}, b""
        return 200, {"Content-Type": stored.content_type}, stored.data

    def _list_comments(self, ticket_id: int, query: dict):
        with self._lock:
            if ticket_id not in self.tickets:
                return not_found()
            comments = [dict(comment) for comment in self.comments.get(ticket_id, [])]
        url = f"{self.url}/api/v2/tickets/{ticket_id}/comments.json"
        return cursor_page(comments, query, "comments", url, self._headers())
