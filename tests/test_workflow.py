"""The staff workflow: the full journey, the state machine per role, KB-on-close, internal notes,
Monday and Slack through the outbox."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from kb import services as kb_services
from portal.core.extensions import db
from portal.core.i18n import in_staff_language
from portal.core.types import utcnow
from portal.integrations.models import OutboxMessage
from portal.integrations.outbox import Deliverer
from portal.tickets import workflow
from portal.tickets.board import STATUS_UPDATES
from portal.tickets.models import Comment, EventKind, Status, StatusReport, Ticket
from tests.conftest import STATUS_REPORT, TECHNICAL, closed_today, file_report, login


def deliver_all():
    deliverer = Deliverer()
    moment = utcnow()
    for _ in range(10):
        deliverer.run_pass(now=moment)
        moment += timedelta(minutes=5)


def test_full_journey(clients, staff, partner, fake_zendesk, fake_monday, fake_slack, fake_smtp):
    from pathlib import Path

    from portal.sla import services as sla

    sla.import_matrix(Path(__file__).resolve().parent.parent / "content" / "escalation_matrix.yaml")
    closed_today()  # the ticket arrives out of hours whatever the hour the test runs
    c = clients
    assert c["partner"].post("/tickets/new/technical", data=TECHNICAL).status_code == 302
    ticket = db.session.scalar(select(Ticket))
    t = ticket.id

    def act(who, action, **data):
        response = c[who].post(f"/staff/tickets/{t}/{action}", data=data, headers={"HX-Request": "true"})
        assert response.status_code == 200, (who, action, response.status_code, response.get_data(as_text=True)[:400])
        return response

    act("admin", "assign", request_type="technical", priority="high", agent_id=staff["l1"].id)
    assert (
        ticket.status == "assigned_l1" and ticket.assignee_id == staff["l1"].id and ticket.request_type == "technical"
    )
    act(
        "l1",
        "reports",
        actions_taken="Reproduced on Roku Ultra",
        minutes_spent="25",
        relevant_information="License server answers 403",
        next_step="Ask the CDN team",
    )
    act("l1", "cannot-resolve", reason="Needs access to the license server logs")
    act("admin", "reassign", agent_id=staff["l2"].id, channels="slack")
    assert ticket.status == "assigned_l2" and ticket.tier == 2 and ticket.assignee_id == staff["l2"].id
    act(
        "l2",
        "reports",
        actions_taken="Checked license server logs",
        minutes_spent="40",
        relevant_information="The logs show a token regression",
    )
    act("l2", "cannot-resolve", reason="Regression in release 3.2.1")
    act("admin", "escalate", note="Release regression")
    assert ticket.status == "escalated_l3" and ticket.tier == 3
    act(
        "vp",
        "decision",
        priority="urgent",
        impact="All Roku users of 3 partners",
        resources="Release team available",
        decision="alternative_measure",
        measure="revert_version",
        notes="Roll back to 3.2.0",
    )
    assert ticket.status == "alternative_measure"
    act("admin", "result", result="App reverted to 3.2.0 on Roku")
    act("admin", "notify", message="We reverted the Roku app to 3.2.0; playback works again.")
    assert ticket.status == "awaiting_confirmation"
    assert c["partner"].post(f"/tickets/{t}/confirm", data={"answer": "yes"}).status_code == 302
    assert ticket.status == "closed"

    deliver_all()
    # E-mail included: the first contact's (it arrived out of hours) and the assignees' news.
    assert set(db.session.scalars(select(OutboxMessage.state))) == {"delivered"}
    assert fake_smtp.to(staff["l1"].email), "the level-1 agent was told of the assignment"
    operations = fake_monday.operations()
    assert operations[0] == "create_item"
    updates = [variables["body"] for name, variables in fake_monday.calls if name == "create_update"]
    # In the team's language (STAFF_LANGUAGE, Spanish unless configured), whoever acted.
    # Every status change is on the board, whichever channel told the agent (the reassignment went
    # by Slack) and whoever moved it (the partner's confirmation).
    assert [u.split("] ", 1)[1].split(" ")[:2] for u in updates[:-1]] == [
        ["Asignado", "a"],
        ["Reporte", "de"],
        ["Luis", "Uno"],
        ["Reasignado", "a"],
        ["Reporte", "de"],
        ["Marta", "Dos"],
        ["Escalado", "al"],
        ["El", "nivel"],
        ["Resultado", "del"],
        ["Ana", "Admin"],
    ]
    assert updates[-1] == f"[{ticket.reference}] {in_staff_language(STATUS_UPDATES[EventKind.CONFIRMED])}"
    assert "Reproduced on Roku Ultra" in updates[1] and "25 min" in updates[1]
    assert "Información relevante:" in updates[1]
    on_board = ("create_item", "change_multiple_column_values")
    assert all(variables["board"] == "4242" for name, variables in fake_monday.calls if name in on_board)
    create = fake_monday.calls[0][1]
    assert create["group"] == "topics" and '"text_ref": "EDY-' in create["values"]
    assert json.loads(create["values"])["date_sla_due"] == {
        "date": ticket.sla_due_at.strftime("%Y-%m-%d"),
        "time": ticket.sla_due_at.strftime("%H:%M:%S"),
    }
    (item,) = fake_monday.items.values()
    assert item["values"]["status"] == {"label": "Cerrado"} and not fake_monday.refused
    # Received outside business hours, the first contact heard of it first.
    assert ticket.sla_row_key == "technical_out_of_hours_first"
    assert "recibido fuera del horario comercial" in fake_slack.messages[0]["text"]
    slack_texts = [message["text"] for message in fake_slack.messages][1:]
    assert len(slack_texts) == 3
    assert "Reasignado a Marta Dos (nivel 2)" in slack_texts[0]
    assert "Escalado al nivel 3" in slack_texts[1] and "Revertir a una versión anterior" in slack_texts[2]
    public = [event["body"] for event in fake_zendesk.comments[ticket.zendesk_id] if event["public"]]
    assert any("reverted the Roku app" in body for body in public)
    assert not any("license server logs" in body or "Regression" in body for body in public)
    statuses = [r[2]["ticket"]["status"] for r in fake_zendesk.requests if r[0] == "PUT" and "status" in r[2]["ticket"]]
    assert statuses == ["solved", "closed"]
    reports = list(db.session.scalars(select(StatusReport)))
    assert sum(report.minutes_spent for report in reports) == 65
    page = c["admin"].get(f"/staff/tickets/{t}").get_data(as_text=True)
    assert "65 min" in page and "Luis Uno: 25 min" in page and "Marta Dos: 40 min" in page


ACTIONS = {
    "assign": {"request_type": "technical", "priority": "normal"},
    "reports": STATUS_REPORT,
    "resolve": {"summary": "done", "no_kb_reason": "trivial"},
    "cannot-resolve": {"reason": "no"},
    "notify": {"message": "hi"},
    "reassign": {"channels": "monday"},
    "escalate": {},
    "decision": {
        "priority": "high",
        "impact": "i",
        "resources": "r",
        "decision": "alternative_measure",
        "measure": "no_intervention",
    },
    "result": {"result": "r"},
}


def test_every_invalid_transition_is_refused_for_every_role(clients, staff, open_ticket):
    ticket = open_ticket()
    allowed_on_new = {("admin", "assign"), ("admin", "resolve")}
    for who in ("admin", "l1", "l2", "vp", "partner"):
        for action, data in ACTIONS.items():
            if (who, action) in allowed_on_new:
                continue
            payload = dict(data, agent_id=staff["l1"].id if action == "assign" else staff["l2"].id)
            response = clients[who].post(f"/staff/tickets/{ticket.id}/{action}", data=payload)
            assert response.status_code in (403, 409), (who, action, response.status_code)
            if who == "partner":
                assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status == "new"
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
    refused = clients["l2"].post(f"/staff/tickets/{ticket.id}/resolve", data=ACTIONS["resolve"])
    assert refused.status_code == 403, "an agent acts only on tickets assigned to them"
    twice = clients["admin"].post(
        f"/staff/tickets/{ticket.id}/assign", data={**ACTIONS["assign"], "agent_id": staff["l1"].id}
    )
    assert twice.status_code == 409 and "estado actual" in twice.get_data(as_text=True)


def test_state_machine_table_refuses_moves_outside_it(open_ticket, staff, partner):
    ticket = open_ticket()
    for target in Status:
        for actor in (*staff.values(), partner):
            if target is Status.NEW:
                continue
            from portal.tickets import states

            if not states.allowed(Status.NEW, target, actor.role):
                with pytest.raises(states.TransitionRefused):
                    states.move(ticket, target, actor, "probe")
    db.session.rollback()
    assert db.session.get(Ticket, ticket.id).status == "new"


def test_kb_on_close_rule(clients, staff, open_ticket, app):
    ticket = open_ticket()
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
    file_report(staff["l1"], ticket)
    c = clients["l1"]
    missing = c.post(
        f"/staff/tickets/{ticket.id}/resolve", data={"summary": "Reinstalled"}, headers={"HX-Request": "true"}
    )
    assert missing.status_code == 422
    old = kb_services.create_article(
        staff["l2"],
        "es",
        "vieja",
        kb_services.ArticleText("Vieja", "Texto viejo.", "playback", [], "partners", note="n", publish=True),
    )
    foreign = c.post(f"/staff/tickets/{ticket.id}/resolve", data={"summary": "x", "kb_article_id": old.id})
    assert foreign.status_code == 422 and ticket.status == "assigned_l1"
    draft = c.post(f"/staff/tickets/{ticket.id}/kb-draft")
    assert draft.status_code == 302 and "/edit" in draft.headers["Location"]
    article = db.session.scalar(select(kb_services.Article).where(kb_services.Article.slug == ticket.reference.lower()))
    assert article.status == "draft" and ticket.subject == kb_services.latest_revision(article).title
    ok = c.post(f"/staff/tickets/{ticket.id}/resolve", data={"summary": "Documented", "kb_article_id": article.id})
    assert ok.status_code == 302 and ticket.status == "resolved_by_agent"


def test_admin_resolves_directly_with_the_same_rule(clients, staff, open_ticket):
    ticket = open_ticket()
    c = clients["admin"]
    assert c.post(f"/staff/tickets/{ticket.id}/resolve", data={"summary": "Known issue"}).status_code == 422
    assert (
        c.post(
            f"/staff/tickets/{ticket.id}/resolve", data={"summary": "Known issue", "no_kb_reason": "Already in the KB"}
        ).status_code
        == 302
    )
    assert ticket.status == "resolved_by_agent"


def test_internal_notes_never_reach_partners(clients, staff, partner, open_ticket, fake_zendesk):
    ticket = open_ticket()
    clients["admin"].post(f"/staff/tickets/{ticket.id}/note", data={"body": "Partner is on an old contract"})
    clients["admin"].post(f"/staff/tickets/{ticket.id}/reply", data={"body": "We are looking into it"})
    deliver_all()
    for headers in ({}, {"HX-Request": "true"}):
        page = clients["partner"].get(f"/tickets/{ticket.id}", headers=headers).get_data(as_text=True)
        assert "old contract" not in page and "We are looking into it" in page
    assert "old contract" in clients["l1"].get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    bodies = [event["body"] for events in fake_zendesk.comments.values() for event in events]
    assert not any("old contract" in body for body in bodies)
    assert any("We are looking into it" in body for body in bodies)


# Level 3's decision for an external provider, every field filled in.
CDN_DECISION = {
    "priority": "high",
    "impact": "Many",
    "resources": "Budget",
    "decision": "external_provider",
    "provider_name": "CDN Experts",
    "provider_contact": "ops@cdn.example",
    "provider_scope": "Edge",
}


def test_level_three_external_provider(clients, staff, open_ticket):
    ticket = open_ticket()
    ticket.status, ticket.tier = "escalated_l3", 3
    db.session.commit()
    no_contact = {
        key: value for key, value in CDN_DECISION.items() if key not in ("provider_contact", "provider_scope")
    }
    bad = clients["vp"].post(f"/staff/tickets/{ticket.id}/decision", data=no_contact)
    assert bad.status_code == 422
    good = clients["vp"].post(f"/staff/tickets/{ticket.id}/decision", data=CDN_DECISION)
    assert good.status_code == 302 and ticket.status == "external_provider"
    assert clients["vp"].post(f"/staff/tickets/{ticket.id}/result", data={"result": "Cache purged"}).status_code == 302
    assert ticket.status == "resolved_by_agent"
    assert "CDN Experts" in clients["vp"].get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)


def test_queues_filters_bulk_assign_and_no_n_plus_one(clients, staff, open_ticket, count_queries):
    tickets = [open_ticket(subject=f"Queue item {n}") for n in range(4)]
    c = clients["admin"]
    with count_queries() as few:
        assert c.get("/staff/triage").status_code == 200
    for n in range(8):
        open_ticket(subject=f"More queue {n}")
    with count_queries() as many:
        assert c.get("/staff/triage").status_code == 200
    assert many.count == few.count
    response = c.post(
        "/staff/triage/bulk-assign",
        data={
            "ticket_ids": [t.id for t in tickets[:3]],
            "request_type": "day_to_day",
            "priority": "low",
            "agent_id": staff["l1"].id,
        },
    )
    assert response.status_code == 302
    assert [t.status for t in tickets] == ["assigned_l1"] * 3 + ["new"]
    assert "Queue item 0" in clients["l1"].get("/staff/work").get_data(as_text=True)
    assert "Queue item 3" not in clients["l1"].get("/staff/work").get_data(as_text=True)
    filtered = c.get("/staff/triage?status=new", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Queue item 3" in filtered and "Queue item 0" not in filtered
    inline = c.get(f"/staff/tickets/{tickets[3].id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in inline and "Queue item 3" in inline


def test_audit_csv(clients, staff, open_ticket):
    ticket = open_ticket()
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
    response = clients["admin"].get("/staff/audit.csv")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert response.mimetype == "text/csv" and rows[0][:4] == ["time", "ticket", "actor", "event"]
    assigned = [row for row in rows if row[3] == "assigned"]
    assert (
        assigned and assigned[0][2] == "Ana Admin" and assigned[0][5] == "assigned_l1" and "Luis Uno" in assigned[0][7]
    )
    assert clients["l1"].get("/staff/audit.csv").status_code == 403


def test_monday_errors_are_retried_or_dead_lettered(open_ticket, staff, fake_monday):
    ticket = open_ticket()
    fake_monday.faults = ["complexity"]
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
    now = utcnow()
    Deliverer().run_pass(now=now)
    first = db.session.scalar(select(OutboxMessage).where(OutboxMessage.target == "monday").order_by(OutboxMessage.id))
    assert first.state == "pending" and "Complexity" in first.last_error
    assert abs((first.next_attempt_at - now).total_seconds() - 7) < 1
    fake_monday.faults = ["invalid_column"]
    Deliverer().run_pass(now=now + timedelta(seconds=8))
    assert first.state == "dead" and "column ID" in first.last_error


def test_slack_text_errors_are_dead_letters_and_429_waits(open_ticket, staff, fake_slack):
    ticket = open_ticket()
    ticket.status, ticket.tier = "cannot_resolve", 1
    db.session.commit()
    fake_slack.faults = ["429", "invalid_payload"]
    workflow.reassign_to_level_two(staff["admin"], ticket, staff["l2"], ["slack"])
    now = utcnow()
    Deliverer().run_pass(now=now)
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.target == "slack"))
    assert message.state == "pending" and "429" in message.last_error
    Deliverer().run_pass(now=now + timedelta(seconds=4))
    assert message.state == "dead" and "invalid_payload" in message.last_error


def test_status_report_visibility_and_event_history_is_append_only(clients, staff, open_ticket):
    from portal.core.audit import AuditLogIsAppendOnly
    from portal.tickets.models import TicketEvent

    ticket = open_ticket()
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
    workflow.file_status_report(staff["l1"], ticket, "Checked the CDN", 10, "edge 502s", "Purge cache", False)
    workflow.file_status_report(staff["l1"], ticket, "Purged the cache", 5, "CDN healthy", "Wait for partner", True)
    page = clients["partner"].get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "Purged the cache" in page and "Checked the CDN" not in page and "edge 502s" not in page
    event = db.session.scalar(select(TicketEvent).where(TicketEvent.kind == "assigned"))
    event.kind = "tampered"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()


@pytest.fixture
def staff_ticket(open_ticket, make_user, app):
    """A ticket assigned to a level-1 agent, who has filed a status report on it; English-speaking staff
    (an administrator, that agent, a VP) with clients."""
    people = {role: make_user(role, language="en") for role in ("ticket_admin", "agent_l1", "vp")}
    clients = {}
    for role, user in people.items():
        clients[role] = app.test_client()
        login(clients[role], user.email)
    ticket = open_ticket()
    ticket.assignee_id, ticket.status = people["agent_l1"].id, "assigned_l1"
    db.session.commit()
    file_report(people["agent_l1"], ticket)
    return ticket, clients


@pytest.mark.parametrize(
    "action,data,long_field,field_cap",
    [
        ("note", {}, "body", 20_000),
        ("reply", {}, "body", 20_000),
        ("reports", STATUS_REPORT, "actions_taken", 5_000),
        ("reports", STATUS_REPORT, "relevant_information", 5_000),
        ("reports", STATUS_REPORT, "next_step", 5_000),
        ("cannot-resolve", {}, "reason", 5_000),
        ("resolve", {"no_kb_reason": "No KB change"}, "summary", 5_000),
        ("resolve", {"summary": "Fixed"}, "no_kb_reason", 5_000),
    ],
)
def test_staff_texts_have_length_caps(staff_ticket, action, data, long_field, field_cap):
    ticket, clients = staff_ticket
    response = clients["agent_l1"].post(
        f"/staff/tickets/{ticket.id}/{action}",
        data={**data, long_field: "x" * (field_cap + 1)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422 and f"At most {field_cap} characters." in response.get_data(as_text=True)
    assert ticket.status == "assigned_l1" and db.session.scalar(select(func.count(Comment.id))) == 0
    assert db.session.scalar(select(func.count(StatusReport.id))) == 1, "only the fixture's"


def test_level_three_texts_have_length_caps(staff_ticket):
    ticket, clients = staff_ticket
    ticket.status, ticket.tier = "escalated_l3", 3
    db.session.commit()
    decision = CDN_DECISION
    for name, cap in (("impact", 5_000), ("notes", 5_000), ("provider_name", 200), ("provider_scope", 5_000)):
        response = clients["vp"].post(f"/staff/tickets/{ticket.id}/decision", data={**decision, name: "x" * (cap + 1)})
        assert response.status_code == 422, name
    assert ticket.status == "escalated_l3"
    assert clients["vp"].post(f"/staff/tickets/{ticket.id}/decision", data=decision).status_code == 302
    refused = clients["vp"].post(f"/staff/tickets/{ticket.id}/result", data={"result": "r" * 5_001})
    assert refused.status_code == 422 and ticket.status == "external_provider"


class TestStaffCommentLimit:
    @pytest.fixture
    def app_config(self):
        return {"COMMENT_LIMIT_PER_USER": "2 per minute"}

    def test_replies_and_notes_share_the_comment_limit(self, clients, open_ticket):
        ticket = open_ticket()
        admin = clients["admin"]
        assert admin.post(f"/staff/tickets/{ticket.id}/note", data={"body": " "}).status_code == 422
        assert admin.post(f"/staff/tickets/{ticket.id}/note", data={"body": "Checking logs"}).status_code == 302
        assert admin.post(f"/staff/tickets/{ticket.id}/reply", data={"body": "On it"}).status_code == 302
        refused = admin.post(f"/staff/tickets/{ticket.id}/reply", data={"body": "Once more"})
        assert refused.status_code == 429 and "Retry-After" in refused.headers
        assert db.session.scalar(select(func.count(Comment.id))) == 2
        # Another person's limit is their own.
        assert clients["l1"].get(f"/staff/tickets/{ticket.id}").status_code == 200
