"""The procedure at its edges, as the people do it over HTTP: a solution the partner turns down goes
back to the agent who resolved it, or to the administrator's triage with every decision at hand;
the partner hears from the administrator or the assigned staff member, by role unless configured."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from portal.core.extensions import db
from portal.integrations.models import OutboxMessage
from portal.sla import services as sla
from portal.tickets.models import SUPPORT_TEAM_NAME, Comment, Status, Ticket
from tests.conftest import STATUS_REPORT, login

HX = {"HX-Request": "true"}
NO_KB = {"no_kb_reason": "A one-off configuration."}


@pytest.fixture
def act(clients):
    """Post a workspace action as `who`, expecting it to succeed."""

    def post(who: str, ticket: Ticket, path: str, **data):
        response = clients[who].post(f"/staff/tickets/{ticket.id}/{path}", data=data, headers=HX)
        assert response.status_code == 200, (who, path, response.status_code, response.get_data(as_text=True)[:300])
        return response

    return post


def _offered(page: str) -> set[str]:
    """The actions whose forms the workspace shows."""
    return set(re.findall(r'data-action="([a-z_]+)"', page))


def _not_solved(clients, act, ticket: Ticket, reason: str = "Playback still stops after ten seconds.") -> None:
    """The administrator sends the solution; the partner answers "it persists" on the ticket page."""
    act("admin", ticket, "notify", message="We fixed the Roku app; please try again.")
    page = clients["partner"].get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert 'name="answer" value="no"' in page, "the partner is asked to confirm"
    response = clients["partner"].post(f"/tickets/{ticket.id}/confirm", data={"answer": "no", "reason": reason})
    assert response.status_code == 302
    assert ticket.status == Status.REOPENED


TRIAGE_DECISIONS = {"assign", "resolve", "reassign", "escalate"}


class TestReopened:
    def test_after_the_administrator_resolved_it_the_triage_escalates_it(self, clients, act, staff, open_ticket):
        """The administrator resolved a "cannot resolve" ticket directly; the partner says it is not
        solved: nobody holds it (not the level-1 agent assigned before), it is in the triage queue,
        and the administrator escalates it to level 3 from there."""
        ticket = open_ticket()
        act("admin", ticket, "assign", request_type="technical", priority="high", agent_id=staff["l1"].id)
        act("l1", ticket, "reports", **STATUS_REPORT)
        act("l1", ticket, "cannot-resolve", reason="Needs the license server logs.")
        act("admin", ticket, "resolve", summary="A known outage, over now.", **NO_KB)
        _not_solved(clients, act, ticket)
        assert ticket.assignee_id is None and ticket.tier == 1

        triage = clients["admin"].get("/staff/triage").get_data(as_text=True)
        assert ticket.reference in triage
        assert ticket.reference not in clients["l1"].get("/staff/work").get_data(as_text=True)
        workspace = clients["admin"].get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
        assert _offered(workspace) >= TRIAGE_DECISIONS
        assert "resolve" not in _offered(clients["l1"].get(f"/staff/tickets/{ticket.id}").get_data(as_text=True))

        act("admin", ticket, "escalate", note="Reopened twice: the tech team should look.")
        assert (ticket.status, ticket.tier, ticket.assignee_id) == (Status.ESCALATED_L3, 3, None)
        assert ticket.reference in clients["vp"].get("/staff/level3").get_data(as_text=True)

    def test_after_level_three_the_triage_reassigns_it_to_level_two(self, clients, act, staff, open_ticket):
        """Level 3's result did not solve it: back to the triage, which hands it to a level-2 agent."""
        ticket = open_ticket()
        act("admin", ticket, "assign", request_type="technical", priority="high", agent_id=staff["l1"].id)
        act("l1", ticket, "reports", **STATUS_REPORT)
        act("l1", ticket, "cannot-resolve", reason="Needs level 2.")
        act("admin", ticket, "reassign", agent_id=staff["l2"].id, channels="monday")
        act("l2", ticket, "reports", **STATUS_REPORT)
        act("l2", ticket, "cannot-resolve", reason="A regression in 3.2.1.")
        act("admin", ticket, "escalate", note="Release regression")
        act(
            "vp",
            ticket,
            "decision",
            priority="urgent",
            impact="All Roku users",
            resources="Release team",
            decision="alternative_measure",
            measure="revert_version",
        )
        act("vp", ticket, "result", result="Reverted the Roku app to 3.2.0.")
        _not_solved(clients, act, ticket, "Still failing on 3.2.0.")
        assert (ticket.tier, ticket.assignee_id) == (3, None)
        assert ticket.reference in clients["admin"].get("/staff/triage").get_data(as_text=True)

        act("admin", ticket, "reassign", agent_id=staff["l2"].id, channels="slack")
        assert (ticket.status, ticket.tier, ticket.assignee_id) == (Status.ASSIGNED_L2, 2, staff["l2"].id)
        assert ticket.reference in clients["l2"].get("/staff/work").get_data(as_text=True)

    def test_after_an_agent_resolved_it_that_agent_has_it_again(self, clients, act, staff, open_ticket):
        """Level 2's agent resolved it: the partner's "not solved" puts it back in their own queue,
        at level 2, with their steps; the administrator has no triage decision to take on it."""
        ticket = open_ticket()
        act("admin", ticket, "assign", request_type="technical", priority="normal", agent_id=staff["l1"].id)
        act("l1", ticket, "reports", **STATUS_REPORT)
        act("l1", ticket, "cannot-resolve", reason="Needs level 2.")
        act("admin", ticket, "reassign", agent_id=staff["l2"].id, channels="monday")
        act("l2", ticket, "reports", **STATUS_REPORT)
        act("l2", ticket, "resolve", summary="Cleared the CDN cache.", **NO_KB)
        _not_solved(clients, act, ticket)
        assert (ticket.tier, ticket.assignee_id) == (2, staff["l2"].id)
        assert ticket.reference in clients["l2"].get("/staff/work").get_data(as_text=True)
        assert _offered(clients["l2"].get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)) >= {
            "resolve",
            "cannot_resolve",
            "report",
            "reply",
        }
        assert not _offered(clients["admin"].get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)) & (
            TRIAGE_DECISIONS
        )
        refused = clients["admin"].post(f"/staff/tickets/{ticket.id}/escalate", data={}, headers=HX)
        assert refused.status_code == 409 and ticket.status == Status.REOPENED
        monday = db.session.scalars(select(OutboxMessage.payload).where(OutboxMessage.kind == "create_update")).all()
        assert any("Reabierto por el partner, vuelve a Marta Dos (nivel 2)" in update["body"] for update in monday)


