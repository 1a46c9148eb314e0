"""Unmatched from Zendesk: tickets born in Zendesk whose requester is no partner the portal knows
and whose Zendesk organization is linked to none; the administrator links each to an organization
(a portal ticket in triage) or ignores it."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from admin.workflow.blueprint import bp
from auth.models import Organization, Role
from auth.permissions import require_role
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.web import database_id, page_number, render
from portal.tickets import zendesk_arrivals

require_admin = require_role(Role.TICKET_ADMIN)


def _list(status_code: int = 200, error: str = "", failed_id: int | None = None):
    return render(
        "workflow/unmatched.html",
        "workflow/_unmatched.html",
        status_code=status_code,
        page=zendesk_arrivals.unmatched_page(page_number()),
        organizations=db.session.scalars(select(Organization).order_by(Organization.name)).all(),
        error=error,
        failed_id=failed_id,
    )


@bp.get("/unmatched")
@require_admin
def unmatched():
    """Tickets born in Zendesk that no partner matched, oldest first."""
    return _list()


@bp.post("/unmatched/<int:arrival_id>/link")
@require_admin
def link_unmatched(arrival_id: int):
    """Link a Zendesk ticket to an organization: it becomes that organization's portal ticket."""
    try:
        ticket = zendesk_arrivals.link(current_user, arrival_id, database_id(request.form.get("organization_id")) or 0)
    except InvalidInput as error:
        return _list(422, error.message, arrival_id)
    flash(_("Ticket %(reference)s created in triage.", reference=ticket.reference), "success")
    return redirect(url_for("staff.unmatched"))


@bp.post("/unmatched/<int:arrival_id>/ignore")
@require_admin
def ignore_unmatched(arrival_id: int):
    """Ignore a Zendesk ticket: it is no partner's, and leaves the list."""
    try:
        zendesk_arrivals.ignore(current_user, arrival_id)
    except InvalidInput as error:
        return _list(409, error.message, arrival_id)
    flash(_("The Zendesk ticket was ignored."), "success")
    return redirect(url_for("staff.unmatched"))
