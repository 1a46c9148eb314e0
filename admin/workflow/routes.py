"""Routes of the staff workflow. Each action validates its role on the server; the state machine
refuses what the ticket's status does not allow (409)."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from admin import charts, metrics
from admin import services as admin_services
from admin.workflow.csv_export import csv_response
from auth.models import Role, User
from auth.permissions import require_role, require_staff
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.limits import comment_limit
from portal.core.types import utcnow
from portal.core.web import database_id, page_number, paginate, render
from portal.tickets import conversation, kb_on_close, queries, states, workflow
from portal.tickets.models import (
    DETAIL_LABELS,
    PRIORITY_LABELS,
    REQUEST_TYPE_LABELS,
    STATUS_LABELS,
    RequestType,
    Status,
    Ticket,
    TicketEvent,
)

bp = Blueprint("staff", __name__, url_prefix="/staff")
AGENT_ROLES = (Role.AGENT_L1, Role.AGENT_L2)
WORK_STATUSES = (Status.ASSIGNED_L1, Status.ASSIGNED_L2, Status.REOPENED)
LEVEL_THREE_STATUSES = (Status.ESCALATED_L3, Status.EXTERNAL_PROVIDER, Status.ALTERNATIVE_MEASURE)
TIERS = (1, 2, 3)
# More than a few pages of the queue at once is not a selection someone made by hand.
BULK_ASSIGN_MAX = 100


@bp.app_template_filter("sla_left")
def sla_left(ticket: Ticket) -> tuple[str, str]:
    """(text, state) of the first-response countdown shown in staff queues."""
    if ticket.first_response_at is not None:
        return _("answered"), "met"
    if ticket.sla_due_at is None:
        return "—", "none"
    seconds = int((ticket.sla_due_at - utcnow()).total_seconds())
    hours, minutes = divmod(abs(seconds) // 60, 60)
    span = f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
    if seconds < 0:
        return _("overdue by %(span)s", span=span), "breached"
    state = "at_risk" if ticket.sla_warn_at and utcnow() >= ticket.sla_warn_at else "on_track"
    return _("due in %(span)s", span=span), state


def _agents(role: Role) -> list[User]:
    return list(
        db.session.scalars(select(User).where(User.role == role.value, User.active.is_(True)).order_by(User.name))
    )


def _query_id(name: str) -> int:
    """An id filter from the query string; anything that cannot be a row id means "any" (0)."""
    return database_id(request.args.get(name)) or 0


def _queue_filters() -> dict:
    request_type = request.args.get("request_type", "")
    tier = request.args.get("tier", 0, type=int)
    return {
        "request_type": request_type if request_type in {kind.value for kind in RequestType} else "",
        "organization_id": _query_id("organization_id"),
        "tier": tier if tier in TIERS else 0,
        "status": request.args.get("status", ""),
        "assignee_id": _query_id("assignee_id"),
        "order": request.args.get("order") if request.args.get("order") in ("oldest", "newest") else "sla",
    }


def _queue(page_template: str, statuses, **extra):
    filters = _queue_filters()
    if filters["status"] not in {s.value for s in statuses}:
        filters["status"] = ""
    statement = queries.staff_queue(statuses, **filters)
    return render(
        page_template,
        "workflow/_queue.html",
        page=paginate(statement, page_number()),
        filters=filters,
        statuses=statuses,
        request_types=REQUEST_TYPE_LABELS,
        status_labels=STATUS_LABELS,
        organizations=admin_services.all_organizations(),
        agents=_agents(Role.AGENT_L1) + _agents(Role.AGENT_L2),
        **extra,
    )


@bp.get("/triage")
@require_role(Role.TICKET_ADMIN)
def triage():
    """The administrator's queue: new and reopened tickets and those waiting for an admin decision."""
    return _queue(
        "workflow/triage.html",
        queries.STAFF_QUEUE_STATUSES,
        level_one=_agents(Role.AGENT_L1),
        priorities=PRIORITY_LABELS,
    )


@bp.get("/work")
@require_role(*AGENT_ROLES)
def my_work():
    """An agent's open tickets."""
    statement = queries.staff_queue(WORK_STATUSES, assignee_id=current_user.id)
    return render(
        "workflow/my_work.html",
        "workflow/_queue.html",
        page=paginate(statement, page_number()),
        filters={},
        status_labels=STATUS_LABELS,
    )


@bp.get("/level3")
@require_role(Role.VP)
def level_three():
    """Tickets escalated to the VP and the tech team."""
    statement = queries.staff_queue(LEVEL_THREE_STATUSES)
    return render(
        "workflow/level3.html",
        "workflow/_queue.html",
        page=paginate(statement, page_number()),
        filters={},
        status_labels=STATUS_LABELS,
    )


