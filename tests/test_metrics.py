"""Dashboard figures equal a brute-force count over a random dataset; CSV export; the page."""

from __future__ import annotations

import csv
import io
import math
import random
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from admin import metrics
from auth import services as auth_services
from auth.models import Organization, User
from portal.core.extensions import db
from portal.reports import figures
from portal.tickets.models import Ticket

NOW = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)


@pytest.fixture
def dataset(app, make_user):
    rng = random.Random(42)
    org_a = auth_services.find_or_create_organization(None, "Org A")
    org_b = auth_services.create_organization(None, "Org B")
    requester = make_user("partner", organization=org_a)
    agents = [make_user("agent_l1", name=f"Agent {n}") for n in range(3)]
    rows = []
    for number in range(400):
        created = NOW - timedelta(minutes=rng.randint(0, 40 * 24 * 60))
        request_type = rng.choice(["day_to_day", "technical", "marketing_business", None])
        due = created + timedelta(hours=rng.choice([3, 24]))
        responded = created + timedelta(minutes=rng.randint(5, 3000)) if rng.random() < 0.8 else None
        if responded and responded > NOW:
            responded = None
        rows.append(
            Ticket(
                reference=f"EDY-{number + 1:06d}",
                organization_id=rng.choice([org_a.id, org_b.id]),
                requester_id=requester.id,
                form="marketing_business" if request_type == "marketing_business" else "technical",
                subject="s",
                description="d",
                status=rng.choice(["new", "assigned_l1", "closed", "assigned_l2"]),
                request_type=request_type,
                tier=rng.choice([1, 2, 3]),
                created_at=created,
                updated_at=created,
                sla_due_at=due,
                first_response_at=responded,
                first_responder_id=rng.choice(agents).id if responded else None,
                assignee_id=rng.choice(agents).id,
            )
        )
    db.session.add_all(rows)
    db.session.commit()
    return list(db.session.scalars(select(Ticket)))


def kind(ticket):
    return ticket.request_type or ("marketing_business" if ticket.form == "marketing_business" else "technical")


def test_tickets_per_day_equals_brute_force(app, dataset):
    zone = ZoneInfo(app.config["PORTAL_TIMEZONE"])
    counted = figures.tickets_per_day(30, now=NOW)
    assert len(counted) == 30
    first = counted[0].day
    expected = Counter(
        (t.created_at.astimezone(zone).date(), kind(t))
        for t in dataset
        if t.created_at.astimezone(zone).date() >= first
    )
    got = Counter({(f.day, k): v for f in counted for k, v in f.by_type.items() if v})
    assert got == expected
    org_b = next(t.organization_id for t in dataset if t.organization.name == "Org B")
    only_b = figures.tickets_per_day(30, organization_id=org_b, now=NOW)
    assert sum(f.total for f in only_b) == sum(
        1 for t in dataset if t.organization_id == org_b and t.created_at.astimezone(zone).date() >= first
    )


def expected_sla(dataset, name_of, weeks=8):
    """Met and breached per (UTC week of reception, name_of(ticket), request type), counted one by one."""
    expected = defaultdict(lambda: [0, 0])
    for t in dataset:
        if t.created_at < NOW - timedelta(weeks=weeks):
            continue
        key = (t.created_at.date() - timedelta(days=t.created_at.weekday()), name_of(t), kind(t))
        if t.first_response_at and t.first_response_at <= t.sla_due_at:
            expected[key][0] += 1
        elif (t.first_response_at and t.first_response_at > t.sla_due_at) or (
            not t.first_response_at and t.sla_due_at < NOW
        ):
            expected[key][1] += 1
    return {key: value for key, value in expected.items() if any(value)}


def test_sla_per_agent_week_equals_brute_force(dataset):
    counted = figures.sla_per_agent_week(8, now=NOW)
    got = {(f.week, f.name, f.request_type): [f.met, f.breached] for f in counted}
    assert got == expected_sla(dataset, lambda t: db.session.get(User, t.first_responder_id or t.assignee_id).name)


def test_sla_per_organization_week_equals_brute_force(dataset):
    counted = figures.sla_per_organization_week(8, now=NOW)
    got = {(f.week, f.name, f.request_type): [f.met, f.breached] for f in counted}
    assert got == expected_sla(dataset, lambda t: t.organization.name)
    assert {name for _, name, _ in got} == {"Org A", "Org B"}
    assert all(f.total == f.met + f.breached and 0 <= f.share <= 1 for f in counted)
    org_b = db.session.scalar(select(Organization.id).where(Organization.name == "Org B"))
    only_b = figures.sla_per_organization_week(8, organization_id=org_b, now=NOW)
    assert only_b == [f for f in counted if f.name == "Org B"]


