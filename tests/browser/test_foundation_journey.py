"""Partner and administrator journeys through a real browser."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from auth.services import find_user_by_email
from portal.core.extensions import db


def stored_user(email):
    """The user as the live server stored it (the test's own session may hold an older copy)."""
    db.session.expire_all()
    return find_user_by_email(email)


def sign_in(page, email, password):
    page.goto("/login")
    page.get_by_label(re.compile("Correo electrónico|E-mail")).fill(email)
    page.get_by_label(re.compile("^(Contraseña|Password)")).fill(password)
    page.get_by_role("button", name=re.compile("^(Iniciar sesión|Log in)$")).last.click()
    expect(page).not_to_have_url(re.compile("/login"))


def submit_new_user(page, name, email, role, language="es"):
    """Open the "new user" panel, fill it in and submit it; returns the form."""
    page.get_by_text("Nuevo usuario").click()
    form = page.locator("#user-form")
    form.get_by_label("Nombre").fill(name)
    form.get_by_label("Correo electrónico").fill(email)
    form.get_by_label("Rol").select_option(role)
    form.get_by_label("Idioma").select_option(language)
    form.get_by_role("button", name="Crear usuario").click()
    return form


def test_partner_signs_in_and_switches_language(page, make_user):
    partner = make_user("partner", email="browser-partner@example.test", name="Paula Partner")
    sign_in(page, partner.email, "correct horse battery")
    expect(page.get_by_role("heading", name="Hola, Paula Partner")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Hello, Paula Partner")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert stored_user(partner.email).language == "en"
    page.get_by_text("Paula Partner", exact=True).first.click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_admin_creates_a_user_without_a_page_reload(page, make_user):
    admin = make_user("ticket_admin", email="browser-admin@example.test", name="Ana Admin")
    make_user("partner", email="someone@example.test")
    sign_in(page, admin.email, "correct horse battery")
    expect(page.get_by_role("heading", name="Hola, Ana Admin")).to_be_visible()
    page.get_by_role("link", name="Equipo").click()
    page.get_by_role("link", name="Usuarios").click()
    expect(page.get_by_role("heading", name="Usuarios", exact=True)).to_be_visible()
    page.evaluate("window.__noReloadMarker = 'still here'")

    submit_new_user(page, "Nora Nueva", "nora@partner.test", "agent_l1", language="en")

    expect(page.locator("#temporary-password")).to_be_visible()
    expect(page.locator("#user-list")).to_contain_text("nora@partner.test")
    assert page.evaluate("window.__noReloadMarker") == "still here"
    created = stored_user("nora@partner.test")
    assert created.role == "agent_l1" and created.language == "en" and created.must_change_password


def test_admin_sees_inline_errors_for_a_partner_without_organization(page, make_user):
    admin = make_user("ticket_admin", email="browser-admin2@example.test")
    sign_in(page, admin.email, "correct horse battery")
    page.goto("/admin/users")
    form = submit_new_user(page, "Sin Org", "sin-org@partner.test", "partner")
    expect(form.locator(".field-error")).to_contain_text("Un partner debe pertenecer a una organización")
    assert stored_user("sin-org@partner.test") is None
