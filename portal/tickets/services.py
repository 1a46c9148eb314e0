"""Ticket operations: intake, the timeline, partner confirmation, auto-close, KB deflection, and
keeping Zendesk in step. Every status change goes through `move()`, the state machine's only door."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, or_, select
from sqlalchemy.orm import joinedload

from auth.models import Role, User
from kb import search as kb_search
from kb import services as kb_services
from kb.models import Article, ArticleRevision
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.text import clean_line
from portal.core.types import utcnow
from portal.integrations import outbox
from portal.integrations.models import OutboxMessage, Target
from portal.sla import services as sla
from portal.tickets import states
from portal.tickets.models import (
    PRIORITY_LABELS,
    Comment,
    Deflection,
    RequestType,
    Status,
    StatusReport,
    Ticket,
    TicketEvent,
    TicketForm,
)
from portal.tickets.validation import (
    COMMENT_MAX,
    DECISION_FIELD_MAX,
    DESCRIPTION_MAX,
    DETAIL_MAX,
    NOTE_MAX,
    PROVIDER_FIELD_MAX,
    REASON_MAX,
    REPORT_FIELD_MAX,
    SUBJECT_MAX,
    SUMMARY_MAX,
    text_block,
    text_line,
)

SUGGESTION_COUNT = 5
DEFLECTION_IDLE = timedelta(hours=1)
# Portal status -> the Zendesk status partners' Zendesk view should show.
ZENDESK_STATUS = {Status.AWAITING_CONFIRMATION: "solved", Status.CLOSED: "closed", Status.REOPENED: "open"}


class TransitionRefused(Exception):
    """A status change the state machine does not allow (answered with 409)."""

    def __init__(self, ticket: Ticket, target: Status, role: str):
        super().__init__(
            _(
                "A ticket that is “%(current)s” cannot become “%(target)s” by this action.",
                current=ticket.status_label,
                target=str(target.value),
            )
        )
        self.message = str(self.args[0])


def role_of(actor: User | None) -> str:
    return actor.role if actor is not None else states.SYSTEM


def move(
    ticket: Ticket,
    target: Status,
    actor: User | None,
    kind: str,
    data: dict | None = None,
    public: bool = True,
    now: datetime | None = None,
) -> TicketEvent:
    """Change the ticket's status if the state machine allows it, recording the event (the caller
    commits, together with any outbox message)."""
    now = now or utcnow()
    current = Status(ticket.status)
    if not states.allowed(current, target, role_of(actor)):
        raise TransitionRefused(ticket, target, role_of(actor))
    ticket.status = target.value
    ticket.updated_at = now
    if target is Status.AWAITING_CONFIRMATION:
        ticket.awaiting_since = now
    if target is Status.CLOSED:
        ticket.closed_at = now
    return record_event(ticket, actor, kind, current.value, target.value, data, public, now)


def record_event(
    ticket: Ticket,
    actor: User | None,
    kind: str,
    from_status: str | None = None,
    to_status: str | None = None,
    data: dict | None = None,
    public: bool = True,
    now: datetime | None = None,
) -> TicketEvent:
    event = TicketEvent(
        ticket_id=ticket.id,
        actor_id=getattr(actor, "id", None),
        actor_label=actor.name if actor is not None else "",
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        data=data or {},
        public=public,
        created_at=now or utcnow(),
    )
    db.session.add(event)
    return event


def _zendesk_status(ticket: Ticket, status: Status, comment: str | None = None, key: str = "") -> None:
    body: dict = {"status": ZENDESK_STATUS[status]}
    if comment:
        body["comment"] = {"body": comment, "public": True}
    outbox.enqueue(
        Target.ZENDESK, "update_ticket", {"ticket": body}, f"zendesk:status:{ticket.id}:{key}", ticket_id=ticket.id
    )


# Intake -----------------------------------------------------------------------------------

TECHNICAL_DETAILS = ("service", "device", "app_version", "region", "content_id", "error_code", "started_at", "impact")
MARKETING_DETAILS = ("topic", "desired_date")
DETAIL_LABELS = {
    "service": _l("Affected service or platform"),
    "device": _l("Device and operating system"),
    "app_version": _l("App version"),
    "region": _l("Region / country"),
    "content_id": _l("Content or stream id"),
    "error_code": _l("Error code"),
    "started_at": _l("When did it start?"),
    "impact": _l("Impact on end users"),
    "topic": _l("Topic"),
    "desired_date": _l("Desired date"),
}


def _zendesk_ticket(ticket: Ticket, requester: User) -> dict:
    details = "\n".join(
        f"- {DETAIL_LABELS[key]}: {value}" for key, value in ticket.details.items() if value not in (None, "")
    )
    body = ticket.description + (f"\n\n---\n{details}" if details else "")
    custom_fields = [
        {"id": int(field_id), "value": ticket.details[key]}
        for key, field_id in current_app.config["ZENDESK_CUSTOM_FIELDS"].items()
        if ticket.details.get(key) not in (None, "")
    ]
    payload = {
        "subject": f"[{ticket.reference}] {ticket.subject}",
        "comment": {"body": body, "public": True},
        "requester": {"name": requester.name, "email": requester.email},
        "tags": ["edye_portal", f"form_{ticket.form}"],
        "external_id": ticket.reference,
    }
    if custom_fields:
        payload["custom_fields"] = custom_fields
    if ticket.organization.zendesk_organization_id:
        payload["organization_id"] = ticket.organization.zendesk_organization_id
    return payload


def create_ticket(
    user: User,
    form: str,
    subject: str,
    description: str,
    details: dict,
    deflection_token: str | None = None,
    now: datetime | None = None,
) -> Ticket:
    """A partner's new ticket; its forwarding to Zendesk is committed with it."""
    if user.role_enum is not Role.PARTNER or user.organization is None:
        raise InvalidInput(_("Only partners open tickets."))
    if form not in {f.value for f in TicketForm}:
        raise InvalidInput(_("Unknown form."), "form")
    subject = text_line(subject, "subject", SUBJECT_MAX, _("Write a subject."))
    description = text_block(description, "description", DESCRIPTION_MAX, _("Describe the problem."))
    allowed_keys = TECHNICAL_DETAILS if form == TicketForm.TECHNICAL else MARKETING_DETAILS
    details = {
        key: clean_line(value)[:DETAIL_MAX] if isinstance(value, str) else value
        for key, value in details.items()
        if key in allowed_keys
    }
    now = now or utcnow()
    ticket = Ticket(
        organization_id=user.organization_id,
        organization=user.organization,
        requester_id=user.id,
        form=form,
        subject=subject,
        description=description,
        details={key: value for key, value in details.items() if value not in (None, "")},
        created_at=now,
        updated_at=now,
    )
    db.session.add(ticket)
    db.session.flush()
    ticket.reference = f"EDY-{ticket.id:06d}"
    sla.assign_deadline(ticket)
    record_event(
        ticket,
        user,
        "created",
        None,
        Status.NEW.value,
        {
            "form": form,
            "sla_row": ticket.sla_row_key,
            "sla_due_at": ticket.sla_due_at.isoformat() if ticket.sla_due_at else None,
        },
        True,
        now,
    )
    outbox.enqueue(
        Target.ZENDESK,
        "create_ticket",
        {"ticket": _zendesk_ticket(ticket, user)},
        f"zendesk:create:{ticket.reference}",
        ticket_id=ticket.id,
    )
    if deflection_token:
        deflection = db.session.scalar(
            select(Deflection).where(Deflection.token == deflection_token, Deflection.user_id == user.id)
        )
        if deflection is not None and deflection.outcome == "pending":
            deflection.outcome, deflection.ticket_id, deflection.updated_at = "ticket", ticket.id, now
    db.session.commit()
    return ticket


