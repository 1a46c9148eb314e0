"""Who may do what to a ticket: the one home of that rule.

Each `Rule` says which roles may take an action, in which statuses, under which conditions, and
which statuses the action may move the ticket to. Everything else asks this module: the state
machine's door (`states.move`) refuses moves no rule (and no system event) allows; services call
`check()` before they change anything; routes derive their role lists from `roles_for()` and
answer 403 or 409 from `check()`; templates show `actions_for()`. The staff queues (`Queue`) list
the tickets in the statuses where their people have a step to take.

Conditions come in two kinds, because they are answered differently: *whose* ticket it is
(an agent's own assignment, a partner's own organization) is a matter of permission (403); *when*
(the tier the ticket is at, its request type, whether anyone is assigned) is a matter of the
ticket's state (409). A *when* condition the person can meet themselves is a `Requirement`: its
refusal says what to do (an agent resolves, or gives up, only after filing a status report on the
ticket, §4 and §15).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from auth.models import STAFF_ROLES, Role
from portal.core.extensions import db
from portal.sla.models import RequestType
from portal.tickets.models import Status, StatusReport


class Action(StrEnum):
    """What a person can do to a ticket (the staff workspace's buttons, the partner's answers)."""

    ASSIGN = "assign"  # classify and assign to level 1 (marketing and business: to that area)
    RESOLVE = "resolve"
    CANNOT_RESOLVE = "cannot_resolve"
    REASSIGN = "reassign"  # to level 2, through Monday and/or Slack
    ESCALATE = "escalate"  # to level 3: the VP and the tech team
    NOTIFY = "notify"  # send the solution to the partner and ask for confirmation
    DECISION = "decision"  # level 3: external provider or alternative measure
    RESULT = "result"  # the provider's result or the measure applied
    REPORT = "report"  # a status report
    NOTE = "note"  # internal note
    REPLY = "reply"  # public reply from staff
    COMMENT = "comment"  # public comment from the partner's ticket page
    CONFIRM = "confirm"  # the partner's answer to a solution: solved, or not


class ActionRefused(Exception):
    """`check()` said no. `forbidden`: the action is not this user's to take on this ticket (403);
    otherwise the user could take it, but not in the ticket's current state (409)."""

    def __init__(self, message: str, forbidden: bool):
        super().__init__(message)
        self.message = message
        self.forbidden = forbidden

    @property
    def http_status(self) -> int:
        return 403 if self.forbidden else 409


class RequirementUnmet(ActionRefused):
    """`check()` said not yet: the user may take the action once they meet a requirement, which
    the message tells them how to (409)."""

    def __init__(self, message: str):
        super().__init__(message, forbidden=False)


Condition = Callable[[object, object], bool]


def assigned_to_them(user, ticket) -> bool:
    return ticket.assignee_id is not None and ticket.assignee_id == user.id


def their_organization(user, ticket) -> bool:
    return user.organization_id is not None and ticket.organization_id == user.organization_id


def unassigned(user, ticket) -> bool:
    return ticket.assignee_id is None


def in_business_area(user, ticket) -> bool:
    """A marketing or business request: the Marketing and business area handles it (§8)."""
    return ticket.request_type == RequestType.MARKETING_BUSINESS


def at_level(tier: int) -> Condition:
    """At `tier` of the support levels (1, 2, 3), which business requests do not climb."""

    def condition(user, ticket) -> bool:
        return ticket.tier == tier and not in_business_area(user, ticket)

    condition.__name__ = f"at_level_{tier}"
    return condition


@dataclass(frozen=True)
class Requirement:
    """A *when* condition the person can meet themselves; `message` (lazily translated) tells
    them how, and is the refusal's message instead of the generic one about the status."""

    holds: Condition
    message: str

    def __call__(self, user, ticket) -> bool:
        return self.holds(user, ticket)


def _reported_by_them(user, ticket) -> bool:
    found = select(StatusReport.id).where(StatusReport.ticket_id == ticket.id, StatusReport.author_id == user.id)
    return db.session.scalar(found.limit(1)) is not None


# §4 and §15: a status report records what was done, how long it took and what is relevant. The
# agent who resolves a ticket, or gives it back, must have filed at least one on it (any earlier
# one of theirs counts, also from before a reopening); other agents' reports do not count for them.
REPORTED_BY_THEM = Requirement(
    _reported_by_them,
    _l("File a status report first: say what you did, the time spent and the relevant information."),
)


@dataclass(frozen=True)
class Rule:
    action: Action
    roles: frozenset[Role]
    statuses: frozenset[Status]
    moves_to: frozenset[Status] = frozenset()  # empty: the action changes no status
    whose: Condition | None = None  # refused with 403 when false
    when: Condition | None = None  # refused with 409 when false (a Requirement's own message)


def _rule(action, roles, statuses, moves_to=(), whose=None, when=None) -> Rule:
    return Rule(action, frozenset(roles), frozenset(statuses), frozenset(moves_to), whose, when)


