"""The reports of §14: due at the configured local time and not before, posted once per period to
the fake Slack and the fake Monday through the outbox, kept on the Reports page (administrator and
VP), and never twice even when two workers race."""

from __future__ import annotations

import itertools
import re
import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from auth import services as auth_services
from portal import create_app
from portal.core.config import ConfigError
from portal.core.extensions import db
from portal.integrations.models import OutboxMessage, Target
from portal.integrations.outbox import Deliverer
from portal.reports import posting, schedule, texts
from portal.reports.models import PostedReport, ReportKind
from portal.tickets.models import Ticket
from tests.conftest import login, run_cli

NEW_YORK = ZoneInfo("America/New_York")
REPORT_ITEM = "777001"
REPORTS_ON = {
    "REPORTS_DAILY_AT": "08:00",
    "REPORTS_WEEKLY_AT": "08:30",
    "REPORTS_TIMEZONE": "America/New_York",
    "MONDAY_REPORTS_ITEM_ID": REPORT_ITEM,
}
FRIDAY = date(2026, 11, 20)  # its daily report counts Thursday 19 November
MONDAY = date(2026, 11, 23)  # its weekly report counts 16–22 November


def at(day: date, clock: str) -> datetime:
    """`clock` o'clock on `day` in New York, as UTC."""
    hours, minutes = map(int, clock.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=NEW_YORK).astimezone(UTC)


@pytest.fixture
def app_config():
    return REPORTS_ON


@pytest.fixture
def received(app, make_user):
    """Create a ticket received at a moment (UTC) for an organization, with its deadline and answer."""
    numbers = itertools.count(1)
    requesters = {}

    def make(created, organization="Org A", request_type="technical", due_hours=24, answered_hours=None, agent=None):
        if organization not in requesters:
            org = auth_services.find_or_create_organization(None, organization)
            requesters[organization] = make_user("partner", organization=org)
        requester = requesters[organization]
        ticket = Ticket(
            reference=f"EDY-{next(numbers):06d}",
            organization_id=requester.organization_id,
            requester_id=requester.id,
            form="marketing_business" if request_type == "marketing_business" else "technical",
            subject="s",
            description="d",
            request_type=request_type,
            created_at=created,
            updated_at=created,
            sla_due_at=created + timedelta(hours=due_hours),
            first_response_at=created + timedelta(hours=answered_hours) if answered_hours is not None else None,
            first_responder_id=agent.id if agent and answered_hours is not None else None,
            assignee_id=agent.id if agent else None,
        )
        db.session.add(ticket)
        db.session.commit()
        return ticket

    return make


def reports() -> list[PostedReport]:
    return list(db.session.scalars(select(PostedReport).order_by(PostedReport.id)))


def messages() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


# When ---------------------------------------------------------------------------------------


def test_reports_are_off_until_their_time_is_configured(app, received):
    received(at(FRIDAY, "01:00") - timedelta(days=1))
    app.config.update(REPORTS_DAILY_AT="", REPORTS_WEEKLY_AT="")
    assert schedule.due_periods(at(MONDAY, "23:59")) == []
    assert posting.post_due(at(MONDAY, "23:59")) == []
    assert reports() == [] and messages() == []


def test_due_periods_at_and_after_the_local_time_never_before(app):
    app.config.update(REPORTS_WEEKLY_AT="")
    assert schedule.due_periods(at(FRIDAY, "07:59")) == []
    (daily,) = schedule.due_periods(at(FRIDAY, "08:00"))
    assert (daily.kind, daily.start) == (ReportKind.DAILY, date(2026, 11, 19))
    assert schedule.due_periods(at(FRIDAY, "23:59"))[0].start == date(2026, 11, 19)
    app.config.update(REPORTS_DAILY_AT="", REPORTS_WEEKLY_AT="08:30")
    assert schedule.due_periods(at(MONDAY, "08:29")) == []
    (weekly,) = schedule.due_periods(at(MONDAY, "08:30"))
    assert (weekly.kind, weekly.start, weekly.last_day) == (ReportKind.WEEKLY, date(2026, 11, 16), date(2026, 11, 22))
    # A worker that was down on Monday morning still posts last week's report later that week.
    assert schedule.due_periods(at(MONDAY + timedelta(days=4), "07:00"))[0].start == date(2026, 11, 16)


