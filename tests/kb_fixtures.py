"""Fixtures of the knowledge-base tests (a pytest plugin, see conftest): articles made through the
service, and the search backends, so that every search test runs on both."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from portal.core.config import SearchBackend

MIGRATION = Path(__file__).resolve().parent.parent / "migrations" / "versions" / "0018_kb_search_postgres.py"
ON_POSTGRES = (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql")
needs_postgres = pytest.mark.skipif(not ON_POSTGRES, reason="the PostgreSQL backend needs TEST_DATABASE_URL")


# Words the Whoosh backend cannot tell together from apart: its index keeps no word positions.
WORDS_APART_IN_WHOOSH = "the Whoosh index keeps no word positions: it cannot tell words together from apart"


def expect_whoosh_to_miss_words_apart(request, search_backend) -> None:
    """On Whoosh, the test is expected to fail on its assertion (and must: a pass is reported)."""
    if search_backend == SearchBackend.WHOOSH:
        request.applymarker(pytest.mark.xfail(reason=WORDS_APART_IN_WHOOSH, strict=True))


def count_the_words(app, search_backend) -> None:
    """What switching backends leaves, which the portal's searches assume: on PostgreSQL a rebuild
    counts how many articles use each word (incremental writes leave the counts for later)."""
    if search_backend == SearchBackend.POSTGRES:
        from tests.conftest import run_cli

        result = run_cli(app, "kb", "reindex")
        assert result.exit_code == 0, result.output


def postgres_backend_only(test):
    """Run `test` on the PostgreSQL search backend alone (when the tests run on PostgreSQL)."""
    return needs_postgres(pytest.mark.parametrize("search_backend", [SearchBackend.POSTGRES], indirect=True)(test))


def create_search_tables(database_url: str) -> None:
    """The session database gets its tables from the models: add the search's from its migration,
    and start them empty (the words outlive the articles that the tests' cleanup deletes)."""
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("SET LOCAL lock_timeout = '10s'"))  # a leftover connection fails fast
        if not sa.inspect(connection).has_table("kb_search_documents"):
            spec = importlib.util.spec_from_file_location("migration_0018", MIGRATION)
            migration = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(migration)
            with Operations.context(MigrationContext.configure(connection)):
                migration.upgrade()
        connection.execute(sa.text("TRUNCATE kb_search_documents, kb_search_words"))
    engine.dispose()


@pytest.fixture(params=list(SearchBackend))
def search_backend(request, database_url) -> SearchBackend:
    """Each search backend in turn; PostgreSQL's only when the tests run on PostgreSQL. A module
    whose tests search on both asks for it in its `app_config`."""
    if request.param == SearchBackend.POSTGRES:
        if not ON_POSTGRES:
            pytest.skip("the PostgreSQL backend needs TEST_DATABASE_URL")
        create_search_tables(database_url)
    return request.param


@pytest.fixture
def make_article(app):
    """Create (and by default publish) an article through the service."""
    from kb import services

    def make(
        slug="guia",
        language="es",
        title="Guía de prueba",
        body="Texto de **prueba**.",
        category="playback",
        tags=("prueba",),
        visibility="partners",
        publish=True,
        translation=None,
    ):
        text = services.ArticleText(
            title, body, category, list(tags), visibility, note="primera versión" if publish else "", publish=publish
        )
        return services.create_article(None, language, slug, text, translation=translation)

    return make
