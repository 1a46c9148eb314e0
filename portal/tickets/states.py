"""The ticket state machine's only door: `move()` changes a status only along a move the policy
(people) or the system (Zendesk, the worker) may make, records the event, and puts the change on
the Monday board (its status column and an update), so no path forgets it."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _

from auth.models import Role, User
from portal.core.extensions import db
from portal.core.types import utcnow
from portal.tickets import policy
from portal.tickets.board import record_status_in_monday
from portal.tickets.models import Status, Ticket, TicketEvent

SYSTEM = "system"  # the worker (auto-close) and Zendesk (webhook)

# Support still owes the partner something: neither waiting for the partner's answer nor closed.
OPEN_STATUSES = frozenset(Status) - {Status.AWAITING_CONFIRMATION, Status.CLOSED}
# Status changes no person makes: Zendesk agents solve or close the Zendesk ticket (webhook), the
# partner's answer reaching Zendesk reopens a solution awaiting confirmation (webhook), and the
# worker closes a solution nobody answered. People's moves are the policy's rules.
SYSTEM_MOVES: dict[Status, frozenset[Status]] = {
    **{status: frozenset({Status.AWAITING_CONFIRMATION, Status.CLOSED}) for status in OPEN_STATUSES},
    Status.AWAITING_CONFIRMATION: frozenset({Status.CLOSED, Status.REOPENED}),
}


def allowed(current: Status, target: Status, role: str) -> bool:
    """Whether `role` (a role's value, or SYSTEM) may move a ticket from `current` to `target`."""
    if role == SYSTEM:
        return target in SYSTEM_MOVES.get(current, frozenset())
    return policy.may_move(current, target, Role(role))


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
    actor_label: str = "",
    board_update=None,
) -> TicketEvent:
    """Change the ticket's status if the state machine allows it, recording the event and the
    change on the Monday board (the caller commits, together with any outbox message).
    `actor_label` names who moved it when no portal user did (the partner answering in Zendesk);
    `board_update` is the step's Monday update (a lazy string), when the caller words it."""
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
    event = record_event(ticket, actor, kind, current.value, target.value, data, public, now, actor_label)
    db.session.flush()
    record_status_in_monday(ticket, event, board_update, staff_step=actor is not None and actor.is_staff)
    return event


def record_event(
    ticket: Ticket,
    actor: User | None,
    kind: str,
    from_status: str | None = None,
    to_status: str | None = None,
    data: dict | None = None,
    public: bool = True,
    now: datetime | None = None,
    actor_label: str = "",
) -> TicketEvent:
    event = TicketEvent(
        ticket_id=ticket.id,
        actor_id=getattr(actor, "id", None),
        actor_label=actor.name if actor is not None else actor_label,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        data=data or {},
        public=public,
        created_at=now or utcnow(),
    )
    db.session.add(event)
    return event
