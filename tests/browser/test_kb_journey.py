"""Knowledge-base journeys in a real browser: active search, reading, voting, editing, restoring."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from kb import feedback as kb_feedback
from kb import services
from kb.models import Article
from portal.core.extensions import db
from tests.browser.test_foundation_journey import sign_in


def publish(slug, title, body, visibility="partners", category="subtitles-audio"):
    text = services.ArticleText(title, body, category, ["subtitulos"], visibility, note="primera", publish=True)
    return services.create_article(None, "es", slug, text)


def stored_article(slug):
    db.session.expire_all()
    return db.session.scalar(db.select(Article).where(Article.slug == slug))


def test_partner_searches_as_they_type_reads_and_votes(page, make_user):
    publish(
        "subtitulos-no-se-muestran",
        "Los subtítulos no se muestran",
        "## Pasos\n\nActiva los subtítulos en el menú de audio.\n",
    )
    publish("audio-dual", "Cambiar el idioma del audio", "Elige español o inglés en el menú de audio.\n")
    partner = make_user("partner", email="lector@example.test")
    sign_in(page, partner.email, "correct horse battery")
    page.goto("/kb/search")
    page.evaluate("window.__noReloadMarker = 'same page'")
    page.get_by_label("Términos de búsqueda").press_sequentially("subtitulos no aparecen", delay=30)
    results = page.locator("#search-results")
    expect(results.get_by_role("link", name="Los subtítulos no se muestran")).to_be_visible()
    expect(results.locator("mark").first).to_be_visible()
    expect(page).to_have_url(re.compile(r"q=subtitulos(\+|%20)no(\+|%20)aparecen"))
    assert page.evaluate("window.__noReloadMarker") == "same page"

    results.get_by_role("link", name="Los subtítulos no se muestran").click()
    expect(page.get_by_role("heading", name="Los subtítulos no se muestran", level=1)).to_be_visible()
    page.get_by_role("button", name="Sí").click()
    expect(page.locator("#feedback-box")).to_contain_text("Gracias por tu opinión")
    vote = kb_feedback.vote_of(partner, stored_article("subtitulos-no-se-muestran"))
    assert vote is not None and vote.helpful is True


def test_agent_edits_with_preview_publishes_and_restores(page, make_user):
    publish("guia-roku", "Guía de Roku", "Texto original de la guía.\n", category="devices-apps")
    agent = make_user("agent_l1", email="editora@example.test", name="Edita Agente")
    sign_in(page, agent.email, "correct horse battery")
    page.goto("/kb/es/guia-roku")
    page.locator(".staff-panel").get_by_role("button", name="Editar").click()
    expect(page).to_have_url(re.compile("/kb/es/guia-roku/edit"))
    # htmx binds the swapped-in editor a moment after the swap: wait until it is settled.
    page.wait_for_function("!document.querySelector('.htmx-settling, .htmx-swapping')")
    page.wait_for_timeout(100)
    body = page.get_by_label("Texto (Markdown)")
    body.fill("## Instalar\n\nTexto **nuevo** de la guía.")
    expect(page.locator("#preview h2")).to_have_text("Instalar")
    expect(page.locator("#preview strong")).to_have_text("nuevo")
    page.get_by_label(re.compile("Nota del cambio")).fill("Reescrita")
    page.get_by_role("button", name="Publicar").click()
    expect(page.locator(".kb-article .kb-body")).to_contain_text("Texto nuevo de la guía.")
    assert stored_article("guia-roku").latest_revision_number == 2

    page.locator(".staff-panel").get_by_role("button", name="Historial").click()
    expect(page.locator("#revision-2")).to_contain_text("Reescrita")
    page.locator("#revision-1").get_by_role("button", name="Restaurar").click()
    expect(page.locator("#revision-3")).to_be_visible()
    page.goto("/kb/es/guia-roku")
    expect(page.locator(".kb-article .kb-body")).to_contain_text("Texto original de la guía.")
    article = stored_article("guia-roku")
    assert article.latest_revision_number == 3 and article.published_revision.number == 3
