"""Knowledge-base hardening: drafts change nothing readers see until they are published."""
from __future__ import annotations

from kb import search
from kb.models import Article
from portal.extensions import db
from tests.test_kb import edit, make_article  # noqa: F401  (fixture)


def test_a_draft_changes_nothing_readers_see_until_published(client, app, login_as, make_article):
    article = make_article(slug="interno", visibility="internal", category="drm", tags=("secreto",))
    login_as("agent_l1")
    response = edit(client, article, 1, "Texto interno nuevo", action="draft", note="",
                    visibility="public", category="playback", tags="abierto")
    assert response.status_code == 302

    article = db.session.get(Article, article.id)
    assert (article.visibility, article.category, article.tags) == ("internal", "drm", ["secreto"])
    anonymous = app.test_client()
    assert anonymous.get("/kb/es/interno").status_code == 404
    assert search.search("prueba", ["es"], ["public"]).found == 0
    assert "interno" not in anonymous.get("/kb/search?q=prueba&lang=es").get_data(as_text=True)
    assert anonymous.get("/kb/category/playback").get_data(as_text=True).count("/kb/es/interno") == 0

    # The editor reopens on the draft's own metadata, so nothing typed is lost.
    editor = client.get("/kb/es/interno/edit").get_data(as_text=True)
    assert 'value="abierto"' in editor and '<option selected value="public">' in editor

    assert edit(client, article, 2, "Texto público", note="se abre", visibility="public",
                category="playback", tags="abierto").status_code == 302
    article = db.session.get(Article, article.id)
    assert (article.visibility, article.category, article.tags) == ("public", "playback", ["abierto"])
    assert anonymous.get("/kb/es/interno").status_code == 200
    assert search.search("publico", ["es"], ["public"]).found == 1


def test_restoring_an_old_revision_restores_its_metadata(client, login_as, make_article):
    article = make_article(slug="viejo", visibility="partners", category="drm", tags=("uno",))
    login_as("agent_l1")
    assert edit(client, article, 1, "Segunda", note="abre", visibility="public", category="playback",
                tags="dos").status_code == 302
    assert client.post("/kb/es/viejo/restore/1", data={"note": "vuelve"}).status_code == 302
    article = db.session.get(Article, article.id)
    assert (article.visibility, article.category, article.tags) == ("partners", "drm", ["uno"])
    assert article.published_revision.number == 3


def test_a_reader_with_nothing_visible_finds_nothing(client, make_article):
    # Whoosh treats an empty filter as no filter at all; the search must not fall back to everything.
    make_article(slug="solo-staff", visibility="internal", category="drm")
    make_article(slug="solo-partners", visibility="partners", category="playback")
    assert search.search("prueba", ["es"], ["public"]).found == 0
    assert search.related(0, "es", "drm", ["prueba"], ["public"]) == []
    page = client.get("/kb/search?q=prueba&lang=es&category=drm").get_data(as_text=True)
    assert "solo-staff" not in page and "solo-partners" not in page