def _support_team(language: str) -> str:
    """The support team's name in `language`."""
    with force_locale(language):
        return str(SUPPORT_TEAM_NAME)


def _names_on_timeline(page: str) -> set[str]:
    """The authors' names on a ticket's timeline."""
    return set(re.findall(r'<p class="timeline-meta"><strong>([^<]*)</strong>', page))


def _zendesk_signature(comment_body: str) -> str:
    """The signature line of the Zendesk comment the portal sent for the comment `comment_body`."""
    comment_id = db.session.scalar(select(Comment.id).where(Comment.body == comment_body))
    for payload in db.session.scalars(select(OutboxMessage.payload).where(OutboxMessage.kind == "update_ticket")):
        if payload.get("comment_id") == comment_id:
            return payload["ticket"]["comment"]["body"].split(":\n\n", 1)[0]
    raise AssertionError(f"no Zendesk comment for {comment_body!r}")


class TestThePartnersChannel:
    def test_only_the_administrator_or_the_assignee_replies_others_add_notes(self, clients, act, staff, open_ticket):
        ticket = open_ticket()
        for who in ("l1", "l2", "vp"):
            refused = clients[who].post(f"/staff/tickets/{ticket.id}/reply", data={"body": "On it"}, headers=HX)
            assert refused.status_code == 403, who
            on_page = clients[who].post(f"/tickets/{ticket.id}/comments", data={"body": "On it"})
            assert on_page.status_code == 403, who
            assert (
                clients[who].post(f"/staff/tickets/{ticket.id}/note", data={"body": f"Note by {who}"}).status_code
                == 302
            )
            workspace = clients[who].get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
            assert "note" in _offered(workspace) and "reply" not in _offered(workspace)
            partner_page = clients[who].get(f"/tickets/{ticket.id}").get_data(as_text=True)
            assert 'name="body"' not in partner_page and f"/staff/tickets/{ticket.id}" in partner_page
        assert db.session.scalar(select(Comment.id).where(Comment.public.is_(True))) is None

        assert (
            clients["admin"].post(f"/tickets/{ticket.id}/comments", data={"body": "Looking into it."}).status_code
            == 302
        )
        act("admin", ticket, "assign", request_type="technical", priority="normal", agent_id=staff["l1"].id)
        act("l1", ticket, "reply", body="Which app version do you use?")
        refused = clients["l2"].post(f"/staff/tickets/{ticket.id}/reply", data={"body": "Me too"}, headers=HX)
        assert refused.status_code == 403
        assert ticket.first_responder_id == staff["admin"].id

    def test_the_partner_reads_staff_as_edye_support(self, clients, act, staff, partner, open_ticket):
        ticket = open_ticket()
        act("admin", ticket, "assign", request_type="technical", priority="normal", agent_id=staff["l1"].id)
        act("l1", ticket, "reply", body="Which app version do you use?")
        assert (
            clients["partner"].post(f"/tickets/{ticket.id}/comments", data={"body": "Version 3.2.1."}).status_code
            == 302
        )
        support = _support_team("es")
        assert support == "Soporte EDYE"
        for headers in ({}, HX):
            page = clients["partner"].get(f"/tickets/{ticket.id}", headers=headers).get_data(as_text=True)
            assert "Which app version do you use?" in page
            assert _names_on_timeline(page) == {support, "Pablo Partner"}, "the partner's own name stays"
            assert "Luis Uno" not in page and "Ana Admin" not in page
        assert _zendesk_signature("Which app version do you use?") == support
        assert _zendesk_signature("Version 3.2.1.") == "Pablo Partner"
        for who in ("admin", "l2"):  # staff screens show real names
            assert "Luis Uno" in clients[who].get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
            assert "Luis Uno" in clients[who].get(f"/tickets/{ticket.id}").get_data(as_text=True)

    def test_the_signature_is_in_the_partners_language(self, app, clients, act, make_user, open_ticket):
        english = make_user("partner", email="eve@andes.test", name="Eve English", language="en")
        ticket = open_ticket(user=english)
        act("admin", ticket, "reply", body="We are on it.")  # the administrator works in Spanish
        assert _zendesk_signature("We are on it.") == "EDYE Support"
        client = app.test_client()
        login(client, english.email)
        page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
        assert _names_on_timeline(page) == {"EDYE Support"}


