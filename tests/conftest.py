"""Shared fixtures: one database per test session (SQLite, or PostgreSQL via TEST_DATABASE_URL),
emptied after every test, and helpers to create users and sign in."""

from __future__ import annotations

import os
import threading
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from portal import create_app
from portal.core.extensions import db

# Fixtures of the knowledge-base tests: articles, and the search backends.
pytest_plugins = ["tests.kb_fixtures"]

FAST_HASH = "pbkdf2:sha256:1000"


@contextmanager
def fresh_postgres_database(base_url: str):
    """Create a uniquely named database on the server of `base_url`, yield its URL, drop it."""
    url = make_url(base_url)
    name = f"portal_test_{uuid.uuid4().hex[:12]}"
    admin_engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin_engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


@contextmanager
def fresh_database(directory):
    """A new empty database of the kind this test run uses."""
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        with fresh_postgres_database(base) as url:
            yield url
    else:
        yield f"sqlite:///{directory / f'{uuid.uuid4().hex}.sqlite3'}"


def config_for_tests(database_url: str, tmp_path, **extra) -> dict:
    config = {
        "PORTAL_ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SEARCH_INDEX_DIR": str(tmp_path / "search-index"),
        "ATTACHMENTS_DIR": str(tmp_path / "attachments"),
        "PASSWORD_HASH_METHOD": FAST_HASH,
        "WTF_CSRF_ENABLED": False,
        "LOG_LEVEL": "WARNING",
    }
    config.update(extra)
    return config


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """The session's database, with every table created once."""
    with fresh_database(tmp_path_factory.mktemp("db")) as url:
        app = create_app(config_for_tests(url, tmp_path_factory.mktemp("setup")))
        with app.app_context():
            db.create_all()
            install_shipped_categories()
            db.engine.dispose()
        yield url


def install_shipped_categories() -> None:
    """The categories a migrated database starts with (migration 0017 adds them; `db.create_all()`
    does not), from the file that ships them."""
    from kb.category_file import CATEGORIES_FILE, import_categories

    import_categories(Path(__file__).resolve().parent.parent / "content" / "kb" / CATEGORIES_FILE)


def empty_all_tables() -> None:
    db.session.rollback()
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        # Articles and revisions point at each other, so only a truncation of all tables at once
        # satisfies PostgreSQL's foreign keys.
        db.session.execute(sa.text(f"TRUNCATE {', '.join(t.name for t in tables)} RESTART IDENTITY CASCADE"))
    else:
        from kb.models import Article

        db.session.execute(sa.update(Article).values(published_revision_id=None, translation_id=None))
        # Core deletes bypass the ORM guard that keeps the audit log append-only.
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()
    install_shipped_categories()


@pytest.fixture
def app_config():
    """Extra settings a test module wants (override this fixture)."""
    return {}


