"""Figures and exports for staff: the metrics dashboard, each of its figures as CSV, the ticket
audit (every ticket event) as CSV, and the reports the worker posted."""

from __future__ import annotations

from flask import abort, request
from flask_babel import gettext as _

from admin import charts, metrics
from admin import services as admin_services
from admin.workflow.blueprint import bp, query_id
from admin.workflow.csv_export import csv_response
from auth.permissions import require_role, require_staff
from portal.core.web import render, render_list
from portal.reports import figures, posting
from portal.reports.models import READERS
from portal.sla.models import REQUEST_TYPE_LABELS, RequestType
from portal.tickets import kb_on_close, queries
from portal.tickets.policy import Queue

WEEKS_SHOWN = 12  # weeks of the SLA figures on the dashboard and in their CSVs
REPORTS_PER_PAGE = 20


def _days() -> int:
    return 90 if request.args.get("days") == "90" else 30


def _sla_rows(rows) -> list[list]:
    return [[r.week.isoformat(), r.name, r.request_type, r.met, r.breached, round(r.share, 3)] for r in rows]


@bp.get("/metrics")
@require_staff
def metrics_dashboard():
    """Tickets per day, SLA met per agent and per organization by type and week, response times,
    backlog, reopen rate, deflection and searches without results."""
    days = _days()
    organization_id = query_id("organization_id")
    per_day = figures.tickets_per_day(days, organization_id)
    weekly = figures.sla_per_agent_week(WEEKS_SHOWN)
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
            {str(REQUEST_TYPE_LABELS[RequestType(t)]): [d.by_type[t] for d in per_day] for t in figures.REQUEST_TYPES},
        ),
        weekly=weekly,
        weekly_chart=charts.stacked_bars(
            "weekly",
            _("First responses on time and late, per week"),
            [f"{w:%d/%m}" for w in weeks],
            {_("Met"): [by_week[w][0] for w in weeks], _("Breached"): [by_week[w][1] for w in weeks]},
        ),
        weekly_by_organization=figures.sla_per_organization_week(WEEKS_SHOWN, organization_id),
        response_times=metrics.first_response_times(days),
        backlog=metrics.backlog(),
        reopen=metrics.reopen_rate(days),
        deflection=metrics.deflection(days),
        kb_updated=kb_on_close.kb_update_share(days),
        zero_results=metrics.zero_result_searches(days),
        request_types=REQUEST_TYPE_LABELS,
    )


@bp.get("/metrics/<name>.csv")
@require_staff
def metrics_csv(name: str):
    """A dashboard figure as CSV."""
    days = _days()
    if name == "tickets-per-day":
        data = figures.tickets_per_day(days, query_id("organization_id"))
        return csv_response(
            name,
            ["day", *figures.REQUEST_TYPES, "total"],
            [[d.day.isoformat(), *[d.by_type[t] for t in figures.REQUEST_TYPES], d.total] for d in data],
        )
    if name == "sla-per-agent-week":
        return csv_response(
            name,
            ["week", "agent", "request_type", "met", "breached", "met_share"],
            _sla_rows(figures.sla_per_agent_week(WEEKS_SHOWN)),
        )
    if name == "sla-per-organization-week":
        return csv_response(
            name,
            ["week", "organization", "request_type", "met", "breached", "met_share"],
            _sla_rows(figures.sla_per_organization_week(WEEKS_SHOWN, query_id("organization_id"))),
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


@bp.get("/reports")
@require_role(*READERS)
def posted_reports():
    """The reports of §14 the worker posted to Slack and Monday, newest first."""
    return render_list(
        "workflow/reports.html", "workflow/_report_list.html", posting.newest_first(), per_page=REPORTS_PER_PAGE
    )


@bp.get("/audit.csv")
@require_role(*Queue.TRIAGE.roles)
def audit_csv():
    """Every ticket event (the ticket audit) as CSV, for whoever works triage (where it is offered)."""
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
            for event, reference in queries.ticket_audit()
        ),
    )
