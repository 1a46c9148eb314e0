"""Monday as the procedure uses it (§7, §9, §12) and as its API behaves: the item from the ticket's
arrival, every status change on the board (one update, the status column's label), column values
in the formats Monday accepts, the assignee's people column and notification (§9.4), the pinned
API-Version, Monday's limits retried with their waits, and a lost create_item answer adopted."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from auth.models import User
from portal.core.audit import AuditEntry
from portal.core.config import ConfigError, load
from portal.core.extensions import db
from portal.core.i18n import in_staff_language
from portal.core.types import utcnow
from portal.integrations.http import Rejected
from portal.integrations.models import OutboxMessage
from portal.integrations.monday import MondayClient, seconds_to_midnight_utc
from portal.integrations.outbox import Deliverer
from portal.tickets import conversation, workflow
from portal.tickets.models import STATUS_LABELS, Status
from tests.conftest import MONDAY_BOARD, file_report
from tests.test_zendesk_webhook import SECRET, post, status_event

NO_KB = "Nothing new to document."


@pytest.fixture
def app_config():
    return {"ZENDESK_WEBHOOK_SECRET": SECRET}


def deliver(now=None) -> None:
    moment = now or utcnow()
    for _ in range(3):
        Deliverer().run_pass(now=moment)
        moment += timedelta(minutes=5)


def updates(fake, ticket) -> list[str]:
    return [body for item, body in fake.updates if item == ticket.monday_item_id]


def label(fake, ticket) -> str:
    return fake.items[ticket.monday_item_id]["values"]["status"]["label"]


def on_the_board(fake, ticket, status: Status, before: int) -> None:
    """The last step added exactly one update and set the status column to `status`'s label."""
    deliver()
    assert len(updates(fake, ticket)) == before + 1
    assert label(fake, ticket) == in_staff_language(STATUS_LABELS[status])


def test_the_item_exists_when_the_ticket_arrives(fake_monday, open_ticket, matrix):
    ticket = open_ticket()
    deliver()
    assert fake_monday.operations() == ["create_item"] and ticket.monday_item_id in fake_monday.items
    values = fake_monday.items[ticket.monday_item_id]["values"]
    assert values["text_ref"] == ticket.reference and values["status"] == {"label": "Nuevo"}
    assert values["numbers_tier"] == "1" and values["people_assignee"] is None
    due = ticket.sla_due_at
    assert values["date_sla_due"] == {"date": due.strftime("%Y-%m-%d"), "time": due.strftime("%H:%M:%S")}
    assert not fake_monday.refused and fake_monday.versions == ["2026-10"]


def test_every_status_change_adds_one_update_and_sets_the_status(fake_monday, open_ticket, staff, partner, app):
    ticket = open_ticket()
    deliver()
    admin, agent = staff["admin"], staff["l1"]
    board = fake_monday

    def step(status: Status, action) -> None:
        deliver()
        before = len(updates(board, ticket))
        action()
        on_the_board(board, ticket, status, before)

    step(Status.ASSIGNED_L1, lambda: workflow.classify_and_assign(admin, ticket, "technical", "normal", agent))
    file_report(agent, ticket)  # a report is an update too, but no status change
    step(Status.RESOLVED_BY_AGENT, lambda: workflow.resolve(agent, ticket, "Reinstalled.", no_kb_reason=NO_KB))
    step(Status.AWAITING_CONFIRMATION, lambda: workflow.notify_partner(admin, ticket, "Reinstall the app."))
    step(Status.REOPENED, lambda: conversation.confirm(partner, ticket, False, "Still failing."))
    file_report(agent, ticket)
    step(Status.RESOLVED_BY_AGENT, lambda: workflow.resolve(agent, ticket, "Cleared the cache.", no_kb_reason=NO_KB))
    step(Status.AWAITING_CONFIRMATION, lambda: workflow.notify_partner(admin, ticket, "Cleared the cache."))
    later = utcnow() + timedelta(hours=app.config["AUTO_CLOSE_AFTER_HOURS"] + 1)
    step(Status.CLOSED, lambda: conversation.auto_close(later))
    assert "[" + ticket.reference + "]" in updates(board, ticket)[-1]
    assert len(board.items) == 1 and not board.refused


