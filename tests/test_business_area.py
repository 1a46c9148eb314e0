"""Marketing and business requests go to their area (§8, "se derivan al área de Mercadeo y
Negocio"): the administrator classifies them to a member of the business area, not to level 1; the
member works them in the area's queue with the agents' steps (status report, reply, resolve with the
KB rule, cannot resolve), the partner confirms as usual, and a "not solved" goes back to that member."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from kb import services as kb_services
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.tickets import conversation, intake, policy, workflow
from portal.tickets.models import Status, Ticket
from portal.tickets.policy import Action
from tests.conftest import login

HX = {"HX-Request": "true"}
MARKETING = "marketing_business"
NO_KB = "A one-off campaign request."
CAMPAIGN = {
    "subject": "Key art for the Christmas campaign",
    "description": "We need EDYE logos and key art for a co-marketing campaign in December.",
    "topic": "Co-marketing",
    "desired_date": "2026-12-10",
}


@pytest.fixture
def members(make_user):
    """Two members of the Marketing and business area."""
    return (
        make_user("business", email="mercedes@edye.test", name="Mercedes Mercadeo"),
        make_user("business", email="bruno@edye.test", name="Bruno Negocios"),
    )


@pytest.fixture
def marketing_ticket(partner, matrix):
    def create() -> Ticket:
        details = {"topic": CAMPAIGN["topic"], "desired_date": CAMPAIGN["desired_date"]}
        return intake.create_ticket(partner, MARKETING, CAMPAIGN["subject"], CAMPAIGN["description"], details)

    return create


def _report(member, ticket) -> None:
    workflow.file_status_report(member, ticket, "Sent the brand kit request to design.", 20, "Design answers in a day.")


class TestService:
    def test_classifying_a_marketing_request_gives_it_to_the_business_area(self, staff, members, marketing_ticket):
        """Marketing and business → a member of the area, in its own status; never a level-1 agent,
        and a business member takes no technical request."""
        admin, l1 = staff["admin"], staff["l1"]
        member = members[0]
        ticket = marketing_ticket()
        with pytest.raises(InvalidInput) as refused:
            workflow.classify_and_assign(admin, ticket, MARKETING, "normal", l1)
        assert refused.value.field == "agent_id"
        db.session.rollback()
        assert Status(ticket.status) is Status.NEW and ticket.assignee_id is None, "nothing half-written"
        with pytest.raises(InvalidInput) as refused:
            workflow.classify_and_assign(admin, ticket, "technical", "normal", member)
        assert refused.value.field == "agent_id"
        db.session.rollback()
        workflow.classify_and_assign(admin, ticket, MARKETING, "high", member)
        assert (Status(ticket.status), ticket.assignee_id, ticket.tier) == (Status.ASSIGNED_BUSINESS, member.id, 1)
        assert policy.actions_for(member, ticket) >= {Action.REPORT, Action.REPLY}
        _report(member, ticket)
        assert policy.actions_for(member, ticket) >= {Action.RESOLVE, Action.CANNOT_RESOLVE}, "reported: as an agent"
        assert not policy.actions_for(l1, ticket) & {Action.REPORT, Action.RESOLVE, Action.REPLY}
        assert not policy.actions_for(members[1], ticket) & {Action.RESOLVE, Action.REPLY}, "another member's"

    def test_resolve_needs_the_kb_rule_and_a_not_solved_goes_back_to_the_member(
        self, staff, members, partner, marketing_ticket
    ):
        admin, member = staff["admin"], members[0]
        ticket = marketing_ticket()
        workflow.classify_and_assign(admin, ticket, MARKETING, "normal", member)
        _report(member, ticket)
        with pytest.raises(InvalidInput) as refused:
            workflow.resolve(member, ticket, "Sent the brand kit.")
        assert refused.value.field == "no_kb_reason", "the KB-on-close rule applies to the business area too"
        db.session.rollback()
        workflow.resolve(member, ticket, "Sent the brand kit.", no_kb_reason=NO_KB)
        assert conversation.agent_who_resolved(ticket).id == member.id
        workflow.notify_partner(admin, ticket, "The brand kit is on its way.")
        conversation.confirm(partner, ticket, False, "We also need the Portuguese logos.")
        db.session.refresh(ticket)
        assert (Status(ticket.status), ticket.assignee_id, ticket.tier) == (Status.REOPENED, member.id, 1)
        assert Action.RESOLVE in policy.actions_for(member, ticket)
        assert not policy.actions_for(admin, ticket) & {Action.ASSIGN, Action.ESCALATE}, "it is the member's"

    def test_cannot_resolve_lets_the_administrator_assign_again_or_escalate(self, staff, members, marketing_ticket):
        """No dead end: the administrator gives it to another member of the area or to the VP (level
        3), never to level 2, which is technical."""
        admin, vp = staff["admin"], staff["vp"]
        first, second = members
        ticket = marketing_ticket()
        workflow.classify_and_assign(admin, ticket, MARKETING, "normal", first)
        _report(first, ticket)
        workflow.cannot_resolve(first, ticket, "Needs a commercial decision.")
        offered = policy.actions_for(admin, ticket)
        assert offered >= {Action.ASSIGN, Action.ESCALATE, Action.RESOLVE} and Action.REASSIGN not in offered
        workflow.classify_and_assign(admin, ticket, MARKETING, "normal", second)
        assert (Status(ticket.status), ticket.assignee_id) == (Status.ASSIGNED_BUSINESS, second.id)
        _report(second, ticket)
        workflow.cannot_resolve(second, ticket, "Only the VP can approve the budget.")
        workflow.escalate_to_level_three(admin, ticket, "Budget approval.")
        assert (Status(ticket.status), ticket.tier, ticket.assignee_id) == (Status.ESCALATED_L3, 3, None)
        assert Action.DECISION in policy.actions_for(vp, ticket)
        assert Action.DECISION not in policy.actions_for(second, ticket)

    def test_a_technical_ticket_offers_the_business_area_nothing(self, staff, members, open_ticket):
        admin, l1 = staff["admin"], staff["l1"]
        ticket = open_ticket()
        workflow.classify_and_assign(admin, ticket, "technical", "normal", l1)
        _report(l1, ticket)
        workflow.cannot_resolve(l1, ticket, "Needs level 2.")
        assert Action.ASSIGN not in policy.actions_for(admin, ticket), "level 1's ticket climbs the levels"
        assert policy.actions_for(members[0], ticket) == {Action.NOTE}


def _offered(page: str) -> set[str]:
    return set(re.findall(r'data-action="([a-z_]+)"', page))


class TestJourney:
    @pytest.fixture
    def member_client(self, app, members):
        client = app.test_client()
        assert login(client, members[0].email).status_code == 302
        return client

    def test_partner_to_business_area_and_back(self, clients, member_client, members, staff, matrix):
        """Partner opens a marketing request → the administrator classifies it to a business member →
        it is in the business queue, not level 1's → report, resolve with a KB article → notify →
        "not solved" reopens it to the same member → resolved again → the partner confirms."""
        member = members[0]
        admin, partner = clients["admin"], clients["partner"]
        assert partner.post("/tickets/new/marketing_business", data=CAMPAIGN).status_code == 302
        ticket = db.session.scalar(select(Ticket))
        workspace = admin.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
        assert '<optgroup label="Mercadeo y negocio">' in workspace, "the administrator's language is Spanish"
        assert f'value="{member.id}"' in workspace, "the assign form offers the business area's members"

        wrong = admin.post(
            f"/staff/tickets/{ticket.id}/assign",
            data={"request_type": MARKETING, "priority": "normal", "agent_id": staff["l1"].id},
            headers=HX,
        )
        assert wrong.status_code == 422 and 'id="assign-agent_id-error"' in wrong.get_data(as_text=True)
        assert ticket.status == Status.NEW
        assigned = admin.post(
            f"/staff/tickets/{ticket.id}/assign",
            data={"request_type": MARKETING, "priority": "normal", "agent_id": member.id},
            headers=HX,
        )
        assert assigned.status_code == 200 and ticket.status == Status.ASSIGNED_BUSINESS

        queue = member_client.get("/staff/business").get_data(as_text=True)
        assert ticket.reference in queue
        assert ticket.reference not in clients["l1"].get("/staff/work").get_data(as_text=True)
        assert clients["l1"].get("/staff/business").status_code == 403
        home = member_client.get("/admin/").get_data(as_text=True)
        assert 'href="/staff/business"' in home and 'href="/staff/work"' not in home

        page = member_client.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
        assert _offered(page) >= {"report", "reply", "note"}
        assert not _offered(page) & {"decision", "assign", "resolve"}, "resolving waits for a status report"

        def act(path: str, **data):
            response = member_client.post(f"/staff/tickets/{ticket.id}/{path}", data=data, headers=HX)
            assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])

        act("reply", body="We are preparing the brand kit for you.")
        act(
            "reports", actions_taken="Asked design for the kit.", minutes_spent="30", relevant_information="Due Friday."
        )
        page = member_client.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
        assert _offered(page) >= {"resolve", "cannot_resolve"}
        text = kb_services.ArticleText(
            "Kit de marca EDYE",
            "Cómo pedir logos y key art.",
            "support-process",
            ["marca"],
            "partners",
            "primera",
            True,
        )
        article = kb_services.create_article(member, "es", "kit-de-marca", text)
        act("resolve", summary="Shared the brand kit.", kb_article_id=str(article.id))
        assert ticket.status == Status.RESOLVED_BY_AGENT
        assert admin.post(f"/staff/tickets/{ticket.id}/notify", data={"message": "Kit sent."}).status_code == 302
        answer = {"answer": "no", "reason": "The Portuguese logos are missing."}
        assert partner.post(f"/tickets/{ticket.id}/confirm", data=answer).status_code == 302
        assert (ticket.status, ticket.assignee_id) == (Status.REOPENED, member.id)
        assert ticket.reference in member_client.get("/staff/business").get_data(as_text=True)

        act("reports", actions_taken="Added the Portuguese logos.", minutes_spent="10", relevant_information="Done.")
        act("resolve", summary="Added the Portuguese logos.", no_kb_reason=NO_KB)
        assert admin.post(f"/staff/tickets/{ticket.id}/notify", data={"message": "Logos added."}).status_code == 302
        assert partner.post(f"/tickets/{ticket.id}/confirm", data={"answer": "yes"}).status_code == 302
        assert ticket.status == Status.CLOSED
        assert ticket.reference not in member_client.get("/staff/business").get_data(as_text=True)

    def test_the_business_member_cannot_do_level_ones_work(self, clients, member_client, staff, open_ticket):
        ticket = open_ticket()
        workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
        refused = member_client.post(
            f"/staff/tickets/{ticket.id}/resolve", data={"summary": "x", "no_kb_reason": NO_KB}, headers=HX
        )
        assert refused.status_code == 403 and ticket.status == Status.ASSIGNED_L1
        assert member_client.get("/staff/work").status_code == 403


@pytest.mark.parametrize("role", ["business", "tech_team"])
def test_the_administrator_creates_members_of_the_new_roles(clients, role):
    """The user form offers the business area and the technical team, and the database takes them."""
    from auth.services import find_user_by_email

    admin = clients["admin"]
    assert f'<option value="{role}">' in admin.get("/admin/users").get_data(as_text=True)
    data = {"name": "Nueva Persona", "email": f"{role}-new@edye.test", "role": role, "organization_id": "0"}
    assert admin.post("/admin/users", data={**data, "language": "es"}).status_code == 201
    assert find_user_by_email(f"{role}-new@edye.test").role == role