ADMIN, L1, L2, VP, PARTNER = Role.TICKET_ADMIN, Role.AGENT_L1, Role.AGENT_L2, Role.VP, Role.PARTNER
BUSINESS, TECH_TEAM = Role.BUSINESS, Role.TECH_TEAM
AGENTS = (L1, L2)
NOT_CLOSED = frozenset(Status) - {Status.CLOSED}
LEVEL_THREE = (VP, TECH_TEAM)
LEVEL_THREE_WORK = (Status.EXTERNAL_PROVIDER, Status.ALTERNATIVE_MEASURE)


@dataclass(frozen=True)
class Assignment:
    """Where classification sends a ticket: the role that takes it and the status it gets."""

    role: Role
    status: Status


# Marketing and business requests go to their area (§8); every other request to level 1 (§9.4).
BUSINESS_ASSIGNMENT = Assignment(BUSINESS, Status.ASSIGNED_BUSINESS)
LEVEL_ONE_ASSIGNMENT = Assignment(L1, Status.ASSIGNED_L1)
ASSIGNED = (LEVEL_ONE_ASSIGNMENT.status, BUSINESS_ASSIGNMENT.status)


def assignment_for(request_type: RequestType) -> Assignment:
    """Who takes a ticket classified as `request_type`."""
    return BUSINESS_ASSIGNMENT if request_type == RequestType.MARKETING_BUSINESS else LEVEL_ONE_ASSIGNMENT


RULES: tuple[Rule, ...] = (
    # The administrator classifies and assigns, and decides what happens when a level gives up.
    _rule(Action.ASSIGN, [ADMIN], [Status.NEW, Status.TRIAGED], ASSIGNED),
    _rule(Action.RESOLVE, [ADMIN], [Status.NEW, Status.TRIAGED, Status.CANNOT_RESOLVE], [Status.RESOLVED_BY_AGENT]),
    _rule(Action.REASSIGN, [ADMIN], [Status.CANNOT_RESOLVE], [Status.ASSIGNED_L2], when=at_level(1)),
    _rule(Action.ESCALATE, [ADMIN], [Status.CANNOT_RESOLVE], [Status.ESCALATED_L3], when=at_level(2)),
    # The business area gave up: another of its members (or, reclassified, level 1), or the VP.
    _rule(Action.ASSIGN, [ADMIN], [Status.CANNOT_RESOLVE], ASSIGNED, when=in_business_area),
    _rule(Action.ESCALATE, [ADMIN], [Status.CANNOT_RESOLVE], [Status.ESCALATED_L3], when=in_business_area),
    _rule(Action.NOTIFY, [ADMIN], [Status.RESOLVED_BY_AGENT], [Status.AWAITING_CONFIRMATION]),
    _rule(Action.RESULT, [ADMIN, *LEVEL_THREE], LEVEL_THREE_WORK, [Status.RESOLVED_BY_AGENT]),
    # A reopened ticket no agent resolved (the administrator did, or level 3, or Zendesk) comes
    # back unassigned to the administrator, who decides again as in triage: any level, or solve it.
    *(
        _rule(action, [ADMIN], [Status.REOPENED], targets, when=unassigned)
        for action, targets in (
            (Action.ASSIGN, ASSIGNED),
            (Action.RESOLVE, [Status.RESOLVED_BY_AGENT]),
            (Action.REASSIGN, [Status.ASSIGNED_L2]),
            (Action.ESCALATE, [Status.ESCALATED_L3]),
        )
    ),
    # Agents, and the business area's members, work the tickets assigned to them, at their own
    # level (or area) or reopened; they resolve or give a ticket back only once they have reported
    # on it.
    *(
        _rule(action, [agent], [queue, Status.REOPENED], moves_to, whose=assigned_to_them, when=when)
        for agent, queue in ((L1, Status.ASSIGNED_L1), (L2, Status.ASSIGNED_L2), (BUSINESS, Status.ASSIGNED_BUSINESS))
        for action, moves_to, when in (
            (Action.REPORT, (), None),
            (Action.RESOLVE, [Status.RESOLVED_BY_AGENT], REPORTED_BY_THEM),
            (Action.CANNOT_RESOLVE, [Status.CANNOT_RESOLVE], REPORTED_BY_THEM),
        )
    ),
    # Level 3 (the VP and the technical team) analyses and reports; the VP decides (§6.4).
    _rule(Action.DECISION, [VP], [Status.ESCALATED_L3], LEVEL_THREE_WORK),
    _rule(Action.REPORT, LEVEL_THREE, [Status.ESCALATED_L3, *LEVEL_THREE_WORK]),
    # Every staff member may add internal notes; the partner hears from the administrator, or
    # from the staff member the ticket is assigned to (§6.1: the administrator is the channel).
    _rule(Action.NOTE, STAFF_ROLES, NOT_CLOSED),
    *(
        rule
        for action in (Action.REPLY, Action.COMMENT)
        for rule in (
            _rule(action, [ADMIN], NOT_CLOSED),
            _rule(action, [*AGENTS, BUSINESS, VP], NOT_CLOSED, whose=assigned_to_them),
        )
    ),
    # The partner writes on their organization's tickets and answers the solution.
    _rule(Action.COMMENT, [PARTNER], NOT_CLOSED, whose=their_organization),
    _rule(
        Action.CONFIRM,
        [PARTNER],
        [Status.AWAITING_CONFIRMATION],
        [Status.CLOSED, Status.REOPENED],
        whose=their_organization,
    ),
)


