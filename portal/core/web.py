"""Rendering, response headers, error pages and other request plumbing shared by every feature."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, abort, jsonify, render_template, request
from flask_babel import force_locale, format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter import RateLimitExceeded
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InvalidRequestError
from werkzeug.exceptions import Aborter, HTTPException, SecurityError
from werkzeug.routing import IntegerConverter

from portal.core.extensions import db, limiter
from portal.core.logs import printable

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def render(page_template: str, fragment_template: str | None = None, /, status_code: int = 200, **context):
    """Render the full page, or only its fragment when htmx asked for part of the page.

    Boosted navigation (hx-boost) wants the whole page, and so does htmx restoring a
    pushed URL on Back or Forward (it replaces the whole body with the answer), so only
    other htmx requests get the fragment. Responses vary on all three headers so
    caches keep the page and the fragment apart.
    """
    htmx = request.htmx
    wants_fragment = fragment_template is not None and htmx and not htmx.boosted and not htmx.history_restore_request
    body = render_template(fragment_template if wants_fragment else page_template, **context)
    response = Flask.response_class(body, status=status_code, mimetype="text/html")
    response.vary.update(("HX-Request", "HX-Boosted", "HX-History-Restore-Request"))
    return response


# Row ids are PostgreSQL `integer` columns: anything larger cannot name a row (and would make the
# database raise instead of finding nothing).
DATABASE_ID_MAX = 2**31 - 1


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` in routes: a positive id within the database's range, otherwise no match (404)."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", DATABASE_ID_MAX)
        super().__init__(url_map, *args, **kwargs)


def database_id(value) -> int | None:
    """`value` (a query or form string) as a row id, or None when it cannot be one."""
    text = str(value or "").strip()
    # Length first: int() refuses strings of more than 4,300 digits with an error of its own.
    if not text.isascii() or not text.isdigit() or len(text) > len(str(DATABASE_ID_MAX)):
        return None
    number = int(text)
    return number if 0 < number <= DATABASE_ID_MAX else None


def show_form_error(form, error) -> None:
    """Put a service's InvalidInput message on the form field it names (or on the form)."""
    field = getattr(form, error.field or "", None)
    (field.errors if field is not None else form.form_errors).append(error.message)


def is_safe_redirect(target: str | None) -> bool:
    """True only for a path on this site ("/..."): no scheme, no host, no tricks."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


@dataclass(frozen=True)
class Page:
    """One page of a query's results."""

    items: list
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def paginate(select, number: int, per_page: int = 25) -> Page:
    """Run `select` for one page (clamped to the existing range) and count the whole."""
    total = db.session.scalar(db.select(db.func.count()).select_from(select.order_by(None).subquery()))
    pages = max(1, math.ceil(total / per_page))
    number = min(max(1, number), pages)
    items = list(db.session.scalars(select.limit(per_page).offset((number - 1) * per_page)))
    return Page(items=items, number=number, per_page=per_page, total=total)


def page_number() -> int:
    """The `page` query argument as a positive integer; junk means page 1."""
    return max(1, request.args.get("page", 1, type=int) or 1)


def render_list(page_template: str, fragment_template: str, select, /, per_page: int = 25, **context):
    """A list screen: the page of `select` the `page` query argument asks for, rendered as `page`
    (the fragment alone for htmx, as `render` decides) beside the rest of `context`."""
    return render(page_template, fragment_template, page=paginate(select, page_number(), per_page), **context)


ERROR_TITLES = {
    400: lambda: _("Bad request"),
    401: lambda: _("Please log in"),
    403: lambda: _("Access denied"),
    404: lambda: _("Page not found"),
    405: lambda: _("Method not allowed"),
    409: lambda: _("Conflict"),
    413: lambda: _("Request too large"),
    422: lambda: _("Invalid data"),
    429: lambda: _("Too many attempts"),
    500: lambda: _("Something went wrong"),
}
ERROR_MESSAGES = {
    400: lambda: _("The request could not be understood. Reload the page and try again."),
    401: lambda: _("Please log in to continue."),
    403: lambda: _("You do not have permission to see this page."),
    404: lambda: _("The page you asked for does not exist or is not available to you."),
    405: lambda: _("This address does not accept that kind of request."),
    409: lambda: _("This cannot be done in the current state. Reload the page and try again."),
    413: lambda: _("What you sent is larger than the portal accepts."),
    422: lambda: _("Some of the data sent is not valid. Check it and try again."),
    429: lambda: _("Too many attempts. Wait a few minutes and try again."),
    500: lambda: _("The error has been logged. Please try again later."),
}