# Reading ------------------------------------------------------------------------------------


def ticket_for(user: User, ticket_id: int) -> Ticket | None:
    """The ticket if this user may see it: partners only their organization's, staff all."""
    ticket = db.session.get(Ticket, ticket_id, options=[joinedload(Ticket.organization)])
    if ticket is None:
        return None
    if user.is_staff or ticket.organization_id == user.organization_id:
        return ticket
    return None


def ticket_list(user: User, status_filter: str = "", query: str = ""):
    """A select of the tickets this user may see, newest first, filtered."""
    statement = (
        select(Ticket).options(joinedload(Ticket.requester)).order_by(Ticket.created_at.desc(), Ticket.id.desc())
    )
    if not user.is_staff:
        statement = statement.where(Ticket.organization_id == user.organization_id)
    else:
        statement = statement.options(joinedload(Ticket.organization))
    if status_filter == "open":
        statement = statement.where(Ticket.status.in_([s.value for s in states.OPEN_STATUSES]))
    elif status_filter in (Status.AWAITING_CONFIRMATION.value, Status.CLOSED.value):
        statement = statement.where(Ticket.status == status_filter)
    query = (query or "").strip()
    if query:
        statement = statement.where(or_(Ticket.reference.ilike(f"%{query}%"), Ticket.subject.ilike(f"%{query}%")))
    return statement


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    comment: Comment | None = None
    event: TicketEvent | None = None
    report: object | None = None


