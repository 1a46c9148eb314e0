"""Partner-side ticket pages: the two intake forms with KB deflection, the list, the detail with
its timeline and comments, the confirmation; and the Zendesk webhook."""

from __future__ import annotations

import json

from flask import Blueprint, abort, current_app, redirect, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from auth.models import Role
from auth.permissions import require_role
from portal.core.errors import InvalidInput
from portal.core.extensions import csrf, limiter
from portal.core.limits import comment_limit, organization_key, setting, succeeded, typing_limit, user_key
from portal.core.markdown import render_markdown
from portal.core.text import clean_block, clean_line
from portal.core.types import utcnow
from portal.core.web import accepts_files, database_id, render, render_list, show_form_error
from portal.files.storage import FileMissing, storage
from portal.integrations.zendesk import webhook_is_authentic
from portal.sla import services as sla
from portal.sla.models import REQUEST_TYPE_LABELS
from portal.sla.targets import targets
from portal.tickets import attachments, conversation, intake, policy, queries, sla_clock
from portal.tickets.forms import FORMS, CommentForm, ConfirmationForm, attachments_hint, uploads_of
from portal.tickets.models import (
    DETAIL_LABELS,
    FORM_LABELS,
    MARKETING_DETAILS,
    PARTNER_STATUS_FILTERS,
    TECHNICAL_DETAILS,
    TicketForm,
)
from portal.tickets.policy import Action
from portal.tickets.zendesk_events import MalformedEvent
from portal.tickets.zendesk_webhook import apply_event

bp = Blueprint("tickets", __name__, url_prefix="/tickets")
webhook_bp = Blueprint("zendesk_webhook", __name__, url_prefix="/integrations/zendesk")
# A matrix row's promise in words, wherever partners read one.
bp.add_app_template_filter(sla.response_time, "response_time")
bp.add_app_template_filter(sla.when_applies, "when_applies")
bp.add_app_template_global(attachments_hint)
FORM_KIND = "<any(technical,marketing_business):form_kind>"
require_partner = require_role(Role.PARTNER)
UNCHECKED_FIELDS = ("csrf_token", "deflection_token", attachments.FIELD)
# Files are served as downloads that nothing on the page can run, frame or sniff.
FILE_POLICY = "default-src 'none'; sandbox"


def _ticket_or_404(ticket_id: int):
    ticket = queries.ticket_for(current_user, ticket_id)
    if ticket is None:
        abort(404)
    return ticket


def _may(ticket, action: Action) -> None:
    """Go on only if the policy lets the signed-in user take `action` on `ticket` now (else 403 or 409)."""
    try:
        policy.check(current_user, ticket, action)
    except policy.ActionRefused as refused:
        abort(refused.http_status, description=refused.message)


@bp.get("/")
@login_required
def index():
    """My organization's tickets (staff: every ticket), filtered by status and searchable."""
    status = request.args.get("status", "")
    query = request.args.get("q", "")[:100]
    statement = queries.ticket_list(current_user, status, query)
    return render_list(
        "tickets/list.html", "tickets/_list.html", statement, status=status, query=query, filters=PARTNER_STATUS_FILTERS
    )


@bp.get("/new")
@require_partner
def choose_form():
    """Pick the form: technical errors and questions, or marketing and business, each with the
    first-response times the matrix (or the partner's contract) promises for it."""
    promises = {
        form: sla.promised_targets(request_type, current_user.organization_id)
        for form, request_type in sla_clock.FORM_REQUEST_TYPES.items()
    }
    return render("tickets/choose.html", forms=FORM_LABELS, promises=promises)