class IsolatedClient(FlaskClient):
    """Runs every request in its own application context, as a real server does (fresh `g`,
    own database session), then expires the test's objects so assertions read what was stored."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        db.session.expire_all()
        return response


@contextmanager
def serving(application):
    """`application` in its context with isolated test clients; its tables are emptied afterwards."""
    application.test_client_class = IsolatedClient
    with application.app_context():
        yield application
        empty_all_tables()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(database_url, tmp_path, app_config):
    with serving(create_app(config_for_tests(database_url, tmp_path, **app_config))) as application:
        yield application


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def live_portal(app):
    """The test app served over real HTTP on a free port of 127.0.0.1 for one test; its base URL.
    Threaded: the portal answers one request (a fake's webhook call) while the test thread waits
    on a fake that made it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def make_user(app):
    """Create a user of a role; partners get (or share) an organization."""
    from auth import services
    from auth.models import Role

    counter = iter(range(1, 10_000))

    def make(role="partner", email=None, password="correct horse battery", organization=None, **fields):
        number = next(counter)
        if role == Role.PARTNER and organization is None:
            organization = services.find_or_create_organization(None, "Org A")
        user, _ = services.create_user(
            None,
            email or f"{role}{number}@example.test",
            fields.pop("name", f"{role.replace('_', ' ').title()} {number}"),
            role,
            organization if role == Role.PARTNER else None,
            fields.pop("language", "es"),
            password=password,
        )
        return user

    return make


def login(client, email, password="correct horse battery", **extra):
    return client.post("/login", data={"email": email, "password": password, **extra})


def change_password(client, current, new):
    """Post the password-change form, the new password typed twice."""
    return client.post(
        "/account/password", data={"current_password": current, "new_password": new, "confirm_password": new}
    )


def run_cli(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def create_user_command(app, role, email, name, password=None, organization=None, input=None):
    """`flask users create`; without `password` the command prompts for one (answered from `input`)."""
    options = ["--role", role, "--email", email, "--name", name]
    if password is not None:
        options += ["--password", password]
    if organization is not None:
        options += ["--org", organization]
    return run_cli(app, "users", "create", *options, input=input)


@pytest.fixture
def login_as(client, make_user):
    """Create a user of `role` and sign the test client in as them."""

    def sign_in(role="partner", **fields):
        user = make_user(role, **fields)
        response = login(client, user.email)
        assert response.status_code == 302, response.data[:500]
        return user

    return sign_in


class QueryCounter:
    def __init__(self):
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(app):
    """Context manager counting the SQL statements run inside it."""

    @contextmanager
    def counting():
        counter = QueryCounter()
        sa.event.listen(db.engine, "before_cursor_execute", counter)
        try:
            yield counter
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", counter)

    return counting


def serving_fake(app, fake, **settings):
    """Run `fake` on 127.0.0.1 for the test, with the portal's `settings` (which point at it)."""
    with fake:
        app.config.update(settings)
        yield fake


# Outbox timing for tests against fakes: short retries, and timeouts a busy machine still meets (the
# fakes' "slow" fault outlasts them; the chaos test tightens them on purpose).
QUICK_OUTBOX = {
    "OUTBOX_CONNECT_TIMEOUT": 1.0,
    "OUTBOX_READ_TIMEOUT": 1.0,
    "OUTBOX_RETRY_BASE_SECONDS": 1.0,
    "OUTBOX_RETRY_MAX_SECONDS": 30.0,
    "OUTBOX_RATE_LIMIT_PAUSE_SECONDS": 5.0,
}


@pytest.fixture
def fake_zendesk(app):
    """A fake Zendesk on 127.0.0.1, configured as the portal's Zendesk, with short timeouts."""
    from tests.fakes.zendesk import FakeZendesk

    fake = FakeZendesk()
    zendesk = {"ZENDESK_BASE_URL": fake.url, "ZENDESK_EMAIL": fake.email, "ZENDESK_API_TOKEN": fake.token}
    yield from serving_fake(app, fake, **zendesk, **QUICK_OUTBOX)


ZENDESK_WEBHOOK_SECRET = "whsec-round-trip"
# A Zendesk update waits for the portal's answers to its webhook events when the fake sends them
# before answering (the echo race): the worker's read timeout must outlast them.
ROUND_TRIP_READ_TIMEOUT = 5.0


@pytest.fixture
def fake_zendesk_with_webhook(app, live_portal):
    """A fake Zendesk that calls the live portal's webhook itself, signed with the portal's secret;
    its API user is the portal's integration user (`ZENDESK_INTEGRATION_USER_ID`)."""
    from tests.fakes.zendesk_events import WEBHOOK_URL, FakeZendeskWithWebhook

    fake = FakeZendeskWithWebhook(webhook_url=live_portal + WEBHOOK_URL, webhook_secret=ZENDESK_WEBHOOK_SECRET)
    yield from serving_fake(
        app,
        fake,
        ZENDESK_BASE_URL=fake.url,
        ZENDESK_EMAIL=fake.email,
        ZENDESK_API_TOKEN=fake.token,
        ZENDESK_WEBHOOK_SECRET=ZENDESK_WEBHOOK_SECRET,
        ZENDESK_INTEGRATION_USER_ID=fake.api_user_id,
        **{**QUICK_OUTBOX, "OUTBOX_READ_TIMEOUT": ROUND_TRIP_READ_TIMEOUT},
    )


@pytest.fixture
def staff(make_user):
    """One user of each staff role."""
    return {
        "admin": make_user("ticket_admin", email="admin@edye.test", name="Ana Admin"),
        "l1": make_user("agent_l1", email="l1@edye.test", name="Luis Uno"),
        "l2": make_user("agent_l2", email="l2@edye.test", name="Marta Dos"),
        "vp": make_user("vp", email="vp@edye.test", name="Victoria VP"),
    }


@pytest.fixture
def partner(make_user):
    return make_user("partner", email="pablo@andes.test", name="Pablo Partner")


@pytest.fixture
def clients(app, staff, partner):
    """A signed-in test client for each staff member (by `staff` key) and the partner."""
    made = {}
    for name, user in [*staff.items(), ("partner", partner)]:
        made[name] = app.test_client()
        assert login(made[name], user.email).status_code == 302
    return made


TECHNICAL = {
    "subject": "Playback fails on Roku",
    "description": "Since this morning every episode stops after 10 seconds on our Roku app.",
    "service": "EDYE app",
    "device": "Roku Ultra",
    "app_version": "3.2.1",
    "region": "Colombia",
    "content_id": "ep-1234",
    "error_code": "EDY-4031",
    "started_at": "today 08:00",
    "impact": "many",
}


# A moment in business hours under the shipped calendar (a Wednesday, 10:00 in New York). Tests
# whose outcome depends on the hours create their tickets at a fixed moment, or close the days
# around now (`closed_today`): created now, a ticket is out of hours on evenings and weekends, and
# the first contact is notified as well.
BUSINESS_HOURS_MOMENT = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


def closed_today() -> None:
    """Every hour around now is outside business hours: today and its neighbours are holidays."""
    from portal.sla import services as sla

    today = date.today()
    days = [today + timedelta(days=offset) for offset in (-1, 0, 1)]
    sla.settings().extra_holidays = [{"date": day.isoformat(), "name": "Closed"} for day in days]
    db.session.commit()


@pytest.fixture
def open_ticket(partner):
    """Create a technical ticket for the partner through the service (now, or at `now`)."""
    from portal.tickets import intake
    from portal.tickets.models import TECHNICAL_DETAILS

    def create(user=None, now=None, **overrides):
        values = {**TECHNICAL, **overrides}
        details = {key: values[key] for key in TECHNICAL_DETAILS}
        return intake.create_ticket(
            user or partner, "technical", values["subject"], values["description"], details, now=now
        )

    return create


# A status report with the procedure's minimum content (§4, §15), as the workspace's form sends it.
# An agent files one before resolving a ticket or giving it back: the policy requires it.
STATUS_REPORT = {
    "actions_taken": "Reproduced the error on a test device.",
    "minutes_spent": "15",
    "relevant_information": "It started with version 3.2.1.",
}


def file_report(agent, ticket, now=None):
    """`agent` files `STATUS_REPORT` on `ticket` through the service, as the workspace does."""
    from portal.tickets import workflow

    return workflow.file_status_report(
        agent,
        ticket,
        STATUS_REPORT["actions_taken"],
        int(STATUS_REPORT["minutes_spent"]),
        STATUS_REPORT["relevant_information"],
        now=now,
    )


@pytest.fixture
def send_solution(staff):
    """Send a ticket's solution to its partner the way production does: the administrator assigns it
    to a level-1 agent (`agent`, by default the staff's), who files a status report and resolves it
    without a KB change, and the administrator notifies the partner, who is asked to confirm. Every
    step happens at `now`."""
    from portal.tickets import workflow

    def send(ticket, message="Reinstall the app from the store.", agent=None, now=None):
        agent = agent or staff["l1"]
        workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", agent, now=now)
        file_report(agent, ticket, now=now)
        workflow.resolve(agent, ticket, "Reinstalled the app.", no_kb_reason="Nothing new to document.", now=now)
        return workflow.notify_partner(staff["admin"], ticket, message, now=now)

    return send


# The fake board's columns (tests.fakes.monday.BOARD_COLUMNS): the reference in the older plain
# form (a text column), the others with their types.
MONDAY_BOARD = {
    "MONDAY_BOARD_ID": "4242",
    "MONDAY_GROUP_ID": "topics",
    "MONDAY_COLUMNS": {
        "reference": "text_ref",
        "type": {"id": "text_type", "type": "text"},
        "status": {"id": "status", "type": "status"},
        "tier": {"id": "numbers_tier", "type": "numbers"},
        "assignee": {"id": "people_assignee", "type": "people"},
        "sla_due": {"id": "date_sla_due", "type": "date"},
    },
}


@pytest.fixture
def fake_monday(app):
    from tests.fakes.monday import FakeMonday

    fake = FakeMonday()
    yield from serving_fake(app, fake, MONDAY_API_URL=fake.url, MONDAY_API_TOKEN=fake.token, **MONDAY_BOARD)


@pytest.fixture
def fake_slack(app):
    from tests.fakes.slack import FakeSlack

    fake = FakeSlack()
    # Paced, but quickly: the tests of Slack's one message a second ask for the real interval.
    yield from serving_fake(app, fake, SLACK_WEBHOOK_URL=fake.url, SLACK_MESSAGE_INTERVAL_SECONDS=0.01)


MAIL_SENDER = "EDYE Soporte <soporte@edye.test>"


@pytest.fixture
def fake_smtp(app):
    """A real SMTP server on 127.0.0.1 (aiosmtpd), configured as the portal's mail server."""
    from tests.fakes.smtp import HOST, FakeSmtp

    fake = FakeSmtp()
    yield from serving_fake(app, fake, MAIL_SERVER=HOST, MAIL_PORT=fake.port, MAIL_DEFAULT_SENDER=MAIL_SENDER)


@pytest.fixture
def matrix(app):
    """The shipped escalation matrix, loaded; its rows by key."""
    from portal.sla import services as sla

    sla.import_matrix(Path(__file__).resolve().parent.parent / "content" / "escalation_matrix.yaml")
    return {row.key: row for row in sla.rows()}