def test_periods_are_local_days_across_a_dst_change(app):
    """1 November 2026 in New York has 25 hours (EDT → EST)."""
    day = schedule.Period(ReportKind.DAILY, date(2026, 11, 1), NEW_YORK)
    assert day.since == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    assert day.until == datetime(2026, 11, 2, 5, 0, tzinfo=UTC)
    app.config.update(REPORTS_WEEKLY_AT="")
    assert schedule.due_periods(datetime(2026, 11, 2, 12, 59, tzinfo=UTC)) == []  # 07:59 EST
    assert schedule.due_periods(datetime(2026, 11, 2, 13, 0, tzinfo=UTC))[0].start == date(2026, 11, 1)


@pytest.mark.parametrize(
    ("setting", "value"),
    [("REPORTS_DAILY_AT", "8am"), ("REPORTS_WEEKLY_AT", "24:00"), ("REPORTS_TIMEZONE", "Mars/Olympus_Mons")],
)
def test_a_report_setting_that_means_nothing_refuses_to_start(monkeypatch, tmp_path, setting, value):
    monkeypatch.setenv(setting, value)
    with pytest.raises(ConfigError, match=setting):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3"})
    monkeypatch.setenv(setting, "America/Bogota" if setting == "REPORTS_TIMEZONE" else "07:30")
    assert create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3"}).config[setting]


# What and where ---------------------------------------------------------------------------------


def test_daily_report_posts_yesterdays_tickets_once_to_slack_and_monday(app, received, fake_slack, fake_monday):
    app.config.update(REPORTS_WEEKLY_AT="")
    thursday = date(2026, 11, 19)
    received(at(thursday, "00:00"))
    received(at(thursday, "10:00"), request_type="day_to_day")
    received(at(thursday, "23:59"), organization="Org B")  # 04:59 UTC on Friday: still Thursday in New York
    received(at(thursday, "00:00") - timedelta(minutes=1))  # Wednesday
    received(at(FRIDAY, "00:00"))  # Friday

    assert posting.post_due(at(FRIDAY, "07:59")) == []
    assert reports() == [] and messages() == []
    (report,) = posting.post_due(at(FRIDAY, "08:00"))
    assert (report.kind, report.period_start) == ("daily", thursday)
    assert report.figures == {
        "by_type": {"day_to_day": 1, "technical": 2, "marketing_business": 0},
        "total": 3,
    }
    assert posting.post_due(at(FRIDAY, "09:00")) == []  # the same day is never posted twice

    assert Deliverer().run_pass() == 2
    (slack,) = fake_slack.messages
    assert slack["text"] == texts.for_slack(report.text) and ": 3" in slack["text"]
    assert fake_monday.calls == [("create_update", {"item": REPORT_ITEM, "body": texts.for_monday(report.text)})]
    (kept,) = reports()
    assert kept.slack_posted_at is not None and kept.monday_posted_at is not None


def test_weekly_report_counts_sla_per_agent_and_per_organization(app, received, make_user, fake_slack):
    app.config.update(REPORTS_DAILY_AT="", MONDAY_REPORTS_ITEM_ID="")
    agent = make_user("agent_l1", name="Luis <Uno>")
    tuesday = date(2026, 11, 17)
    received(at(tuesday, "10:00"), answered_hours=2, agent=agent)  # met
    received(at(tuesday, "11:00"), answered_hours=30, agent=agent)  # answered late: breached
    received(at(tuesday, "12:00"), organization="Org B", request_type="marketing_business")  # unanswered, past due
    received(at(date(2026, 11, 22), "23:00"), organization="Org B", due_hours=48)  # Sunday, deadline not passed yet
    received(at(date(2026, 11, 15), "23:00"), answered_hours=1, agent=agent)  # the week before
    received(at(MONDAY, "00:30"), answered_hours=1, agent=agent)  # this week

    assert posting.post_due(at(MONDAY, "08:29")) == []
    (report,) = posting.post_due(at(MONDAY, "08:30"))
    assert (report.kind, report.period_start) == ("weekly", date(2026, 11, 16))
    by_name = sorted(report.figures["agents"], key=lambda row: row["name"])
    assert by_name == sorted(
        [
            {"name": "Luis <Uno>", "request_type": "technical", "met": 1, "breached": 1},
            {"name": "—", "request_type": "marketing_business", "met": 0, "breached": 1},
        ],
        key=lambda row: row["name"],
    )
    assert report.figures["organizations"] == [
        {"name": "Org A", "request_type": "technical", "met": 1, "breached": 1},
        {"name": "Org B", "request_type": "marketing_business", "met": 0, "breached": 1},
    ]
    assert [m.target for m in messages()] == [Target.SLACK.value]  # no report item: Slack only
    assert Deliverer().run_pass() == 1
    (slack,) = fake_slack.messages
    assert "Luis &lt;Uno&gt;" in slack["text"] and "Org B" in slack["text"] and "1 de 2" in slack["text"]


