"""Files between the portal and Zendesk.

To Zendesk, a message's files are uploaded (`POST /api/v2/uploads.json`) in the same delivery as
the comment that carries their tokens (`comment.uploads`), so a comment is never posted without
its files: an upload that fails fails the delivery, and the retry uploads them again (a token not
used expires in Zendesk). Since each attempt names new tokens, a creation retried with files is
another request under another idempotency key (`keyed_by_uploads`): the ticket it may have
created already is looked for first (`zendesk_delivery`).

From Zendesk, the files of a comment made there (or of the first comment of a ticket born there)
are brought once by the worker: the comment is read through the comments API (`GET
/api/v2/tickets/{id}/comments.json`), each attachment downloaded with the API's credentials and
checked like an upload, and kept one at a time. A file the portal does not keep (its type, its
size, a malware finding, an address outside Zendesk) stays in Zendesk and is named on the staff
timeline. These messages belong to no ticket's queue: bringing files never holds back what the
portal sends about the ticket.
"""

from __future__ import annotations

import hashlib
import logging

from flask import current_app
from sqlalchemy import select

from portal.core.extensions import db
from portal.files.checks import FileRefused, check_file
from portal.files.storage import FileMissing
from portal.integrations import outbox
from portal.integrations.http import NotFound, Rejected
from portal.integrations.models import Target
from portal.integrations.zendesk import parse_id
from portal.tickets import attachments
from portal.tickets.attachments import Attachment
from portal.tickets.models import Comment, EventKind, Ticket
from portal.tickets.outbound import ATTACHMENT_IDS
from portal.tickets.states import record_event

log = logging.getLogger("portal.zendesk")

FETCH_FILES = "fetch_files"  # the outbox kind of a comment's files to bring from Zendesk
# Zendesk's malware scan result of a file it found infected ("Attachments", the attachment object).
MALWARE_FOUND = "malware_found"


# To Zendesk -------------------------------------------------------------------------------------


def upload_tokens(message, client) -> list[str]:
    """Upload each file the message names, now: the tokens its comment is to carry."""
    tokens = []
    for file in attachments.by_ids(message.payload.get(ATTACHMENT_IDS, [])):
        try:
            data = attachments.data_of(file)
        except FileMissing:
            raise Rejected(f"the file {file.id} of this message is missing from the storage") from None
        tokens.append(client.upload(file.filename, data, file.content_type))
    return tokens


def with_uploads(comment: dict, tokens: list[str]) -> dict:
    """The comment carrying the uploaded files' tokens."""
    return {**comment, "uploads": tokens} if tokens else comment


def keyed_by_uploads(key: str, tokens: list[str]) -> str:
    """The idempotency key of a creation carrying `tokens`: Zendesk refuses a key it knows with
    another request, and every attempt uploads anew."""
    return f"{key}:{hashlib.sha256(' '.join(tokens).encode()).hexdigest()[:16]}" if tokens else key


# From Zendesk -----------------------------------------------------------------------------------


def fetch_files(ticket: Ticket, comment: Comment | None) -> None:
    """Ask the worker to bring the files of `comment`, made in Zendesk (None: the first comment of
    a ticket born there), in the caller's transaction (which has flushed `comment`)."""
    which = comment.zendesk_comment_id if comment is not None else "first"
    payload = {
        "ticket_id": ticket.id,
        "zendesk_ticket_id": ticket.zendesk_id,
        "comment_id": comment.id if comment is not None else None,
        "zendesk_comment_id": comment.zendesk_comment_id if comment is not None else None,
    }
    outbox.enqueue(Target.ZENDESK, FETCH_FILES, payload, f"zendesk:files:{ticket.id}:{which}")


def _remote_comment(client, zendesk_ticket_id: int, zendesk_comment_id: int | None) -> dict | None:
    """The comment as Zendesk lists it (its first, oldest comment when no id is given); None when
    the ticket is gone from Zendesk or no longer lists it."""
    try:
        for remote in client.ticket_comments(zendesk_ticket_id):
            if zendesk_comment_id is None or parse_id(remote.get("id")) == zendesk_comment_id:
                return remote
    except NotFound:
        pass
    return None


def _why_not(item: dict, max_bytes: int) -> str | None:
    """Why an attachment is not brought before it is even downloaded, or None."""
    if item.get("deleted") is True:
        return "deleted in Zendesk"
    if item.get("malware_scan_result") == MALWARE_FOUND:
        return "malware found by Zendesk"
    if not isinstance(item.get("content_url"), str):
        return "no address"
    size = item.get("size")
    if isinstance(size, int) and size > max_bytes:
        return f"{size} bytes, over {max_bytes}"
    return None


def _bring(ticket: Ticket, comment: Comment | None, public: bool, items: list[dict], client) -> dict[str, str]:
    """Keep each new attachment of `items`, one at a time (never a whole comment's files in memory
    at once), at most ATTACHMENTS_MAX_FILES; the names of those not kept, with the reason."""
    config = current_app.config
    max_bytes, most = config["ATTACHMENTS_MAX_BYTES"], config["ATTACHMENTS_MAX_FILES"]
    ids = [parse_id(item.get("id")) for item in items]
    known = set(
        db.session.scalars(
            select(Attachment.zendesk_attachment_id).where(
                Attachment.zendesk_attachment_id.in_([i for i in ids if i is not None])
            )
        )
    )
    left, kept = {}, len(known)
    for zendesk_id, item in zip(ids, items, strict=True):
        name = str(item.get("file_name") or "")
        if zendesk_id is None or zendesk_id in known:
            continue
        reason = _why_not(item, max_bytes) or (f"more than {most} files" if kept >= most else None)
        if reason is None:
            try:
                checked = check_file(name, client.download(item["content_url"], max_bytes), max_bytes)
            except (FileRefused, Rejected) as refused:
                reason = refused.message if isinstance(refused, FileRefused) else str(refused)
            else:
                attachments.store(ticket, [checked], None, comment, public, zendesk_ids=[zendesk_id])
                kept += 1
        if reason is not None:
            left[name or str(zendesk_id)] = reason
            log.warning("Zendesk attachment %s of %s not brought: %s", zendesk_id, ticket.reference, reason)
    return left


def deliver_fetch_files(message, client) -> outbox.HandlerResult:
    """Bring the files of a comment made in Zendesk (see the module's docstring)."""
    payload = message.payload
    ticket = db.session.get(Ticket, payload["ticket_id"])
    comment = db.session.get(Comment, payload["comment_id"]) if payload["comment_id"] is not None else None
    if ticket is None or (payload["comment_id"] is not None and comment is None):
        return outbox.HandlerResult()
    remote = _remote_comment(client, payload["zendesk_ticket_id"], payload["zendesk_comment_id"])
    if remote is None:
        log.warning(
            "Zendesk ticket %s lists no comment %s: no files brought for %s",
            payload["zendesk_ticket_id"],
            payload["zendesk_comment_id"] or "(first)",
            ticket.reference,
        )
        return outbox.HandlerResult()
    items = [item for item in remote.get("attachments") or [] if isinstance(item, dict)]
    # A first comment's files are public only when Zendesk says that comment is.
    public = None if comment is not None else remote.get("public") is not False
    left = _bring(ticket, comment, public, items, client)
    if left:
        record_event(ticket, None, EventKind.FILES_NOT_BROUGHT, data={"files": left}, public=False)
    return outbox.HandlerResult()


def register_handlers() -> None:
    outbox.register(Target.ZENDESK, FETCH_FILES, deliver_fetch_files)
