"""The one ticket state machine: which status may follow which, and who may move it there."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _

from auth.models import User
from portal.core.extensions import db
from portal.core.types import utcnow
from portal.tickets.models import Status, Ticket, TicketEvent

PARTNER = "partner"
ADMIN = "ticket_admin"
AGENT_L1 = "agent_l1"
AGENT_L2 = "agent_l2"
VP = "vp"
SYSTEM = "system"  # the worker (auto-close) and Zendesk (webhook)
AGENTS = frozenset({AGENT_L1, AGENT_L2})

_OPEN = (
    Status.NEW,
    Status.TRIAGED,
    Status.ASSIGNED_L1,
    Status.RESOLVED_BY_AGENT,
    Status.CANNOT_RESOLVE,
    Status.ASSIGNED_L2,
    Status.ESCALATED_L3,
    Status.EXTERNAL_PROVIDER,
    Status.ALTERNATIVE_MEASURE,
    Status.REOPENED,
)

# from status -> {to status: roles allowed to make the move}
TRANSITIONS: dict[Status, dict[Status, frozenset[str]]] = {
    Status.NEW: {
        Status.TRIAGED: frozenset({ADMIN}),
        Status.ASSIGNED_L1: frozenset({ADMIN}),
        Status.RESOLVED_BY_AGENT: frozenset({ADMIN}),
    },
    Status.TRIAGED: {
        Status.ASSIGNED_L1: frozenset({ADMIN}),
        Status.RESOLVED_BY_AGENT: frozenset({ADMIN}),
    },
    Status.ASSIGNED_L1: {
        Status.RESOLVED_BY_AGENT: frozenset({AGENT_L1, ADMIN}),
        Status.CANNOT_RESOLVE: frozenset({AGENT_L1}),
    },
    Status.CANNOT_RESOLVE: {
        Status.ASSIGNED_L2: frozenset({ADMIN}),
        Status.ESCALATED_L3: frozenset({ADMIN}),
        Status.RESOLVED_BY_AGENT: frozenset({ADMIN}),
    },
    Status.ASSIGNED_L2: {
        Status.RESOLVED_BY_AGENT: frozenset({AGENT_L2, ADMIN}),
        Status.CANNOT_RESOLVE: frozenset({AGENT_L2}),
    },
    Status.ESCALATED_L3: {
        Status.EXTERNAL_PROVIDER: frozenset({VP}),
        Status.ALTERNATIVE_MEASURE: frozenset({VP}),
    },
    Status.EXTERNAL_PROVIDER: {Status.RESOLVED_BY_AGENT: frozenset({VP, ADMIN})},
    Status.ALTERNATIVE_MEASURE: {Status.RESOLVED_BY_AGENT: frozenset({VP, ADMIN})},
    Status.RESOLVED_BY_AGENT: {Status.AWAITING_CONFIRMATION: frozenset({ADMIN})},
    Status.AWAITING_CONFIRMATION: {
        Status.CLOSED: frozenset({PARTNER, SYSTEM}),
        Status.REOPENED: frozenset({PARTNER}),
    },
    Status.REOPENED: {
        Status.RESOLVED_BY_AGENT: frozenset({AGENT_L1, AGENT_L2, ADMIN}),
        Status.CANNOT_RESOLVE: frozenset({AGENT_L1, AGENT_L2}),
    },
    Status.CLOSED: {},
}
# Zendesk agents may solve or close a ticket from Zendesk itself, from any open status.
for _status in _OPEN:
    TRANSITIONS[_status][Status.AWAITING_CONFIRMATION] = TRANSITIONS[_status].get(
        Status.AWAITING_CONFIRMATION, frozenset()
    ) | {SYSTEM}
    TRANSITIONS[_status][Status.CLOSED] = TRANSITIONS[_status].get(Status.CLOSED, frozenset()) | {SYSTEM}

OPEN_STATUSES = frozenset(_OPEN)


def allowed(current: Status, target: Status, role: str) -> bool:
    """Whether `role` may move a ticket from `current` to `target`."""
    return role in TRANSITIONS.get(current, {}).get(target, frozenset())


def next_statuses(current: Status, role: str) -> list[Status]:
    """The statuses `role` may move a ticket to from `current` (for showing only allowed actions)."""
    return [target for target, roles in TRANSITIONS.get(current, {}).items() if role in roles]


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
    return actor.role if actor is not None else SYSTEM


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
    if not allowed(current, target, role_of(actor)):
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