def _details(form) -> dict:
    names = TECHNICAL_DETAILS if isinstance(form, FORMS["technical"]) else MARKETING_DETAILS
    values = {}
    for name in names:
        value = getattr(form, name).data
        values[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return values


@bp.route(f"/new/{FORM_KIND}", methods=["GET", "POST"])
@accepts_files
@require_partner
@limiter.limit(setting("TICKET_LIMIT_PER_PARTNER"), key_func=user_key, methods=["POST"], deduct_when=succeeded)
@limiter.limit(
    setting("TICKET_LIMIT_PER_ORGANIZATION"), key_func=organization_key, methods=["POST"], deduct_when=succeeded
)
def new_ticket(form_kind: str):
    """Write a ticket; KB suggestions appear while typing. Sent tickets go to Zendesk."""
    form = FORMS[form_kind]()
    if form.validate_on_submit():
        try:
            ticket = intake.create_ticket(
                current_user,
                form_kind,
                form.subject.data,
                form.description.data,
                _details(form),
                deflection_token=form.deflection_token.data or None,
                files=uploads_of(form.attachments),
            )
        except InvalidInput as error:
            show_form_error(form, error)
        else:
            return redirect(url_for("tickets.created", ticket_id=ticket.id))
    status = 422 if form.is_submitted() else 200
    return render(
        "tickets/form.html",
        status_code=status,
        form=form,
        form_kind=form_kind,
        form_label=FORM_LABELS[TicketForm(form_kind)],
    )


@bp.post(f"/new/{FORM_KIND}/check/<field_name>")
@require_partner
@typing_limit
def check_field(form_kind: str, field_name: str):
    """Validate one field as the partner leaves it (htmx), returning that field with its message."""
    form = FORMS[form_kind]()
    # Only the form's own fields: getattr() would also find its methods and attributes.
    field = form._fields.get(field_name)
    if field is None or field_name in UNCHECKED_FIELDS:
        abort(404)
    field.validate(form)
    return render("tickets/_field.html", "tickets/_field.html", form=form, f=field, form_kind=form_kind)


@bp.get("/suggestions")
@require_partner
@typing_limit
def suggestions():
    """Top knowledge-base articles for the subject and description being written (htmx)."""
    subject = clean_line(request.args.get("subject"))[:200]
    description = clean_block(request.args.get("description"))[:2000]
    token = request.args.get("deflection_token", "")[:40] or None
    hits = []
    if len(subject.strip()) >= 3:
        hits, token = intake.suggest(current_user, f"{subject} {description}", token)
    return render("tickets/_suggestions.html", "tickets/_suggestions.html", hits=hits, token=token)


@bp.post("/deflect")
@require_partner
def deflect():
    """ "This solved my problem": no ticket is created, and the deflection is recorded."""
    try:
        deflection = intake.deflect(
            current_user, request.form.get("deflection_token", ""), database_id(request.form.get("article_id"))
        )
    except InvalidInput as error:
        abort(422, description=error.message)
    return render("tickets/deflected.html", deflection=deflection)


@bp.get("/<int:ticket_id>/created")
@login_required
def created(ticket_id: int):
    """The confirmation page after sending a ticket."""
    ticket = _ticket_or_404(ticket_id)
    return render("tickets/created.html", ticket=ticket, expected=sla_clock.expected_first_response(ticket))


def _detail_context(ticket, comment_form=None, confirmation_form=None) -> dict:
    return {
        "ticket": ticket,
        "description": render_markdown(ticket.description),
        "entries": queries.timeline(ticket, include_internal=current_user.is_staff),
        "files": attachments.of_ticket(ticket, include_internal=current_user.is_staff),
        "expected": sla_clock.expected_first_response(ticket),
        "comment_form": comment_form or CommentForm(formdata=None),
        "confirmation_form": confirmation_form or ConfirmationForm(formdata=None),
        "detail_labels": DETAIL_LABELS,
        "can_comment": policy.allows(current_user, ticket, Action.COMMENT),
        "can_confirm": policy.allows(current_user, ticket, Action.CONFIRM),
    }


@bp.get("/<int:ticket_id>")
@login_required
def detail(ticket_id: int):
    """A ticket with its timeline of public comments and status changes."""
    ticket = _ticket_or_404(ticket_id)
    return render("tickets/detail.html", "tickets/_timeline.html", **_detail_context(ticket))


@bp.post("/<int:ticket_id>/comments")
@accepts_files
@require_role(*policy.roles_for(Action.COMMENT))
@comment_limit
def comment(ticket_id: int):
    """Add a public comment (also sent to Zendesk)."""
    ticket = _ticket_or_404(ticket_id)
    _may(ticket, Action.COMMENT)
    form = CommentForm()
    if form.validate_on_submit():
        try:
            conversation.add_comment(current_user, ticket, form.body.data, files=uploads_of(form.attachments))
        except InvalidInput as error:
            show_form_error(form, error)
        else:
            if request.htmx:
                return render("tickets/detail.html", "tickets/_conversation.html", **_detail_context(ticket))
            return redirect(url_for("tickets.detail", ticket_id=ticket.id) + "#timeline")
    return render(
        "tickets/detail.html",
        "tickets/_conversation.html",
        status_code=422,
        **_detail_context(ticket, comment_form=form),
    )


def _attachment_or_404(ticket_id: int, attachment_id: int) -> attachments.Attachment:
    attachment = attachments.readable(current_user, _ticket_or_404(ticket_id), attachment_id)
    if attachment is None:
        abort(404)
    return attachment


def _send_stored(key: str, content_type: str, etag: str, download_name: str | None = None):
    """A stored file (a download unless it is a thumbnail); like every signed-in page, no cache
    keeps it (`portal.core.web`)."""
    try:
        stream = storage().open(key)
    except FileMissing:
        current_app.logger.error("attachment file %s is missing from the storage", key)
        abort(404, description=_("This file is no longer available."))
    response = send_file(
        stream,
        mimetype=content_type,
        as_attachment=download_name is not None,
        download_name=download_name,
        etag=etag,
        max_age=0,
    )
    response.headers["Content-Security-Policy"] = FILE_POLICY
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@bp.get("/<int:ticket_id>/files/<int:attachment_id>")
@login_required
def attachment(ticket_id: int, attachment_id: int):
    """Download a file of a ticket the user may see (internal ones: staff only)."""
    file = _attachment_or_404(ticket_id, attachment_id)
    return _send_stored(file.storage_key, file.content_type, file.sha256, download_name=file.filename)


@bp.get("/<int:ticket_id>/files/<int:attachment_id>/thumbnail")
@login_required
def thumbnail(ticket_id: int, attachment_id: int):
    """An image file's thumbnail, made when it was attached."""
    file = _attachment_or_404(ticket_id, attachment_id)
    if not file.has_thumbnail:
        abort(404)
    return _send_stored(file.thumbnail_key, "image/png", f"{file.sha256}-thumbnail")


@bp.post("/<int:ticket_id>/confirm")
@require_role(*policy.roles_for(Action.CONFIRM))
def confirm(ticket_id: int):
    """The partner confirms the solution (closed) or says it persists (reopened, with the reason)."""
    ticket = _ticket_or_404(ticket_id)
    _may(ticket, Action.CONFIRM)
    form = ConfirmationForm()
    if form.validate_on_submit():
        try:
            conversation.confirm(current_user, ticket, form.answer.data == "yes", form.reason.data)
        except InvalidInput as error:
            show_form_error(form, error)
        else:
            return redirect(url_for("tickets.detail", ticket_id=ticket.id))
    return render("tickets/detail.html", status_code=422, **_detail_context(ticket, confirmation_form=form))


@webhook_bp.post("/webhook")
@csrf.exempt
@limiter.exempt
def zendesk_webhook():
    """Zendesk ticket events (signed): new tickets, status changes and comments reach the portal.
    What it chooses not to apply is answered 200 with the reason (Zendesk retries errors and pauses
    a failing webhook); a bad signature is 401, a malformed body 400. Answers are JSON for Zendesk's
    activity log, and never carry Python's own error text."""
    body = request.get_data(cache=False)
    authentic = webhook_is_authentic(
        current_app.config["ZENDESK_WEBHOOK_SECRET"],
        request.headers.get("X-Zendesk-Webhook-Signature", ""),
        request.headers.get("X-Zendesk-Webhook-Signature-Timestamp", ""),
        body,
        utcnow(),
    )
    if not authentic:
        return {"error": "invalid or stale signature"}, 401
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return {"error": "malformed event: the body is not JSON"}, 400
    try:
        done = apply_event(payload)
    except MalformedEvent as error:
        return {"error": f"malformed event: {error.args[0]}"}, 400
    answer = {"status": done.status, "outcome": done.outcome}
    return ({**answer, "reason": done.reason} if done.reason else answer), 200


@bp.get("/contacts")
@login_required
def contacts():
    """Contacts and response times: the escalation matrix, as partners see it (with their
    organization's contract times; staff see the matrix's)."""
    return render(
        "tickets/contacts.html",
        targets=targets(sla.rows(), current_user.organization_id),
        settings=sla.settings(),
        timezone=current_app.config["PORTAL_TIMEZONE"],
        request_types=REQUEST_TYPE_LABELS,
    )
