"""The staff queues: triage (filtered, with bulk assignment), my work, marketing and business, and
level 3. Each lists the tickets in the statuses its people have a step to take on (`policy.Queue`),
most urgent first."""

from __future__ import annotations

from flask import abort, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from admin import services as admin_services
from admin.workflow.blueprint import bp, query_id
from admin.workflow.forms import BulkAssignForm
from auth.models import Role
from auth.permissions import require_role
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.types import utcnow
from portal.core.web import database_id, page_number, paginate, render
from portal.sla.models import REQUEST_TYPE_LABELS, RequestType, SlaState
from portal.tickets import policy, queries, workflow
from portal.tickets.models import STATUS_LABELS, Ticket
from portal.tickets.policy import Action, Queue

TIERS = (1, 2, 3)
ORDERS = ("sla", "oldest", "newest")
# More than a few pages of the queue at once is not a selection someone made by hand.
BULK_ASSIGN_MAX = 100


@bp.app_template_filter("sla_left")
def sla_left(ticket: Ticket) -> tuple[str, str]:
    """(text, state) of the first-response countdown shown in staff queues."""
    if ticket.first_response_at is not None:
        return _("answered"), SlaState.MET
    if ticket.sla_due_at is None:
        return "—", "none"
    seconds = int((ticket.sla_due_at - utcnow()).total_seconds())
    hours, minutes = divmod(abs(seconds) // 60, 60)
    span = f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
    if seconds < 0:
        return _("overdue by %(span)s", span=span), SlaState.BREACHED
    state = SlaState.AT_RISK if ticket.sla_warn_at and utcnow() >= ticket.sla_warn_at else SlaState.ON_TRACK
    return _("due in %(span)s", span=span), state


def _queue(queue: Queue, page_template: str, filters: dict, **extra):
    """One page of `queue`, filtered (`filters` also go into its page and refresh links)."""
    mine = {"assignee_id": current_user.id} if queue.own_tickets_only else {}
    page = paginate(queries.staff_queue(queue.statuses, **{**filters, **mine}), page_number())
    return render(
        page_template,
        "workflow/_queue.html",
        page=page,
        filters=filters,
        status_labels=STATUS_LABELS,
        **extra,
    )


def _triage_filters() -> dict:
    request_type = request.args.get("request_type", "")
    status = request.args.get("status", "")
    tier = request.args.get("tier", 0, type=int)
    return {
        "request_type": request_type if request_type in set(RequestType) else "",
        "organization_id": query_id("organization_id"),
        "tier": tier if tier in TIERS else 0,
        "status": status if status in set(Queue.TRIAGE.statuses) else "",
        "assignee_id": query_id("assignee_id"),
        "order": request.args.get("order") if request.args.get("order") in ORDERS else "sla",
    }


@bp.get("/triage")
@require_role(*Queue.TRIAGE.roles)
def triage():
    """The administrator's queue: new and reopened tickets and those waiting for an admin decision."""
    return _queue(
        Queue.TRIAGE,
        "workflow/triage.html",
        _triage_filters(),
        statuses=Queue.TRIAGE.statuses,
        request_types=REQUEST_TYPE_LABELS,
        organizations=admin_services.all_organizations(),
        agents=[
            agent
            for role in (Role.AGENT_L1, Role.AGENT_L2, Role.BUSINESS)
            for agent in admin_services.active_users(role)
        ],
        bulk_form=BulkAssignForm.build(priority="normal"),
        assignable=lambda ticket: policy.allows(current_user, ticket, Action.ASSIGN),
    )


@bp.get("/work")
@require_role(*Queue.MY_WORK.roles)
def my_work():
    """An agent's open tickets."""
    return _queue(Queue.MY_WORK, "workflow/my_work.html", {})


@bp.get("/business")
@require_role(*Queue.BUSINESS.roles)
def business_area():
    """A member of the marketing and business area's open tickets."""
    return _queue(Queue.BUSINESS, "workflow/business_area.html", {})


@bp.get("/level3")
@require_role(*Queue.LEVEL_THREE.roles)
def level_three():
    """Tickets escalated to the VP and the tech team."""
    return _queue(Queue.LEVEL_THREE, "workflow/level3.html", {})


@bp.post("/triage/bulk-assign")
@require_role(*policy.roles_for(Action.ASSIGN))
def bulk_assign():
    """Classify and assign several new tickets to one person (a level-1 agent, or a member of the
    business area for marketing and business); those the policy does not let the administrator
    assign now are left as they are."""
    ids = {database_id(value) for value in request.form.getlist("ticket_ids")} - {None}
    if len(ids) > BULK_ASSIGN_MAX:
        abort(422, description=_("Select at most %(count)d tickets at a time.", count=BULK_ASSIGN_MAX))
    tickets = queries.tickets_with_ids(ids)
    if not tickets:
        abort(422, description=_("Select at least one ticket."))
    form = BulkAssignForm.build(request.form)
    assigned = 0
    for ticket in tickets:
        if not policy.allows(current_user, ticket, Action.ASSIGN):
            continue
        try:
            workflow.classify_and_assign(
                current_user, ticket, form.request_type.data, form.priority.data, form.chosen_agent()
            )
        except InvalidInput as problem:
            db.session.rollback()
            abort(422, description=problem.message)
        assigned += 1
    return redirect(url_for("staff.triage", assigned=assigned))