def timeline(ticket: Ticket, include_internal: bool) -> list[TimelineEntry]:
    """Comments, events and partner-visible status reports in time order; partners get only
    public ones (staff see reports in their own panel)."""
    comments = select(Comment).where(Comment.ticket_id == ticket.id)
    events = select(TicketEvent).options(joinedload(TicketEvent.actor)).where(TicketEvent.ticket_id == ticket.id)
    if not include_internal:
        comments = comments.where(Comment.public.is_(True))
        events = events.where(TicketEvent.public.is_(True))
    entries = [TimelineEntry(at=c.created_at, comment=c) for c in db.session.scalars(comments)]
    entries += [TimelineEntry(at=e.created_at, event=e) for e in db.session.scalars(events)]
    if not include_internal:
        shared = select(StatusReport).where(
            StatusReport.ticket_id == ticket.id, StatusReport.visible_to_partner.is_(True)
        )
        entries += [TimelineEntry(at=r.created_at, report=r) for r in db.session.scalars(shared)]
    return sorted(entries, key=lambda entry: (entry.at, entry.event is None))


def expected_first_response(ticket: Ticket) -> str:
    """The first-response target partners are promised for this kind of request."""
    if ticket.form == TicketForm.MARKETING_BUSINESS:
        return _("within 24 hours")
    return _("within 2–3 business hours (24 hours outside business hours)")


def first_response_due(ticket: Ticket) -> datetime | None:
    """When the first response is due, if it has not come yet."""
    return ticket.sla_due_at if ticket.first_response_at is None else None


# Conversation and confirmation -------------------------------------------------------------


def add_comment(user: User, ticket: Ticket, body: str, now: datetime | None = None) -> Comment:
    """A public comment from the partner (or staff), sent on to Zendesk."""
    body = text_block(body, "body", COMMENT_MAX, _("Write a message first."))
    if ticket.status == Status.CLOSED:
        raise TransitionRefused(ticket, Status.CLOSED, role_of(user))
    now = now or utcnow()
    comment = Comment(
        ticket_id=ticket.id, author_id=user.id, author_name=user.name, body=body, public=True, created_at=now
    )
    db.session.add(comment)
    if user.is_staff:
        sla.record_first_response(ticket, user, now)
    db.session.flush()
    ticket.updated_at = now
    outbox.enqueue(
        Target.ZENDESK,
        "update_ticket",
        {"ticket": {"comment": {"body": f"{user.name}:\n\n{body}", "public": True}}, "comment_id": comment.id},
        f"zendesk:comment:{comment.id}",
        ticket_id=ticket.id,
    )
    db.session.commit()
    return comment


def mark_solved(actor: User | None, ticket: Ticket, message: str = "", now: datetime | None = None) -> Ticket:
    """The solution goes to the partner, who is asked to confirm it."""
    message = text_block(message, "message", COMMENT_MAX)
    event = move(ticket, Status.AWAITING_CONFIRMATION, actor, "solution_sent", {"message": message}, now=now)
    db.session.flush()
    _zendesk_status(ticket, Status.AWAITING_CONFIRMATION, message or None, key=str(event.id))
    db.session.commit()
    return ticket


