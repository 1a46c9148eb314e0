"""What may be attached: a file's kind is decided by its content, never by its name, against an
allow-list suited to support (screenshots, PDFs, logs, HAR files, archives, short videos).

Kinds with a signature are recognised by `filetype` from their magic numbers (it reads the first
8,192 bytes; the kinds it knows: https://github.com/h2non/filetype.py#supported-types). A file
with no signature is text only when it decodes (UTF-8, or UTF-16 with its BOM) without NUL
characters; text that opens like a web page by the WHATWG MIME Sniffing Standard's HTML patterns
(https://mimesniff.spec.whatwg.org/#identifying-a-resource-with-an-unknown-mime-type), or like
an SVG or XML document (SVG can carry script), is refused: a browser may run it.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import BinaryIO

import filetype
from flask_babel import LazyString, format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.core.config import MEGABYTE

# The allow-list: content type → what a person calls it.
ATTACHMENT_TYPES: dict[str, LazyString] = {
    "image/png": _l("PNG image"),
    "image/jpeg": _l("JPEG image"),
    "image/gif": _l("GIF image"),
    "image/webp": _l("WebP image"),
    "application/pdf": _l("PDF document"),
    "text/plain": _l("text or log"),
    "application/json": _l("JSON or HAR"),
    "application/zip": _l("ZIP archive"),
    "application/gzip": _l("GZIP archive"),
    "video/mp4": _l("MP4 video"),
    "video/quicktime": _l("QuickTime video (MOV)"),
    "video/webm": _l("WebM video"),
}
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
TEXT_TYPE = "text/plain"
JSON_TYPE = "application/json"
JSON_NAME_ENDINGS = (".json", ".har")
# filetype tells an animated PNG apart; every browser shows it as a PNG.
CONTENT_TYPE_ALIASES = {"image/apng": "image/png"}

# Programs: the ones filetype recognises (by content type), then the ones it does not (by their
# first bytes), named by their format.
PROGRAM_TYPES = {
    "application/x-msdownload": "EXE",
    "application/x-executable": "ELF",
    "application/wasm": "WASM",
}
PROGRAM_SIGNATURES = (
    (b"\xfe\xed\xfa\xce", "Mach-O"),
    (b"\xfe\xed\xfa\xcf", "Mach-O"),
    (b"\xce\xfa\xed\xfe", "Mach-O"),
    (b"\xcf\xfa\xed\xfe", "Mach-O"),
    (b"\xca\xfe\xba\xbe", "Mach-O / Java"),  # a universal binary and a Java class share it
    (b"dex\n", "DEX"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "MSI"),  # the OLE container filetype did not name an Office file
)

# Text opening (after blank space) with one of these is a document a browser may render and run.
# The WHATWG HTML patterns need a tag-terminating byte (space or ">") after the name; blank space
# of any kind ends them here too, so "<p\n>" is refused as well.
HTML_TAG_NAMES = "html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p"
HTML_OPENING = re.compile(rf"\s*(?:<(?:{HTML_TAG_NAMES})(?:\s|>)|<!doctype\s+html(?:\s|>)|<!--)", re.IGNORECASE)
XML_OPENING = re.compile(r"\s*(?:<\?xml|<svg|<!doctype)", re.IGNORECASE)

FILENAME_MAX = 200
FILENAME_FALLBACK = "file"
EXTENSION_KEPT_MAX = 16  # a longer "extension" is part of the name, cut like the rest
# Characters a name shown to people may not carry: controls (C0 and C1), format characters
# (bidirectional overrides that make "txt.exe" read "exe.txt", zero-width ones), lone surrogates
# and line or paragraph separators.
UNSHOWN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
READ_CHUNK_BYTES = MEGABYTE


class FileRefused(Exception):
    """A file that may not be attached; `message` (translated) names it and says why."""

    def __init__(self, message: str, filename: str):
        super().__init__(message)
        self.message = message
        self.filename = filename


@dataclass(frozen=True)
class CheckedFile:
    """A file that may be attached: its display name, its content type decided by its content,
    its bytes, their count and their SHA-256 (hex)."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)
    size: int
    sha256: str

    @property
    def is_image(self) -> bool:
        return self.content_type in IMAGE_TYPES


