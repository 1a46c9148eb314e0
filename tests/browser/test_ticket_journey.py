"""A partner's ticket journey in a real browser: deflection, a ticket, its list, the confirmation."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from kb import services as kb_services
from portal.core.extensions import db
from portal.tickets.models import Deflection, Ticket
from tests.browser.test_foundation_journey import sign_in


def fill_technical_form(page, subject: str, description: str) -> None:
    """Open the technical form and fill in what it requires, as a partner types it."""
    page.goto("/tickets/new/technical")
    page.get_by_label("Asunto").fill(subject)
    page.get_by_label("Descripción (Markdown)").fill(description)
    page.get_by_label("Servicio o plataforma afectados").fill("App EDYE")
    page.get_by_label("Región / país").fill("México")
    page.get_by_label("Impacto en los usuarios finales").select_option("some")


def test_partner_deflects_then_opens_follows_and_confirms(page, partner, send_solution):
    text = kb_services.ArticleText(
        "Los subtítulos no se muestran",
        "Activa los subtítulos en el menú de audio.",
        "subtitles-audio",
        ["subtitulos"],
        "partners",
        note="n",
        publish=True,
    )
    kb_services.create_article(None, "es", "subtitulos-no-se-muestran", text)
    sign_in(page, partner.email, "correct horse battery")

    page.goto("/tickets/new/technical")
    page.get_by_label("Asunto").press_sequentially("subtitulos no aparecen", delay=20)
    suggestions = page.locator("#suggestions")
    expect(suggestions.get_by_text("Los subtítulos no se muestran")).to_be_visible()
    suggestions.get_by_text("Los subtítulos no se muestran").click()
    expect(suggestions.locator(".inline-article")).to_contain_text("Activa los subtítulos en el menú de audio.")
    suggestions.get_by_role("button", name="Esto resolvió mi problema").click()
    expect(page.get_by_role("heading", name="Nos alegra que te haya servido")).to_be_visible()
    db.session.expire_all()
    assert db.session.scalar(select(Deflection.outcome)) == "solved"
    assert db.session.scalar(select(Ticket.id)) is None

    fill_technical_form(page, "La app se cierra en Roku", "Desde hoy la app se cierra al abrir cualquier episodio.")
    page.get_by_role("button", name="Enviar el ticket").click()
    expect(page.get_by_role("heading", name=re.compile(r"Ticket EDY-\d{6} enviado"))).to_be_visible()
    db.session.expire_all()
    ticket = db.session.scalar(select(Ticket))
    page.get_by_role("link", name="Todos mis tickets").click()
    expect(page.locator("#ticket-list")).to_contain_text(ticket.reference)

    send_solution(ticket, "Actualiza la app a la versión 3.2.2.")
    page.goto(f"/tickets/{ticket.id}")
    expect(page.get_by_role("heading", name="¿Esto resolvió tu problema?")).to_be_visible()
    page.get_by_role("button", name="Sí, ciérralo").click()
    expect(page.locator(".ticket-head .badge")).to_have_text("Cerrado")
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status == "closed"