def confirm(user: User, ticket: Ticket, solved: bool, reason: str = "", now: datetime | None = None) -> Ticket:
    """The partner's answer: solved (closed, accepted) or not (reopened, back to its agent)."""
    reason = text_block(reason, "reason", REASON_MAX)
    if solved:
        event = move(ticket, Status.CLOSED, user, "confirmed", {"accepted": True}, now=now)
        db.session.flush()
        _zendesk_status(ticket, Status.CLOSED, key=str(event.id))
    else:
        if not reason:
            raise InvalidInput(_("Tell us what still fails, so the agent can continue."), "reason")
        event = move(
            ticket, Status.REOPENED, user, "reopened", {"reason": reason, "assignee_id": ticket.assignee_id}, now=now
        )
        db.session.flush()
        _zendesk_status(
            ticket,
            Status.REOPENED,
            _("The partner says the problem persists: %(reason)s", reason=reason),
            key=str(event.id),
        )
    db.session.commit()
    return ticket


def auto_close(now: datetime | None = None) -> int:
    """Close tickets whose partner did not answer within AUTO_CLOSE_AFTER_HOURS (accepted by silence)."""
    now = now or utcnow()
    deadline = now - timedelta(hours=current_app.config["AUTO_CLOSE_AFTER_HOURS"])
    due = list(
        db.session.scalars(
            select(Ticket).where(Ticket.status == Status.AWAITING_CONFIRMATION.value, Ticket.awaiting_since <= deadline)
        )
    )
    for ticket in due:
        event = move(
            ticket,
            Status.CLOSED,
            None,
            "auto_closed",
            {"accepted": True, "hours": current_app.config["AUTO_CLOSE_AFTER_HOURS"]},
            now=now,
        )
        db.session.flush()
        _zendesk_status(ticket, Status.CLOSED, key=str(event.id))
    db.session.commit()
    return len(due)


# Deflection --------------------------------------------------------------------------------


def suggest(user: User, text: str, token: str | None, now: datetime | None = None) -> tuple[list, str | None]:
    """The top KB articles for what the partner is writing; the articles shown are recorded
    under a token that follows the form until a ticket is sent or an article solves it."""
    now = now or utcnow()
    results = kb_search.search(text, [user.language], kb_services.visibilities_for(user), per_page=SUGGESTION_COUNT)
    hits = results.hits[:SUGGESTION_COUNT]
    deflection = None
    if token:
        deflection = db.session.scalar(
            select(Deflection).where(Deflection.token == token, Deflection.user_id == user.id)
        )
    if not hits:
        return hits, token
    if deflection is None:
        deflection = Deflection(
            token=secrets.token_urlsafe(16),
            organization_id=user.organization_id,
            user_id=user.id,
            created_at=now,
            outcome="pending",
            suggested_article_ids=[],
        )
        db.session.add(deflection)
    if deflection.outcome == "pending":
        shown = list(dict.fromkeys([*(deflection.suggested_article_ids or []), *(hit.article_id for hit in hits)]))
        deflection.query, deflection.suggested_article_ids, deflection.updated_at = text[:500], shown, now
    db.session.commit()
    return hits, deflection.token


def deflect(user: User, token: str, article_id: int, now: datetime | None = None) -> Deflection:
    """The partner's problem was solved by an article: no ticket, and the deflection is recorded."""
    deflection = db.session.scalar(select(Deflection).where(Deflection.token == token, Deflection.user_id == user.id))
    if deflection is None:
        raise InvalidInput(_("These suggestions have expired. Search the knowledge base again."), "token")
    if article_id not in deflection.suggested_article_ids:
        raise InvalidInput(_("That article was not among the suggestions."), "article_id")
    deflection.outcome, deflection.article_id, deflection.updated_at = "solved", article_id, now or utcnow()
    db.session.commit()
    return deflection


def expire_deflections(now: datetime | None = None) -> int:
    """Suggestions shown an hour ago with neither a solution nor a ticket count as abandoned."""
    now = now or utcnow()
    stale = list(
        db.session.scalars(
            select(Deflection).where(Deflection.outcome == "pending", Deflection.updated_at <= now - DEFLECTION_IDLE)
        )
    )
    for deflection in stale:
        deflection.outcome = "abandoned"
    db.session.commit()
    return len(stale)


