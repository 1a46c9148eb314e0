"""The administrator's page of the e-mails the portal wrote: who, what, when and their state, each
readable. Without `MAIL_SERVER` (development, a demo) the e-mails wait in the outbox and this page is
where a newcomer reads them; with it, the page shows what was sent. The routes join the admin
blueprint (`admin.routes.bp`)."""

from __future__ import annotations

from flask import abort, current_app, make_response
from flask_babel import lazy_gettext as _l

from admin import services as admin_services
from admin.routes import bp, require_admin
from portal.core.web import render, render_list
from portal.integrations.models import MessageState, OutboxMessage

EMAILS_PER_PAGE = 25
STATE_LABELS = {
    MessageState.PENDING: _l("Waiting"),
    MessageState.IN_FLIGHT: _l("Sending"),
    MessageState.DELIVERED: _l("Sent"),
    MessageState.DEAD: _l("Refused"),
    MessageState.DISCARDED: _l("Discarded"),
}
# The HTML part is shown only in a frame of its own, from its own address: a sandbox with an opaque
# origin (no scripts, forms, pop-ups or navigation of the page), nothing fetched from anywhere
# (images and fonts included, so an e-mail cannot call out), inline styles allowed (mail programs
# ignore style sheets, so e-mails carry their look inline), framed by the portal's pages only.
EMAIL_HTML_POLICY = "; ".join(
    [
        "sandbox",
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
    ]
)


def _email_or_404(message_id: int) -> OutboxMessage:
    message = admin_services.email(message_id)
    if message is None:
        abort(404)
    return message


@bp.get("/mail")
@require_admin
def emails():
    """The e-mails the portal wrote, newest first: recipient, subject, when, state."""
    return render_list(
        "admin/mail.html",
        "admin/_mail_list.html",
        admin_services.emails(),
        per_page=EMAILS_PER_PAGE,
        mail_server=current_app.config["MAIL_SERVER"],
        state_labels=STATE_LABELS,
    )


@bp.get("/mail/<int:message_id>")
@require_admin
def email(message_id: int):
    """One e-mail: its envelope, its plain-text part as text, its HTML part in a sandboxed frame."""
    return render("admin/mail_message.html", message=_email_or_404(message_id), state_labels=STATE_LABELS)


@bp.get("/mail/<int:message_id>/html")
@require_admin
def email_html(message_id: int):
    """The HTML part alone, for the frame of the e-mail's page (see `EMAIL_HTML_POLICY`)."""
    html = _email_or_404(message_id).payload.get("html") or ""
    if not html:
        abort(404)
    response = make_response(html)
    response.content_type = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = EMAIL_HTML_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
