"""KB follow-up: resolved tickets whose linked KB article partners cannot read yet (a draft, or
published for staff only), with how long each has waited and who resolved it, until the article
is published for partners or archived."""

from __future__ import annotations

from datetime import datetime

from flask_babel import format_timedelta

from admin.workflow.blueprint import bp
from auth.permissions import require_staff
from portal.core.types import utcnow
from portal.core.web import page_number, render
from portal.tickets import kb_on_close


@bp.app_template_filter("waiting_since")
def waiting_since(moment: datetime) -> str:
    """How long ago `moment` was, in words ("3 days")."""
    return format_timedelta(utcnow() - moment, threshold=1)


@bp.get("/kb-follow-up")
@require_staff
def kb_followup():
    """The resolved tickets whose linked article has not reached partners yet, longest waiting first."""
    return render(
        "workflow/kb_followup.html",
        "workflow/_kb_followup.html",
        page=kb_on_close.follow_up_page(page_number()),
        reasons=kb_on_close.FollowUpReason,
    )
