"""The ticket policy as a property: walking every status a ticket can reach through the real
services (people's actions, Zendesk solving or reopening it, the partner's answers), someone can
always move it on until it is closed, and everything the policy offers the services accept."""

from __future__ import annotations

from collections import deque

import pytest

from auth import services as auth_services
from auth.models import Role
from portal.core.extensions import db
from portal.integrations.outbox import Deliverer
from portal.sla.models import RequestType
from portal.tickets import conversation, level_three, policy, workflow, zendesk_webhook
from portal.tickets.level_three import Measure
from portal.tickets.models import Status, Ticket
from portal.tickets.policy import Action
from tests.conftest import file_report
from tests.test_zendesk_webhook import status_event

NO_KB = "No KB change needed: a one-off configuration."


def _perform(action: Action, actor, ticket: Ticket, people: dict, variant: str) -> None:
    """Take `action` the way the staff workspace or the partner's page does."""
    if action is Action.ASSIGN:  # a request type, and who takes it: level 1, or the business area
        assignee = people[policy.assignment_for(RequestType(variant)).role]
        workflow.classify_and_assign(actor, ticket, variant, "normal", assignee)
    elif action is Action.RESOLVE:
        workflow.resolve(actor, ticket, "Fixed by reinstalling.", None, NO_KB)
    elif action is Action.CANNOT_RESOLVE:
        workflow.cannot_resolve(actor, ticket, "Needs the next level.")
    elif action is Action.REASSIGN:
        workflow.reassign_to_level_two(actor, ticket, people[Role.AGENT_L2], ["monday"])
    elif action is Action.ESCALATE:
        workflow.escalate_to_level_three(actor, ticket, "Needs the tech team.")
    elif action is Action.NOTIFY:
        workflow.notify_partner(actor, ticket, "Reinstall the app, please.")
    elif action is Action.DECISION:
        provider = {"name": "Acme CDN", "contact": "ops@acme.test", "scope": "Edge cache"}
        level_three.decide(
            actor,
            ticket,
            "high",
            "All partners",
            "Two engineers",
            variant,
            provider=provider,
            measure=variant_measure(variant),
            measure_description="Roll back the player and watch the error rate.",
        )
    elif action is Action.RESULT:
        level_three.record_level_three_result(actor, ticket, "The provider fixed the cache.")
    elif action is Action.CONFIRM:
        conversation.confirm(actor, ticket, variant == "solved", "" if variant == "solved" else "Still fails.")
    elif action is Action.REPORT:
        file_report(actor, ticket)
    elif action is Action.NOTE:
        conversation.add_internal_note(actor, ticket, "Internal note.")
    elif action in (Action.REPLY, Action.COMMENT):
        conversation.add_comment(actor, ticket, "A message.")
    else:  # pragma: no cover - a new action needs a line here
        raise AssertionError(f"no way to perform {action}")


def variant_measure(variant: str) -> str:
    return Measure.OTHER if variant == "alternative_measure" else ""


VARIANTS = {
    Action.ASSIGN: (RequestType.TECHNICAL, RequestType.MARKETING_BUSINESS),
    Action.DECISION: ("external_provider", "alternative_measure"),
    Action.CONFIRM: ("solved", "not_solved"),
}
ZENDESK = "zendesk"  # a step by Zendesk rather than a person: solved or reopened there
AGENT_TIERS = {Role.AGENT_L1: 1, Role.AGENT_L2: 2, Role.BUSINESS: 1}
TRIAGE_DECISIONS = {Action.RESOLVE, Action.ASSIGN, Action.REASSIGN, Action.ESCALATE}
PARTNER_ANSWER = (Role.PARTNER, Action.COMMENT)  # while a solution awaits confirmation, it reopens the ticket


def _role_of(user_id, people: dict):
    return next((role for role, user in people.items() if user_id is not None and user.id == user_id), None)


