"""Markdown to safe HTML (KB articles, ticket comments, staff screens) and plain text for the index."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import unquote

import markdown
import nh3
from markupsafe import Markup

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "id"},
    "img": {"src", "alt", "title", "width", "height"},
    "code": {"class"},
    "th": {"align"},
    "td": {"align"},
    "h1": {"id"},
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
    "h5": {"id"},
    "h6": {"id"},
}
# `data` is let through the scheme check only to reach `_filter_attribute`, which keeps it for
# images of the types below and drops it everywhere else.
URL_SCHEMES = {"http", "https", "mailto", "data"}
# Every id in rendered content starts with this, and no page of the portal uses it for its own ids
# (a test scans the templates), so content can never take the place of an htmx target.
ID_PREFIX = "md-"
DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*", re.IGNORECASE)
ATTACHMENT_PATH = re.compile(r"/attachments/[A-Za-z0-9._~%/-]+")
ATTACHMENT_SEGMENT = re.compile(r"[^/\\?#]+")


def _markdown() -> markdown.Markdown:
    return markdown.Markdown(
        extensions=["tables", "fenced_code", "sane_lists", "toc"],
        extension_configs={"toc": {"permalink": False, "toc_depth": "2-4"}},
        output_format="html",
    )


def _is_attachment_path(url: str) -> bool:
    """A path under /attachments/ that a browser cannot resolve to anywhere else (no dot
    segments, encoded or not, no backslashes, no query)."""
    if not ATTACHMENT_PATH.fullmatch(url):
        return False
    segments = unquote(url).split("/")[2:]
    return all(ATTACHMENT_SEGMENT.fullmatch(segment) and segment not in (".", "..") for segment in segments)


def _image_source(url: str) -> str | None:
    """Images never make the reader's browser call the portal's own routes (a GET with the reader's
    session): only attachments and inline pictures are shown. External images are dropped too:
    the CSP would block them anyway, and dropping them keeps the text the same wherever it is
    shown, without a request that tells another site who is reading."""
    url = url.strip()
    if DATA_IMAGE.fullmatch(url) or _is_attachment_path(url):
        return url
    return None


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src":
        return _image_source(value)
    if attribute in ("href", "src") and value.strip().lower().startswith("data:"):
        return None
    if tag == "a" and attribute == "href" and value.startswith("#") and not value.startswith("#" + ID_PREFIX):
        # In-text links follow their (prefixed) heading.
        return "#" + ID_PREFIX + value[1:]
    return value


_cleaner = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes=URL_SCHEMES,
    attribute_filter=_filter_attribute,
    id_prefix=ID_PREFIX,
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
)


def sanitize(html: str) -> str:
    """Keep only harmless markup: no script, handlers, styles or javascript: URLs; ids namespaced
    with ID_PREFIX; images only from attachments or inline data."""
    return _cleaner.clean(html)


def render_markdown(text: str) -> Markup:
    """Markdown rendered (tables, fenced code, heading anchors) and then sanitized."""
    return Markup(sanitize(_markdown().convert(text or "")))


def plain_text(text: str) -> str:
    """The readable words of a Markdown text, for indexing and snippets."""
    html = _markdown().convert(text or "")
    return " ".join(unescape(nh3.clean(html, tags=set())).split())
