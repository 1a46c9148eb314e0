"""Reading the portal's HTML as a browser would: the markup in a page that could run or act on its
own (scripts, handlers, dangerous URLs, htmx attributes, styles, <base>, <meta http-equiv>,
foreign forms, images requesting the portal's own routes, ids taken from the page), CSV cells a
spreadsheet would evaluate, and the forms a page offers."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

# What every XSS payload of the test suite carries in what it tries to smuggle in: the word `xss`
# standing alone (a random token such as a CSRF token may well contain the letters) or the host.
MARKER = re.compile(r"(?<![A-Za-z0-9])xss(?![A-Za-z0-9])|evil\.example", re.I)
URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "xlink:href",
    "poster",
    "background",
    "data",
    "srcset",
    "ping",
    "lowsrc",
    "dynsrc",
    "cite",
    "codebase",
    "manifest",
    "icon",
}
SAFE_DATA_URL = re.compile(r"^data:image/(png|gif|jpe?g|webp);", re.I)
MEDIA_TAGS = {"img", "image", "video", "audio", "source", "input"}
FORBIDDEN_TAGS = {"base", "iframe", "frame", "frameset", "object", "embed", "applet", "portal"}
HEAD_ONLY_TAGS = {"meta", "link", "style"}
CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# The ids the portal's own templates give their elements (htmx targets, form controls, anchors).
PAGE_IDS = frozenset(
    match
    for template in TEMPLATES.rglob("*.html")
    for match in re.findall(r'\bid="([A-Za-z][\w-]*)"', template.read_text(encoding="utf-8"))
)


def _squeezed(value: str) -> str:
    """An attribute value as a URL parser sees its scheme: no whitespace or control characters."""
    return "".join(ch for ch in value if ord(ch) > 32 and not ch.isspace()).lower()


def _has_marker(value: str) -> bool:
    return bool(MARKER.search(value))


class MarkupAudit(HTMLParser):
    """Collects every element and attribute of a document that would run script, load a foreign
    resource, restyle or retarget the page, or drive htmx — unless the portal itself put it there
    (its own scripts come from /static/, its htmx attributes carry no payload marker outside the
    query string, its forms post to its own paths)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.in_body = False
        self.in_noscript = 0
        self.ids: Counter[str] = Counter()

    def handle_starttag(self, tag, attrs):
        self._element(tag, attrs)

    def handle_startendtag(self, tag, attrs):
        self._element(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "noscript" and self.in_noscript:
            self.in_noscript -= 1

    def _element(self, tag, attrs):
        values = {name: value or "" for name, value in attrs}
        described = f"<{tag} {' '.join(f'{n}={v!r}' for n, v in values.items())}>"[:300]
        if tag == "body":
            self.in_body = True
        if tag == "noscript":
            self.in_noscript += 1
        # A browser running scripts reads <noscript> as raw text: markup in its attributes is live.
        if self.in_noscript and any("<" in value and _has_marker(value) for value in values.values()):
            self.problems.append(f"markup inside noscript: {described}")
        if tag == "script" and not values.get("src", "").startswith("/static/"):
            self.problems.append(f"script: {described}")
        if tag in FORBIDDEN_TAGS or (self.in_body and tag in HEAD_ONLY_TAGS):
            self.problems.append(f"forbidden element: {described}")
        if tag == "meta" and "http-equiv" in values:
            self.problems.append(f"meta http-equiv: {described}")
        if tag == "form" and (
            not values.get("action", "/").startswith("/")
            or values.get("action", "").startswith("//")
            or any(_has_marker(value) for value in values.values())
        ):
            self.problems.append(f"foreign form: {described}")
        if "id" in values:
            self.ids[values["id"]] += 1
        for name, value in values.items():
            problem = self._attribute_problem(tag, name, value)
            if problem:
                self.problems.append(f"{problem}: {described}")

    @staticmethod
    def _attribute_problem(tag: str, name: str, value: str) -> str | None:
        if name.startswith("on"):
            return "event handler"
        if name == "style":
            return "style attribute"
        if name in ("srcdoc", "http-equiv"):
            return name
        htmx = name[5:] if name.startswith("data-hx-") else name
        if htmx.startswith("hx-") and (htmx.startswith("hx-on") or _has_marker(value.split("?", 1)[0])):
            return "htmx attribute from content"
        if name in URL_ATTRIBUTES:
            url = _squeezed(value)
            if url.startswith(("javascript:", "vbscript:", "livescript:")):
                return "script URL"
            if url.startswith("data:") and not (tag == "img" and SAFE_DATA_URL.match(url)):
                return "data URL"
            if tag in MEDIA_TAGS and "evil.example" in url:
                return "foreign resource"
            if tag in MEDIA_TAGS and url.startswith("/") and _has_marker(url):
                return "image requesting a portal route"
        return None


def markup_problems(html: str) -> list[str]:
    """What in `html` could act on its own (empty when the page is clean)."""
    audit = MarkupAudit()
    audit.feed(html)
    audit.close()
    # A page id on two elements: content took it (and with it an htmx target or a form control).
    return audit.problems + [
        f"page id {name!r} taken by content" for name, count in audit.ids.items() if count > 1 and name in PAGE_IDS
    ]


def csv_problems(text: str) -> list[str]:
    """CSV cells carrying test content that a spreadsheet would read as a formula."""
    problems = []
    for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        for cell in row:
            if cell.startswith(CSV_TRIGGERS) and _has_marker(cell):
                problems.append(f"row {number}: {cell[:120]!r}")
    return problems


# Forms ----------------------------------------------------------------------------------------------


@dataclass
class Form:
    """A form (or a lone htmx control) of a page: where it goes and the fields it sends."""

    method: str
    action: str
    fields: dict[str, str] = field(default_factory=dict)


class FormReader(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.current: Form | None = None
        self.select: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            method = "post" if "hx-post" in values else values.get("method", "get")
            action = values.get("hx-post") or values.get("hx-get") or values.get("action", "")
            self.current = Form(method.upper(), action)
            self.forms.append(self.current)
            return
        target = self.current
        if target is None and ("hx-post" in values or "hx-get" in values) and "name" in values:
            target = Form("POST" if "hx-post" in values else "GET", values.get("hx-post") or values["hx-get"])
            self.forms.append(target)
        if target is None or "name" not in values:
            if tag == "option" and self.select and self.current is not None:
                self._option(values)
            return
        name = values["name"]
        if tag == "input":
            kind = values.get("type", "text")
            if kind in ("checkbox", "radio") and name in target.fields and "checked" not in values:
                return
            target.fields[name] = values.get("value", "on" if kind in ("checkbox", "radio") else "")
        elif tag == "select":
            self.select = name
            target.fields.setdefault(name, "")
        elif tag == "textarea":
            self.textarea = name
            target.fields[name] = ""
        else:
            target.fields[name] = values.get("value", "")

    def _option(self, values):
        fields = self.current.fields
        if "selected" in values or not fields.get(self.select):
            fields[self.select] = values.get("value", "")

    def handle_data(self, data):
        if self.textarea and self.current is not None:
            self.current.fields[self.textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.current = None
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None


def forms_of(html: str) -> list[Form]:
    reader = FormReader()
    reader.feed(html)
    return reader.forms