def _ticket_or_404(ticket_id: int) -> Ticket:
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        abort(404)
    return ticket


def _workspace_context(ticket: Ticket, error: str | None = None) -> dict:
    reports = queries.status_reports(ticket)
    minutes_by_agent: dict[str, int] = {}
    for report in reports:
        minutes_by_agent[report.author.name] = minutes_by_agent.get(report.author.name, 0) + report.minutes_spent
    return {
        "ticket": ticket,
        "entries": queries.timeline(ticket, include_internal=True),
        "reports": reports,
        "minutes_total": sum(minutes_by_agent.values()),
        "minutes_by_agent": minutes_by_agent,
        "actions": allowed_actions(ticket),
        "level_one": _agents(Role.AGENT_L1),
        "level_two": _agents(Role.AGENT_L2),
        "request_types": REQUEST_TYPE_LABELS,
        "priorities": PRIORITY_LABELS,
        "measures": workflow.ALTERNATIVE_MEASURES,
        "detail_labels": DETAIL_LABELS,
        "error": error,
        "last_summary": _last_summary(ticket),
    }


def _last_summary(ticket: Ticket) -> str:
    event = db.session.scalar(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind.in_(["resolved", "level_three_result"]))
        .order_by(TicketEvent.id.desc())
    )
    return event.data.get("summary", "") if event else ""


def allowed_actions(ticket: Ticket) -> set[str]:
    """The actions the signed-in staff member may take on this ticket now."""
    status, role = Status(ticket.status), current_user.role
    actions = {"note", "reply"} if ticket.status != Status.CLOSED else set()
    if role == Role.TICKET_ADMIN:
        if status in (Status.NEW, Status.TRIAGED):
            actions |= {"assign", "resolve"}
        if status is Status.CANNOT_RESOLVE:
            actions |= {"resolve", "reassign" if ticket.tier == 1 else "escalate"}
        if status is Status.RESOLVED_BY_AGENT:
            actions.add("notify")
        if status in (Status.EXTERNAL_PROVIDER, Status.ALTERNATIVE_MEASURE):
            actions.add("result")
    if role in AGENT_ROLES and ticket.assignee_id == current_user.id and status in WORK_STATUSES:
        actions |= {"report", "resolve", "cannot_resolve"}
    if role == Role.VP:
        if status is Status.ESCALATED_L3:
            actions |= {"decision", "report"}
        if status in (Status.EXTERNAL_PROVIDER, Status.ALTERNATIVE_MEASURE):
            actions |= {"result", "report"}
    return actions


@bp.get("/tickets/<int:ticket_id>")
@require_staff
def workspace(ticket_id: int):
    """The ticket workspace: partner data, full timeline with internal notes, reports, actions."""
    ticket = _ticket_or_404(ticket_id)
    return render("workflow/workspace.html", "workflow/_workspace.html", **_workspace_context(ticket))


def ticket_action(name: str):
    """Wrap an action: 404 for unknown tickets, 403 when the action is not this user's to take,
    409 for a refused transition, 422 with the message for bad input, the workspace on success."""

    def decorator(perform):
        @wraps(perform)
        def action(ticket_id: int):
            ticket = _ticket_or_404(ticket_id)
            not_theirs = current_user.role in AGENT_ROLES and ticket.assignee_id != current_user.id
            if name not in allowed_actions(ticket) and not_theirs and name not in ("note", "reply"):
                abort(403)
            if name not in allowed_actions(ticket):
                if name in _role_actions(current_user.role):
                    abort(409, description=_("This action is not possible in the ticket's current status."))
                abort(403)
            status = 200
            error = None
            try:
                redirect_to = perform(ticket)
            except InvalidInput as problem:
                db.session.rollback()
                status, error, redirect_to = 422, problem.message, None
            except states.TransitionRefused as problem:
                db.session.rollback()
                status, error, redirect_to = 409, problem.message, None
            if redirect_to:
                return redirect(redirect_to)
            if status == 200 and not request.htmx:
                return redirect(url_for("staff.workspace", ticket_id=ticket.id))
            ticket = _ticket_or_404(ticket_id)
            return render(
                "workflow/workspace.html",
                "workflow/_workspace.html",
                status_code=status,
                **_workspace_context(ticket, error),
            )

        return action

    return decorator


def _role_actions(role: str) -> set[str]:
    return {
        Role.TICKET_ADMIN: {"note", "reply", "assign", "resolve", "reassign", "escalate", "notify", "result"},
        Role.AGENT_L1: {"note", "reply", "report", "resolve", "cannot_resolve"},
        Role.AGENT_L2: {"note", "reply", "report", "resolve", "cannot_resolve"},
        Role.VP: {"note", "reply", "decision", "result", "report"},
    }.get(Role(role), set())


