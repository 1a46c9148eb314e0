"""The staff journey in a real browser: triage, level 1, level 2 via Slack, level 3, partner confirmation."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from portal.core.extensions import db
from portal.integrations.outbox import Deliverer
from portal.tickets import intake
from portal.tickets.models import TECHNICAL_DETAILS, Ticket
from tests.browser.test_foundation_journey import sign_in
from tests.conftest import TECHNICAL


def stored(ticket_id):
    db.session.expire_all()
    return db.session.get(Ticket, ticket_id)


def sign_in_again(page, user, path):
    """Leave the previous user's session, sign in as `user` and open `path`."""
    page.context.clear_cookies()
    sign_in(page, user.email, "correct horse battery")
    page.goto(path)


def expect_status(page, label):
    expect(page.locator(".workspace .badge").first).to_have_text(label)


def open_action(page, title):
    """Unfold the workspace action called `title`; returns it."""
    action = page.locator("details.action", has=page.get_by_text(title, exact=True))
    action.locator("summary").click()
    return action


def act(page, title, fields: dict, button):
    action = open_action(page, title)
    for label, value in fields.items():
        control = action.get_by_label(label).first
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(value)
        elif control.get_attribute("type") in ("radio", "checkbox"):
            control.check()
        else:
            control.fill(value)
    action.get_by_role("button", name=button).click()


def test_procedure_end_to_end(page, partner, make_user, fake_slack, fake_monday, fake_zendesk):
    admin = make_user("ticket_admin", email="ana@edye.test", name="Ana Admin")
    l1 = make_user("agent_l1", email="luis@edye.test", name="Luis Uno")
    l2 = make_user("agent_l2", email="marta@edye.test", name="Marta Dos")
    vp = make_user("vp", email="victoria@edye.test", name="Victoria VP")
    details = {key: TECHNICAL[key] for key in TECHNICAL_DETAILS}
    ticket = intake.create_ticket(partner, "technical", "Playback fails on Roku", TECHNICAL["description"], details)

    workspace = f"/staff/tickets/{ticket.id}"
    sign_in(page, admin.email, "correct horse battery")
    page.get_by_role("link", name="Clasificación").click()
    page.get_by_role("link", name=ticket.reference).click()
    expect(page.locator("#workspace-panel")).to_contain_text("Playback fails on Roku")
    act(
        page,
        "Clasificar y asignar",
        {"Tipo de solicitud": "technical", "Asignar a": str(l1.id)},
        "Asignar",
    )
    expect_status(page, "Asignado a nivel 1")

    sign_in_again(page, l1, workspace)
    # Resolving and giving up wait for a status report, and the workspace says so.
    expect(page.locator("[data-held-back]")).to_have_attribute("data-held-back", "resolve cannot_resolve")
    expect(page.locator("details.action", has=page.get_by_text("No se puede resolver", exact=True))).to_have_count(0)
    act(
        page,
        "Registrar un reporte de estado",
        {
            "Acciones realizadas": "Reproducido en Roku",
            "Tiempo dedicado (minutos)": "20",
            "Información relevante": "El servidor de licencias responde 403",
        },
        "Guardar el reporte",
    )
    expect(page.locator(".reports")).to_contain_text("Reproducido en Roku")
    expect(page.locator("[data-held-back]")).to_have_count(0)
    act(page, "No se puede resolver", {"Motivo": "Hace falta acceso a los logs"}, "Devolver al administrador")
    expect_status(page, "El agente no puede resolverlo")

    sign_in_again(page, admin, workspace)
    action = open_action(page, "Reasignar a nivel 2")
    action.get_by_label("Monday").uncheck()
    action.get_by_label("Slack").check()
    action.get_by_role("button", name="Reasignar").click()
    expect_status(page, "Asignado a nivel 2")

    sign_in_again(page, l2, workspace)
    act(
        page,
        "Registrar un reporte de estado",
        {
            "Acciones realizadas": "Revisados los logs de licencias",
            "Tiempo dedicado (minutos)": "30",
            "Información relevante": "Falla desde la versión 3.2.1",
        },
        "Guardar el reporte",
    )
    act(page, "No se puede resolver", {"Motivo": "Regresión de la versión 3.2.1"}, "Devolver al administrador")
    expect_status(page, "El agente no puede resolverlo")  # the answer is in before the next person signs in

    sign_in_again(page, admin, workspace)
    act(page, "Escalar a nivel 3", {}, "Escalar")
    expect_status(page, "Escalado a nivel 3")

    sign_in_again(page, vp, workspace)
    action = open_action(page, "Análisis y decisión")
    action.get_by_label(re.compile("^Impacto")).fill("Todos los usuarios de Roku")
    action.get_by_label("Recursos disponibles").fill("Equipo de releases")
    action.get_by_label("Medida alternativa", exact=True).check()
    action.locator("select[name=measure]").select_option("revert_version")
    action.get_by_role("button", name="Registrar la decisión").click()
    expect_status(page, "Medida alternativa")

    sign_in_again(page, admin, workspace)
    act(
        page,
        "Registrar el resultado del nivel 3",
        {"Resultado (solución del proveedor o medida aplicada)": "Revertido a 3.2.0"},
        "Guardar el resultado",
    )
    act(
        page,
        "Notificar al partner",
        {"Mensaje para el partner (público, a través de Zendesk)": "Revertimos la app a 3.2.0."},
        "Enviar y pedir confirmación",
    )
    expect_status(page, "Esperando confirmación del partner")

    sign_in_again(page, partner, f"/tickets/{ticket.id}")
    expect(page.locator(".timeline")).to_contain_text("Revertimos la app a 3.2.0.")
    page.get_by_role("button", name="Sí, ciérralo").click()
    expect(page.locator(".ticket-head .badge")).to_have_text("Cerrado")
    assert stored(ticket.id).status == "closed"
    Deliverer().run_pass()
    assert any("Marta Dos" in message["text"] for message in fake_slack.messages)
    assert fake_monday.operations()[0] == "create_item"