def _signature(ticket: Ticket, people: dict) -> tuple:
    """(status, tier, holder, resolver, reported, request type): the resolver (the agent whose
    solution is pending, see `conversation.agent_who_resolved`) is part of the state, since a
    reopened ticket goes back to them; so is whether the holder has filed a status report, which an
    agent needs before resolving or giving up, and the request type, since business requests take
    the business area's path."""
    resolver = None
    if Status(ticket.status) in (Status.RESOLVED_BY_AGENT, Status.AWAITING_CONFIRMATION):
        agent = conversation.agent_who_resolved(ticket)
        resolver = _role_of(agent.id if agent else None, people)
    holder = _role_of(ticket.assignee_id, people)
    reported = holder is not None and policy.REPORTED_BY_THEM(people[holder], ticket)
    return Status(ticket.status), ticket.tier, holder, resolver, reported, ticket.request_type


@pytest.fixture
def people(staff, partner, make_user):
    return {
        Role.TICKET_ADMIN: staff["admin"],
        Role.AGENT_L1: staff["l1"],
        Role.AGENT_L2: staff["l2"],
        Role.VP: staff["vp"],
        Role.TECH_TEAM: make_user("tech_team", email="tech@edye.test", name="Tomás Técnico"),
        Role.BUSINESS: make_user("business", email="business@edye.test", name="Mercedes Mercadeo"),
        Role.PARTNER: partner,
    }


def test_from_every_reachable_status_someone_moves_the_ticket_on(open_ticket, people, fake_zendesk):
    """Breadth-first over (status, tier, holder, resolver, reported): every state before `closed`
    offers some role an action that changes the status, or a status report that lets them change it
    next, every offered action succeeds, a reopened ticket goes to the agent who resolved it or,
    when none did, unassigned to the administrator, and the states that used to be dead ends are
    reached and have a way out."""
    counter = iter(range(1, 10_000))

    def replay(path) -> Ticket:
        ticket = open_ticket()
        Deliverer().run_pass()  # the ticket gets its Zendesk id, as in production
        for role, action, variant in path:
            step(ticket, role, action, variant)
        return ticket

    def step(ticket: Ticket, role, action, variant) -> None:
        if role == ZENDESK:
            zendesk_webhook.apply_event(status_event(ticket, variant, event_id=f"evt-{next(counter)}"))
        else:
            _perform(action, people[role], ticket, people, variant)
        db.session.refresh(ticket)

    start = replay([])
    assert start.zendesk_id, "the fake Zendesk linked the ticket"
    seen = {_signature(start, people): []}
    queue = deque([[]])
    while queue:
        path = queue.popleft()
        ticket = replay(path)
        state = _signature(ticket, people)
        if state[0] is Status.CLOSED:
            continue
        offered = {role: policy.actions_for(people[role], ticket) for role in Role}
        moving = [
            (role, action)
            for role, actions in offered.items()
            for action in actions
            if any(action is rule.action and rule.moves_to for rule in policy.RULES)
            or (action is Action.REPORT and policy.requirements_for(people[role], ticket))
        ]
        assert moving, f"dead end: {state} after {path}: nobody can move it on"
        # Writing on a ticket changes no status, except the partner's comment on a solution: an answer (§9.8).
        answers = [PARTNER_ANSWER] if state[0] is Status.AWAITING_CONFIRMATION else []
        for role, actions in offered.items():
            for action in sorted(actions - {move for _, move in moving} - {a for r, a in answers if r == role}):
                step(ticket, role, action, "")
                assert _signature(ticket, people) == state, (role, action)
        steps = [(role, action, variant) for role, action in moving for variant in VARIANTS.get(action, ("",))]
        steps += [(role, action, "") for role, action in answers]
        steps += [(ZENDESK, None, "SOLVED"), (ZENDESK, None, "OPEN")]
        for role, action, variant in steps:
            ticket = replay(path)
            step(ticket, role, action, variant)  # an offered action never fails
            after = _signature(ticket, people)
            assert (role, action) not in answers or after[0] is Status.REOPENED, (path, role, action)
            if after[0] is Status.REOPENED and state[0] is not Status.REOPENED:
                resolver = state[3]
                assert after[2] == resolver, f"reopened after {path}: held by {after[2]}, resolved by {resolver}"
                assert after[1] == (AGENT_TIERS[resolver] if resolver else state[1]), (path, after)
            if after not in seen:
                seen[after] = [*path, (role, action, variant)]
                queue.append(seen[after])

    reopened = {(tier, holder) for status, tier, holder, *_ in seen if status is Status.REOPENED}
    assert (1, None) in reopened and (2, None) in reopened, "reopened after the administrator resolved it directly"
    assert (3, None) in reopened, "reopened after level 3"
    assert (1, Role.AGENT_L1) in reopened and (2, Role.AGENT_L2) in reopened, "reopened after the agent's solution"
    assert (1, Role.BUSINESS) in reopened, "reopened after the business area's solution"
    business = RequestType.MARKETING_BUSINESS
    gave_up = {(status, holder) for status, _, holder, *_, kind in seen if kind == business}
    assert (Status.CANNOT_RESOLVE, Role.BUSINESS) in gave_up, "the business area could not resolve it"
    assert (Status.ESCALATED_L3, None) in gave_up, "a business request the VP took at level 3"
    unassigned = [state for state in seen if state[0] is Status.REOPENED and state[2] is None]
    for state in unassigned:  # the administrator decides again, as in triage
        ticket = replay(seen[state])
        assert policy.actions_for(people[Role.TICKET_ADMIN], ticket) >= TRIAGE_DECISIONS, state
    assert {status for status, *_ in seen} >= set(Status) - {Status.TRIAGED}
    assert len(seen) >= 20


