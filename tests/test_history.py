"""Back and Forward after a live filter: htmx restores a pushed URL with a request of its own, which gets the page.

With `historyCacheSize: 0`, htmx keeps no copy of earlier pages: on Back or Forward it asks the server for
the URL again with `HX-Request` and `HX-History-Restore-Request` (no `HX-Boosted`) and puts the answer in
place of the whole body, so that answer must be the whole page, never the list's fragment.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auth.services import find_or_create_organization
from kb import services as kb_services

RESTORE = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
FRAGMENT = {"HX-Request": "true"}
BOOSTED = {"HX-Request": "true", "HX-Boosted": "true"}
QUEUE_TABLE = '<table class="striped queue">'
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# What pushes a URL in the templates: an element with hx-push-url="true" (its hx-target names the list), or a
# call of a macro of _macros.html that makes one (`filter_form`, `pagination` with a target).
PUSHING_ELEMENT = re.compile(r'<[^>]*hx-push-url="true"[^>]*>')
LITERAL_TARGET = re.compile(r'hx-target="#([\w-]+)"')
PUSHING_MACRO_CALL = re.compile(r"\b(?:filter_form|pagination)\([^)]*?'#([\w-]+)'")
PAGE_MARKS = ("<html", '<header class="site-header">', '<nav class="container"', "pico.min.css", '<main id="main"')


def publish(slug, title, visibility="partners"):
    text = kb_services.ArticleText(
        title, f"{title}.\n", "devices-apps", ["prueba"], visibility, note="v1", publish=True
    )
    return kb_services.create_article(None, "es", slug, text)


@pytest.fixture
def lists(make_user, partner, open_ticket):
    """Two of everything, so that each filter shows one and hides the other; returns the pushed URLs."""
    make_user("agent_l2", name="Marta Dos")
    make_user("agent_l1", name="Luis Uno")
    other = make_user("partner", email="carla@caribe.test", organization=find_or_create_organization(None, "Caribe TV"))
    open_ticket(subject="Playback fails on Roku")
    open_ticket(other, subject="Audio out of sync")
    find_or_create_organization(None, "Andes Media")
    publish("guia-roku", "Guía de Roku")
    publish("audio-dual", "Cambiar el idioma del audio")
    caribe = other.organization_id
    # (role, pushed URL, id of the list's container, shown in the list, hidden from it)
    return {
        "users": ("ticket_admin", "/admin/users?q=Marta", "user-list", "Marta Dos", "Luis Uno"),
        "organizations": ("ticket_admin", "/admin/organizations?q=Andes", "organization-list", "Andes Media", "Caribe"),
        "audit": ("ticket_admin", "/admin/audit?target_type=Organization", "audit-list", "Caribe TV", "Marta Dos"),
        "tickets": ("ticket_admin", "/tickets/?q=Roku", "ticket-list", "Playback fails on Roku", "Audio out of sync"),
        "triage": ("ticket_admin", f"/staff/triage?organization_id={caribe}", "queue", "Audio out of sync", "Roku"),
        "kb manage": ("agent_l1", "/kb/manage?q=roku", "manage-list", "Guía de Roku", "Cambiar el idioma"),
        "kb search": ("partner", "/kb/search?q=roku", "search-results", "Guía de Roku", "Cambiar el idioma"),
        "my work": ("agent_l1", "/staff/work?page=1", "queue", QUEUE_TABLE, None),
        "level 3": ("vp", "/staff/level3?page=1", "queue", QUEUE_TABLE, None),
        "kb follow-up": ("agent_l1", "/staff/kb-follow-up?page=1", "kb-followup", "ya llegaron a los partners", None),
        "reports": ("ticket_admin", "/staff/reports?page=1", "report-list", "Aún no se ha publicado", None),
        "unmatched": (
            "ticket_admin",
            "/staff/unmatched?page=1",
            "unmatched",
            "No hay tickets de Zendesk en espera",
            None,
        ),
        "e-mails": (
            "ticket_admin",
            "/admin/mail?page=1",
            "mail-list",
            "El portal aún no ha escrito ningún correo",
            None,
        ),
    }


def vary(response) -> set[str]:
    return {name.strip() for name in response.headers.get("Vary", "").split(",")}


def list_part(body: str, container_id: str) -> str:
    """The page from the list's container on (the filters above it name every choice)."""
    start = body.find(f'id="{container_id}"')
    assert start >= 0, f"#{container_id} missing"
    return body[start:]


@pytest.mark.parametrize(
    "name",
    [
        "users",
        "organizations",
        "audit",
        "tickets",
        "triage",
        "kb manage",
        "kb search",
        "my work",
        "level 3",
        "kb follow-up",
        "reports",
        "unmatched",
        "e-mails",
    ],
)
def test_history_restore_gets_the_whole_filtered_page(client, login_as, lists, name):
    role, url, container_id, shown, hidden = lists[name]
    login_as(role)

    restored = client.get(url, headers=RESTORE)
    body = restored.get_data(as_text=True)
    assert restored.status_code == 200
    for mark in PAGE_MARKS:
        assert mark in body, f"{name}: {mark} missing from the restored page"
    assert shown in list_part(body, container_id)
    assert hidden is None or hidden not in list_part(body, container_id)

    fragment = client.get(url, headers=FRAGMENT).get_data(as_text=True)
    assert "<html" not in fragment and '<header class="site-header">' not in fragment
    assert shown in fragment and (hidden is None or hidden not in fragment)


def test_every_rendering_varies_on_both_htmx_headers(client, login_as):
    login_as("ticket_admin")
    responses = {
        "page": client.get("/admin/users"),
        "fragment": client.get("/admin/users", headers=FRAGMENT),
        "boosted": client.get("/admin/users", headers=BOOSTED),
        "restore": client.get("/admin/users", headers=RESTORE),
        "error page": client.get("/admin/users/2147483647/nothing", headers=RESTORE),
    }
    assert responses["error page"].status_code == 404
    for name, response in responses.items():
        assert {"HX-Request", "HX-Boosted", "HX-History-Restore-Request"} <= vary(response), (
            f"{name}: Vary is {vary(response)}"
        )
    assert b"<html" in responses["restore"].data and b"<html" in responses["error page"].data
    assert b"<html" not in responses["fragment"].data


def test_the_public_search_restores_whole_for_anonymous_visitors(client):
    publish("guia-roku", "Guía de Roku", visibility="public")
    restored = client.get("/kb/search?q=roku", headers=RESTORE)
    body = restored.get_data(as_text=True)
    assert restored.status_code == 200 and all(mark in body for mark in PAGE_MARKS)
    assert "Guía de Roku" in list_part(body, "search-results")
    assert {"HX-Request", "HX-Boosted", "HX-History-Restore-Request"} <= vary(restored)


def lists_that_push_their_url() -> set[str]:
    """Ids of the containers whose URL the templates push."""
    found = set()
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for element in PUSHING_ELEMENT.findall(text):
            found.update(LITERAL_TARGET.findall(element))
        found.update(PUSHING_MACRO_CALL.findall(text))
    return found


def test_every_list_that_pushes_its_url_is_covered(lists):
    """A new list with a live filter or pages needs a case in `lists` (the browser test uses them too)."""
    assert lists_that_push_their_url() == {container_id for _, _, container_id, _, _ in lists.values()}
