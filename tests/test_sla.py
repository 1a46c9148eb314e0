"""SLA engine: business calendar, deadlines from the matrix, second contact, recomputation, the monitor."""

from __future__ import annotations

import ast
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from portal.core.extensions import db
from portal.integrations.models import OutboxMessage
from portal.sla import services as sla
from portal.sla.calendar import DEFAULT_HOURS, BusinessCalendar
from portal.tickets import conversation, intake, sla_clock, workflow
from portal.tickets.models import TECHNICAL_DETAILS
from tests.conftest import BUSINESS_HOURS_MOMENT, TECHNICAL

ROOT = Path(__file__).resolve().parent.parent
NY = ZoneInfo("America/New_York")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=NY)


@pytest.fixture
def calendar():
    return BusinessCalendar.from_settings("America/New_York", DEFAULT_HOURS, [{"date": "2026-12-24", "name": "x"}])


@pytest.mark.parametrize(
    "received,hours,expected",
    [
        ("2026-03-06 17:30", 3, "2026-03-09 11:30"),  # Friday evening → Monday (weekend skipped)
        ("2026-03-06 17:30", 2, "2026-03-09 10:30"),
        ("2026-03-04 09:00", 3, "2026-03-04 12:00"),  # opening minute counts
        ("2026-03-04 18:00", 3, "2026-03-05 12:00"),  # closing minute does not
        ("2026-03-04 17:59", 3, "2026-03-05 11:59"),
        ("2026-03-07 11:00", 3, "2026-03-09 12:00"),  # received on Saturday
        ("2026-03-06 16:00", 3, "2026-03-09 10:00"),  # DST starts on Sunday 8 March
        ("2026-10-30 16:30", 3, "2026-11-02 10:30"),  # DST ends on Sunday 1 November
        ("2026-07-02 17:00", 3, "2026-07-06 11:00"),  # Friday 3 July: Independence Day observed
        ("2026-07-03 10:00", 3, "2026-07-06 12:00"),  # received on the observed holiday itself
        ("2026-11-25 17:00", 3, "2026-11-27 11:00"),  # Thanksgiving Thursday
        ("2026-12-23 17:00", 2, "2026-12-28 10:00"),  # extra holiday 24th, Christmas 25th, weekend
        ("2026-03-04 06:00", 3, "2026-03-04 12:00"),  # before opening
    ],
)
def test_business_hours_table(calendar, received, hours, expected):
    assert calendar.add_business_hours(local(received), hours).astimezone(NY) == local(expected)


@pytest.mark.parametrize(
    "moment,business",
    [
        ("2026-03-04 09:00", True),
        ("2026-03-04 17:59", True),
        ("2026-03-04 18:00", False),
        ("2026-03-04 08:59", False),
        ("2026-03-07 12:00", False),
        ("2026-07-03 12:00", False),
        ("2026-12-24 12:00", False),
        ("2026-11-26 12:00", False),
    ],
)
def test_what_counts_as_business_time(calendar, moment, business):
    assert calendar.is_business_time(local(moment)) is business


@pytest.mark.parametrize(
    "category,received,row,warn,due",
    [
        (
            "day_to_day",
            "2026-03-06T17:30:00-05:00",
            "day_to_day",
            "2026-03-09T10:30:00-04:00",
            "2026-03-09T11:30:00-04:00",
        ),
        (
            "technical",
            "2026-03-04T10:00:00-05:00",
            "technical_business_hours",
            "2026-03-04T12:00:00-05:00",
            "2026-03-04T13:00:00-05:00",
        ),
        (
            "technical",
            "2026-03-07T10:00:00-05:00",
            "technical_out_of_hours_first",
            "2026-03-08T05:00:00-04:00",
            "2026-03-08T11:00:00-04:00",
        ),
        (
            "technical",
            "2026-07-03T10:00:00-04:00",
            "technical_out_of_hours_first",
            "2026-07-04T04:00:00-04:00",
            "2026-07-04T10:00:00-04:00",
        ),
        (
            "marketing_business",
            "2026-10-31T12:00:00-04:00",
            "marketing_business",
            "2026-11-01T05:00:00-05:00",
            "2026-11-01T11:00:00-05:00",
        ),
    ],
)
def test_sla_due_command(app, matrix, category, received, row, warn, due):
    result = app.test_cli_runner().invoke(args=["sla", "due", "--category", category, "--received", received, "--json"])
    assert result.exit_code == 0, result.output
    out_of_hours = row == "technical_out_of_hours_first"
    second_due = datetime.fromisoformat(received) + timedelta(hours=48)
    assert json.loads(result.output) == {
        "row": row,
        "warn_at": warn,
        "due_at": due,
        # Out of hours, the second contact's deadline is 48 h from reception (§10); else none.
        "second_contact_due_at": second_due.astimezone(NY).isoformat() if out_of_hours else None,
        "second_contact": "Agustín Gomez Vega" if out_of_hours else None,
        "contract": False,
    }