def test_a_marketing_request_is_worked_in_the_business_area(page, partner, make_user, fake_slack, fake_zendesk):
    """§8: marketing and business questions go to their area, whose member finds the ticket in the
    area's queue and works it like an agent: a status report, then the solution."""
    admin = make_user("ticket_admin", email="ana@edye.test", name="Ana Admin")
    member = make_user("business", email="mercedes@edye.test", name="Mercedes Mercadeo")
    details = {"topic": "Co-marketing", "desired_date": "2026-12-10"}
    ticket = intake.create_ticket(partner, "marketing_business", "Key art for December", "We need logos.", details)

    sign_in(page, admin.email, "correct horse battery")
    page.get_by_role("link", name="Clasificación").click()
    page.get_by_role("link", name=ticket.reference).click()
    act(
        page,
        "Clasificar y asignar",
        {"Tipo de solicitud": "marketing_business", "Asignar a": str(member.id)},
        "Asignar",
    )
    expect_status(page, "Asignado a mercadeo y negocio")

    page.context.clear_cookies()
    sign_in(page, member.email, "correct horse battery")
    page.locator("header.site-header").get_by_role("link", name="Mercadeo y negocio").click()
    page.get_by_role("link", name=ticket.reference).click()
    expect(page.locator("[data-held-back]")).to_have_attribute("data-held-back", "resolve cannot_resolve")
    act(
        page,
        "Registrar un reporte de estado",
        {
            "Acciones realizadas": "Pedido el kit a diseño",
            "Tiempo dedicado (minutos)": "30",
            "Información relevante": "Diseño lo entrega el viernes",
        },
        "Guardar el reporte",
    )
    act(
        page,
        "Resuelto",
        {
            "Resumen de la solución": "Kit de marca enviado",
            "O bien: por qué no hace falta ningún cambio en la base de conocimiento": "Pedido puntual",
        },
        "Marcar como resuelto",
    )
    expect_status(page, "Resuelto por el agente")
    assert stored(ticket.id).assignee_id == member.id