def _form(name: str) -> str:
    return request.form.get(name, "")


def _user(field: str) -> User | None:
    user_id = database_id(request.form.get(field))
    return db.session.get(User, user_id) if user_id else None


@bp.post("/tickets/<int:ticket_id>/assign")
@require_role(Role.TICKET_ADMIN)
@ticket_action("assign")
def assign(ticket):
    """Classify (request type, priority) and assign to a level-1 agent, in one step."""
    workflow.classify_and_assign(current_user, ticket, _form("request_type"), _form("priority"), _user("agent_id"))


@bp.post("/triage/bulk-assign")
@require_role(Role.TICKET_ADMIN)
def bulk_assign():
    """Classify and assign several new tickets to one level-1 agent."""
    ids = {database_id(value) for value in request.form.getlist("ticket_ids")} - {None}
    if len(ids) > BULK_ASSIGN_MAX:
        abort(422, description=_("Select at most %(count)d tickets at a time.", count=BULK_ASSIGN_MAX))
    tickets = list(db.session.scalars(select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id))) if ids else []
    if not tickets:
        abort(422, description=_("Select at least one ticket."))
    done = 0
    for ticket in tickets:
        try:
            workflow.classify_and_assign(
                current_user, ticket, _form("request_type"), _form("priority"), _user("agent_id")
            )
            done += 1
        except InvalidInput as problem:
            db.session.rollback()
            abort(422, description=problem.message)
        except states.TransitionRefused:
            db.session.rollback()
    return redirect(url_for("staff.triage", assigned=done))


@bp.post("/tickets/<int:ticket_id>/note")
@comment_limit
@require_staff
@ticket_action("note")
def note(ticket):
    """An internal note (staff only)."""
    conversation.add_internal_note(current_user, ticket, _form("body"))


@bp.post("/tickets/<int:ticket_id>/reply")
@comment_limit
@require_staff
@ticket_action("reply")
def reply(ticket):
    """A public reply: shown to the partner and sent to Zendesk as a public comment."""
    conversation.add_comment(current_user, ticket, _form("body"))


@bp.post("/tickets/<int:ticket_id>/reports")
@require_role(*AGENT_ROLES, Role.VP)
@ticket_action("report")
def report(ticket):
    """File a status report."""
    workflow.file_status_report(
        current_user,
        ticket,
        _form("actions_taken"),
        request.form.get("minutes_spent", type=int),
        _form("relevant_information"),
        _form("next_step"),
        _form("visibility") == "partner",
    )


@bp.post("/tickets/<int:ticket_id>/resolve")
@require_role(*AGENT_ROLES, Role.TICKET_ADMIN)
@ticket_action("resolve")
def resolve(ticket):
    """Resolved: a solution summary and a KB article (or the reason none is needed)."""
    workflow.resolve(current_user, ticket, _form("summary"), database_id(_form("kb_article_id")), _form("no_kb_reason"))


@bp.post("/tickets/<int:ticket_id>/kb-draft")
@require_role(*AGENT_ROLES, Role.TICKET_ADMIN)
@ticket_action("resolve")
def kb_draft(ticket):
    """Start a KB draft prefilled from the ticket, in the editor."""
    article = kb_on_close.kb_draft_for(current_user, ticket)
    return url_for("kb.edit_article", language=article.language, slug=article.slug)


@bp.post("/tickets/<int:ticket_id>/cannot-resolve")
@require_role(*AGENT_ROLES)
@ticket_action("cannot_resolve")
def cannot_resolve(ticket):
    """Cannot resolve at this level: back to the administrator with the reason."""
    workflow.cannot_resolve(current_user, ticket, _form("reason"))


@bp.post("/tickets/<int:ticket_id>/notify")
@require_role(Role.TICKET_ADMIN)
@ticket_action("notify")
def notify(ticket):
    """Send the resolution to the partner and record it in Monday."""
    workflow.notify_partner(current_user, ticket, _form("message"))


@bp.post("/tickets/<int:ticket_id>/reassign")
@require_role(Role.TICKET_ADMIN)
@ticket_action("reassign")
def reassign(ticket):
    """Reassign to a level-2 agent through Monday, Slack or both."""
    workflow.reassign_to_level_two(current_user, ticket, _user("agent_id"), request.form.getlist("channels"))


@bp.post("/tickets/<int:ticket_id>/escalate")
@require_role(Role.TICKET_ADMIN)
@ticket_action("escalate")
def escalate(ticket):
    """Escalate to level 3 (VP and tech team)."""
    workflow.escalate_to_level_three(current_user, ticket, _form("note"))