def test_sla_due_refuses_naive_or_bad_times(app, matrix):
    runner = app.test_cli_runner()
    assert (
        runner.invoke(args=["sla", "due", "--category", "technical", "--received", "2026-03-04T10:00"]).exit_code == 2
    )
    assert runner.invoke(args=["sla", "due", "--category", "technical", "--received", "yesterday"]).exit_code == 2


def test_elapsed_targets_count_real_seconds_across_dst(matrix):
    start = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)
    deadline = sla.deadline_for(matrix["marketing_business"], start, sla.calendar())
    assert (deadline.due_at - start).total_seconds() == 86_400
    assert (deadline.warn_at - start).total_seconds() == 0.75 * 86_400


def test_ticket_gets_its_deadline_and_recomputes_on_reclassification(matrix, open_ticket, make_user):
    received = BUSINESS_HOURS_MOMENT
    ticket = open_ticket(now=received)
    assert ticket.sla_row_key == "technical_business_hours" and ticket.sla_due_at
    admin, member, agent = make_user("ticket_admin"), make_user("business"), make_user("agent_l1")
    workflow.classify_and_assign(admin, ticket, "marketing_business", "normal", member, now=received)
    assert ticket.sla_row_key == "marketing_business"
    assert ticket.sla_due_at == ticket.created_at + timedelta(hours=24)
    conversation.add_comment(member, ticket, "We are on it", now=received + timedelta(hours=1))
    assert ticket.first_response_at is not None and ticket.sla_state == "met"
    ticket.status = "triaged"
    db.session.commit()
    workflow.classify_and_assign(admin, ticket, "day_to_day", "normal", agent, now=received + timedelta(hours=2))
    assert ticket.sla_row_key == "marketing_business", "no recomputation after the first response"


def test_partner_comment_is_not_a_first_response(matrix, open_ticket, partner):
    ticket = open_ticket()
    conversation.add_comment(partner, ticket, "Any news?")
    assert ticket.first_response_at is None


def make_overdue(ticket, row_key, received):
    row = next(r for r in sla.rows() if r.key == row_key)
    deadline = sla.deadline_for(row, received, sla.calendar())
    ticket.sla_row_key, ticket.sla_warn_at, ticket.sla_due_at = row.key, deadline.warn_at, deadline.due_at
    ticket.created_at = received
    db.session.commit()


def slack_texts():
    return [
        m.payload["text"]
        for m in db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.target == "slack").order_by(OutboxMessage.id)
        )
    ]


def test_monitor_warns_then_breaches_once_each(matrix, open_ticket):
    received = BUSINESS_HOURS_MOMENT
    ticket = open_ticket(now=received)
    make_overdue(ticket, "technical_business_hours", received)
    assert sla_clock.check(now=received + timedelta(hours=1)) == {"at_risk": 0, "breached": 0, "second_contact": 0}
    assert sla_clock.check(now=received + timedelta(hours=2, minutes=1))["at_risk"] == 1
    assert sla_clock.check(now=received + timedelta(hours=2, minutes=30))["at_risk"] == 0
    assert ticket.sla_state == "at_risk"
    assert sla_clock.check(now=received + timedelta(hours=3, minutes=1))["breached"] == 1
    assert sla_clock.check(now=received + timedelta(hours=5))["breached"] == 0
    texts = slack_texts()
    assert len(texts) == 2 and "SLA en riesgo" in texts[0] and "SLA incumplido" in texts[1]


