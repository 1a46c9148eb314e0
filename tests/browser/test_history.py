"""Back, Forward and reload after a live filter pushed its URL: each time the whole page, the list still filtered.

htmx keeps no copy of earlier pages (`historyCacheSize: 0`), so Back and Forward ask the server again and
put the answer in place of the whole body; reloading asks the browser's usual way.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

import pytest
from playwright.sync_api import expect

from auth.services import find_or_create_organization
from tests.browser.test_foundation_journey import sign_in
from tests.test_history import lists  # noqa: F401 (a fixture, named as a test argument)

FILTERED = ["users", "organizations", "audit", "tickets", "triage", "kb manage", "kb search"]
ORGANIZATIONS_PER_PAGE = 25


def top_link(page, name):
    return page.locator("header.site-header").get_by_role("link", name=name, exact=True)


def expect_whole_page(page):
    """Header, navigation, one main area and the footer: not a fragment on its own, nor a page in a page."""
    expect(page.locator("header.site-header")).to_have_count(1)
    expect(page.get_by_role("navigation", name="Principal")).to_be_visible()
    expect(top_link(page, "Contactos")).to_be_visible()
    expect(page.locator("main#main")).to_have_count(1)
    expect(page.locator("footer.site-footer")).to_be_visible()


def leave_and_come_back(page, expect_list):
    """Follow the top navigation, press Back, Forward, Back again and reload; the list page is whole each time."""
    top_link(page, "Contactos").click()
    expect(page).to_have_url(re.compile("/tickets/contacts$"))
    page.go_back()
    expect_whole_page(page)
    expect_list()
    page.go_forward()
    expect(page).to_have_url(re.compile("/tickets/contacts$"))
    expect_whole_page(page)
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    page.go_back()
    expect_list()
    page.reload()
    expect_whole_page(page)
    expect_list()


@pytest.mark.parametrize("name", FILTERED)
def test_back_after_a_live_filter_shows_the_whole_filtered_page(page, make_user, lists, name):
    role, url, container_id, shown, hidden = lists[name]
    path, query = url.split("?")
    ((field, value),) = parse_qsl(query)
    user = make_user(role)
    sign_in(page, user.email, "correct horse battery")
    page.goto(path)
    control = page.locator(f"main [name={field}]")
    if control.evaluate("element => element.tagName") == "SELECT":
        control.select_option(value)
    else:
        control.fill(value)
    expect(page).to_have_url(re.compile(rf"[?&]{field}={re.escape(value)}(&|$)"))
    listed = page.locator(f"#{container_id}")

    def expect_filtered_list():
        expect(page).to_have_url(re.compile(rf"[?&]{field}={re.escape(value)}(&|$)"))
        expect(listed).to_contain_text(shown)
        expect(listed).not_to_contain_text(hidden)
        expect(page.locator(f"main [name={field}]")).to_have_value(value)

    expect_filtered_list()
    leave_and_come_back(page, expect_filtered_list)


def test_back_after_turning_a_page_shows_the_whole_page(page, make_user):
    for number in range(ORGANIZATIONS_PER_PAGE + 1):
        find_or_create_organization(None, f"Operador {number:02d}")
    admin = make_user("ticket_admin")
    sign_in(page, admin.email, "correct horse battery")
    page.goto("/admin/organizations")
    listed = page.locator("#organization-list")
    listed.get_by_role("link", name=re.compile("Siguiente")).click()

    def expect_second_page():
        expect(page).to_have_url(re.compile(r"[?&]page=2(&|$)"))
        expect(listed).to_contain_text("Página 2 de 2")
        expect(listed).to_contain_text(f"Operador {ORGANIZATIONS_PER_PAGE:02d}")
        expect(listed).not_to_contain_text("Operador 00")

    expect_second_page()
    leave_and_come_back(page, expect_second_page)


def test_back_after_signing_out_shows_the_login_form(page, make_user):
    admin = make_user("ticket_admin")
    sign_in(page, admin.email, "correct horse battery")
    page.goto("/admin/organizations")
    top_link(page, "Contactos").click()
    expect(page).to_have_url(re.compile("/tickets/contacts$"))
    page.locator("header.site-header summary").click()
    page.get_by_role("button", name="Cerrar sesión").click()
    expect(page.get_by_label(re.compile("^Contraseña"))).to_be_visible()
    page.go_back()
    expect(page).to_have_url(re.compile("/tickets/contacts$"))
    expect(page.locator("main#main")).not_to_contain_text(admin.name)
    # The login form htmx put in place brings them back to the page they went back to.
    page.get_by_label(re.compile("Correo electrónico")).fill(admin.email)
    page.get_by_label(re.compile("^Contraseña")).fill("correct horse battery")
    page.get_by_role("button", name="Iniciar sesión").last.click()
    expect(page).to_have_url(re.compile("/tickets/contacts$"))
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
