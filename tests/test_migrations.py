"""Alembic migrations: upgrade from empty, downgrade to base, and no drift from the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from kb.index_pg import TABLES as POSTGRES_SEARCH_TABLES
from portal import create_app
from portal.core.extensions import db
from tests.conftest import config_for_tests, fresh_database


def _not_postgres_search_table(name, type_, parent_names) -> bool:
    return not (type_ == "table" and name in POSTGRES_SEARCH_TABLES)


def test_upgrade_matches_models_and_downgrade_empties(tmp_path):
    with fresh_database(tmp_path) as url:
        app = create_app(config_for_tests(url, tmp_path))
        with app.app_context():
            upgrade()
            with db.engine.connect() as connection:
                # The PostgreSQL search's tables are the migrations' alone: no model maps them.
                context = MigrationContext.configure(
                    connection, opts={"compare_type": True, "include_name": _not_postgres_search_table}
                )
                diff = compare_metadata(context, db.metadata)
                tables = set(sa.inspect(connection).get_table_names())
            assert diff == [], f"models and migrations disagree: {diff}"
            assert {"users", "organizations", "audit_log", "alembic_version"} <= tables
            downgrade(revision="base")
            with db.engine.connect() as connection:
                remaining = set(sa.inspect(connection).get_table_names()) - {"alembic_version"}
            assert remaining == set()
            upgrade()
            db.engine.dispose()