def test_out_of_hours_ticket_escalates_to_the_second_contact(matrix, open_ticket, make_user, app):
    app.config["PORTAL_URL"] = "https://support.example.test/"
    received = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)  # Saturday
    ticket = open_ticket(now=received)
    make_overdue(ticket, "technical_out_of_hours_first", received)
    assert sla_clock.check(now=received + timedelta(hours=18, minutes=1))["at_risk"] == 1
    escalation = received + timedelta(hours=24, minutes=1)
    assert sla_clock.check(now=escalation)["second_contact"] == 1
    assert ticket.sla_row_key == "technical_out_of_hours_second" and ticket.second_contact_at == escalation
    # 48 h from reception, not from the escalation (§10), and the ticket is at level 2 now.
    assert ticket.sla_due_at == received + timedelta(hours=48) and ticket.sla_state == "on_track"
    assert ticket.tier == 2
    assert sla_clock.check(now=escalation + timedelta(minutes=5))["second_contact"] == 0
    text = slack_texts()[-1]
    assert "Agustín Gomez Vega" in text and "agustin@edye.com" in text and "+1 (786) 329-9448" in text
    assert ticket.subject in text and f"https://support.example.test/staff/tickets/{ticket.id}" in text
    assert sla_clock.check(now=received + timedelta(hours=36, minutes=1))["at_risk"] == 1, (
        "the second deadline's warning"
    )
    assert sla_clock.check(now=received + timedelta(hours=48, minutes=1))["breached"] == 1


@pytest.mark.parametrize(
    ("received", "first_due", "second_due"),
    [
        # Saturday 03:00 New York: first contact Sunday 03:00, second Monday 03:00 (outside
        # business hours: elapsed hours count around the clock).
        ("2026-02-07T03:00:00-05:00", "2026-02-08T03:00:00-05:00", "2026-02-09T03:00:00-05:00"),
        # Across the change to summer time (Sunday 8 March 2026): hours are real hours.
        ("2026-03-07T03:00:00-05:00", "2026-03-08T04:00:00-04:00", "2026-03-09T04:00:00-04:00"),
    ],
)
def test_out_of_hours_deadlines_count_from_reception(matrix, received, first_due, second_due):
    moment = datetime.fromisoformat(received)
    first = sla.due("technical", moment)
    second = sla.second_contact_due("technical", moment)
    zone = NY
    assert first.row.key == "technical_out_of_hours_first"
    assert first.due_at.astimezone(zone).isoformat() == first_due
    assert second.row.key == "technical_out_of_hours_second"
    assert second.due_at.astimezone(zone).isoformat() == second_due
    assert sla.second_contact_due("technical", datetime(2026, 3, 4, 10, 0, tzinfo=zone)) is None, "business hours"


def test_the_first_contact_hears_of_an_out_of_hours_ticket_at_reception(matrix, partner):
    details = {key: TECHNICAL[key] for key in TECHNICAL_DETAILS}
    saturday = datetime(2026, 2, 7, 8, 0, tzinfo=UTC)  # 03:00 New York
    ticket = intake.create_ticket(partner, "technical", "Night outage", "Nothing plays.", details, now=saturday)
    notice = slack_texts()
    assert len(notice) == 1 and "recibido fuera del horario comercial" in notice[0]
    assert "Constantine Costopoulos" in notice[0] and "2026-02-08 08:00 UTC" in notice[0]
    assert ticket.sla_row_key == "technical_out_of_hours_first"
    tuesday = datetime(2026, 2, 10, 15, 0, tzinfo=UTC)  # 10:00 New York
    intake.create_ticket(partner, "technical", "Day question", "A question.", details, now=tuesday)
    assert len(slack_texts()) == 1, "in business hours the deadline is hours away: no notice"


def test_a_problem_that_persists_goes_to_the_second_contact_at_once(matrix, open_ticket):
    received = datetime(2026, 2, 7, 8, 0, tzinfo=UTC)  # Saturday 03:00 New York
    ticket = open_ticket(now=received)
    make_overdue(ticket, "technical_out_of_hours_first", received)
    hour_ten = received + timedelta(hours=10)
    assert sla_clock.escalate_when_the_problem_persists(ticket, hour_ten)
    db.session.commit()
    assert ticket.second_contact_at == hour_ten and ticket.sla_row_key == "technical_out_of_hours_second"
    assert ticket.sla_due_at == received + timedelta(hours=48) and ticket.tier == 2
    assert "el partner dice que el problema persiste" in slack_texts()[-1]
    assert not sla_clock.escalate_when_the_problem_persists(ticket, hour_ten), "once"
    business = open_ticket(subject="In business hours", now=BUSINESS_HOURS_MOMENT)
    make_overdue(business, "technical_business_hours", BUSINESS_HOURS_MOMENT)
    assert not sla_clock.escalate_when_the_problem_persists(business), "only out-of-hours tickets"