# Staff workflow -------------------------------------------------------------------------------

STAFF_QUEUE_STATUSES = (
    Status.NEW,
    Status.TRIAGED,
    Status.REOPENED,
    Status.CANNOT_RESOLVE,
    Status.RESOLVED_BY_AGENT,
    Status.EXTERNAL_PROVIDER,
    Status.ALTERNATIVE_MEASURE,
)
ALTERNATIVE_MEASURES = {
    "no_intervention": _l("No intervention"),
    "revert_version": _l("Revert to a previous version"),
    "remove_components": _l("Remove components"),
    "reduce_functionality": _l("Reduce functionality"),
}
CHANNELS = ("monday", "slack")


def _monday_columns(ticket: Ticket) -> dict:
    """The ticket's Monday column values, for the columns configured in MONDAY_COLUMNS."""
    columns = current_app.config["MONDAY_COLUMNS"]
    values = {
        "reference": ticket.reference,
        "type": ticket.request_type or ticket.form,
        "tier": str(ticket.tier),
        "status": ticket.status,
        "assignee": ticket.assignee.name if ticket.assignee else "",
        "sla_due": ticket.sla_due_at.strftime("%Y-%m-%d %H:%M UTC") if ticket.sla_due_at else "",
    }
    return {columns[key]: value for key, value in values.items() if key in columns}


def record_in_monday(ticket: Ticket, update: str, key: str) -> None:
    """Record a step in Monday: the ticket's item (created once), an update, the changed columns."""
    exists_already = db.session.scalar(
        select(OutboxMessage.id).where(
            OutboxMessage.ticket_id == ticket.id,
            OutboxMessage.target == Target.MONDAY.value,
            OutboxMessage.kind == "create_item",
        )
    )
    if not exists_already:
        outbox.enqueue(
            Target.MONDAY,
            "create_item",
            {"name": f"{ticket.reference} {ticket.subject}"[:250], "columns": _monday_columns(ticket)},
            f"monday:item:{ticket.id}",
            ticket_id=ticket.id,
        )
    outbox.enqueue(
        Target.MONDAY,
        "create_update",
        {"body": f"[{ticket.reference}] {update}"},
        f"monday:update:{ticket.id}:{key}",
        ticket_id=ticket.id,
    )
    outbox.enqueue(
        Target.MONDAY,
        "change_columns",
        {"columns": _monday_columns(ticket)},
        f"monday:columns:{ticket.id}:{key}",
        ticket_id=ticket.id,
    )


def _to_slack(ticket: Ticket, text: str, key: str) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{ticket.reference}* {text}"}}]
    outbox.enqueue(
        Target.SLACK,
        "notify",
        {"text": f"{ticket.reference} {text}", "blocks": blocks},
        f"slack:{ticket.id}:{key}",
        ticket_id=ticket.id,
    )


def _staff_step(
    ticket: Ticket,
    target: Status,
    actor: User,
    kind: str,
    data: dict,
    update: str,
    monday: bool = True,
    slack: bool = False,
    now: datetime | None = None,
) -> TicketEvent:
    """Move the ticket, and tell Monday and/or Slack, all in one transaction (the caller commits)."""
    event = move(ticket, target, actor, kind, data, public=False, now=now)
    db.session.flush()
    if monday:
        record_in_monday(ticket, update, str(event.id))
    if slack:
        _to_slack(ticket, update, str(event.id))
    return event


def _require_agent(agent: User | None, role: Role) -> User:
    if agent is None or agent.role_enum is not role or not agent.active:
        raise InvalidInput(_("Choose an active %(role)s.", role=role.label), "agent_id")
    return agent


