"""Files between the portal and Zendesk.

To Zendesk, a message's files are uploaded (`POST /api/v2/uploads.json`) in the same delivery as
the comment that carries their tokens (`comment.uploads`), so a comment is never posted without
its files: an upload that fails fails the delivery, and the retry uploads them again (a token not
used expires in Zendesk).

From Zendesk, the files of a comment made there (or of the description of a ticket born there)
are fetched once by the worker: the comment is read through the comments API (`GET
/api/v2/tickets/{id}/comments.json`), each attachment downloaded with the API's credentials and
checked like an upload; a file the portal refuses (its type, its size, a malware finding) is left
in Zendesk and named in the log.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from portal.core.extensions import db
from portal.files.checks import CheckedFile, FileRefused, check_file
from portal.files.storage import FileMissing
from portal.integrations import outbox
from portal.integrations.http import NotFound, Rejected
from portal.integrations.models import Target
from portal.integrations.zendesk import parse_id
from portal.tickets import attachments
from portal.tickets.attachments import Attachment
from portal.tickets.models import Comment, Ticket
from portal.tickets.outbound import ATTACHMENT_IDS

log = logging.getLogger("portal.zendesk")

FETCH_FILES = "fetch_files"  # the outbox kind of a comment's files to bring from Zendesk
# What Zendesk's malware scan may say of a file ("Attachments", attachment object): only files it
# found clean, or did not scan, are brought.
MALWARE_FOUND = "malware_found"


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


def fetch_files(ticket: Ticket, comment: Comment | None) -> None:
    """Ask the worker to bring the files of `comment`, made in Zendesk (None: the first comment of
    a ticket born there, its description), in the caller's transaction."""
    which = comment.zendesk_comment_id if comment is not None else "description"
    outbox.enqueue(
        Target.ZENDESK,
        FETCH_FILES,
        {"comment_id": comment.id if comment is not None else None},
        f"zendesk:files:{ticket.id}:{which}",
        ticket_id=ticket.id,
    )


def _remote_comment(client, zendesk_ticket_id: int, zendesk_comment_id: int | None) -> dict | None:
    """The comment as Zendesk lists it (its first, oldest comment when no id is given)."""
    for remote in client.ticket_comments(zendesk_ticket_id):
        if zendesk_comment_id is None or parse_id(remote.get("id")) == zendesk_comment_id:
            return remote
    return None


def _brought(ticket: Ticket, remote: dict, client) -> list[tuple[int, CheckedFile]]:
    """The remote comment's files the portal keeps and does not have yet: (Zendesk id, checked)."""
    max_bytes = current_app.config["ATTACHMENTS_MAX_BYTES"]
    listed = [item for item in remote.get("attachments") or [] if isinstance(item, dict)]
    ids = [parse_id(item.get("id")) for item in listed]
    known = set(
        db.session.scalars(
            select(Attachment.zendesk_attachment_id).where(
                Attachment.zendesk_attachment_id.in_([i for i in ids if i is not None])
            )
        )
    )
    kept = []
    for zendesk_id, item in zip(ids, listed, strict=True):
        name = str(item.get("file_name") or "file")[:200]
        size, url = item.get("size"), item.get("content_url")
        if zendesk_id is None or zendesk_id in known or item.get("deleted") is True:
            continue
        if item.get("malware_scan_result") == MALWARE_FOUND or not isinstance(url, str):
            log.warning(
                "Zendesk attachment %s of %s not brought: malware found or no address", zendesk_id, ticket.reference
            )
            continue
        if isinstance(size, int) and size > max_bytes:
            log.warning("Zendesk attachment %s of %s not brought: %s bytes", zendesk_id, ticket.reference, size)
            continue
        try:
            kept.append((zendesk_id, check_file(name, client.download(url, max_bytes), max_bytes)))
        except (FileRefused, Rejected) as refused:
            log.warning("Zendesk attachment %s of %s not brought: %s", zendesk_id, ticket.reference, refused)
    return kept


def deliver_fetch_files(message, client) -> outbox.HandlerResult:
    """Bring the files of a comment made in Zendesk (see the module's docstring)."""
    ticket = db.session.get(Ticket, message.ticket_id)
    comment_id = message.payload.get("comment_id")
    comment = db.session.get(Comment, comment_id) if comment_id is not None else None
    if ticket is None or ticket.zendesk_id is None or (comment_id is not None and comment is None):
        return outbox.HandlerResult()
    try:
        remote = _remote_comment(client, ticket.zendesk_id, comment.zendesk_comment_id if comment else None)
    except NotFound:  # the Zendesk ticket was deleted: nothing left to bring
        remote = None
    if remote is None:
        log.warning("Zendesk lists no comment %s on ticket %s", comment_id, ticket.zendesk_id)
        return outbox.HandlerResult()
    brought = _brought(ticket, remote, client)
    attachments.store(
        ticket,
        [checked for _id, checked in brought],
        None,
        comment,
        public=comment.public if comment is not None else True,
        zendesk_ids=[zendesk_id for zendesk_id, _checked in brought],
    )
    return outbox.HandlerResult()


def register_handlers() -> None:
    outbox.register(Target.ZENDESK, FETCH_FILES, deliver_fetch_files)