def test_monitor_notifies_once_with_two_workers(app, matrix, open_ticket):
    received = BUSINESS_HOURS_MOMENT
    tickets = [open_ticket(subject=f"Concurrent {n}", now=received) for n in range(12)]
    for ticket in tickets:
        make_overdue(ticket, "technical_business_hours", received)
    later = received + timedelta(hours=4)
    results, barrier = [], threading.Barrier(2)

    def worker():
        with app.app_context():
            barrier.wait()
            results.append(sla_clock.check(now=later))
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result["breached"] for result in results) == 12
    db.session.expire_all()
    assert db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.target == "slack")) == 12


MALFORMED = [
    ("rows: []", "non-empty list"),
    ("rows:\n  - {request_type: technical}", "`key` is required"),
    ("rows:\n  - {key: a, request_type: nope}", "request_type must be one of"),
    ("rows:\n  - {key: a, request_type: technical, applies: sometimes}", "applies must be one of"),
    ("rows:\n  - {key: a, request_type: technical, applies: any, target: {kind: weekly}}", "target.kind"),
    ("rows:\n  - {key: a, request_type: technical, applies: any, target: {kind: elapsed, hours: x}}", "numeric"),
    (
        "rows:\n  - {key: a, request_type: technical, applies: any, target: {kind: business_hours, warn_hours: 4, due_hours: 3}}",
        "warning before due",
    ),
    (
        "rows:\n  - {key: a, request_type: technical, applies: any, target: {kind: elapsed, hours: 24}, area: Ops, contact: {name: X}}",
        "contact needs",
    ),
    ("rows: [\n", "not valid YAML"),
]


@pytest.mark.parametrize("text,message", MALFORMED)
def test_matrix_import_rejects_malformed_rows(app, matrix, tmp_path, text, message):
    path = tmp_path / "matrix.yaml"
    path.write_text(text)
    result = app.test_cli_runner().invoke(args=["sla", "import-matrix", str(path)])
    assert result.exit_code == 1 and message in result.output
    assert len(sla.rows()) == 5, "a malformed file changes nothing"


def test_matrix_import_cli_and_idempotence(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["sla", "import-matrix", str(ROOT / "content" / "escalation_matrix.yaml")])
    assert first.exit_code == 0 and "5 rows" in first.output
    runner.invoke(args=["sla", "import-matrix", str(ROOT / "content" / "escalation_matrix.yaml")])
    assert len(sla.rows()) == 5


def test_sla_check_command(app, matrix):
    result = app.test_cli_runner().invoke(args=["sla", "check"])
    assert result.exit_code == 0 and "0 breached" in result.output


def test_sla_package_knows_no_tickets_and_no_outbox():
    """The SLA package keeps deadlines; tickets apply them (`portal.tickets.sla_clock`)."""
    imported = set()
    for path in (ROOT / "portal" / "sla").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
    assert imported, "the scan found the package's imports"
    assert not [name for name in imported if name.startswith(("portal.tickets", "portal.integrations"))]


def test_contacts_page_renders_the_matrix(client, login_as, matrix):
    login_as("partner")
    page = client.get("/tickets/contacts").get_data(as_text=True)
    assert "Constantine Costopoulos" in page and "agustin@edye.com" in page and "Maximiliano Vaccaro" in page
    assert "2–3 horas hábiles" in page and "48 horas" in page


MATRIX_ROW_FIELDS = (
    "target_kind warn_hours due_hours area contact_name contact_role contact_email contact_phone channel"
)


def matrix_row_form(*values: str) -> dict:
    """The form the SLA screen posts for a matrix row, its values in the order of MATRIX_ROW_FIELDS."""
    return dict(zip(MATRIX_ROW_FIELDS.split(), values, strict=True))