def _rules_for(user, action: Action) -> list[Rule]:
    role = user.role_enum
    return [rule for rule in RULES if rule.action is action and role in rule.roles]


def _holds(condition: Condition | None, user, ticket) -> bool:
    return condition is None or condition(user, ticket)


def check(user, ticket, action: Action) -> None:
    """Return when `user` may take `action` on `ticket` now; raise ActionRefused otherwise, or
    RequirementUnmet when only a requirement they can meet holds the action back."""
    rules = _rules_for(user, action)
    status = Status(ticket.status)
    theirs = [rule for rule in rules if _holds(rule.whose, user, ticket)]
    if not theirs:
        raise ActionRefused(_("You cannot do this on this ticket."), forbidden=True)
    now_possible = [rule for rule in theirs if status in rule.statuses]
    if not any(_holds(rule.when, user, ticket) for rule in now_possible):
        unmet = [rule.when for rule in now_possible if isinstance(rule.when, Requirement)]
        if unmet:
            raise RequirementUnmet(str(unmet[0].message))
        raise ActionRefused(_("This action is not possible in the ticket's current status."), forbidden=False)


def allows(user, ticket, action: Action) -> bool:
    try:
        check(user, ticket, action)
    except ActionRefused:
        return False
    return True


def actions_for(user, ticket) -> frozenset[Action]:
    """Every action `user` may take on `ticket` now (what the screens offer)."""
    return frozenset(action for action in Action if allows(user, ticket, action))


def requirements_for(user, ticket) -> dict[Action, str]:
    """The actions `user` could take on `ticket` now but for a requirement they can meet, each
    with what to do (what the screens say instead of silently leaving the action out)."""
    held_back = {}
    for action in Action:
        try:
            check(user, ticket, action)
        except RequirementUnmet as unmet:
            held_back[action] = unmet.message
        except ActionRefused:
            pass
    return held_back


def roles_for(*actions: Action) -> frozenset[Role]:
    """The roles that may take any of `actions` on some ticket (for route guards)."""
    return frozenset(role for rule in RULES if rule.action in actions for role in rule.roles)


def may_move(current: Status, target: Status, role: Role) -> bool:
    """Whether some rule lets `role` move a ticket from `current` to `target`, whatever its
    conditions: the state machine's own refusal, under every service."""
    return any(role in rule.roles and current in rule.statuses and target in rule.moves_to for rule in RULES)


class Queue(StrEnum):
    """The staff queues (each value is its screen's endpoint in the staff blueprint)."""

    TRIAGE = "triage"
    MY_WORK = "my_work"
    BUSINESS = "business_area"
    LEVEL_THREE = "level_three"

    @property
    def roles(self) -> frozenset[Role]:
        """Who works this queue (and may open it)."""
        return QUEUE_ROLES[self]

    @property
    def statuses(self) -> tuple[Status, ...]:
        """The statuses it lists, in the order of the procedure."""
        return QUEUE_STATUSES[self]

    @property
    def own_tickets_only(self) -> bool:
        """Whether it lists only the tickets assigned to the person reading it."""
        return self in (Queue.MY_WORK, Queue.BUSINESS)

    @property
    def label(self) -> str:
        return str(QUEUE_LABELS[self])


QUEUE_ROLES: dict[Queue, frozenset[Role]] = {
    Queue.TRIAGE: frozenset({ADMIN}),
    Queue.MY_WORK: frozenset(AGENTS),
    Queue.BUSINESS: frozenset({BUSINESS}),
    Queue.LEVEL_THREE: frozenset(LEVEL_THREE),
}
QUEUE_LABELS = {
    Queue.TRIAGE: _l("Triage"),
    Queue.MY_WORK: _l("My work"),
    Queue.BUSINESS: _l("Marketing and business"),
    Queue.LEVEL_THREE: _l("Level 3"),
}


def _statuses_with_a_step(roles: frozenset[Role]) -> tuple[Status, ...]:
    """The statuses in which one of `roles` has an action that moves the ticket on."""
    found = {status for rule in RULES if rule.moves_to and rule.roles & roles for status in rule.statuses}
    return tuple(status for status in Status if status in found)


QUEUE_STATUSES = {queue: _statuses_with_a_step(roles) for queue, roles in QUEUE_ROLES.items()}


def queue_for(user) -> Queue | None:
    """The queue `user` works, if any."""
    return next((queue for queue in Queue if user.role_enum in queue.roles), None)
