"""What partners are promised comes from the data: the matrix (and nothing hard-coded) on the
form-choice, created, ticket and contacts pages; no invented company holidays ship."""

from __future__ import annotations

from pathlib import Path

import yaml

from portal.core.extensions import db
from portal.tickets import intake
from portal.tickets.models import MARKETING_DETAILS
from tests.conftest import login

ROOT = Path(__file__).resolve().parent.parent
MARKETING = {"subject": "Co-marketing", "description": "Logos and key art for a campaign.", "topic": "Co-marketing"}


def _marketing_ticket(partner):
    details = {key: MARKETING.get(key, "") for key in MARKETING_DETAILS}
    return intake.create_ticket(partner, "marketing_business", MARKETING["subject"], MARKETING["description"], details)


def test_the_form_choice_states_the_matrix_promises(client, partner, matrix):
    assert login(client, partner.email).status_code == 302
    page = client.get("/tickets/new").get_data(as_text=True)
    assert "2–3 horas hábiles (en horario comercial)" in page
    assert "24 horas (fuera del horario comercial (primer contacto))" in page
    assert page.count("24 horas") == 2, "technical out of hours and marketing"
    assert "48 horas" not in page, "the second contact is an internal escalation, not a promise"


def test_a_changed_matrix_changes_every_promise(client, partner, matrix):
    row = matrix["marketing_business"]
    row.due_hours, row.warn_hours = 12, 9
    db.session.commit()
    ticket = _marketing_ticket(partner)
    assert login(client, partner.email).status_code == 302
    assert "12 horas" in client.get("/tickets/new").get_data(as_text=True)
    created = client.get(f"/tickets/{ticket.id}/created").get_data(as_text=True)
    assert "responderá en un plazo de 12 horas" in created and "24 horas" not in created
    assert "12 horas" in client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "12 horas" in client.get("/tickets/contacts").get_data(as_text=True)


def test_without_a_matrix_nothing_is_promised(client, partner):
    ticket = _marketing_ticket(partner)
    assert ticket.sla_due_at is None
    assert login(client, partner.email).status_code == 302
    choose = client.get("/tickets/new").get_data(as_text=True)
    assert "Primera respuesta" not in choose and "horas" not in choose
    created = client.get(f"/tickets/{ticket.id}/created").get_data(as_text=True)
    assert "Nuestro equipo de soporte lo recibió." in created and "horas" not in created


def test_no_company_holidays_ship():
    data = yaml.safe_load((ROOT / "content" / "holidays.yaml").read_text(encoding="utf-8"))
    assert data == {"holidays": []}