def test_admin_edits_a_row_and_the_calendar_audited(client, login_as, matrix):
    from portal.core.audit import AuditEntry

    login_as("ticket_admin")
    row = matrix["marketing_business"]
    data = matrix_row_form("elapsed", "0", "12", "Mercadeo", "M. V.", "VP", "mv@hitn.org", "+1 305", "Slack")
    assert client.post(f"/admin/sla/rows/{row.id}", data=data).status_code == 302
    assert row.due_hours == 12 and row.warn_hours == 9 and row.contact_name == "M. V."
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "sla.row_updated"))
    assert entry.before["due_hours"] == 24 and entry.after["due_hours"] == 12
    bad = client.post(f"/admin/sla/rows/{row.id}", data={**data, "due_hours": "many"})
    assert bad.status_code == 422 and row.due_hours == 12
    calendar_form = {f"open_{day}": "08:00" for day in range(5)} | {f"close_{day}": "17:00" for day in range(5)}
    calendar_form["holidays"] = "2026-12-26 Boxing Day\n"
    calendar_form["us_federal"] = "y"
    assert client.post("/admin/sla/calendar", data=calendar_form).status_code == 302
    cal = sla.calendar()
    assert cal.is_business_time(local("2026-03-04 08:30")) and not cal.is_business_time(local("2026-03-04 17:30"))
    assert cal.is_holiday(datetime(2026, 12, 26).date())
    assert client.post("/admin/sla/calendar", data={"open_0": "25:00", "close_0": "18:00"}).status_code == 422
    assert client.post("/admin/sla/calendar", data={}).status_code == 422
    assert sla.calendar().is_business_time(local("2026-03-04 08:30"))


@pytest.fixture
def english_admin(client, login_as):
    # English: the new messages are checked by their msgid, translated or not yet.
    login_as("ticket_admin", language="en")
    return client


WEEK = {f"open_{day}": "09:00" for day in range(5)} | {f"close_{day}": "18:00" for day in range(5)}


@pytest.mark.parametrize(
    "change,field,message",
    [
        ({"close_0": "08:00"}, "close_0", "Closing must be later than opening."),
        ({"close_2": "09:00"}, "close_2", "Closing must be later than opening."),
        ({"close_1": ""}, "close_1", "Give both the opening and the closing time, or neither."),
        ({"open_6": "10:00"}, "close_6", "Give both the opening and the closing time, or neither."),
        ({"open_3": "25:00"}, "open_3", "Use HH:MM, e.g. 09:00."),
        ({"open_3": "09:00+05:00"}, "open_3", "Use HH:MM, e.g. 09:00."),
        ({"open_3": "9:00"}, "open_3", "Use HH:MM, e.g. 09:00."),
        ({"holidays": "2026-02-30 Nope"}, "holidays", "YYYY-MM-DD"),
        ({"holidays": "20261224 Compact"}, "holidays", "YYYY-MM-DD"),
        ({"holidays": "2026-12-24 " + "N" * 101}, "holidays", "At most 100 characters."),
    ],
)
def test_business_hours_that_make_no_sense_are_refused_on_their_field(english_admin, change, field, message):
    before = dict(sla.settings().business_hours)
    db.session.commit()
    response = english_admin.post("/admin/sla/calendar", data={**WEEK, **change})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field}" name="{field}"' in page and f'aria-describedby="{field}-error"' in page
    assert f'<small id="{field}-error" class="field-error">' in page and message in page
    assert sla.settings().business_hours == before


@pytest.mark.parametrize(
    "change,field",
    [
        ({"due_hours": "-3"}, "due_hours"),
        ({"due_hours": "nan"}, "due_hours"),
        ({"due_hours": "inf"}, "due_hours"),
        ({"due_hours": "100000"}, "due_hours"),
        ({"warn_hours": "5", "due_hours": "3"}, "warn_hours"),
        ({"warn_hours": "0"}, "warn_hours"),
        ({"contact_name": "\u200b "}, "contact_name"),
        ({"contact_phone": "5" * 61}, "contact_phone"),
        ({"area": "A" * 121}, "area"),
    ],
)
def test_matrix_rows_that_make_no_sense_are_refused_on_their_field(english_admin, matrix, change, field):
    row = matrix["technical_business_hours"]
    values = matrix_row_form("business_hours", "2", "3", "Soporte", "C. C.", "Ops", "cc@edye.com", "+1", "Slack")
    response = english_admin.post(f"/admin/sla/rows/{row.id}", data={**values, **change})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'aria-describedby="row-{row.id}-{field}-error"' in page and '<details class="sla-row" open>' in page
    db.session.expire_all()
    assert row.due_hours == 3 and row.contact_name == "Constantine Costopoulos"