def test_the_state_machine_allows_exactly_the_moves_of_the_rules(people):
    """Every move a rule can make is a move the state machine allows that role, and no role may
    make a move no rule names (the door and the policy cannot drift apart)."""
    from portal.tickets import states

    for current in Status:
        for target in Status:
            for role in Role:
                by_rule = any(
                    role in rule.roles and current in rule.statuses and target in rule.moves_to for rule in policy.RULES
                )
                assert states.allowed(current, target, role.value) == by_rule, (current, target, role)


def test_check_says_whose_and_when(open_ticket, people, make_user):
    """403 for someone else's ticket or a role without the action; 409 for the right person at
    the wrong moment."""
    ticket = open_ticket()
    admin, l1, l2, partner = (people[role] for role in (Role.TICKET_ADMIN, Role.AGENT_L1, Role.AGENT_L2, Role.PARTNER))
    stranger = make_user(
        "partner", email="someone@other.test", organization=auth_services.find_or_create_organization(None, "Other Co")
    )
    with pytest.raises(policy.ActionRefused) as refused:
        policy.check(l1, ticket, Action.RESOLVE)
    assert refused.value.forbidden, "not assigned to them"
    with pytest.raises(policy.ActionRefused) as refused:
        policy.check(admin, ticket, Action.NOTIFY)
    assert not refused.value.forbidden, "the administrator notifies, but only once it is resolved"
    with pytest.raises(policy.ActionRefused) as refused:
        policy.check(stranger, ticket, Action.COMMENT)
    assert refused.value.forbidden, "another organization's ticket"
    assert policy.allows(partner, ticket, Action.COMMENT)
    workflow.classify_and_assign(admin, ticket, "technical", "normal", l1)
    with pytest.raises(policy.RequirementUnmet) as refused:
        policy.check(l1, ticket, Action.RESOLVE)
    assert not refused.value.forbidden, "theirs, once they have filed a status report"
    file_report(l1, ticket)
    assert policy.actions_for(l1, ticket) >= {Action.RESOLVE, Action.CANNOT_RESOLVE, Action.REPORT}
    assert Action.RESOLVE not in policy.actions_for(l2, ticket)
    workflow.cannot_resolve(l1, ticket, "Needs level 2.")
    assert Action.REASSIGN in policy.actions_for(admin, ticket)
    assert Action.ESCALATE not in policy.actions_for(admin, ticket), "level 3 comes after level 2"
    assert policy.roles_for(Action.ESCALATE) == {Role.TICKET_ADMIN}
    assert policy.roles_for(Action.REPORT) == {Role.AGENT_L1, Role.AGENT_L2, Role.BUSINESS, Role.VP, Role.TECH_TEAM}
    assert policy.roles_for(Action.DECISION) == {Role.VP}, "level 3's decision stays with the VP"
    assert policy.roles_for(Action.RESULT) == {Role.TICKET_ADMIN, Role.VP, Role.TECH_TEAM}


