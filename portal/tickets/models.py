"""Tickets, their timeline of events and comments, and KB deflection records."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from auth.models import Organization, User
from portal.core.audit import AuditLogIsAppendOnly
from portal.core.extensions import db
from portal.core.types import UTCDateTime, utcnow
from portal.sla.models import REQUEST_TYPE_LABELS, RequestType, SlaState
from portal.tickets.validation import SUBJECT_MAX


class TicketForm(StrEnum):
    TECHNICAL = "technical"
    MARKETING_BUSINESS = "marketing_business"


FORM_LABELS = {
    TicketForm.TECHNICAL: _l("Technical errors and questions"),
    TicketForm.MARKETING_BUSINESS: _l("Marketing and business"),
}


PRIORITY_LABELS = {"low": _l("Low"), "normal": _l("Normal"), "high": _l("High"), "urgent": _l("Urgent")}


class Status(StrEnum):
    NEW = "new"
    TRIAGED = "triaged"
    ASSIGNED_L1 = "assigned_l1"
    ASSIGNED_BUSINESS = "assigned_business"  # to a member of the Marketing and business area (§8)
    RESOLVED_BY_AGENT = "resolved_by_agent"
    CANNOT_RESOLVE = "cannot_resolve"
    ASSIGNED_L2 = "assigned_l2"
    ESCALATED_L3 = "escalated_l3"
    EXTERNAL_PROVIDER = "external_provider"
    ALTERNATIVE_MEASURE = "alternative_measure"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    REOPENED = "reopened"
    CLOSED = "closed"


# What partners are told: the internal steps are one "in progress" to them.
PARTNER_STATUS_LABELS = {
    Status.NEW: _l("Received"),
    Status.AWAITING_CONFIRMATION: _l("Solved: please confirm"),
    Status.CLOSED: _l("Closed"),
}
IN_PROGRESS_LABEL = _l("In progress")
PARTNER_STATUS_FILTERS = {
    "open": _l("Open"),
    "awaiting_confirmation": _l("Waiting for my confirmation"),
    "closed": _l("Closed"),
}

STATUS_LABELS = {
    Status.NEW: _l("New"),
    Status.TRIAGED: _l("Triaged"),
    Status.ASSIGNED_L1: _l("Assigned to level 1"),
    Status.ASSIGNED_BUSINESS: _l("Assigned to marketing and business"),
    Status.RESOLVED_BY_AGENT: _l("Resolved by the agent"),
    Status.CANNOT_RESOLVE: _l("Agent cannot resolve"),
    Status.ASSIGNED_L2: _l("Assigned to level 2"),
    Status.ESCALATED_L3: _l("Escalated to level 3"),
    Status.EXTERNAL_PROVIDER: _l("External provider"),
    Status.ALTERNATIVE_MEASURE: _l("Alternative measure"),
    Status.AWAITING_CONFIRMATION: _l("Awaiting partner confirmation"),
    Status.REOPENED: _l("Reopened"),
    Status.CLOSED: _l("Closed"),
}


class Ticket(db.Model):
    """A partner's request for help, forwarded to Zendesk."""

    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint("form IN ('technical', 'marketing_business')", name="form_known"),
        CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')", name="priority_known"),
        Index("ix_tickets_org_status_created", "organization_id", "status", "created_at"),
        Index("ix_tickets_status_created", "status", "created_at"),
        Index("ix_tickets_sla_open", "sla_state", "sla_due_at"),
        Index("ix_tickets_created_type", "created_at", "request_type"),
        CheckConstraint("sla_state IN ('on_track', 'at_risk', 'breached', 'met')", name="sla_state_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(20), unique=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    form: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX))
    description: Mapped[str] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(30), default=Status.NEW.value)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    request_type: Mapped[str | None] = mapped_column(String(30))
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    tier: Mapped[int] = mapped_column(default=1)
    # Zendesk ids are 64-bit (comment and audit ids are already past 2**31).
    zendesk_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    # The Zendesk user the ticket was requested by (from Zendesk's answer): the partner's comments
    # are posted as theirs.
    zendesk_requester_id: Mapped[int | None] = mapped_column(BigInteger)
    monday_item_id: Mapped[str | None] = mapped_column(String(40))
    # First-response SLA (see portal/sla): the matrix row applied, its warning and due times.
    sla_row_key: Mapped[str | None] = mapped_column(String(60))
    sla_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    sla_state: Mapped[str] = mapped_column(String(10), default=SlaState.ON_TRACK.value)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_responder_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    second_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    awaiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization] = relationship()
    requester: Mapped[User] = relationship(foreign_keys=[requester_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    first_responder: Mapped[User | None] = relationship(foreign_keys=[first_responder_id])

    @property
    def is_closed(self) -> bool:
        return self.status == Status.CLOSED

    @property
    def partner_status_label(self) -> str:
        return str(PARTNER_STATUS_LABELS.get(Status(self.status), IN_PROGRESS_LABEL))

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS[Status(self.status)])

    @property
    def form_label(self) -> str:
        return str(FORM_LABELS[TicketForm(self.form)])

    @property
    def request_type_label(self) -> str:
        return str(REQUEST_TYPE_LABELS[RequestType(self.request_type)]) if self.request_type else ""


class StatusReport(db.Model):
    """The procedure's status report: actions taken, time spent, relevant information."""

    __tablename__ = "ticket_status_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actions_taken: Mapped[str] = mapped_column(Text)
    minutes_spent: Mapped[int]
    relevant_information: Mapped[str] = mapped_column(Text, default="")
    next_step: Mapped[str] = mapped_column(Text, default="")
    visible_to_partner: Mapped[bool] = mapped_column(default=False)

    author: Mapped[User] = relationship()


class EventKind(StrEnum):
    """What a ticket event records (`TicketEvent.kind`)."""

    CREATED = "created"
    ASSIGNED = "assigned"  # to level 1 (with the classification) or level 2
    STATUS_REPORT = "status_report"
    RESOLVED = "resolved"
    CANNOT_RESOLVE = "cannot_resolve"
    ESCALATED = "escalated"  # to level 3
    DECISION = "decision"  # level 3's: an external provider or an alternative measure
    LEVEL_THREE_RESULT = "level_three_result"
    SOLUTION_SENT = "solution_sent"
    CONFIRMED = "confirmed"
    REOPENED = "reopened"
    AUTO_CLOSED = "auto_closed"
    ZENDESK_SOLVED = "zendesk_solved"
    ZENDESK_CLOSED = "zendesk_closed"
    ZENDESK_STATUS = "zendesk_status"  # another Zendesk status, noted without a move
    FILES_NOT_BROUGHT = "files_not_brought"  # files of a Zendesk comment the portal did not keep


class TicketEvent(db.Model):
    """One step in a ticket's life: who, when, from which status to which, and what else."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(300), default="")
    kind: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str | None] = mapped_column(String(30))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    # Shown on the partner's timeline (status changes are; internal steps are not).
    public: Mapped[bool] = mapped_column(default=True)

    actor: Mapped[User | None] = relationship()

    def actor_shown_to(self, viewer: User) -> str:
        """Who took this step, as `viewer` may see it (see `name_shown_to`)."""
        return name_shown_to(viewer, self.actor, self.actor_label)


@event.listens_for(TicketEvent, "before_update")
@event.listens_for(TicketEvent, "before_delete")
def _events_are_history(mapper, connection, ticket_event):
    raise AuditLogIsAppendOnly("ticket events are the ticket's audit trail: never changed or deleted")


AUTHOR_NAME_MAX = 200
# What partners see instead of a staff member's name (unless SHOW_STAFF_NAMES_TO_PARTNERS).
SUPPORT_TEAM_NAME = _l("EDYE Support")


def name_for_partners(person: User | None, name: str) -> str:
    """`name` as partners read it: staff answer as the support team, never by their internal
    names, unless SHOW_STAFF_NAMES_TO_PARTNERS; partners and Zendesk agents keep theirs."""
    if person is not None and person.is_staff and not current_app.config["SHOW_STAFF_NAMES_TO_PARTNERS"]:
        return str(SUPPORT_TEAM_NAME)
    return name


def name_shown_to(viewer: User, person: User | None, name: str) -> str:
    """Staff screens always show real names; partners get `name_for_partners`."""
    return name if viewer.is_staff else name_for_partners(person, name)


class Comment(db.Model):
    """A message on a ticket: from the partner, from staff, or from a Zendesk agent."""

    __tablename__ = "ticket_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    author_name: Mapped[str] = mapped_column(String(AUTHOR_NAME_MAX))
    body: Mapped[str] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(String(10), default="portal")
    zendesk_comment_id: Mapped[int | None] = mapped_column(BigInteger, index=True)

    # Loaded with the comments (one query for a whole timeline): partners see staff by role.
    author: Mapped[User | None] = relationship(lazy="selectin")

    def author_shown_to(self, viewer: User) -> str:
        return name_shown_to(viewer, self.author, self.author_name)

    @classmethod
    def written(cls, author: User, ticket: Ticket, body: str, public: bool, now: datetime) -> Comment:
        """A comment a portal user wrote on `ticket`, added to the session."""
        comment = cls(
            ticket_id=ticket.id, author=author, author_name=author.name, body=body, public=public, created_at=now
        )
        db.session.add(comment)
        return comment


class DeflectionOutcome(StrEnum):
    PENDING = "pending"  # suggestions shown, nothing decided yet
    TICKET = "ticket"  # the partner sent a ticket after all
    SOLVED = "solved"  # an article solved it: no ticket
    ABANDONED = "abandoned"  # neither, and the suggestions went idle (intake.DEFLECTION_IDLE)


DEFLECTION_QUERY_MAX = 500


class Deflection(db.Model):
    """KB suggestions shown while a partner wrote a ticket, and how that ended."""

    __tablename__ = "ticket_deflections"
    __table_args__ = (
        CheckConstraint("outcome IN ('pending', 'solved', 'ticket', 'abandoned')", name="outcome_known"),
        Index("ix_ticket_deflections_outcome_updated", "outcome", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    query: Mapped[str] = mapped_column(String(DEFLECTION_QUERY_MAX), default="")
    suggested_article_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    article_id: Mapped[int | None] = mapped_column(ForeignKey("kb_articles.id", ondelete="SET NULL"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    outcome: Mapped[str] = mapped_column(String(10), default=DeflectionOutcome.PENDING.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# The detail fields of each intake form, in the order the form shows them.
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


class ArrivalState(StrEnum):
    """What became of a ticket born in Zendesk (`ZendeskArrival.state`)."""

    MATCHED = "matched"  # its requester or organization named a partner: a portal ticket at once
    UNMATCHED = "unmatched"  # waiting in the administrator's "Unmatched from Zendesk" list
    LINKED = "linked"  # the administrator linked it to an organization: a portal ticket
    IGNORED = "ignored"  # the administrator decided it is no partner's


ARRIVAL_EMAIL_MAX = 254


class ZendeskArrival(db.Model):
    """A ticket born in Zendesk (e-mail to support, an agent creating it there), once per Zendesk
    ticket: the unique Zendesk id makes simultaneous first events create one portal ticket only."""

    __tablename__ = "zendesk_arrivals"
    __table_args__ = (
        CheckConstraint("state IN ('matched', 'unmatched', 'linked', 'ignored')", name="state_known"),
        Index("ix_zendesk_arrivals_state_received", "state", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    zendesk_ticket_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    zendesk_requester_id: Mapped[int | None] = mapped_column(BigInteger)
    zendesk_organization_id: Mapped[int | None] = mapped_column(BigInteger)
    requester_email: Mapped[str] = mapped_column(String(ARRIVAL_EMAIL_MAX), default="")
    requester_name: Mapped[str] = mapped_column(String(AUTHOR_NAME_MAX), default="")
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(60), default="")
    zendesk_created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(10))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    ticket: Mapped[Ticket | None] = relationship()

    @property
    def name(self) -> str:
        """How the audit log names it."""
        return f"Zendesk #{self.zendesk_ticket_id}"