def safe_filename(name: str) -> str:
    """The name kept for display and downloads: its last path part only (a browser may send a
    full Windows path), without control, bidirectional or zero-width characters, trimmed, at
    most FILENAME_MAX characters with its extension kept, and FILENAME_FALLBACK when nothing is
    left."""
    shown = "".join(
        c for c in unicodedata.normalize("NFC", name or "") if unicodedata.category(c) not in UNSHOWN_CATEGORIES
    )
    shown = re.split(r"[/\\]", shown)[-1].strip()
    if not shown.strip("."):
        return FILENAME_FALLBACK
    if len(shown) <= FILENAME_MAX:
        return shown
    stem, dot, extension = shown.rpartition(".")
    if dot and stem and len(extension) <= EXTENSION_KEPT_MAX:
        return f"{stem[: FILENAME_MAX - len(extension) - 1].rstrip()}.{extension}"
    return shown[:FILENAME_MAX].rstrip()


def check_file(filename: str, data: bytes, max_bytes: int) -> CheckedFile:
    """`data` as a file that may be attached under `filename`'s safe name; FileRefused when it is
    empty, larger than `max_bytes`, or of a kind the allow-list does not hold."""
    name = safe_filename(filename)
    if not data:
        raise FileRefused(_("%(name)s is empty.", name=name), name)
    if len(data) > max_bytes:
        raise _too_large(name, max_bytes)
    return CheckedFile(
        filename=name,
        content_type=_content_type(name, data),
        data=data,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def read_limited(stream: BinaryIO, max_bytes: int, filename: str) -> bytes:
    """The bytes of an upload (`FileStorage.stream`), read a chunk at a time and never more than
    `max_bytes` + 1 of them: FileRefused as soon as the file is known to be too large."""
    chunks, size = [], 0
    while chunk := stream.read(min(READ_CHUNK_BYTES, max_bytes + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(safe_filename(filename), max_bytes)
    return b"".join(chunks)


def megabytes(size: int) -> str:
    """A size in megabytes as the UI's locale writes it, to two decimals at most ("20", "1,5")."""
    return format_decimal(size / MEGABYTE, format="#,##0.##")


def _too_large(name: str, max_bytes: int) -> FileRefused:
    limit = megabytes(max_bytes)
    return FileRefused(
        _("%(name)s is larger than %(limit)s MB, the most one file may weigh.", name=name, limit=limit), name
    )


def _content_type(name: str, data: bytes) -> str:
    kind = filetype.guess(data)
    if kind is not None:
        content_type = CONTENT_TYPE_ALIASES.get(kind.mime, kind.mime)
        if content_type in ATTACHMENT_TYPES:
            return content_type
        if kind.mime in PROGRAM_TYPES:
            raise _refused(name, _("program (%(format)s)", format=PROGRAM_TYPES[kind.mime]))
        raise _refused(name, _("%(format)s file", format=kind.extension.upper()))
    for signature, program in PROGRAM_SIGNATURES:
        if data.startswith(signature):
            raise _refused(name, _("program (%(format)s)", format=program))
    text = _decoded_text(data)
    if text is None:
        raise _refused(name, _("binary file of an unknown kind"))
    if HTML_OPENING.match(text):
        raise _refused(name, _("web page (HTML)"))
    if XML_OPENING.match(text):
        raise _refused(name, _("SVG or XML document"))
    if name.lower().endswith(JSON_NAME_ENDINGS) and _is_json(text):
        return JSON_TYPE
    return TEXT_TYPE


def _refused(name: str, kind: str) -> FileRefused:
    accepted = ", ".join(str(label) for label in ATTACHMENT_TYPES.values())
    return FileRefused(
        _(
            "%(name)s cannot be attached. Detected: %(kind)s. You can attach: %(accepted)s.",
            name=name,
            kind=kind,
            accepted=accepted,
        ),
        name,
    )


def _decoded_text(data: bytes) -> str | None:
    """`data` as text when it is UTF-8 (a BOM allowed) or UTF-16 with its BOM, holding no NUL."""
    if data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"  # a UTF-32 BOM starts like UTF-16's: its NULs refuse it below
    else:
        encoding = "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True