def test_the_partners_confirmation_is_on_the_board(fake_monday, open_ticket, staff, partner, send_solution):
    ticket = open_ticket()
    send_solution(ticket)
    deliver()
    before = len(updates(fake_monday, ticket))
    conversation.confirm(partner, ticket, True)
    on_the_board(fake_monday, ticket, Status.CLOSED, before)


def test_zendesk_solving_and_closing_are_on_the_board(fake_monday, open_ticket, client):
    ticket = open_ticket()
    ticket.zendesk_id = 35436
    db.session.commit()
    deliver()
    assert post(client, status_event(ticket, "SOLVED", "evt-solved")).status_code == 200
    on_the_board(fake_monday, ticket, Status.AWAITING_CONFIRMATION, 0)
    assert post(client, status_event(ticket, "CLOSED", "evt-closed", previous="SOLVED")).status_code == 200
    on_the_board(fake_monday, ticket, Status.CLOSED, 1)
    assert post(client, status_event(ticket, "CLOSED", "evt-closed", previous="SOLVED")).status_code == 200
    deliver()
    assert len(updates(fake_monday, ticket)) == 2, "a replayed event changes nothing on the board"


def test_the_assignee_is_in_the_people_column_and_notified(fake_monday, open_ticket, staff):
    staff["l1"].monday_user_id = 31855020
    db.session.commit()
    ticket = open_ticket()
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "high", staff["l1"])
    deliver()
    item = ticket.monday_item_id
    person = {"personsAndTeams": [{"id": 31855020, "kind": "person"}]}
    assert fake_monday.items[item]["values"]["people_assignee"] == person
    ((user, target, text),) = fake_monday.notifications
    assert (user, target) == (31855020, item) and ticket.reference in text and ticket.subject in text
    assert "users" not in fake_monday.operations(), "a known Monday id is not looked up"


def test_a_monday_id_is_looked_up_by_e_mail_once(fake_monday, open_ticket, staff):
    fake_monday.users = {"l2@edye.test": 9_100_000_002}
    first, second = open_ticket(), open_ticket(subject="Another one")
    for ticket in (first, second):
        workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
        file_report(staff["l1"], ticket)
        workflow.cannot_resolve(staff["l1"], ticket, "Needs level 2.")
        workflow.reassign_to_level_two(staff["admin"], ticket, staff["l2"], ["monday"])
    deliver()
    assert db.session.get(User, staff["l2"].id).monday_user_id == 9_100_000_002
    assert fake_monday.operations().count("users") == 2, "once for Luis (not found), once for Marta"
    assert sorted(target for _, target, _ in fake_monday.notifications) == sorted(
        [first.monday_item_id, second.monday_item_id]
    )
    assert {user for user, _, _ in fake_monday.notifications} == {9_100_000_002}, "Luis has no Monday account"
    person = {"personsAndTeams": [{"id": 9_100_000_002, "kind": "person"}]}
    assert all(fake_monday.items[t.monday_item_id]["values"]["people_assignee"] == person for t in (first, second))


def test_no_notification_without_a_monday_id_or_by_slack_only(fake_monday, open_ticket, staff):
    staff["l2"].monday_user_id = 4242
    db.session.commit()
    ticket = open_ticket()
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
    file_report(staff["l1"], ticket)
    workflow.cannot_resolve(staff["l1"], ticket, "Needs level 2.")
    workflow.reassign_to_level_two(staff["admin"], ticket, staff["l2"], ["slack"])
    deliver()
    assert fake_monday.notifications == [], "Luis has no Monday id; Marta was told in Slack"
    assert fake_monday.items[ticket.monday_item_id]["values"]["people_assignee"]["personsAndTeams"][0]["id"] == 4242


def test_the_business_area_is_notified_in_monday(fake_monday, open_ticket, make_user, staff):
    member = make_user("business", email="mv@edye.test", name="Max Business")
    member.monday_user_id = 777
    db.session.commit()
    ticket = open_ticket()
    workflow.classify_and_assign(staff["admin"], ticket, "marketing_business", "normal", member)
    deliver()
    assert [(user, target) for user, target, _ in fake_monday.notifications] == [(777, ticket.monday_item_id)]


