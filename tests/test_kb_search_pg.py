"""The PostgreSQL search backend (SEARCH_BACKEND=postgres): searched through the web page and the
shell, visibility, the index written in the article's own transaction, `flask kb reindex`, the
word analysis (typos, accents, error codes, synonyms, the other language); the relevance
evaluation runs on both backends in test_kb_eval. Runs only when the tests run on PostgreSQL (TEST_DATABASE_URL)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from kb import backends, services
from kb.models import Article
from portal import create_app
from portal.core.config import ConfigError
from portal.core.extensions import db
from tests.conftest import config_for_tests, run_cli
from tests.kb_eval import PARTNER_VISIBILITIES

MIGRATION = Path(__file__).resolve().parent.parent / "migrations" / "versions" / "0018_kb_search_postgres.py"
ON_POSTGRES = (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql")
needs_postgres = pytest.mark.skipif(not ON_POSTGRES, reason="the PostgreSQL backend needs TEST_DATABASE_URL")


def test_the_postgres_backend_refuses_another_database(tmp_path):
    with pytest.raises(ConfigError, match="PostgreSQL"):
        create_app(config_for_tests(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path, SEARCH_BACKEND="postgres"))
    with pytest.raises(ConfigError, match="SEARCH_BACKEND"):
        create_app(config_for_tests(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path, SEARCH_BACKEND="solr"))


def create_search_tables(database_url: str) -> None:
    """The session database gets its tables from the models: add the search's from its migration."""
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        if not sa.inspect(connection).has_table("kb_search_documents"):
            spec = importlib.util.spec_from_file_location("migration_0018", MIGRATION)
            migration = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(migration)
            with Operations.context(MigrationContext.configure(connection)):
                migration.upgrade()
    engine.dispose()


@pytest.fixture(scope="module")
def search_tables(database_url):
    create_search_tables(database_url)


@pytest.fixture
def app_config(search_tables):
    return {"SEARCH_BACKEND": "postgres"}


@pytest.fixture(autouse=True)
def no_words_of_other_tests(request):
    if ON_POSTGRES and "app" in request.fixturenames:
        request.getfixturevalue("app")
        db.session.execute(sa.text("DELETE FROM kb_search_words"))
        db.session.commit()


@pytest.fixture
def make_article(app):
    def make(slug="guia", language="es", title="Guía de prueba", body="Texto de prueba.", visibility="partners", **kw):
        text = services.ArticleText(
            title, body, kw.get("category", "playback"), list(kw.get("tags", ("prueba",))), visibility, "v1", True
        )
        return services.create_article(None, language, slug, text, translation=kw.get("translation"))

    return make


def slugs(query: str, language: str = "es", visibilities=PARTNER_VISIBILITIES, **kw) -> list[str]:
    return [hit.slug for hit in backends.search(query, [language], visibilities, **kw).hits]


@needs_postgres
def test_the_web_search_uses_postgres_and_no_index_folder(app, client, make_article, tmp_path):
    make_article(title="Error de reproducción", body="El video no arranca en el televisor.", visibility="public")
    page = client.get("/kb/search?q=televisor&lang=es")
    assert page.status_code == 200 and b"/kb/es/guia" in page.data
    assert b"<mark>televisor</mark>" in page.data
    assert not (tmp_path / "search-index").exists()


@needs_postgres
def test_internal_articles_are_never_found_by_partners(app, make_article):
    make_article(slug="interno", title="Procedimiento interno de escalado", visibility="internal")
    make_article(slug="socios", title="Procedimiento de escalado para socios", visibility="partners")
    assert slugs("escalado") == ["socios"]
    assert sorted(slugs("escalado", visibilities=("public", "partners", "internal"))) == ["interno", "socios"]
    assert slugs("escalado", visibilities=("public",)) == []


@needs_postgres
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


@needs_postgres
def test_reindex_rebuilds_from_the_database_with_progress(app, make_article):
    for number in range(3):
        make_article(slug=f"guia-{number}", title=f"Guía del control remoto {number}")
    db.session.execute(sa.text("DELETE FROM kb_search_documents"))
    db.session.commit()
    assert slugs("control remoto") == []
    result = run_cli(app, "kb", "reindex")
    assert result.exit_code == 0, result.output
    assert "Indexing articles" in result.output and "3 articles indexed in kb_search_documents" in result.output
    assert sorted(slugs("control remoto")) == ["guia-0", "guia-1", "guia-2"]


@needs_postgres
def test_typos_accents_and_the_word_being_typed(app, make_article):
    make_article(slug="subtitulos", title="Subtítulos desincronizados", body="Cómo ajustar los subtítulos.")
    make_article(slug="otra", title="Pagos y facturación", body="Las facturas llegan cada mes.")
    assert slugs("subtitulos")[0] == "subtitulos"  # without accents
    results = backends.search("subtitlos desincronisados", ["es"], PARTNER_VISIBILITIES)
    assert [hit.slug for hit in results.hits] == ["subtitulos"]
    assert results.corrected_words == {"subtitlos": "subtítulos", "desincronisados": "desincronizados"}
    assert slugs("factur")[0] == "otra"  # the last word, still being typed


@needs_postgres
def test_error_codes_are_found_however_they_are_typed(app, make_article):
    make_article(slug="edy", title="Error EDY-4031 al reproducir", body="La licencia DRM EDY-4031 caducó.")
    make_article(slug="otro", title="Error EDY-4032 en el televisor", body="Otro código: EDY-4032.")
    for typed in ("EDY-4031", "edy4031", "EDY 4031"):
        assert slugs(typed) == ["edy"], typed


@needs_postgres
def test_synonyms_phrases_and_the_other_language(app, make_article):
    english = make_article(slug="buffering-en", language="en", title="Video keeps buffering", body="Check the network.")
    make_article(slug="buffering", title="El video hace buffering", body="Revisa la red.", translation=english)
    make_article(slug="lento", title="Página lenta", body="La página tarda en cargar por la red.")
    assert slugs("la app se queda cargando")[0] == "buffering"  # a synonym phrase
    assert slugs("stuck loading", language="en") == ["buffering-en"]
    assert slugs("keeps buffering network")[0] == "buffering"  # English words, a Spanish answer


@needs_postgres
def test_related_articles_share_tags_first(app, make_article):
    article = make_article(slug="a", tags=("drm", "widevine"))
    make_article(slug="b", tags=("widevine",), category="drm")
    make_article(slug="c", tags=("otro",))
    related = backends.related(article.id, "es", "playback", ["drm", "widevine"], PARTNER_VISIBILITIES)
    assert [hit.slug for hit in related] == ["b", "c"]
