"""What a report says: its text (translatable source strings, rendered in the language the worker
runs in) and the figures kept with it; and that text as each channel reads it."""

from __future__ import annotations

import html
from datetime import datetime

from flask_babel import format_date
from flask_babel import gettext as _

from portal.integrations import slack
from portal.reports import figures
from portal.reports.figures import SlaBy, SlaCount
from portal.reports.models import ReportKind
from portal.reports.schedule import Period
from portal.sla.models import REQUEST_TYPE_LABELS, RequestType


def _type_label(request_type: str) -> str:
    return str(REQUEST_TYPE_LABELS[RequestType(request_type)])


def daily(period: Period) -> tuple[str, dict]:
    """Tickets received on the period's day, by request type."""
    counts = figures.tickets_received(period.since, period.until)
    total = sum(counts.values())
    lines = [_("Tickets received on %(day)s: %(total)d", day=format_date(period.start, "full"), total=total)]
    lines += [f"• {_type_label(request_type)}: {count}" for request_type, count in counts.items()]
    return "\n".join(lines), {"by_type": counts, "total": total}


def _sla_line(row: SlaCount) -> str:
    return _(
        "• %(name)s · %(type)s: %(met)d of %(total)d on time (%(share)d %%)",
        name=row.name,
        type=_type_label(row.request_type),
        met=row.met,
        total=row.total,
        share=round(row.share * 100),
    )


def _sla_figures(rows: list[SlaCount]) -> list[dict]:
    return [{"name": r.name, "request_type": r.request_type, "met": r.met, "breached": r.breached} for r in rows]


def weekly(period: Period, now: datetime) -> tuple[str, dict]:
    """First responses on time of the tickets received in the week, per agent and per
    organization and request type (counted at `now`: unanswered tickets past their deadline are
    breached, those still within it are not counted yet)."""
    by_agent = figures.sla_met(SlaBy.AGENT, period.since, period.until, now)
    by_organization = figures.sla_met(SlaBy.ORGANIZATION, period.since, period.until, now)
    lines = [
        _(
            "SLA met from %(first)s to %(last)s (first responses of the tickets received that week):",
            first=format_date(period.start, "medium"),
            last=format_date(period.last_day, "medium"),
        )
    ]
    for title, rows in ((_("By agent:"), by_agent), (_("By organization:"), by_organization)):
        lines += ["", title, *([_sla_line(row) for row in rows] or [_("No first-response deadline has passed.")])]
    return "\n".join(lines), {"agents": _sla_figures(by_agent), "organizations": _sla_figures(by_organization)}


def compose(period: Period, now: datetime) -> tuple[str, dict]:
    """The text and figures of `period`'s report."""
    return daily(period) if period.kind is ReportKind.DAILY else weekly(period, now)


def for_slack(text: str) -> str:
    """The report as Slack's top-level text: escaped (names show as written) and within Slack's
    length, cut with an ellipsis when longer (the whole stays on the posted reports page)."""
    return slack.fit(text, slack.TEXT_MAX)


def for_monday(text: str) -> str:
    """A Monday update's body is HTML: the text escaped, one line per line."""
    return "<br>".join(html.escape(line) for line in text.splitlines())
