"""Knowledge-base search on both backends (Whoosh; PostgreSQL when the tests run on it): the web
page and the shell, visibility, pagination and the search log, the index following commits and
`flask kb reindex`, the word analysis (typos, accents, error codes, synonyms, the other language);
a few checks are the PostgreSQL backend's own. The relevance evaluations run on both backends in
test_kb_eval and test_kb_relevance."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from kb import backends, index, services
from kb.content import import_folder
from kb.models import Article, SearchLogEntry
from kb.search_rules import CROSS_LANGUAGE_FEW
from portal import create_app
from portal.core.config import ConfigError, SearchBackend
from portal.core.extensions import db
from portal.core.i18n import LANGUAGES
from tests.conftest import config_for_tests, run_cli
from tests.kb_eval import PARTNER_VISIBILITIES
from tests.kb_fixtures import expect_whoosh_to_miss_words_apart, postgres_backend_only

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app_config(search_backend):
    return {"SEARCH_BACKEND": search_backend}


def test_the_postgres_backend_refuses_another_database(tmp_path):
    with pytest.raises(ConfigError, match="PostgreSQL"):
        create_app(config_for_tests(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path, SEARCH_BACKEND="postgres"))
    with pytest.raises(ConfigError, match="SEARCH_BACKEND"):
        create_app(config_for_tests(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path, SEARCH_BACKEND="solr"))


def slugs(query: str, language: str = "es", visibilities=PARTNER_VISIBILITIES, **kw) -> list[str]:
    return [hit.slug for hit in backends.search(query, [language], visibilities, **kw).hits]


@postgres_backend_only
def test_the_web_search_uses_postgres_and_no_index_folder(app, client, make_article, tmp_path):
    make_article(title="Error de reproducción", body="El video no arranca en el televisor.", visibility="public")
    page = client.get("/kb/search?q=televisor&lang=es")
    assert page.status_code == 200 and b"/kb/es/guia" in page.data
    assert b"<mark>televisor</mark>" in page.data
    assert not (tmp_path / "search-index").exists()


def test_internal_articles_are_never_found_by_partners(app, make_article):
    make_article(slug="interno", title="Procedimiento interno de escalado", visibility="internal")
    make_article(slug="socios", title="Procedimiento de escalado para socios", visibility="partners")
    assert slugs("escalado") == ["socios"]
    assert sorted(slugs("escalado", visibilities=("public", "partners", "internal"))) == ["interno", "socios"]
    assert slugs("escalado", visibilities=("public",)) == []


@postgres_backend_only
def test_the_index_changes_in_the_articles_transaction(app, make_article):
    article = make_article(title="Guía del decodificador")
    assert slugs("decodificador") == ["guia"]  # committed: searchable at once, no after-commit step
    document = services.index_document(article)
    changed = type(document)(**{**document.__dict__, "title": "Guía del sintonizador"})
    backends.schedule(db.session(), article.id, changed)
    assert slugs("sintonizador") == ["guia"]  # this transaction sees its own change
    db.session.rollback()
    assert slugs("sintonizador") == [] and slugs("decodificador") == ["guia"]
    services.set_archived(None, db.session.get(Article, article.id), True)
    assert slugs("decodificador") == []


def lose_the_index(app, search_backend) -> None:
    """What a lost disk or a new server leaves: the articles without their index."""
    if search_backend == SearchBackend.POSTGRES:
        db.session.execute(sa.text("DELETE FROM kb_search_documents"))
        db.session.commit()
    else:
        shutil.rmtree(app.config["SEARCH_INDEX_DIR"])
        index.forget_open_indexes()


def test_reindex_rebuilds_from_the_database_with_progress(app, make_article, search_backend):
    for number in range(3):
        make_article(slug=f"guia-{number}", title=f"Guía del control remoto {number}")
    lose_the_index(app, search_backend)
    assert slugs("control remoto") == []
    result = run_cli(app, "kb", "reindex")
    assert result.exit_code == 0, result.output
    place = "kb_search_documents" if search_backend == SearchBackend.POSTGRES else app.config["SEARCH_INDEX_DIR"]
    assert "Indexing articles" in result.output and f"3 articles indexed in {place}" in result.output
    assert sorted(slugs("control remoto")) == ["guia-0", "guia-1", "guia-2"]


def test_typos_accents_and_the_word_being_typed(app, make_article):
    make_article(slug="subtitulos", title="Subtítulos desincronizados", body="Cómo ajustar los subtítulos.")
    make_article(slug="otra", title="Pagos y facturación", body="Las facturas llegan cada mes.")
    assert slugs("subtitulos")[0] == "subtitulos"  # without accents
    results = backends.search("subtitlos desincronisados", ["es"], PARTNER_VISIBILITIES)
    assert [hit.slug for hit in results.hits] == ["subtitulos"]
    assert results.corrected_words == {"subtitlos": "subtítulos", "desincronisados": "desincronizados"}
    assert slugs("factur")[0] == "otra"  # the last word, still being typed


def test_error_codes_are_found_however_they_are_typed(app, make_article):
    make_article(slug="edy", title="Error EDY-4031 al reproducir", body="La licencia DRM EDY-4031 caducó.")
    make_article(slug="otro", title="Error EDY-4032 en el televisor", body="Otro código: EDY-4032.")
    for typed in ("EDY-4031", "edy4031", "EDY 4031"):
        assert slugs(typed) == ["edy"], typed


@pytest.fixture
def buffering_articles(make_article):
    english = make_article(slug="buffering-en", language="en", title="Video keeps buffering", body="Check the network.")
    make_article(slug="buffering", title="El video hace buffering", body="Revisa la red.", translation=english)
    # The words of the synonym "carga lenta", apart.
    make_article(slug="lento", title="Página lenta", body="La página tarda en cargar por la red.")


def test_synonyms_phrases_and_the_other_language(app, buffering_articles):
    assert slugs("stuck loading", language="en") == ["buffering-en"]
    assert slugs("keeps buffering network")[0] == "buffering"  # English words, a Spanish answer


def test_a_synonym_phrase_is_not_its_words_apart(app, buffering_articles, request, search_backend):
    expect_whoosh_to_miss_words_apart(request, search_backend)
    assert slugs("la app se queda cargando")[0] == "buffering"


def test_a_synonym_phrase_the_index_lacks_stands_for_its_synonyms_or_else_its_words(app, make_article):
    make_article(slug="cargando", title="La app sigue cargando", body="Espera unos segundos.")
    assert slugs("se queda cargando") == ["cargando"], "no synonym in the index: the words count"
    make_article(slug="buffering", title="El video hace buffering", body="Revisa la red.")
    assert slugs("se queda cargando") == ["buffering"], "a synonym stands in for the phrase"


def test_related_articles_share_tags_first(app, make_article):
    article = make_article(slug="a", tags=("drm", "widevine"))
    make_article(slug="b", tags=("widevine",), category="drm")
    make_article(slug="c", tags=("otro",))
    related = backends.related(article.id, "es", "playback", ["drm", "widevine"], PARTNER_VISIBILITIES)
    assert [hit.slug for hit in related] == ["b", "c"]


# On both backends since they moved from test_kb -------------------------------------------


def test_snippet_highlights_without_trusting_text(make_article):
    make_article(slug="snip", body="Para activar Widevine <b>sigue</b> estos pasos & listo.")
    hit = backends.search("widevine", ["es"], ["partners"]).hits[0]
    assert "<mark>Widevine</mark>" in hit.snippet and "<b>" not in hit.snippet


def test_visibility_in_pages_and_search(client, app, make_user, make_article):
    make_article(slug="publico", title="Guía pública de Roku", visibility="public")
    make_article(slug="socios", title="Guía para partners de Roku", visibility="partners")
    make_article(slug="interno", title="Runbook interno de Roku", visibility="internal")

    def visible_to(test_client):
        statuses = {slug: test_client.get(f"/kb/es/{slug}").status_code for slug in ("publico", "socios", "interno")}
        results = test_client.get("/kb/search?q=roku").get_data(as_text=True)
        found = {slug for slug in ("publico", "socios", "interno") if f"/kb/es/{slug}" in results}
        return statuses, found

    statuses, found = visible_to(client)
    assert statuses == {"publico": 200, "socios": 404, "interno": 404} and found == {"publico"}
    partner = make_user("partner")
    client.post("/login", data={"email": partner.email, "password": "correct horse battery"})
    statuses, found = visible_to(client)
    assert statuses == {"publico": 200, "socios": 200, "interno": 404} and found == {"publico", "socios"}
    client.post("/logout")
    agent = make_user("agent_l1")
    client.post("/login", data={"email": agent.email, "password": "correct horse battery"})
    statuses, found = visible_to(client)
    assert statuses == {"publico": 200, "socios": 200, "interno": 200} and found == {"publico", "socios", "interno"}


def test_index_follows_commits_not_rollbacks(app, make_article):
    article = make_article(slug="indexado", title="Guía de Chromecast")
    assert backends.search("chromecast", ["es"], ["partners"]).found == 1
    article.visibility = "internal"
    backends.schedule(db.session(), article.id, services.index_document(article))
    db.session.rollback()
    hits = backends.search("chromecast", ["es"], ["partners"])
    assert hits.found == 1
    with pytest.raises(services.InvalidInput):
        services.create_article(None, "es", "malo", services.ArticleText("", "x", "playback", [], "partners"))
    db.session.rollback()
    assert backends.search("chromecast", ["es", "en"], ["partners", "internal", "public"]).found == 1


def test_search_options_language_category_and_did_you_mean(client, make_article):
    make_article(
        slug="subtitulos",
        title="Los subtítulos no se muestran",
        body="Activa los subtítulos en el menú.",
        category="subtitles-audio",
        visibility="public",
    )
    make_article(
        slug="subtitles",
        language="en",
        title="Subtitles are not shown",
        body="Turn subtitles on.",
        category="subtitles-audio",
        visibility="public",
    )
    make_article(
        slug="roku-es", title="Roku", body="Instala la app en Roku.", category="devices-apps", visibility="public"
    )
    spanish = client.get("/kb/search?q=subtitulos").get_data(as_text=True)
    assert "/kb/es/subtitulos" in spanish and "/kb/en/subtitles" not in spanish
    both = client.get("/kb/search?q=subtitles&lang=all").get_data(as_text=True)
    assert "/kb/en/subtitles" in both
    filtered = client.get("/kb/search?q=subtitulos&category=devices-apps").get_data(as_text=True)
    assert "/kb/es/subtitulos" not in filtered
    typo = client.get("/kb/search?q=subtitlos", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "¿Quisiste decir" in typo and "subtitulos" in typo and "<html" not in typo
    assert client.get("/kb/search?q=&page=zz").status_code == 200


def test_search_page_is_paginated(client, make_article):
    for number in range(13):
        make_article(slug=f"roku-{number}", title=f"Roku paso {number}", visibility="public")
    first = client.get("/kb/search?q=roku").get_data(as_text=True)
    second = client.get("/kb/search?q=roku&page=2").get_data(as_text=True)
    assert first.count("<li>\n    <h3>") == 10 and second.count("<li>\n    <h3>") == 3
    assert "Más de 10 resultados" in first and 'rel="next"' in first and 'rel="next"' not in second
    assert "3 resultados" in second and 'rel="prev"' in second


def test_search_log_coalesces_typing_and_feeds_the_report(client, login_as, make_article, app, make_user):
    make_article(slug="roku", title="Instalar en Roku", visibility="public")
    partner = login_as("partner")
    for partial in ("rok", "roku", "roku inst"):
        client.get("/kb/search", query_string={"q": partial}, headers={"HX-Request": "true"})
    client.get("/kb/search?q=chromecast+audio")
    entries = list(db.session.scalars(select(SearchLogEntry).order_by(SearchLogEntry.id)))
    assert [entry.query for entry in entries] == ["roku inst", "chromecast audio"]
    assert entries[0].organization_id == partner.organization_id and entries[1].result_count == 0
    staff = app.test_client()
    agent = make_user("agent_l2")
    staff.post("/login", data={"email": agent.email, "password": "correct horse battery"})
    report = staff.get("/kb/reports/searches?days=30").get_data(as_text=True)
    zero_section = (
        report.split("content gaps", 1)[-1] if "content gaps" in report else report.split("sin resultados", 1)[-1]
    )
    assert "roku inst" in report and "chromecast audio" in zero_section and "roku inst" not in zero_section


def test_category_and_index_pages_have_no_n_plus_one(client, make_article, count_queries):
    def queries(url):
        with count_queries() as counter:
            assert client.get(url).status_code == 200
        return counter.count

    # Enough articles that a search does not also ask the other language (CROSS_LANGUAGE_FEW).
    for number in range(CROSS_LANGUAGE_FEW):
        make_article(slug=f"a-{number}", visibility="public")
    queries("/kb/search?q=prueba")  # the first search of a session adds its log row; later ones update it
    few = queries("/kb/category/playback"), queries("/kb/"), queries("/kb/search?q=prueba")
    for number in range(CROSS_LANGUAGE_FEW, 12):
        make_article(slug=f"a-{number}", visibility="public")
    queries("/kb/search?q=prueba")  # after a change, PostgreSQL's first search recounts the articles
    assert (queries("/kb/category/playback"), queries("/kb/"), queries("/kb/search?q=prueba")) == few


def test_reindex_equals_incremental(app, search_backend):
    import_folder(ROOT / "content" / "kb")
    queries = ["EDY-4031", "subtitulos", "widevine", "factura", "roku", "buffering", "marketing logos"]
    visibilities = ("public", "partners", "internal")

    def snapshot():
        return [
            [(h.slug, round(h.score, 3)) for h in backends.search(q, LANGUAGES, visibilities).hits] for q in queries
        ]

    def found(results):
        return [{slug for slug, _score in hits} for hits in results]

    incremental = snapshot()
    result = run_cli(app, "kb", "reindex")
    assert result.exit_code == 0 and "articles indexed" in result.output
    rebuilt = snapshot()
    assert found(rebuilt) == found(incremental)
    if search_backend == SearchBackend.WHOOSH:
        # PostgreSQL's scores move, and close ones may swap: a rebuild recounts how many articles
        # use each word, which weighs the words (README).
        assert rebuilt == incremental
    lose_the_index(app, search_backend)
    assert backends.search("widevine", LANGUAGES, visibilities).found == 0
    run_cli(app, "kb", "reindex")
    assert snapshot() == rebuilt


def test_cli_search_json_and_stdin(app):
    import_folder(ROOT / "content" / "kb")
    result = run_cli(app, "kb", "search", "EDY-4031", "--lang", "es", "--limit", "3", "--json")
    rows = json.loads(result.output)
    assert rows[0]["slug"].startswith("error-edy-4031") and set(rows[0]) >= {"slug", "title", "language", "score"}
    assert len(rows) <= 3 and rows == sorted(rows, key=lambda row: -row["score"])
    lines = run_cli(
        app, "kb", "search", "-", "--lang", "en", input="widevine\nzzzzqqq\nsubtitles\n"
    ).output.splitlines()
    assert len(lines) == 3 and json.loads(lines[1]) == []
    assert all(row["language"] == "en" for row in json.loads(lines[0]) + json.loads(lines[2]))


def test_archive_and_unarchive(client, app, login_as, make_user, make_article):
    article = make_article(slug="archivable", body="Contenido sobre widevine.")
    partner = app.test_client()
    partner_user = make_user("partner")
    partner.post("/login", data={"email": partner_user.email, "password": "correct horse battery"})
    assert partner.get("/kb/es/archivable").status_code == 200
    login_as("agent_l2")
    client.post("/kb/es/archivable/archive", data={"archived": "1"})
    assert article.status == "archived"
    assert partner.get("/kb/es/archivable").status_code == 404
    assert backends.search("widevine", ["es"], ["partners"]).found == 0
    assert "está archivado" in client.get("/kb/es/archivable").get_data(as_text=True)
    client.post("/kb/es/archivable/archive", data={"archived": "0"})
    assert partner.get("/kb/es/archivable").status_code == 200
    assert backends.search("widevine", ["es"], ["partners"]).found == 1


def test_a_reader_with_nothing_visible_finds_nothing(client, make_article):
    # Whoosh treats an empty filter as no filter at all: neither backend may fall back to everything.
    make_article(slug="solo-staff", visibility="internal", category="drm")
    make_article(slug="solo-partners", visibility="partners", category="playback")
    assert backends.search("prueba", ["es"], ["public"]).found == 0
    assert backends.related(0, "es", "drm", ["prueba"], ["public"]) == []
    page = client.get("/kb/search?q=prueba&lang=es&category=drm").get_data(as_text=True)
    assert "solo-staff" not in page and "solo-partners" not in page
