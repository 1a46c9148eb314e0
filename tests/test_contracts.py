"""Contracts per partner (§4: SLAs "definidos internamente o mediante contratos con los partners"):
an organization's own first-response hours per matrix row drive its deadlines, the monitor, the
second contact and every promise its partners read; the administrator sets them, audited. And the
marketing and business area's contact hears of its tickets on arrival (§8)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from auth import services as auth_services
from portal.core.audit import AuditEntry
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations.models import OutboxMessage
from portal.integrations.outbox import Deliverer
from portal.sla import services as sla
from portal.sla.models import ContractTarget
from portal.sla.targets import contract, contract_field, update_contract
from portal.tickets import intake, sla_clock
from portal.tickets.models import MARKETING_DETAILS, TECHNICAL_DETAILS
from tests.conftest import TECHNICAL, login

SATURDAY_3AM_NY = datetime(2026, 2, 7, 8, 0, tzinfo=UTC)
WEDNESDAY_10AM_NY = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
MARKETING = {"topic": "Co-marketing"}


@pytest.fixture
def organizations(app):
    return {
        "contracted": auth_services.find_or_create_organization(None, "Contracted Media"),
        "standard": auth_services.find_or_create_organization(None, "Standard Media"),
    }


@pytest.fixture
def partners(make_user, organizations):
    return {
        name: make_user("partner", email=f"{name}@partner.test", organization=organization)
        for name, organization in organizations.items()
    }


def sign(organization, matrix, **hours_by_key):
    """Give `organization` a contract through the service: hours by matrix row key."""
    typed = {matrix[key].id: str(hours) for key, hours in hours_by_key.items()}
    return update_contract(None, organization, typed)


def marketing_ticket(partner, now=None):
    details = {key: MARKETING.get(key, "") for key in MARKETING_DETAILS}
    return intake.create_ticket(partner, "marketing_business", "Co-marketing", "Key art, please.", details, now=now)


def technical_ticket(partner, now):
    details = {key: TECHNICAL[key] for key in TECHNICAL_DETAILS}
    return intake.create_ticket(partner, "technical", "Night outage", "Nothing plays.", details, now=now)


def slack_texts():
    statement = select(OutboxMessage).where(OutboxMessage.target == "slack").order_by(OutboxMessage.id)
    return [message.payload["text"] for message in db.session.scalars(statement)]


# Service -------------------------------------------------------------------------------------


def test_a_contract_changes_the_deadline_and_without_one_the_matrix_applies(matrix, organizations):
    contracted, standard = organizations["contracted"], organizations["standard"]
    sign(contracted, matrix, marketing_business=12, technical_business_hours=4)
    received = WEDNESDAY_10AM_NY
    mine = sla.due("marketing_business", received, contracted.id)
    assert mine.due_at == received + timedelta(hours=12) and mine.warn_at == received + timedelta(hours=9)
    assert mine.target.contracted and mine.row.key == "marketing_business"
    for organization_id in (standard.id, None):
        theirs = sla.due("marketing_business", received, organization_id)
        assert theirs.due_at == received + timedelta(hours=24) and not theirs.target.contracted
    # Business hours stay business hours: 10:00 + 4 h is 14:00 New York, the warning at 2/3 as the row's.
    technical = sla.due("technical", received, contracted.id)
    assert technical.due_at == received + timedelta(hours=4)
    assert technical.warn_at == received + timedelta(hours=4 * 2 / 3)
    assert sla.due("technical", received, standard.id).due_at == received + timedelta(hours=3)
    assert sla.response_time(technical.target) == "4 horas de horario comercial"


def test_a_ticket_takes_its_organizations_contract_and_the_monitor_follows_it(matrix, organizations, partners):
    sign(organizations["contracted"], matrix, marketing_business=12)
    received = WEDNESDAY_10AM_NY
    mine, theirs = marketing_ticket(partners["contracted"], received), marketing_ticket(partners["standard"], received)
    assert mine.sla_due_at == received + timedelta(hours=12)
    assert theirs.sla_due_at == received + timedelta(hours=24)
    assert sla_clock.check(now=received + timedelta(hours=12, minutes=1)) == {
        "at_risk": 0,
        "breached": 1,
        "second_contact": 0,
    }
    assert mine.sla_state == "breached" and theirs.sla_state == "on_track"


def test_the_second_contact_counts_the_contracts_hours_from_reception(matrix, organizations, partners, app):
    contracted = organizations["contracted"]
    sign(contracted, matrix, technical_out_of_hours_first=12, technical_out_of_hours_second=30)
    second = sla.second_contact_due("technical", SATURDAY_3AM_NY, contracted.id)
    assert second.due_at == SATURDAY_3AM_NY + timedelta(hours=30) and second.target.contracted
    assert sla.second_contact_due("technical", SATURDAY_3AM_NY).due_at == SATURDAY_3AM_NY + timedelta(hours=48)

    mine = technical_ticket(partners["contracted"], SATURDAY_3AM_NY)
    theirs = technical_ticket(partners["standard"], SATURDAY_3AM_NY)
    assert mine.sla_due_at == SATURDAY_3AM_NY + timedelta(hours=12)
    assert "(12 h desde la recepción)" in slack_texts()[0] and "(24 h desde la recepción)" in slack_texts()[1]
    # At hour 12 the contracted ticket goes to the second contact; the other is not even at risk.
    hour_twelve = SATURDAY_3AM_NY + timedelta(hours=12, minutes=1)
    assert sla_clock.check(now=hour_twelve)["second_contact"] == 1
    assert mine.sla_row_key == "technical_out_of_hours_second" and mine.tier == 2
    assert mine.sla_due_at == SATURDAY_3AM_NY + timedelta(hours=30)
    assert theirs.sla_row_key == "technical_out_of_hours_first" and theirs.sla_state == "on_track"
    alert = slack_texts()[-1]
    assert "sin primera respuesta tras 12 h" in alert and "(30 h desde la recepción)" in alert
    # The problem persisting sends the other ticket on with the matrix's 48 h.
    assert sla_clock.escalate_when_the_problem_persists(theirs, SATURDAY_3AM_NY + timedelta(hours=13))
    db.session.commit()
    assert theirs.sla_due_at == SATURDAY_3AM_NY + timedelta(hours=48)


def test_sla_due_command_reads_an_organizations_contract(app, matrix, organizations):
    contracted = organizations["contracted"]
    sign(contracted, matrix, technical_out_of_hours_first=12, technical_out_of_hours_second=30)
    base = ["sla", "due", "--category", "technical", "--received", "2026-02-07T03:00:00-05:00", "--json"]
    result = app.test_cli_runner().invoke(args=[*base, "--organization", str(contracted.id)])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["due_at"] == "2026-02-07T15:00:00-05:00" and answer["contract"] is True
    assert answer["second_contact_due_at"] == "2026-02-08T09:00:00-05:00"
    other = json.loads(
        app.test_cli_runner().invoke(args=[*base, "--organization", str(organizations["standard"].id)]).output
    )
    assert other["due_at"] == "2026-02-08T03:00:00-05:00" and other["contract"] is False
    assert app.test_cli_runner().invoke(args=[*base, "--organization", "0"]).exit_code == 2


def test_contract_hours_are_checked_before_anything_changes_and_audited(matrix, organizations, make_user):
    admin = make_user("ticket_admin")
    contracted = organizations["contracted"]
    marketing, second = matrix["marketing_business"], matrix["technical_out_of_hours_second"]
    update_contract(admin, contracted, {marketing.id: "12", second.id: "36"})
    assert contract(contracted.id) == {marketing.id: 12, second.id: 36}
    for bad in ("0", "-2", "many", "nan", "inf", "721"):
        with pytest.raises(InvalidInput) as refused:
            update_contract(admin, contracted, {marketing.id: "6", second.id: bad})
        assert refused.value.field == contract_field(second.id)
        db.session.rollback()
        assert contract(contracted.id) == {marketing.id: 12, second.id: 36}, "nothing half-saved"
    update_contract(admin, contracted, {marketing.id: "", second.id: " 40 "})
    assert contract(contracted.id) == {second.id: 40}
    entries = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "sla.contract_updated")))
    assert [(entry.before, entry.after) for entry in entries] == [
        ({}, {"marketing_business": 12, "technical_out_of_hours_second": 36}),
        ({"marketing_business": 12, "technical_out_of_hours_second": 36}, {"technical_out_of_hours_second": 40}),
    ]
    assert entries[0].target_type == "Organization" and entries[0].target_id == contracted.id
    update_contract(admin, contracted, {second.id: "40"})
    assert db.session.query(AuditEntry).filter_by(action="sla.contract_updated").count() == 2, "no change, no entry"


def test_a_matrix_row_that_goes_takes_its_contract_hours_with_it(matrix, organizations, tmp_path):
    sign(organizations["contracted"], matrix, marketing_business=12, day_to_day=5)
    shorter = tmp_path / "matrix.yaml"
    text = (Path(__file__).resolve().parent.parent / "content" / "escalation_matrix.yaml").read_text(encoding="utf-8")
    shorter.write_text(text.split("  - key: marketing_business")[0], encoding="utf-8")
    sla.import_matrix(shorter)
    assert list(db.session.scalars(select(ContractTarget.due_hours))) == [5]


# The marketing area told on arrival -----------------------------------------------------------


def test_the_marketing_areas_contact_hears_of_a_ticket_on_arrival(matrix, partners, fake_zendesk, fake_slack):
    ticket = marketing_ticket(partners["standard"], WEDNESDAY_10AM_NY)
    technical_ticket(partners["standard"], WEDNESDAY_10AM_NY)
    for _ in range(3):  # each ticket's Zendesk creation goes out before its Slack message
        Deliverer().run_pass(now=utcnow())
    assert len(fake_slack.messages) == 1, "a technical ticket in business hours tells nobody at once"
    text = fake_slack.messages[0]["text"]
    row = matrix["marketing_business"]
    assert ticket.reference in text and "— Mercadeo y Negocio:" in text
    assert row.contact_name == "Maximiliano Vaccaro" and row.contact_name in text and row.contact_email in text
    assert "(24 h desde la recepción)" in text


# Screens ---------------------------------------------------------------------------------------


def contract_form(matrix, **hours_by_key) -> dict:
    form = {contract_field(row.id): "" for row in matrix.values()}
    form.update({contract_field(matrix[key].id): str(hours) for key, hours in hours_by_key.items()})
    return form


def test_the_administrator_sets_and_clears_a_contract(client, login_as, matrix, organizations):
    login_as("ticket_admin", language="en")
    contracted = organizations["contracted"]
    url = f"/admin/organizations/{contracted.id}/contract"
    page = client.get(f"/admin/organizations/{contracted.id}/edit").get_data(as_text=True)
    assert "Contract response times" in page and "Matrix: 2–3 business hours" in page and "Matrix: 48 hours" in page
    response = client.post(url, data=contract_form(matrix, marketing_business=12))
    assert response.status_code == 302 and response.location.endswith(f"/admin/organizations/{contracted.id}/edit")
    assert contract(contracted.id) == {matrix["marketing_business"].id: 12}
    page = client.get(f"/admin/organizations/{contracted.id}/edit").get_data(as_text=True)
    assert f'name="{contract_field(matrix["marketing_business"].id)}" type="text" value="12"' in page
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "sla.contract_updated"))
    assert entry.after == {"marketing_business": 12} and entry.target_label == "Contracted Media"
    assert client.post(url, data=contract_form(matrix)).status_code == 302
    assert contract(contracted.id) == {}


@pytest.mark.parametrize(
    "hours,message", [("0", "more than zero"), ("-1", "more than zero"), ("soon", "numbers"), ("1000", "At most 720")]
)
def test_bad_contract_hours_are_refused_on_their_field(client, login_as, matrix, organizations, hours, message):
    login_as("ticket_admin", language="en")
    contracted = organizations["contracted"]
    field = contract_field(matrix["technical_out_of_hours_first"].id)
    data = contract_form(matrix, marketing_business=12, technical_out_of_hours_first=hours)
    response = client.post(f"/admin/organizations/{contracted.id}/contract", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and message in page
    assert f'aria-describedby="{field}-error"' in page and f'value="{hours}"' in page, "the typed text stays"
    assert contract(contracted.id) == {}
    assert db.session.scalar(select(AuditEntry.id).where(AuditEntry.action == "sla.contract_updated")) is None


@pytest.mark.parametrize("role", ["agent_l1", "vp", "partner"])
def test_only_the_administrator_sets_contracts(client, login_as, matrix, organizations, role):
    login_as(role)
    contracted = organizations["contracted"]
    data = contract_form(matrix, marketing_business=1)
    assert client.post(f"/admin/organizations/{contracted.id}/contract", data=data).status_code == 403
    assert contract(contracted.id) == {}


def test_each_partner_reads_its_own_organizations_times(app, matrix, organizations, partners):
    sign(organizations["contracted"], matrix, marketing_business=12, technical_out_of_hours_first=10)
    pages = {}
    for name, partner in partners.items():
        client = app.test_client()
        assert login(client, partner.email).status_code == 302
        ticket = marketing_ticket(partner)
        pages[name] = {
            "choose": client.get("/tickets/new").get_data(as_text=True),
            "created": client.get(f"/tickets/{ticket.id}/created").get_data(as_text=True),
            "detail": client.get(f"/tickets/{ticket.id}").get_data(as_text=True),
            "contacts": client.get("/tickets/contacts").get_data(as_text=True),
        }
    mine, theirs = pages["contracted"], pages["standard"]
    assert "12 horas" in mine["choose"] and "10 horas (fuera del horario comercial" in mine["choose"]
    assert "24 horas" not in mine["choose"]
    assert "responderá en un plazo de 12 horas" in mine["created"] and "12 horas" in mine["detail"]
    assert "12 horas" in mine["contacts"] and "10 horas" in mine["contacts"] and "48 horas" in mine["contacts"]
    assert theirs["choose"].count("24 horas") == 2 and "12 horas" not in theirs["choose"]
    assert "responderá en un plazo de 24 horas" in theirs["created"] and "12 horas" not in theirs["contacts"]
