"""The staff workflow of the procedure: classify and assign, status reports, resolve or not,
notify the partner, level 2, level 3 (whose decision and result are in `level_three`). Each step moves the ticket through `move()`
and tells Monday, Slack and the people concerned (by e-mail) in the same transaction."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from auth.models import ROLE_LABELS, Role, User
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.types import utcnow
from portal.sla.models import REQUEST_TYPE_LABELS, RequestType
from portal.tickets import policy, sla_clock
from portal.tickets.board import notify_assignee_in_monday, record_in_monday
from portal.tickets.kb_on_close import linked_article
from portal.tickets.models import PRIORITY_LABELS, Comment, EventKind, Status, StatusReport, Ticket, TicketEvent
from portal.tickets.outbound import to_slack, zendesk_reclassified, zendesk_status
from portal.tickets.people_mail import TicketMail, email_assignee, email_level_three, email_requester
from portal.tickets.policy import Action
from portal.tickets.states import move, record_event
from portal.tickets.validation import (
    COMMENT_MAX,
    REASON_MAX,
    REPORT_FIELD_MAX,
    REPORT_MINUTES_MAX,
    SUMMARY_MAX,
    text_block,
)

CHANNELS = ("monday", "slack")


def staff_step(
    ticket: Ticket,
    target: Status,
    actor: User,
    kind: str,
    data: dict,
    update: str,
    slack: bool = False,
    now: datetime | None = None,
) -> TicketEvent:
    """Move the ticket (`move()` records the step on the Monday board, with `update`), and tell
    Slack too when the step goes there, all in one transaction (the caller commits)."""
    event = move(ticket, target, actor, kind, data, public=False, now=now, board_update=update)
    if slack:
        to_slack(ticket, update, str(event.id))
    return event


def _require_agent(agent: User | None, role: Role) -> User:
    if agent is None or agent.role_enum is not role or not agent.active:
        raise InvalidInput(_("Choose an active user with the role “%(role)s”.", role=role.label), "agent_id")
    return agent


def classify_and_assign(
    admin: User, ticket: Ticket, request_type: str, priority: str, agent: User | None, now: datetime | None = None
) -> Ticket:
    """Classify a ticket (request type, priority) and assign it, in one step: to a level-1 agent,
    or, for a marketing or business request, to a member of that area (`policy.assignment_for`)."""
    policy.check(admin, ticket, Action.ASSIGN)
    if request_type not in {r.value for r in RequestType}:
        raise InvalidInput(_("Choose a request type."), "request_type")
    if priority not in PRIORITY_LABELS:
        raise InvalidInput(_("Choose a priority."), "priority")
    assignment = policy.assignment_for(RequestType(request_type))
    agent = _require_agent(agent, assignment.role)
    reclassified = ticket.request_type != request_type
    zendesk_changed = reclassified or ticket.priority != priority
    ticket.request_type, ticket.priority, ticket.assignee, ticket.tier = request_type, priority, agent, 1
    if reclassified:
        sla_clock.assign_deadline(ticket)
    event = staff_step(
        ticket,
        assignment.status,
        admin,
        EventKind.ASSIGNED,
        {"request_type": request_type, "priority": priority, "assignee": agent.name, "tier": 1},
        _l(
            "Assigned to %(name)s (%(role)s), %(type)s, priority %(priority)s.",
            name=agent.name,
            role=ROLE_LABELS[assignment.role],
            type=REQUEST_TYPE_LABELS[RequestType(request_type)],
            priority=PRIORITY_LABELS[priority],
        ),
        now=now,
    )
    if zendesk_changed:
        zendesk_reclassified(ticket, str(event.id))
    notify_assignee_in_monday(ticket, str(event.id))
    email_assignee(ticket, str(event.id))
    db.session.commit()
    return ticket


def file_status_report(
    agent: User,
    ticket: Ticket,
    actions_taken: str,
    minutes_spent: int,
    relevant_information: str,
    next_step: str = "",
    visible_to_partner: bool = False,
    now: datetime | None = None,
):
    """The procedure's status report, also posted to Monday. Its minimum content (§4, §15): the
    actions taken, the time spent and the relevant information; the next step is optional."""
    policy.check(agent, ticket, Action.REPORT)
    actions_taken = text_block(actions_taken, "actions_taken", REPORT_FIELD_MAX, _("Say what you did."))
    relevant_information = text_block(
        relevant_information,
        "relevant_information",
        REPORT_FIELD_MAX,
        _("Give the relevant information to follow the ticket's progress."),
    )
    next_step = text_block(next_step, "next_step", REPORT_FIELD_MAX)
    if minutes_spent is None or not 0 < minutes_spent <= REPORT_MINUTES_MAX:
        raise InvalidInput(
            _("Time spent is between 1 and %(maximum)d minutes.", maximum=REPORT_MINUTES_MAX), "minutes_spent"
        )
    report = StatusReport(
        ticket_id=ticket.id,
        author_id=agent.id,
        actions_taken=actions_taken,
        minutes_spent=minutes_spent,
        relevant_information=relevant_information,
        next_step=next_step,
        visible_to_partner=visible_to_partner,
        created_at=now or utcnow(),
    )
    db.session.add(report)
    db.session.flush()
    event = record_event(
        ticket,
        agent,
        EventKind.STATUS_REPORT,
        data={"report_id": report.id, "minutes": minutes_spent},
        public=False,
        now=now,
    )
    db.session.flush()
    record_in_monday(
        ticket,
        _monday_report(agent, report),
        str(event.id),
    )
    db.session.commit()
    return report


def _monday_report(agent: User, report: StatusReport):
    """The status report as the team reads it in Monday: its minimum content (§4), and the next step."""
    text = _l(
        "Status report by %(name)s (%(minutes)d min): %(actions)s — Relevant information: %(information)s",
        name=agent.name,
        minutes=report.minutes_spent,
        actions=report.actions_taken,
        information=report.relevant_information,
    )
    return _l("%(report)s — Next step: %(next)s", report=text, next=report.next_step) if report.next_step else text


def resolve(
    agent: User,
    ticket: Ticket,
    summary: str,
    kb_article_id: int | None = None,
    no_kb_reason: str = "",
    now: datetime | None = None,
) -> Ticket:
    """The agent (or the administrator) solved it: summary plus the KB-on-close rule."""
    policy.check(agent, ticket, Action.RESOLVE)
    summary = text_block(summary, "summary", SUMMARY_MAX, _("Summarize the solution."))
    no_kb_reason = text_block(no_kb_reason, "no_kb_reason", REASON_MAX)
    article = linked_article(agent, ticket, kb_article_id, no_kb_reason)
    data = {
        "summary": summary,
        "kb_article_id": article.id if article else None,
        "kb_article": f"{article.language}/{article.slug}" if article else None,
        "no_kb_reason": no_kb_reason if not article else "",
    }
    staff_step(
        ticket,
        Status.RESOLVED_BY_AGENT,
        agent,
        EventKind.RESOLVED,
        data,
        _l("Resolved by %(name)s: %(summary)s", name=agent.name, summary=summary),
        now=now,
    )
    db.session.commit()
    return ticket


def cannot_resolve(agent: User, ticket: Ticket, reason: str, now: datetime | None = None) -> Ticket:
    """The agent cannot offer a solution: back to the administrator, with the reason."""
    policy.check(agent, ticket, Action.CANNOT_RESOLVE)
    reason = text_block(reason, "reason", REASON_MAX, _("Say why it cannot be resolved at this level."))
    staff_step(
        ticket,
        Status.CANNOT_RESOLVE,
        agent,
        EventKind.CANNOT_RESOLVE,
        {"reason": reason, "tier": ticket.tier},
        _l("%(name)s cannot resolve it: %(reason)s", name=agent.name, reason=reason),
        now=now,
    )
    db.session.commit()
    return ticket


def notify_partner(admin: User, ticket: Ticket, message: str, now: datetime | None = None) -> Ticket:
    """Send the solution to the partner (public Zendesk comment), record it in Monday, and ask
    the partner to confirm."""
    policy.check(admin, ticket, Action.NOTIFY)
    message = text_block(message, "message", COMMENT_MAX, _("Write the message for the partner."))
    event = move(
        ticket,
        Status.AWAITING_CONFIRMATION,
        admin,
        EventKind.SOLUTION_SENT,
        {"message": message},
        now=now,
        board_update=_l("Resolution sent to the partner by %(name)s.", name=admin.name),
    )
    comment = Comment.written(admin, ticket, message, public=True, now=now or utcnow())
    sla_clock.record_first_response(ticket, admin, now)
    db.session.flush()
    zendesk_status(ticket, Status.AWAITING_CONFIRMATION, message, key=str(event.id), comment_id=comment.id)
    email_requester(ticket, TicketMail.SOLUTION, str(event.id))
    db.session.commit()
    return ticket


def reassign_to_level_two(
    admin: User, ticket: Ticket, agent: User | None, channels: list[str], now: datetime | None = None
) -> Ticket:
    """Level 1 could not solve it (or the administrator sends a reopened ticket there): a level-2
    agent takes over, told through Monday (a notification), Slack or both; the board records the
    step either way."""
    policy.check(admin, ticket, Action.REASSIGN)
    agent = _require_agent(agent, Role.AGENT_L2)
    channels = [channel for channel in channels if channel in CHANNELS]
    if not channels:
        raise InvalidInput(_("Choose Monday, Slack or both."), "channels")
    ticket.assignee, ticket.tier = agent, 2
    event = staff_step(
        ticket,
        Status.ASSIGNED_L2,
        admin,
        EventKind.ASSIGNED,
        {"assignee": agent.name, "tier": 2, "channels": channels},
        _l("Reassigned to %(name)s (level 2).", name=agent.name),
        slack="slack" in channels,
        now=now,
    )
    if "monday" in channels:
        notify_assignee_in_monday(ticket, str(event.id))
    email_assignee(ticket, str(event.id))
    db.session.commit()
    return ticket


def escalate_to_level_three(admin: User, ticket: Ticket, note: str = "", now: datetime | None = None) -> Ticket:
    """Level 2 could not solve it either (or the administrator sends a reopened ticket there): the
    VP and the tech team analyse it."""
    policy.check(admin, ticket, Action.ESCALATE)
    note = text_block(note, "note", REASON_MAX)
    ticket.tier, ticket.assignee = 3, None
    event = staff_step(
        ticket,
        Status.ESCALATED_L3,
        admin,
        EventKind.ESCALATED,
        {"tier": 3, "note": note},
        _l("Escalated to level 3 (VP and technical team). %(note)s", note=note),
        slack=True,
        now=now,
    )
    email_level_three(ticket, str(event.id))
    db.session.commit()
    return ticket
