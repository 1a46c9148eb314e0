"""Level 3 is the VP and the technical team (§9.11–14): the team sees the level-3 queue, adds its
analysis as internal notes and status reports, and records the result of the measure; the decision
(an external provider, or an alternative measure — the four named ones, or another described in
words) stays with the VP."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.tickets import level_three, policy, workflow
from portal.tickets.level_three import MEASURE_LABELS, Measure
from portal.tickets.models import Comment, EventKind, Status, StatusReport, TicketEvent
from portal.tickets.policy import Action
from tests.conftest import login

HX = {"HX-Request": "true"}
NO_KB = "No KB change: a one-off outage."
OTHER_MEASURE = {
    "priority": "high",
    "impact": "Every partner on Roku",
    "resources": "Two engineers this week",
    "decision": "alternative_measure",
    "measure": "other",
    "measure_description": "Serve the previous player build to Roku only, behind a flag.",
}


@pytest.fixture
def tech(make_user):
    return make_user("tech_team", email="tomas@edye.test", name="Tomás Técnico")


@pytest.fixture
def escalated(staff, open_ticket):
    """A ticket that level 1 and level 2 could not solve, at level 3."""
    admin, l1, l2 = staff["admin"], staff["l1"], staff["l2"]
    ticket = open_ticket()
    workflow.classify_and_assign(admin, ticket, "technical", "high", l1)
    workflow.file_status_report(l1, ticket, "Reproduced it.", 15, "Every Roku device.")
    workflow.cannot_resolve(l1, ticket, "Needs level 2.")
    workflow.reassign_to_level_two(admin, ticket, l2, ["monday"])
    workflow.file_status_report(l2, ticket, "Found a player regression.", 30, "Since build 3.2.1.")
    workflow.cannot_resolve(l2, ticket, "Needs the tech team.")
    workflow.escalate_to_level_three(admin, ticket, "Player regression.")
    return ticket


def _decide(vp, ticket, measure, description=""):
    return level_three.decide(
        vp,
        ticket,
        "high",
        "All partners",
        "Two engineers",
        "alternative_measure",
        measure=measure,
        measure_description=description,
    )


class TestService:
    def test_the_measures_are_the_four_named_and_other(self):
        named = {"no_intervention", "revert_version", "remove_components", "reduce_functionality"}
        assert {measure.value for measure in Measure} == named | {"other"}
        assert set(MEASURE_LABELS) == set(Measure) and all(measure.label for measure in Measure)

    def test_other_needs_a_description_and_is_recorded_with_it(self, staff, escalated):
        vp = staff["vp"]
        with pytest.raises(InvalidInput) as refused:
            _decide(vp, escalated, Measure.OTHER, "   ")
        assert refused.value.field == "measure_description"
        db.session.rollback()
        with pytest.raises(InvalidInput) as refused:
            _decide(vp, escalated, "reboot_everything")
        assert refused.value.field == "measure"
        db.session.rollback()
        assert Status(escalated.status) is Status.ESCALATED_L3, "nothing half-written"
        _decide(vp, escalated, Measure.OTHER, OTHER_MEASURE["measure_description"])
        event = db.session.scalar(select(TicketEvent).where(TicketEvent.kind == EventKind.DECISION.value))
        assert event.data["measure"] == "other"
        assert event.data["measure_description"] == OTHER_MEASURE["measure_description"]
        assert Status(escalated.status) is Status.ALTERNATIVE_MEASURE

    def test_a_named_measure_needs_no_description(self, staff, escalated):
        _decide(staff["vp"], escalated, Measure.REVERT_VERSION)
        assert Status(escalated.status) is Status.ALTERNATIVE_MEASURE

    def test_the_tech_team_works_level_three_but_does_not_decide(self, staff, tech, escalated):
        assert policy.actions_for(tech, escalated) == {Action.REPORT, Action.NOTE}
        with pytest.raises(policy.ActionRefused) as refused:
            _decide(tech, escalated, Measure.NO_INTERVENTION)
        assert refused.value.forbidden
        _decide(staff["vp"], escalated, Measure.NO_INTERVENTION)
        assert policy.actions_for(tech, escalated) == {Action.REPORT, Action.NOTE, Action.RESULT}
        level_three.record_level_three_result(tech, escalated, "Left as is; the fix ships with 3.3.")
        assert Status(escalated.status) is Status.RESOLVED_BY_AGENT
        assert Action.NOTIFY in policy.actions_for(staff["admin"], escalated)


class TestJourney:
    @pytest.fixture
    def tech_client(self, app, tech):
        client = app.test_client()
        assert login(client, tech.email).status_code == 302
        return client

    def test_vp_decides_other_and_the_tech_team_applies_it(self, clients, tech_client, tech, escalated):
        ticket = escalated
        vp = clients["vp"]
        queue = tech_client.get("/staff/level3").get_data(as_text=True)
        assert ticket.reference in queue
        assert 'href="/staff/level3"' in tech_client.get("/admin/").get_data(as_text=True), "the tech team's menu"
        refused = tech_client.post(f"/staff/tickets/{ticket.id}/decision", data=OTHER_MEASURE, headers=HX)
        assert refused.status_code == 403 and ticket.status == Status.ESCALATED_L3

        page = vp.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
        assert 'value="other"' in page and 'name="measure_description"' in page
        undescribed = {**OTHER_MEASURE, "measure_description": ""}
        missing = vp.post(f"/staff/tickets/{ticket.id}/decision", data=undescribed, headers=HX)
        body = missing.get_data(as_text=True)
        assert missing.status_code == 422 and 'id="decision-measure_description-error"' in body
        assert "Every partner on Roku" in body, "the form comes back as typed"
        assert ticket.status == Status.ESCALATED_L3
        decided = vp.post(f"/staff/tickets/{ticket.id}/decision", data=OTHER_MEASURE, headers=HX)
        assert decided.status_code == 200 and ticket.status == Status.ALTERNATIVE_MEASURE
        assert OTHER_MEASURE["measure_description"] in decided.get_data(as_text=True), "on the timeline"

        assert ticket.reference in tech_client.get("/staff/level3").get_data(as_text=True)

        def act(path: str, **data):
            response = tech_client.post(f"/staff/tickets/{ticket.id}/{path}", data=data, headers=HX)
            assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])

        act("note", body="Analysis: the regression is in the HLS parser of build 3.2.1.")
        act("reports", actions_taken="Built the flag.", minutes_spent="90", relevant_information="Roku only.")
        act("result", result="Roku serves build 3.2.0 behind the flag; errors back to normal.")
        assert ticket.status == Status.RESOLVED_BY_AGENT
        note = db.session.scalar(select(Comment).where(Comment.author_id == tech.id))
        assert note is not None and not note.public
        assert db.session.scalar(select(StatusReport).where(StatusReport.author_id == tech.id)).minutes_spent == 90
        assert ticket.reference in clients["admin"].get("/staff/triage").get_data(as_text=True), "admin notifies"
        refused = tech_client.post(f"/staff/tickets/{ticket.id}/notify", data={"message": "x"})
        assert refused.status_code == 403

    def test_the_tech_team_has_no_other_queue(self, tech_client):
        assert tech_client.get("/staff/work").status_code == 403
        assert tech_client.get("/staff/triage").status_code == 403