class TestStaffNamesShown:
    @pytest.fixture
    def app_config(self):
        return {"SHOW_STAFF_NAMES_TO_PARTNERS": True}

    def test_with_the_setting_the_partner_sees_who_answered(self, clients, act, staff, open_ticket):
        ticket = open_ticket()
        act("admin", ticket, "assign", request_type="technical", priority="normal", agent_id=staff["l1"].id)
        act("l1", ticket, "reply", body="Which app version do you use?")
        page = clients["partner"].get(f"/tickets/{ticket.id}").get_data(as_text=True)
        assert _names_on_timeline(page) == {"Luis Uno"}, "the team's name nowhere on the timeline"
        assert _zendesk_signature("Which app version do you use?") == "Luis Uno"


def test_the_setting_is_read_from_the_environment(monkeypatch, tmp_path):
    from portal.core import config

    assert config.load(tmp_path)["SHOW_STAFF_NAMES_TO_PARTNERS"] is False
    monkeypatch.setenv("SHOW_STAFF_NAMES_TO_PARTNERS", "true")
    assert config.load(tmp_path)["SHOW_STAFF_NAMES_TO_PARTNERS"] is True


def test_an_out_of_hours_problem_that_persists_reaches_the_second_contact(clients, act, staff, open_ticket, matrix):
    """§10: a technical ticket received outside business hours whose solution does not work goes to
    the second contact at once, tier 2, with the deadline counted from reception."""
    ticket = open_ticket()
    received = datetime(2026, 2, 7, 8, 0, tzinfo=UTC)  # Saturday 03:00 New York
    first = sla.due("technical", received)
    ticket.created_at, ticket.sla_row_key, ticket.sla_due_at = received, first.row.key, first.due_at
    db.session.commit()
    assert ticket.sla_row_key == "technical_out_of_hours_first"
    act("admin", ticket, "assign", request_type="technical", priority="high", agent_id=staff["l1"].id)
    act("l1", ticket, "reports", **STATUS_REPORT)
    act("l1", ticket, "resolve", summary="Cleared the CDN cache.", **NO_KB)
    _not_solved(clients, act, ticket)
    assert ticket.sla_row_key == "technical_out_of_hours_second" and ticket.tier == 2
    assert ticket.sla_due_at == received + timedelta(hours=48)
    texts = [
        m.payload["text"] for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.target == "slack"))
    ]
    assert any("el partner dice que el problema persiste" in text and "Agustín Gomez Vega" in text for text in texts)
    assert ticket.assignee_id == staff["l1"].id, "the agent who resolved it keeps working it"