def test_first_response_percentiles_equal_brute_force(dataset):
    counted = {f.request_type: f for f in metrics.first_response_times(60, now=NOW)}
    by_type = defaultdict(list)
    for t in dataset:
        if t.first_response_at and t.created_at >= NOW - timedelta(days=60):
            by_type[kind(t)].append((t.first_response_at - t.created_at).total_seconds() / 3600)
    for request_type, values in by_type.items():
        values.sort()
        assert counted[request_type].count == len(values)
        assert counted[request_type].median_hours == pytest.approx(values[math.ceil(len(values) * 0.5) - 1], abs=0.01)
        assert counted[request_type].p90_hours == pytest.approx(values[math.ceil(len(values) * 0.9) - 1], abs=0.01)


def test_backlog_equals_brute_force(dataset):
    table = metrics.backlog(now=NOW)
    open_tickets = [t for t in dataset if t.status != "closed"]
    assert sum(sum(row.values()) for row in table.values()) == len(open_tickets)
    for tier in (1, 2, 3):
        assert sum(table[tier].values()) == sum(1 for t in open_tickets if t.tier == tier)
    assert table[1]["> 7 d"] == sum(1 for t in open_tickets if t.tier == 1 and t.created_at < NOW - timedelta(days=7))


def test_dashboard_page_and_csv(client, login_as, dataset):
    login_as("ticket_admin")
    page = client.get("/staff/metrics?days=30").get_data(as_text=True)
    assert "<svg" in page and "<table" in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "two elements of the dashboard share an id"
    response = client.get("/staff/metrics/tickets-per-day.csv?days=30")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert response.mimetype == "text/csv" and rows[0] == [
        "day",
        "day_to_day",
        "technical",
        "marketing_business",
        "total",
    ]
    assert sum(int(row[4]) for row in rows[1:]) == sum(f.total for f in figures.tickets_per_day(30))
    weekly = list(csv.reader(io.StringIO(client.get("/staff/metrics/sla-per-agent-week.csv").get_data(as_text=True))))
    assert weekly[0] == ["week", "agent", "request_type", "met", "breached", "met_share"]
    assert client.get("/staff/metrics/unknown.csv").status_code == 404


def organization_csv(client, query=""):
    response = client.get(f"/staff/metrics/sla-per-organization-week.csv{query}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_dashboard_per_organization_view_filter_and_csv(client, login_as, dataset):
    login_as("vp")
    org_b = db.session.scalar(select(Organization.id).where(Organization.name == "Org B"))
    page = client.get(f"/staff/metrics?organization_id={org_b}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "SLA cumplidos por organización y tipo de solicitud, por semana" in text
    assert f"sla-per-organization-week.csv?organization_id={org_b}" in text
    every = organization_csv(client)
    assert every[0] == ["week", "organization", "request_type", "met", "breached", "met_share"]
    assert {row[1] for row in every[1:]} == {"Org A", "Org B"}
    assert sum(int(row[3]) + int(row[4]) for row in every[1:]) == sum(
        f.total for f in figures.sla_per_organization_week(12)
    )
    only_b = organization_csv(client, f"?organization_id={org_b}")
    assert len(only_b) > 1 and {row[1] for row in only_b[1:]} == {"Org B"}
    assert only_b[1:] == [row for row in every[1:] if row[1] == "Org B"]


@pytest.mark.parametrize(
    "query",
    [
        "?organization_id=abc",
        "?organization_id=-1",
        "?organization_id=99999999999999999999",
        "?days=x&organization_id=",
    ],
)
def test_dashboard_ignores_bad_filters(client, login_as, dataset, query):
    """A filter that cannot be an organization means every organization, never an error."""
    login_as("ticket_admin")
    assert client.get(f"/staff/metrics{query}").status_code == 200
    assert organization_csv(client, query) == organization_csv(client)


def test_dashboard_filter_of_an_unknown_organization_shows_nothing(client, login_as, dataset):
    login_as("ticket_admin")
    assert organization_csv(client, "?organization_id=424242") == [
        ["week", "organization", "request_type", "met", "breached", "met_share"]
    ]