# Machine clients (the Zendesk webhook) call paths under this prefix; their errors are JSON, in English.
MACHINE_PATH_PREFIX = "/integrations/"
FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class PortalAborter(Aborter):
    """`flask.abort()`: the portal's own refusals. Their descriptions are messages written for
    people; errors raised anywhere else (Werkzeug, libraries) may describe themselves with
    exception text, so the error page only shows descriptions marked here."""

    def __call__(self, code, *args, **kwargs):
        try:
            super().__call__(code, *args, **kwargs)
        except HTTPException as error:
            error.portal_message = True
            raise


def _for_status(table: dict, status: int):
    return table.get(status) or table[400 if status < 500 else 500]


def retry_wait() -> str | None:
    """How long until the rate limit that refused this request lets the client in, in words."""
    limit = limiter.current_limit
    if limit is None or not limit.breached:
        return None
    seconds = max(1, math.ceil(limit.reset_at - time.time()))
    return format_timedelta(timedelta(seconds=seconds), threshold=1)


def too_many_attempts_message() -> str:
    wait = retry_wait()
    return _("Too many attempts. Try again in %(wait)s.", wait=wait) if wait else ERROR_MESSAGES[429]()


def _error_detail(error: HTTPException | int, status: int) -> str:
    if isinstance(error, HTTPException):
        if getattr(error, "portal_message", False) and error.description != type(error).description:
            return str(error.description)
        if isinstance(error, CSRFError):
            return _("Your session expired. Reload the page and try again.")
        if isinstance(error, RateLimitExceeded):
            return too_many_attempts_message()
    return _for_status(ERROR_MESSAGES, status)()


def error_page(error: HTTPException | int):
    """The bilingual error page (htmx requests get the same message as a fragment); machine
    clients get `{"error": ...}`. Only messages the portal wrote are shown, never exception text."""
    status = error if isinstance(error, int) else (error.code or 500)
    if request.path.startswith(MACHINE_PATH_PREFIX):
        with force_locale("en"):
            response = jsonify(error=_error_detail(error, status))
        response.status_code = status
    else:
        title = _for_status(ERROR_TITLES, status)()
        response = render(
            "errors/error.html",
            "errors/_error.html",
            status_code=status,
            title=title,
            detail=_error_detail(error, status),
        )
    if isinstance(error, HTTPException):
        for name, value in error.get_headers():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
    return response


def _carries_null(fields) -> bool:
    return any("\x00" in name or "\x00" in value for name, value in fields.items(multi=True))


def _uploads_carry_null() -> bool:
    return any("\x00" in name or "\x00" in (upload.filename or "") for name, upload in request.files.items(multi=True))


# Every request body but one carrying files is a form or a JSON document: nothing larger is read.
FORM_BODY_MAX = 2 * 1024 * 1024


def accepts_files(view):
    """Mark a view whose form carries files: its requests may be as large as MAX_CONTENT_LENGTH;
    every other view's stop at FORM_BODY_MAX (413), so no large body is read where none belongs."""
    view.accepts_files = True
    return view


def init_app(app: Flask) -> None:
    """Install the id converter, input guards, response headers and error handlers on `app`."""
    app.url_map.converters["int"] = DatabaseIdConverter
    app.aborter = PortalAborter()

    def limit_request_bodies():
        if not getattr(app.view_functions.get(request.endpoint), "accepts_files", False):
            largest = app.config["MAX_CONTENT_LENGTH"]
            request.max_content_length = min(FORM_BODY_MAX, largest) if largest else FORM_BODY_MAX

    # First of all: the CSRF check, registered earlier, reads the form, and with it the whole body.
    app.before_request_funcs.setdefault(None, []).insert(0, limit_request_bodies)

    @app.before_request
    def refuse_null_characters():
        # PostgreSQL cannot store U+0000 in text: refuse it here rather than fail in the database.
        # Only form bodies are read; JSON bodies (the webhook) are their view's to check.
        in_form = request.mimetype in FORM_MIMETYPES and (_carries_null(request.form) or _uploads_carry_null())
        if "\x00" in request.path or _carries_null(request.args) or in_form:
            abort(
                400,
                description=_l(
                    "The request contains a null character, which the portal does not accept. Remove it and try again."
                ),
            )

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if app.config.get("STRICT_TRANSPORT_SECURITY"):
            headers.setdefault("Strict-Transport-Security", app.config["STRICT_TRANSPORT_SECURITY"])
        # What a signed-in user sees is theirs alone: no cache may keep it. Anonymous pages (the
        # public knowledge base) stay cacheable; they vary on Cookie as soon as they read the session.
        if request.endpoint != "static" and current_user.is_authenticated:
            headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if isinstance(error, SecurityError):
            # A Host outside TRUSTED_HOSTS: no link can be built for it, so no page either.
            return Flask.response_class("Unknown host.\n", status=400, mimetype="text/plain")
        return error_page(error)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, printable(request.path))
        try:
            db.session.rollback()
        except InvalidRequestError:
            # Raised from an after-commit hook, the session cannot roll back: start a fresh one.
            db.session.remove()
        return error_page(500)
