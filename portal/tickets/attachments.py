"""Files on tickets: the `Attachment` record, uploads checked before anything of their message is
stored, their bytes kept in the configured storage (`portal.files`) with a thumbnail for images,
and who may read them back (the ticket's own rule; internal ones never reach partners).

A file's bytes are written before its record is committed; when that transaction rolls back, the
files it wrote are deleted again (`_forget_files_of_a_failed_transaction`), so neither a record
without its file nor an orphan file is left behind.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from flask import current_app
from flask_babel import ngettext
from sqlalchemy import BigInteger, ForeignKey, Index, String, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from auth.models import User
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.types import UTCDateTime, utcnow
from portal.files.checks import FILENAME_MAX, CheckedFile, FileRefused, check_file, read_limited
from portal.files.storage import storage
from portal.files.thumbnails import thumbnail
from portal.tickets.models import Comment, Ticket

log = logging.getLogger("portal.attachments")

FIELD = "attachments"  # the forms' file field, where a refusal is shown
CONTENT_TYPE_MAX = 100
STORAGE_KEY_MAX = 80
THUMBNAIL_SUFFIX = ".thumb.png"
WRITTEN = "attachment_files_written"  # the session's `info` key for files written in this transaction


class Attachment(db.Model):
    """A file attached to a ticket: to its description (no comment) or to one of its comments,
    public or internal like that comment. Files fetched from Zendesk carry their Zendesk id (unique,
    so each is fetched once)."""

    __tablename__ = "ticket_attachments"
    __table_args__ = (Index("ix_ticket_attachments_ticket_comment", "ticket_id", "comment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_comments.id", ondelete="CASCADE"))
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(FILENAME_MAX))
    content_type: Mapped[str] = mapped_column(String(CONTENT_TYPE_MAX))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(STORAGE_KEY_MAX), unique=True)
    has_thumbnail: Mapped[bool] = mapped_column(default=False)
    public: Mapped[bool] = mapped_column(default=True)
    zendesk_attachment_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    uploader: Mapped[User | None] = relationship()

    @property
    def thumbnail_key(self) -> str:
        return self.storage_key + THUMBNAIL_SUFFIX


@dataclass(frozen=True)
class Upload:
    """A file as it was sent: the name it came with and a stream to read its bytes from."""

    filename: str
    stream: BinaryIO


def check(sent: Sequence[Upload]) -> list[CheckedFile]:
    """Every file read and checked (count, size, type by content) before anything is stored:
    InvalidInput on the file field for the first one refused."""
    most = current_app.config["ATTACHMENTS_MAX_FILES"]
    if len(sent) > most:
        message = ngettext(
            "Attach at most %(num)d file to one message.", "Attach at most %(num)d files to one message.", most
        )
        raise InvalidInput(message, FIELD)
    max_bytes = current_app.config["ATTACHMENTS_MAX_BYTES"]
    try:
        return [
            check_file(upload.filename, read_limited(upload.stream, max_bytes, upload.filename), max_bytes)
            for upload in sent
        ]
    except FileRefused as refused:
        raise InvalidInput(refused.message, FIELD) from None


def store(
    ticket: Ticket,
    files: Sequence[CheckedFile],
    uploader: User | None,
    comment: Comment | None = None,
    public: bool | None = None,
    zendesk_ids: Sequence[int | None] = (),
) -> list[Attachment]:
    """Keep `files` on `ticket` (on `comment` when given, else with its description) in the
    caller's transaction: each file and an image's thumbnail are written now, and deleted again if
    that transaction rolls back. They are public like their comment (a description's are, unless
    `public` says otherwise). `zendesk_ids`: the Zendesk attachment id of each file, when it came
    from there."""
    if public is None:
        public = comment.public if comment is not None else True
    kept = []
    for position, file in enumerate(files):
        token = secrets.token_hex(16)
        key = f"{token[:2]}/{token}"
        _write(key, file.data, file.content_type)
        small = thumbnail(file.data) if file.is_image else None
        if small is not None:
            _write(key + THUMBNAIL_SUFFIX, small, "image/png")
        attachment = Attachment(
            ticket_id=ticket.id,
            comment_id=comment.id if comment is not None else None,
            uploader=uploader,
            filename=file.filename,
            content_type=file.content_type,
            size=file.size,
            sha256=file.sha256,
            storage_key=key,
            has_thumbnail=small is not None,
            public=public,
            zendesk_attachment_id=zendesk_ids[position] if position < len(zendesk_ids) else None,
        )
        db.session.add(attachment)
        kept.append(attachment)
    db.session.flush()
    return kept


def _write(key: str, data: bytes, content_type: str) -> None:
    if db.session().in_nested_transaction():
        # A savepoint's own files could not be told from its parent's when only it rolls back.
        raise RuntimeError("attachments are written in a session's outermost transaction only")
    # Noted first: a write that times out may have stored the file all the same.
    db.session.info.setdefault(WRITTEN, []).append(key)
    storage().put(key, data, content_type)


# SQLAlchemy sends these for savepoints too; only the outermost transaction decides.
@event.listens_for(Session, "after_commit")
def _keep_files_of_a_committed_transaction(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(WRITTEN, None)


@event.listens_for(Session, "after_rollback")
def _forget_files_of_a_failed_transaction(session: Session) -> None:
    """The records of these files were never committed: their bytes go too."""
    if session.in_nested_transaction():
        return
    written = session.info.pop(WRITTEN, None)
    if not written:
        return
    files = storage()
    for key in written:
        try:
            files.delete(key)
        except Exception:  # the rollback itself must go on; an orphan file harms nobody
            log.warning("could not delete %s after a rolled-back transaction", key, exc_info=True)


def of_ticket(ticket: Ticket, include_internal: bool) -> dict[int | None, list[Attachment]]:
    """The ticket's files by comment id (None: the description's), oldest first, in one query;
    internal ones only for staff."""
    statement = select(Attachment).where(Attachment.ticket_id == ticket.id).order_by(Attachment.id)
    if not include_internal:
        statement = statement.where(Attachment.public.is_(True))
    grouped: dict[int | None, list[Attachment]] = {}
    for attachment in db.session.scalars(statement):
        grouped.setdefault(attachment.comment_id, []).append(attachment)
    return grouped


def readable(user: User, ticket: Ticket, attachment_id: int) -> Attachment | None:
    """The attachment if `user`, who may see `ticket`, may read it: one of that ticket's, and
    public unless `user` is staff."""
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.ticket_id != ticket.id:
        return None
    return attachment if attachment.public or user.is_staff else None


def by_ids(ids: Iterable[int]) -> list[Attachment]:
    """The attachments of an outbox message, in the order given (those deleted since are gone)."""
    ids = list(ids)
    found = {a.id: a for a in db.session.scalars(select(Attachment).where(Attachment.id.in_(ids)))} if ids else {}
    return [found[i] for i in ids if i in found]


def data_of(attachment: Attachment) -> bytes:
    with storage().open(attachment.storage_key) as stream:
        return stream.read()
