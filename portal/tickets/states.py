"""The one ticket state machine: which status may follow which, and who may move it there."""

from __future__ import annotations

from portal.tickets.models import Status

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