@bp.post("/tickets/<int:ticket_id>/decision")
@require_role(Role.VP)
@ticket_action("decision")
def decision(ticket):
    """Level 3's analysis and decision."""
    provider = {"name": _form("provider_name"), "contact": _form("provider_contact"), "scope": _form("provider_scope")}
    workflow.decide(
        current_user,
        ticket,
        _form("priority"),
        _form("impact"),
        _form("resources"),
        _form("decision"),
        provider=provider,
        measure=_form("measure"),
        notes=_form("notes"),
    )


@bp.post("/tickets/<int:ticket_id>/result")
@require_role(Role.VP, Role.TICKET_ADMIN)
@ticket_action("result")
def result(ticket):
    """Record the external provider's result or the alternative measure applied."""
    workflow.record_level_three_result(current_user, ticket, _form("result"))


@bp.get("/audit.csv")
@require_role(Role.TICKET_ADMIN)
def audit_csv():
    """Every ticket event (the ticket audit) as CSV."""
    rows = db.session.execute(
        select(TicketEvent, Ticket.reference)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .order_by(TicketEvent.created_at, TicketEvent.id)
    )
    return csv_response(
        "ticket-audit",
        ["time", "ticket", "actor", "event", "from", "to", "public", "data"],
        (
            [
                event.created_at.isoformat(),
                reference,
                event.actor_label or "system",
                event.kind,
                event.from_status or "",
                event.to_status or "",
                "yes" if event.public else "no",
                queries.event_data_text(event.data),
            ]
            for event, reference in rows
        ),
    )


# Metrics ------------------------------------------------------------------------------------


def _days() -> int:
    return 90 if request.args.get("days") == "90" else 30


@bp.get("/metrics")
@require_staff
def metrics_dashboard():
    """Tickets per day, SLA met per agent/type/week, response times, backlog, reopen rate,
    deflection and searches without results."""
    days = _days()
    organization_id = _query_id("organization_id")
    per_day = metrics.tickets_per_day(days, organization_id)
    weekly = metrics.sla_per_agent_week(12)
    by_week: dict = {}
    for row in weekly:
        counts = by_week.setdefault(row.week, [0, 0])
        counts[0] += row.met
        counts[1] += row.breached
    weeks = sorted(by_week)
    return render(
        "workflow/metrics.html",
        days=days,
        organization_id=organization_id,
        organizations=admin_services.all_organizations(),
        per_day=per_day,
        per_day_chart=charts.stacked_bars(
            "per-day",
            _("Tickets received per day"),
            [f"{d.day:%d/%m}" for d in per_day],
            {str(REQUEST_TYPE_LABELS[RequestType(t)]): [d.by_type[t] for d in per_day] for t in metrics.REQUEST_TYPES},
        ),
        weekly=weekly,
        weekly_chart=charts.stacked_bars(
            "weekly",
            _("First responses on time and late, per week"),
            [f"{w:%d/%m}" for w in weeks],
            {_("Met"): [by_week[w][0] for w in weeks], _("Breached"): [by_week[w][1] for w in weeks]},
        ),
        response_times=metrics.first_response_times(days),
        backlog=metrics.backlog(),
        reopen=metrics.reopen_rate(days),
        deflection=metrics.deflection(days),
        zero_results=metrics.zero_result_searches(days),
        request_types=REQUEST_TYPE_LABELS,
    )


@bp.get("/metrics/<name>.csv")
@require_staff
def metrics_csv(name: str):
    """A dashboard figure as CSV."""
    days = _days()
    if name == "tickets-per-day":
        data = metrics.tickets_per_day(days, _query_id("organization_id"))
        return csv_response(
            name,
            ["day", *metrics.REQUEST_TYPES, "total"],
            [[d.day.isoformat(), *[d.by_type[t] for t in metrics.REQUEST_TYPES], d.total] for d in data],
        )
    if name == "sla-per-agent-week":
        return csv_response(
            name,
            ["week", "agent", "request_type", "met", "breached", "met_share"],
            [
                [r.week.isoformat(), r.agent, r.request_type, r.met, r.breached, round(r.share, 3)]
                for r in metrics.sla_per_agent_week(12)
            ],
        )
    if name == "first-response-times":
        return csv_response(
            name,
            ["request_type", "tickets", "median_hours", "p90_hours"],
            [[r.request_type, r.count, r.median_hours, r.p90_hours] for r in metrics.first_response_times(days)],
        )
    if name == "backlog":
        return csv_response(
            name,
            ["tier", "< 1 d", "1–3 d", "3–7 d", "> 7 d"],
            [[tier, *ages.values()] for tier, ages in metrics.backlog().items()],
        )
    abort(404)
