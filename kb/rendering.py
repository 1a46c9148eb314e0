"""Markdown to safe HTML, plain text for the index, and revision diffs."""
from __future__ import annotations

import difflib
from html import unescape
from dataclasses import dataclass

import markdown
import nh3
from markupsafe import Markup

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "s",
    "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "id"},
    "img": {"src", "alt", "title", "width", "height"},
    "code": {"class"},
    "th": {"align"},
    "td": {"align"},
    "h1": {"id"}, "h2": {"id"}, "h3": {"id"}, "h4": {"id"}, "h5": {"id"}, "h6": {"id"},
}
URL_SCHEMES = {"http", "https", "mailto"}


def _markdown() -> markdown.Markdown:
    return markdown.Markdown(
        extensions=["tables", "fenced_code", "sane_lists", "toc"],
        extension_configs={"toc": {"permalink": False, "toc_depth": "2-4"}},
        output_format="html",
    )


def sanitize(html: str) -> str:
    """Keep only harmless markup: no script, handlers, styles or javascript: URLs."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render_markdown(text: str) -> Markup:
    """Markdown rendered (tables, fenced code, heading anchors) and then sanitized."""
    return Markup(sanitize(_markdown().convert(text or "")))


def plain_text(text: str) -> str:
    """The readable words of a Markdown text, for indexing and snippets."""
    html = _markdown().convert(text or "")
    return " ".join(unescape(nh3.clean(html, tags=set())).split())


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same", "added", "removed", "gap"
    old_number: int | None
    new_number: int | None
    text: str


def diff_lines(old: str, new: str, context: int = 3) -> list[DiffLine]:
    """A line diff with `context` unchanged lines around each change (text left unescaped:
    templates escape it)."""
    old_lines, new_lines = (old or "").splitlines(), (new or "").splitlines()
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    lines: list[DiffLine] = []
    for group in matcher.get_grouped_opcodes(context):
        if lines:
            lines.append(DiffLine("gap", None, None, "…"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend(DiffLine("same", i1 + k + 1, j1 + k + 1, old_lines[i1 + k]) for k in range(i2 - i1))
                continue
            lines.extend(DiffLine("removed", i + 1, None, old_lines[i]) for i in range(i1, i2))
            lines.extend(DiffLine("added", None, j + 1, new_lines[j]) for j in range(j1, j2))
    return lines