def classify_and_assign(
    admin: User, ticket: Ticket, request_type: str, priority: str, agent: User | None, now: datetime | None = None
) -> Ticket:
    """Classify a new ticket (request type, priority) and assign it to a level-1 agent, in one step."""
    if request_type not in {r.value for r in RequestType}:
        raise InvalidInput(_("Choose a request type."), "request_type")
    if priority not in PRIORITY_LABELS:
        raise InvalidInput(_("Choose a priority."), "priority")
    agent = _require_agent(agent, Role.AGENT_L1)
    reclassified = ticket.request_type != request_type
    ticket.request_type, ticket.priority, ticket.assignee, ticket.tier = request_type, priority, agent, 1
    if reclassified:
        sla.assign_deadline(ticket)
    _staff_step(
        ticket,
        Status.ASSIGNED_L1,
        admin,
        "assigned",
        {"request_type": request_type, "priority": priority, "assignee": agent.name, "tier": 1},
        f"Assigned to {agent.name} (level 1), {request_type}, priority {priority}.",
        now=now,
    )
    db.session.commit()
    return ticket


def add_internal_note(staff: User, ticket: Ticket, body: str, now: datetime | None = None) -> Comment:
    """A note for staff only: never shown to partners, never sent to Zendesk as public."""
    body = text_block(body, "body", NOTE_MAX, _("Write a message first."))
    note = Comment(
        ticket_id=ticket.id,
        author_id=staff.id,
        author_name=staff.name,
        body=body,
        public=False,
        created_at=now or utcnow(),
    )
    db.session.add(note)
    db.session.commit()
    return note


def file_status_report(
    agent: User,
    ticket: Ticket,
    actions_taken: str,
    minutes_spent: int,
    relevant_information: str = "",
    next_step: str = "",
    visible_to_partner: bool = False,
    now: datetime | None = None,
):
    """The procedure's status report (actions, time, relevant information), also posted to Monday."""
    actions_taken = text_block(actions_taken, "actions_taken", REPORT_FIELD_MAX, _("Say what you did."))
    relevant_information = text_block(relevant_information, "relevant_information", REPORT_FIELD_MAX)
    next_step = text_block(next_step, "next_step", REPORT_FIELD_MAX)
    if minutes_spent is None or not 0 < minutes_spent <= 24 * 60:
        raise InvalidInput(_("Time spent is between 1 and 1440 minutes."), "minutes_spent")
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
        ticket, agent, "status_report", data={"report_id": report.id, "minutes": minutes_spent}, public=False, now=now
    )
    db.session.flush()
    record_in_monday(
        ticket,
        f"Status report by {agent.name} ({minutes_spent} min): {report.actions_taken}"
        + (f" — Next: {report.next_step}" if report.next_step else ""),
        str(event.id),
    )
    db.session.commit()
    return report


def _check_kb_rule(agent: User, ticket: Ticket, article_id: int | None, no_kb_reason: str):
    """Resolving needs a KB article the agent created or updated for this ticket, or a reason why not."""
    if article_id:
        touched = db.session.scalar(
            select(ArticleRevision.id).where(
                ArticleRevision.article_id == article_id,
                ArticleRevision.author_id == agent.id,
                ArticleRevision.created_at >= ticket.created_at,
            )
        )
        if not touched:
            raise InvalidInput(
                _("Link an article you created or updated while working on this ticket."), "kb_article_id"
            )
        return db.session.get(Article, article_id)
    if not no_kb_reason:
        raise InvalidInput(_("Link the KB article you updated, or say why no KB change is needed."), "no_kb_reason")
    return None


def resolve(
    agent: User,
    ticket: Ticket,
    summary: str,
    kb_article_id: int | None = None,
    no_kb_reason: str = "",
    now: datetime | None = None,
) -> Ticket:
    """The agent (or the administrator) solved it: summary plus the KB-on-close rule."""
    summary = text_block(summary, "summary", SUMMARY_MAX, _("Summarize the solution."))
    no_kb_reason = text_block(no_kb_reason, "no_kb_reason", REASON_MAX)
    article = _check_kb_rule(agent, ticket, kb_article_id, no_kb_reason)
    data = {
        "summary": summary,
        "kb_article_id": article.id if article else None,
        "kb_article": f"{article.language}/{article.slug}" if article else None,
        "no_kb_reason": no_kb_reason if not article else "",
    }
    _staff_step(
        ticket, Status.RESOLVED_BY_AGENT, agent, "resolved", data, f"Resolved by {agent.name}: {summary}", now=now
    )
    db.session.commit()
    return ticket