def test_update_texts_are_escaped(fake_monday, open_ticket, staff):
    ticket = open_ticket()
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
    file_report(staff["l1"], ticket)
    workflow.cannot_resolve(staff["l1"], ticket, "<img src=x onerror=alert(1)> & more")
    deliver()
    last = updates(fake_monday, ticket)[-1]
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; more" in last and "<img" not in last


@pytest.mark.parametrize(
    "fault,wait",
    [("complexity", 7), ("concurrency", 3), ("field_limit", 15), ("429", 5), ("daily_limit", "midnight UTC")],
)
def test_monday_limits_are_retried_after_their_wait(fake_monday, open_ticket, fault, wait):
    fake_monday.faults = [fault]
    ticket = open_ticket()
    now = utcnow()
    Deliverer().run_pass(now=now)
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "create_item"))
    expected = seconds_to_midnight_utc() if wait == "midnight UTC" else wait
    assert message.state == "pending" and ticket.monday_item_id is None
    assert abs((message.next_attempt_at - now).total_seconds() - expected) < 5
    assert Deliverer().run_pass(now=now + timedelta(seconds=expected - 10)) == 0
    Deliverer().run_pass(now=now + timedelta(seconds=expected + 1))
    assert message.state == "delivered" and list(fake_monday.items) == [ticket.monday_item_id]


def test_server_errors_back_off(fake_monday, open_ticket, app):
    fake_monday.faults = ["500"]
    ticket = open_ticket()
    now = utcnow()
    Deliverer().run_pass(now=now)
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "create_item"))
    base = app.config["OUTBOX_RETRY_BASE_SECONDS"]
    assert message.state == "pending" and base / 2 <= (message.next_attempt_at - now).total_seconds() <= base
    Deliverer().run_pass(now=now + timedelta(seconds=base + 1))
    assert list(fake_monday.items) == [ticket.monday_item_id]


def test_a_lost_create_item_answer_never_makes_a_second_item(fake_monday, open_ticket, staff):
    fake_monday.faults = ["drop-answer"]
    ticket = open_ticket()
    now = utcnow()
    Deliverer().run_pass(now=now)
    assert ticket.monday_item_id is None and len(fake_monday.items) == 1, "Monday made it; the answer was lost"
    deliver(now + timedelta(minutes=5))
    assert list(fake_monday.items) == [ticket.monday_item_id]
    assert fake_monday.operations() == ["create_item", "items_page_by_column_values"]
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
    deliver(now + timedelta(minutes=20))
    assert len(fake_monday.items) == 1 and len(updates(fake_monday, ticket)) == 1


# The fake refuses what Monday refuses ---------------------------------------------------------------

PLAIN_CHANGE = """
mutation ($board: ID!, $item: ID!, $values: JSON!) {
  change_multiple_column_values(board_id: $board, item_id: $item, column_values: $values) { id }
}"""


@pytest.mark.parametrize(
    "values,error",
    [
        ({"status": {"label": "No such label"}}, "label does not exist"),
        ({"status": "Done"}, 'expected {"label"'),
        ({"date_sla_due": {"date": "01/12/2026"}}, "date column"),
        ({"date_sla_due": {"date": "2026-12-01", "time": "25:00:00"}}, "date column"),
        ({"people_assignee": {"personsAndTeams": [{"id": "12", "kind": "person"}]}}, "personsAndTeams"),
        ({"numbers_tier": "two"}, "numbers column"),
        ({"nope": "x"}, "doesn't exist"),
    ],
)
def test_the_fake_refuses_malformed_column_values(fake_monday, values, error):
    client = MondayClient(fake_monday.url, fake_monday.token, "2026-10")
    item = client.create_item("4242", None, "x", {})
    with pytest.raises(Rejected, match=error):
        client.call(PLAIN_CHANGE, {"board": "4242", "item": item, "values": json.dumps(values)})
    assert fake_monday.refused and fake_monday.items[item]["values"] == {}