def _reopen(ticket: Ticket, people: dict) -> Ticket:
    admin, partner = people[Role.TICKET_ADMIN], people[Role.PARTNER]
    workflow.notify_partner(admin, ticket, "Reinstall the app, please.")
    conversation.confirm(partner, ticket, False, "Still fails.")
    db.session.refresh(ticket)
    return ticket


def test_a_reopened_ticket_goes_back_to_the_agent_who_resolved_it(open_ticket, people):
    """Level 2's agent resolved it: reopened, it is theirs again at tier 2, with their steps."""
    admin, l1, l2 = people[Role.TICKET_ADMIN], people[Role.AGENT_L1], people[Role.AGENT_L2]
    ticket = open_ticket()
    workflow.classify_and_assign(admin, ticket, "technical", "normal", l1)
    file_report(l1, ticket)
    workflow.cannot_resolve(l1, ticket, "Needs level 2.")
    workflow.reassign_to_level_two(admin, ticket, l2, ["slack"])
    file_report(l2, ticket)
    workflow.resolve(l2, ticket, "Cleared the CDN cache.", None, NO_KB)
    ticket = _reopen(ticket, people)
    assert (Status(ticket.status), ticket.tier, ticket.assignee_id) == (Status.REOPENED, 2, l2.id)
    assert policy.actions_for(l2, ticket) >= {Action.RESOLVE, Action.CANNOT_RESOLVE, Action.REPORT, Action.REPLY}
    assert not policy.actions_for(admin, ticket) & TRIAGE_DECISIONS, "it is the agent's, not the triage's"
    assert Action.RESOLVE not in policy.actions_for(l1, ticket)
    # The same agent gives up this time: the administrator takes it to level 3 as usual.
    workflow.cannot_resolve(l2, ticket, "Needs the tech team.")
    assert Action.ESCALATE in policy.actions_for(admin, ticket)


def test_a_reopened_ticket_no_agent_resolved_goes_to_the_administrator(open_ticket, people):
    """The administrator resolved a "cannot resolve" ticket directly: reopened, it is nobody's,
    although a level-1 agent was assigned before, and the administrator has every triage decision."""
    admin, l1, l2 = people[Role.TICKET_ADMIN], people[Role.AGENT_L1], people[Role.AGENT_L2]
    ticket = open_ticket()
    workflow.classify_and_assign(admin, ticket, "technical", "normal", l1)
    file_report(l1, ticket)
    workflow.cannot_resolve(l1, ticket, "Needs level 2.")
    workflow.resolve(admin, ticket, "A known outage, over now.", None, NO_KB)
    ticket = _reopen(ticket, people)
    assert (Status(ticket.status), ticket.tier, ticket.assignee_id) == (Status.REOPENED, 1, None)
    assert policy.actions_for(admin, ticket) >= TRIAGE_DECISIONS
    assert not {Action.RESOLVE, Action.REPLY} & policy.actions_for(l1, ticket), "no longer theirs"
    workflow.reassign_to_level_two(admin, ticket, l2, ["monday"])
    assert (Status(ticket.status), ticket.tier, ticket.assignee_id) == (Status.ASSIGNED_L2, 2, l2.id)


def test_an_inactive_resolver_does_not_get_the_ticket_back(open_ticket, people):
    """An agent deactivated since could not take it: the administrator gets it instead."""
    admin, l1 = people[Role.TICKET_ADMIN], people[Role.AGENT_L1]
    ticket = open_ticket()
    workflow.classify_and_assign(admin, ticket, "technical", "normal", l1)
    file_report(l1, ticket)
    workflow.resolve(l1, ticket, "Fixed by reinstalling.", None, NO_KB)
    auth_services.set_user_active(admin, l1, False)
    ticket = _reopen(ticket, people)
    assert ticket.assignee_id is None and policy.actions_for(admin, ticket) >= TRIAGE_DECISIONS
    workflow.escalate_to_level_three(admin, ticket, "Recurring.")
    assert (Status(ticket.status), ticket.tier, ticket.assignee_id) == (Status.ESCALATED_L3, 3, None)
