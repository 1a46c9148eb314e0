"""Status reports carry the procedure's minimum content (§4, §15: actions taken, time spent,
relevant information; the next step is optional), and an agent resolves a ticket, or gives it
back, only after filing at least one on it. The administrator resolving directly and level 3's
result are not an agent's resolve: no report is asked of them."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.tickets import conversation, level_three, policy, workflow
from portal.tickets.models import Status, StatusReport, Ticket, TicketEvent
from portal.tickets.policy import Action
from tests.conftest import STATUS_REPORT, file_report, login

HX = {"HX-Request": "true"}
NO_KB = "Nothing new to document."
WHAT_TO_DO = "File a status report first: say what you did, the time spent and the relevant information."
# Services called outside a request speak the portal's default language.
WHAT_TO_DO_ES = (
    "Primero registra un reporte de estado: indica qué hiciste, el tiempo dedicado y la información relevante."
)


@pytest.fixture
def people(app, make_user):
    """English-speaking staff (the refusal's words are checked), each with a signed-in client."""
    roles = {"admin": "ticket_admin", "l1": "agent_l1", "l2": "agent_l2", "vp": "vp"}
    users = {name: make_user(role, email=f"{name}@reports.test", language="en") for name, role in roles.items()}
    clients = {}
    for name, user in users.items():
        clients[name] = app.test_client()
        assert login(clients[name], user.email).status_code == 302
    return users, clients


@pytest.fixture
def assigned(open_ticket, people):
    """A new ticket the administrator assigned to the level-1 agent."""
    users, _clients = people
    ticket = open_ticket()
    workflow.classify_and_assign(users["admin"], ticket, "technical", "normal", users["l1"])
    return ticket


def _stored(ticket: Ticket) -> tuple[int, int]:
    """How many status reports and events the ticket has."""
    reports = db.session.scalar(select(func.count(StatusReport.id)).where(StatusReport.ticket_id == ticket.id))
    events = db.session.scalar(select(func.count(TicketEvent.id)).where(TicketEvent.ticket_id == ticket.id))
    return reports, events


# The service ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "give_up",
    [
        lambda agent, ticket: workflow.resolve(agent, ticket, "Reinstalled the app.", None, NO_KB),
        lambda agent, ticket: workflow.cannot_resolve(agent, ticket, "Needs level 2."),
    ],
    ids=["resolve", "cannot_resolve"],
)
def test_an_agent_reports_before_resolving_or_giving_up(people, assigned, give_up):
    users, _clients = people
    before = _stored(assigned)
    with pytest.raises(policy.RequirementUnmet) as refused:
        give_up(users["l1"], assigned)
    assert refused.value.http_status == 409 and refused.value.message == WHAT_TO_DO_ES
    db.session.rollback()
    assert db.session.get(Ticket, assigned.id).status == Status.ASSIGNED_L1 and _stored(assigned) == before
    assert policy.requirements_for(users["l1"], assigned) == {
        Action.RESOLVE: WHAT_TO_DO_ES,
        Action.CANNOT_RESOLVE: WHAT_TO_DO_ES,
    }

    file_report(users["l1"], assigned)
    assert policy.requirements_for(users["l1"], assigned) == {}
    give_up(users["l1"], assigned)
    assert assigned.status in (Status.RESOLVED_BY_AGENT, Status.CANNOT_RESOLVE)


def test_another_agents_report_does_not_count(people, assigned):
    """Level 1 reported and gave up; level 2 reports on their own work before resolving."""
    users, _clients = people
    file_report(users["l1"], assigned)
    workflow.cannot_resolve(users["l1"], assigned, "Needs level 2.")
    workflow.reassign_to_level_two(users["admin"], assigned, users["l2"], ["monday"])
    with pytest.raises(policy.RequirementUnmet):
        workflow.resolve(users["l2"], assigned, "Cleared the CDN cache.", None, NO_KB)
    db.session.rollback()
    file_report(users["l2"], assigned)
    workflow.resolve(users["l2"], assigned, "Cleared the CDN cache.", None, NO_KB)
    assert assigned.status == Status.RESOLVED_BY_AGENT


def test_a_reopened_ticket_needs_no_second_report_from_its_resolver(people, assigned, partner):
    """The agent's report from before the partner's "not solved" still counts for them."""
    users, _clients = people
    file_report(users["l1"], assigned)
    workflow.resolve(users["l1"], assigned, "Reinstalled the app.", None, NO_KB)
    workflow.notify_partner(users["admin"], assigned, "Reinstall the app, please.")
    conversation.confirm(partner, assigned, False, "Still fails.")
    assert (assigned.status, assigned.assignee_id) == (Status.REOPENED, users["l1"].id)
    assert policy.actions_for(users["l1"], assigned) >= {Action.RESOLVE, Action.CANNOT_RESOLVE}