def cannot_resolve(agent: User, ticket: Ticket, reason: str, now: datetime | None = None) -> Ticket:
    """The agent cannot offer a solution: back to the administrator, with the reason."""
    reason = text_block(reason, "reason", REASON_MAX, _("Say why it cannot be resolved at this level."))
    _staff_step(
        ticket,
        Status.CANNOT_RESOLVE,
        agent,
        "cannot_resolve",
        {"reason": reason, "tier": ticket.tier},
        f"{agent.name} cannot resolve it: {reason}",
        now=now,
    )
    db.session.commit()
    return ticket


def notify_partner(admin: User, ticket: Ticket, message: str, now: datetime | None = None) -> Ticket:
    """Send the solution to the partner (public Zendesk comment), record it in Monday, and ask
    the partner to confirm."""
    message = text_block(message, "message", COMMENT_MAX, _("Write the message for the partner."))
    event = move(ticket, Status.AWAITING_CONFIRMATION, admin, "solution_sent", {"message": message}, now=now)
    db.session.add(
        Comment(
            ticket_id=ticket.id,
            author_id=admin.id,
            author_name=admin.name,
            body=message,
            public=True,
            created_at=now or utcnow(),
        )
    )
    sla.record_first_response(ticket, admin, now)
    db.session.flush()
    _zendesk_status(ticket, Status.AWAITING_CONFIRMATION, message, key=str(event.id))
    record_in_monday(ticket, f"Resolution sent to the partner by {admin.name}.", str(event.id))
    db.session.commit()
    return ticket


def reassign_to_level_two(
    admin: User, ticket: Ticket, agent: User | None, channels: list[str], now: datetime | None = None
) -> Ticket:
    """Level 1 could not solve it: a level-2 agent takes over, told through Monday, Slack or both."""
    agent = _require_agent(agent, Role.AGENT_L2)
    channels = [channel for channel in channels if channel in CHANNELS]
    if not channels:
        raise InvalidInput(_("Choose Monday, Slack or both."), "channels")
    if ticket.tier != 1:
        raise TransitionRefused(ticket, Status.ASSIGNED_L2, role_of(admin))
    ticket.assignee, ticket.tier = agent, 2
    _staff_step(
        ticket,
        Status.ASSIGNED_L2,
        admin,
        "assigned",
        {"assignee": agent.name, "tier": 2, "channels": channels},
        f"Reassigned to {agent.name} (level 2).",
        monday="monday" in channels,
        slack="slack" in channels,
        now=now,
    )
    db.session.commit()
    return ticket


def escalate_to_level_three(admin: User, ticket: Ticket, note: str = "", now: datetime | None = None) -> Ticket:
    """Level 2 could not solve it either: the VP and the tech team analyse it."""
    note = text_block(note, "note", REASON_MAX)
    if ticket.tier != 2:
        raise TransitionRefused(ticket, Status.ESCALATED_L3, role_of(admin))
    ticket.tier, ticket.assignee = 3, None
    _staff_step(
        ticket,
        Status.ESCALATED_L3,
        admin,
        "escalated",
        {"tier": 3, "note": note},
        f"Escalated to level 3 (VP and tech team). {note}".strip(),
        slack=True,
        now=now,
    )
    db.session.commit()
    return ticket


def decide(
    vp: User,
    ticket: Ticket,
    priority: str,
    impact: str,
    resources: str,
    decision: str,
    provider: dict | None = None,
    measure: str = "",
    notes: str = "",
    now: datetime | None = None,
) -> Ticket:
    """Level 3's analysis and decision: an external provider, or an alternative measure."""
    if priority not in PRIORITY_LABELS:
        raise InvalidInput(_("Choose a priority."), "priority")
    impact = text_block(
        impact, "impact", DECISION_FIELD_MAX, _("Describe the impact (partners and end users affected).")
    )
    resources = text_block(resources, "resources", DECISION_FIELD_MAX, _("Describe the resources available."))
    data = {
        "priority": priority,
        "impact": impact,
        "resources": resources,
        "notes": text_block(notes, "notes", DECISION_FIELD_MAX),
    }
    if decision == "external_provider":
        missing = _("Give the provider's name, contact and scope.")
        provider = provider or {}
        provider = {
            "name": text_line(provider.get("name"), "provider_name", PROVIDER_FIELD_MAX, missing),
            "contact": text_line(provider.get("contact"), "provider_contact", PROVIDER_FIELD_MAX, missing),
            "scope": text_block(provider.get("scope"), "provider_scope", DECISION_FIELD_MAX, missing),
        }
        data["provider"] = provider
        target, update = Status.EXTERNAL_PROVIDER, f"Level 3 approved an external provider: {provider['name']}."
    elif decision == "alternative_measure":
        if measure not in ALTERNATIVE_MEASURES:
            raise InvalidInput(_("Choose an alternative measure."), "measure")
        data["measure"] = measure
        target, update = Status.ALTERNATIVE_MEASURE, f"Level 3 decided an alternative measure: {measure}."
    else:
        raise InvalidInput(_("Choose a decision."), "decision")
    ticket.priority = priority
    _staff_step(ticket, target, vp, "decision", data, update, slack=True, now=now)
    db.session.commit()
    return ticket