def test_a_new_status_label_needs_create_labels_if_missing(fake_monday):
    client = MondayClient(fake_monday.url, fake_monday.token, "2026-10")
    item = client.create_item("4242", None, "x", {})
    client.change_columns("4242", item, {"status": {"label": "Escalado al nivel 3"}})
    assert "Escalado al nivel 3" in fake_monday.labels["status"]


def test_the_fake_refuses_a_call_without_api_version(fake_monday):
    with pytest.raises(Rejected, match="400"):
        MondayClient(fake_monday.url, fake_monday.token, "").create_item("4242", None, "x", {})
    assert fake_monday.items == {}


# Settings -------------------------------------------------------------------------------------------


def test_api_version_defaults_to_a_current_stable_version(tmp_path, monkeypatch):
    monkeypatch.delenv("MONDAY_API_VERSION", raising=False)
    assert load(tmp_path, {"SECRET_KEY": "k"})["MONDAY_API_VERSION"] == "2026-10"
    monkeypatch.setenv("MONDAY_API_VERSION", "2027-01")
    assert load(tmp_path, {"SECRET_KEY": "k"})["MONDAY_API_VERSION"] == "2027-01"


def test_monday_columns_take_a_type_and_keep_the_plain_form(tmp_path, monkeypatch):
    monkeypatch.setenv("MONDAY_COLUMNS", '{"reference": "text_ref", "sla_due": {"id": "date4", "type": "date"}}')
    assert load(tmp_path, {"SECRET_KEY": "k"})["MONDAY_COLUMNS"] == {
        "reference": {"id": "text_ref", "type": "text"},
        "sla_due": {"id": "date4", "type": "date"},
    }
    for wrong in ('{"sla_due": {"id": "date4", "type": "people"}}', '{"owner": "x"}', '{"status": {"type": "status"}}'):
        monkeypatch.setenv("MONDAY_COLUMNS", wrong)
        with pytest.raises(ConfigError, match="MONDAY_COLUMNS"):
            load(tmp_path, {"SECRET_KEY": "k"})
    assert MONDAY_BOARD["MONDAY_COLUMNS"]["reference"] == "text_ref", "the fixture keeps the older form too"


# The Monday id on the user screen --------------------------------------------------------------------


def edit(client, user, **changes):
    form = {
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "organization_id": user.organization_id or 0,
        "language": user.language,
        "monday_user_id": "",
        **changes,
    }
    return client.post(f"/admin/users/{user.id}/edit", data=form)


def test_the_administrator_edits_a_monday_id(clients, staff, partner):
    admin, agent = clients["admin"], staff["l1"]
    assert "monday_user_id" in admin.get(f"/admin/users/{agent.id}/edit").get_data(as_text=True)
    assert edit(admin, agent, monday_user_id="9123456789012").status_code == 302
    assert db.session.get(User, agent.id).monday_user_id == 9_123_456_789_012
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.monday_id_changed"))
    assert entry is not None and entry.after == {"monday_user_id": 9_123_456_789_012}
    for bad in ("abc", "-5", "0", str(2**63)):
        response = edit(admin, agent, monday_user_id=bad, name="Changed Name")
        assert response.status_code == 422, bad
        assert db.session.get(User, agent.id).name == "Luis Uno", "nothing is half-written"
    refused = edit(admin, partner, monday_user_id="42")
    assert refused.status_code == 422 and "Monday" in refused.get_data(as_text=True)
    assert db.session.get(User, partner.id).monday_user_id is None
    assert edit(admin, agent).status_code == 302 and db.session.get(User, agent.id).monday_user_id is None


def test_a_new_staff_member_may_come_with_a_monday_id(clients):
    form = {
        "name": "Nora Nueva",
        "email": "nora@edye.test",
        "role": "agent_l1",
        "organization_id": 0,
        "language": "es",
        "monday_user_id": "555",
    }
    assert clients["admin"].post("/admin/users", data=form).status_code == 201
    assert db.session.scalar(select(User.monday_user_id).where(User.email == "nora@edye.test")) == 555