def test_the_administrator_and_level_three_resolve_without_a_report(people, open_ticket):
    users, _clients = people
    direct = open_ticket()
    workflow.resolve(users["admin"], direct, "A known outage, over now.", None, NO_KB)
    assert direct.status == Status.RESOLVED_BY_AGENT
    assert policy.requirements_for(users["admin"], open_ticket()) == {}

    escalated = open_ticket()
    escalated.status, escalated.tier = Status.EXTERNAL_PROVIDER, 3
    db.session.commit()
    level_three.record_level_three_result(users["vp"], escalated, "The provider purged the cache.")
    assert escalated.status == Status.RESOLVED_BY_AGENT
    assert db.session.scalar(select(func.count(StatusReport.id))) == 0


@pytest.mark.parametrize("missing", ["", "   \n ", "\u200b\u200b"], ids=["empty", "blank", "invisible"])
def test_relevant_information_is_required(people, assigned, missing):
    users, _clients = people
    before = _stored(assigned)
    with pytest.raises(InvalidInput) as refused:
        workflow.file_status_report(users["l1"], assigned, "Checked the logs.", 15, missing)
    assert refused.value.field == "relevant_information"
    assert str(refused.value) == "Indica la información relevante para seguir el avance del ticket."
    db.session.rollback()
    assert _stored(assigned) == before
    assert policy.requirements_for(users["l1"], assigned), "a refused report does not count"


def test_the_next_step_is_optional(people, assigned):
    users, _clients = people
    report = workflow.file_status_report(users["l1"], assigned, "Checked the logs.", 15, "Edge 502s since 08:00.")
    assert (report.relevant_information, report.next_step) == ("Edge 502s since 08:00.", "")


# Over HTTP -----------------------------------------------------------------------------------------


def _held_back(page: str) -> str | None:
    found = re.search(r'<p class="muted held-back" data-held-back="([a-z_ ]+)">([^<]*)</p>', page)
    return found and f"{found.group(1)}: {' '.join(found.group(2).split())}"


def test_the_workspace_says_why_resolving_waits(people, assigned):
    _users, clients = people
    page = clients["l1"].get(f"/staff/tickets/{assigned.id}").get_data(as_text=True)
    assert _held_back(page) == f"resolve cannot_resolve: Not available yet: Resolved, Cannot resolve. {WHAT_TO_DO}"
    assert 'data-action="report"' in page and 'data-action="resolve"' not in page
    assert 'data-action="cannot_resolve"' not in page
    report_form = re.search(r'<textarea [^>]*id="report-relevant_information"[^>]*>', page)
    assert report_form and "required" in report_form.group(0), "the form marks it required"

    sent = clients["l1"].post(f"/staff/tickets/{assigned.id}/reports", data=STATUS_REPORT, headers=HX)
    assert sent.status_code == 200
    page = sent.get_data(as_text=True)
    assert _held_back(page) is None and 'data-action="resolve"' in page and 'data-action="cannot_resolve"' in page
    # Nobody else is told to report: the administrator's workspace has no such hint.
    assert _held_back(clients["admin"].get(f"/staff/tickets/{assigned.id}").get_data(as_text=True)) is None


@pytest.mark.parametrize("headers", [HX, {}], ids=["htmx", "page"])
@pytest.mark.parametrize(
    "path,data",
    [("resolve", {"summary": "Reinstalled", "no_kb_reason": NO_KB}), ("cannot-resolve", {"reason": "Needs level 2."})],
)
def test_acting_without_a_report_is_a_409_that_says_what_to_do(people, assigned, path, data, headers):
    _users, clients = people
    before = _stored(assigned)
    response = clients["l1"].post(f"/staff/tickets/{assigned.id}/{path}", data=data, headers=headers)
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert f'<p class="toast toast-error" role="alert">{WHAT_TO_DO}</p>' in page, "announced in the workspace"
    assert f'id="workspace-{assigned.id}"' in page and _held_back(page), "the workspace, with its hint"
    assert ("<html" in page) is (headers is not HX)
    db.session.expire_all()
    assert db.session.get(Ticket, assigned.id).status == Status.ASSIGNED_L1 and _stored(assigned) == before


def test_a_report_without_relevant_information_is_a_422_on_its_field(people, assigned):
    _users, clients = people
    before = _stored(assigned)
    typed = {**STATUS_REPORT, "relevant_information": " ", "next_step": "Ask the CDN team"}
    response = clients["l1"].post(f"/staff/tickets/{assigned.id}/reports", data=typed, headers=HX)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    error = re.search(r'<small id="report-relevant_information-error" class="field-error">([^<]*)</small>', page)
    assert error and html.unescape(error.group(1)) == "Give the relevant information to follow the ticket's progress."
    assert STATUS_REPORT["actions_taken"] in page and "Ask the CDN team" in page, "what was typed comes back"
    assert _stored(assigned) == before
    assert _held_back(page), "resolving still waits"
