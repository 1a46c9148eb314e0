"""A portal database for one benchmark run: a SQLite file, or a PostgreSQL database made on a
server for the run and dropped after it (the PostgreSQL search backend needs one).

The scripts run as files (`.venv/bin/python bench/<script>.py`), so this folder is on their path.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from portal.core.extensions import db

POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextmanager
def bench_database(backend: str, workdir: Path, server: str, name: str):
    """The URL of an empty database for one run: a SQLite file in `workdir` for Whoosh, a new
    database on `server` for PostgreSQL (dropped afterwards)."""
    if backend == "whoosh":
        yield f"sqlite:///{workdir / 'bench.sqlite3'}"
        return
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def create_schema(app) -> None:
    """The tables: the migrations on PostgreSQL (the search's tables are PostgreSQL-only), the
    models on SQLite."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            result = app.test_cli_runner().invoke(args=["db", "upgrade"])
            assert result.exit_code == 0, result.output
        else:
            db.create_all()