def test_the_worker_posts_and_delivers_the_due_report(app, received, fake_slack, fake_monday):
    """`flask worker --once` at the real time: a report due at 00:00 is always due."""
    app.config.update(REPORTS_DAILY_AT="00:00", REPORTS_WEEKLY_AT="")
    result = run_cli(app, "worker", "--once")
    assert result.exit_code == 0, result.output
    yesterday = (datetime.now(NEW_YORK) - timedelta(days=1)).date()
    (report,) = reports()
    assert (report.kind, report.period_start) == ("daily", yesterday)
    # The pass delivers before its jobs run, so the report goes out with the next pass.
    assert fake_slack.messages == [] and len(messages()) == 2
    assert run_cli(app, "worker", "--once").exit_code == 0
    assert len(reports()) == 1 and len(messages()) == 2
    assert [m["text"] for m in fake_slack.messages] == [texts.for_slack(report.text)]
    assert [name for name, _ in fake_monday.calls] == ["create_update"]


# Two workers at once ------------------------------------------------------------------------------


def test_two_workers_racing_post_one_report_and_one_message_per_channel(app, received):
    """Both workers see no report, compute it and insert it at the same moment: one row, one
    Slack and one Monday message; the other worker changes nothing."""
    app.config.update(REPORTS_WEEKLY_AT="")
    received(at(date(2026, 11, 19), "10:00"))
    both_inserting = threading.Barrier(2, timeout=20)

    def hold_until_both_insert(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO POSTED_REPORTS"):
            both_inserting.wait()

    results, errors = [], []

    def worker():
        try:
            with app.app_context():
                results.append(len(posting.post_due(at(FRIDAY, "08:00"))))
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    sa.event.listen(db.engine, "before_cursor_execute", hold_until_both_insert)
    try:
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", hold_until_both_insert)
    db.session.expire_all()
    assert errors == [] and sorted(results) == [0, 1]
    (report,) = reports()
    assert (report.kind, report.period_start) == ("daily", date(2026, 11, 19))
    per_channel = dict(
        db.session.execute(select(OutboxMessage.target, func.count()).group_by(OutboxMessage.target)).all()
    )
    assert per_channel == {Target.SLACK.value: 1, Target.MONDAY.value: 1}


# The Reports page ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 302), ("partner", 403), ("agent_l1", 403), ("agent_l2", 403), ("vp", 200), ("ticket_admin", 200)],
)
def test_who_may_read_the_reports_page(client, make_user, role, status):
    if role != "anonymous":
        assert login(client, make_user(role).email).status_code == 302
    assert client.get("/staff/reports").status_code == status


def test_reports_page_lists_the_posted_reports_newest_first(app, client, login_as, received):
    received(at(date(2026, 11, 19), "10:00"), organization="<b>Org</b>")
    app.config.update(REPORTS_WEEKLY_AT="")
    (first,) = posting.post_due(at(FRIDAY, "08:00"))  # the daily report of 19 November
    app.config.update(REPORTS_WEEKLY_AT="08:30")
    second, third = posting.post_due(at(MONDAY, "08:30"))  # the daily report of 22 November, the weekly one
    login_as("vp")
    page = client.get("/staff/reports").get_data(as_text=True)
    assert re.findall(r'id="report-(\d+)"', page) == [str(r.id) for r in (third, second, first)]
    assert str(ReportKind.WEEKLY.label) in page and str(ReportKind.DAILY.label) in page
    assert "&lt;b&gt;Org&lt;/b&gt;" in page and "<b>Org</b>" not in page
    fragment = client.get("/staff/reports?page=x", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<h1>" not in fragment and f'id="report-{third.id}"' in fragment


def test_the_staff_home_links_the_reports_for_their_readers_only(clients):
    for name, shown in (("admin", True), ("vp", True), ("l1", False)):
        page = clients[name].get("/admin/").get_data(as_text=True)
        assert ("/staff/reports" in page) is shown, name
        assert "/staff/kb-follow-up" in page