def record_level_three_result(actor: User, ticket: Ticket, result: str, now: datetime | None = None) -> Ticket:
    """The provider's result, or the measure applied, goes back to the administrator."""
    result = text_block(result, "result", SUMMARY_MAX, _("Describe the result."))
    _staff_step(
        ticket,
        Status.RESOLVED_BY_AGENT,
        actor,
        "level_three_result",
        {"summary": result},
        f"Level 3 result: {result}",
        now=now,
    )
    db.session.commit()
    return ticket


def staff_queue(
    statuses,
    request_type: str = "",
    organization_id: int = 0,
    tier: int = 0,
    status: str = "",
    assignee_id: int = 0,
    order: str = "sla",
):
    """A select of tickets for staff queues, filtered, ordered by SLA due time (default), or age."""
    statement = (
        select(Ticket)
        .options(joinedload(Ticket.organization), joinedload(Ticket.assignee))
        .where(Ticket.status.in_([s.value for s in statuses]))
    )
    if request_type:
        statement = statement.where(Ticket.request_type == request_type)
    if organization_id:
        statement = statement.where(Ticket.organization_id == organization_id)
    if tier:
        statement = statement.where(Ticket.tier == tier)
    if status:
        statement = statement.where(Ticket.status == status)
    if assignee_id:
        statement = statement.where(Ticket.assignee_id == assignee_id)
    if order == "sla":
        # Most urgent first; tickets already answered (or without a deadline) last.
        pending_first = case((Ticket.first_response_at.is_(None), 0), else_=1)
        return statement.order_by(pending_first, Ticket.sla_due_at.is_(None), Ticket.sla_due_at, Ticket.id)
    ordering = Ticket.created_at.desc() if order == "newest" else Ticket.created_at.asc()
    return statement.order_by(ordering, Ticket.id)


def status_reports(ticket: Ticket):
    return list(
        db.session.scalars(
            select(StatusReport)
            .options(joinedload(StatusReport.author))
            .where(StatusReport.ticket_id == ticket.id)
            .order_by(StatusReport.created_at)
        )
    )


def kb_draft_for(agent: User, ticket: Ticket):
    """A KB draft prefilled from the ticket, for the agent to complete and link on resolving."""
    language = ticket.requester.language if ticket.requester.language in ("es", "en") else "es"
    base = slug = ticket.reference.lower()
    number = 1
    while db.session.scalar(select(Article.id).where(Article.language == language, Article.slug == slug)):
        number += 1
        slug = f"{base}-{number}"
    text = kb_services.ArticleText(
        title=ticket.subject,
        body=f"## {_('Problem')}\n\n{ticket.description}\n\n## {_('Solution')}\n\n…\n",
        category="support-process" if ticket.form == TicketForm.MARKETING_BUSINESS else "playback",
        tags=[ticket.reference],
        visibility="internal",
        note=f"Draft from {ticket.reference}",
        publish=False,
    )
    return kb_services.create_article(agent, language, slug, text)


def event_data_text(data: dict) -> str:
    """An event's data as `key=value` pairs, for exports."""
    return "; ".join(f"{key}={value}" for key, value in sorted((data or {}).items()) if value not in (None, ""))
