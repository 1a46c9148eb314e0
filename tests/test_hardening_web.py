"""Hardening of the web core and the staff workflow (issue 9): query strings cannot steer url_for,
NUL bytes are refused before any view, ids cannot overflow, 429 pages, CSV cells stay data,
signed-in pages are not cached, HSTS, error bodies without exception text, JSON errors for the
webhook, a minimal Server header, and 422 for over-long staff input."""

from __future__ import annotations

import csv
import http.client
import io
import logging
import os
import re
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask import abort
from sqlalchemy import func, select
from werkzeug.exceptions import BadRequest, NotFound

from admin.workflow.csv_export import spreadsheet_cell
from auth import services as auth_services
from portal.core.extensions import db
from portal.core.types import utcnow
from portal.tickets import intake, workflow
from portal.tickets.models import Comment, Ticket
from tests.conftest import STATUS_REPORT, file_report, login

HUGE = "99999999999999999999"
BAD_IDS = [HUGE, "-1", "0", "1.5", "1e3", "abc", "\u00b2", "\uff11", " ", "2147483648"]
BAD_MINUTES = [HUGE, "-1", "0", "1.5", "1e3", "abc", "\u00b2", "2147483648"]


@pytest.fixture
def signed_in(app):
    """A fresh test client signed in as `user`."""

    def make(user):
        client = app.test_client()
        assert login(client, user.email).status_code == 302
        return client

    return make


def add_tickets(requester, count: int, first: int = 1, **fields) -> list[Ticket]:
    """`count` tickets stored directly (list pages need more than one page of them)."""
    now = utcnow()
    rows = [
        Ticket(
            reference=f"EDY-9{first + n:05d}",
            organization_id=requester.organization_id,
            requester_id=requester.id,
            form="technical",
            subject=f"Listed ticket {first + n}",
            description="d",
            created_at=now - timedelta(minutes=n),
            updated_at=now,
            **fields,
        )
        for n in range(count)
    ]
    db.session.add_all(rows)
    db.session.commit()
    return rows


# Item 4a: list pages pass only the parameters they own to url_for ------------------------------

URL_FOR_CONTROLS = [
    "_method=POST",
    "_external=1",
    "_scheme=javascript",
    "_anchor=x",
    "endpoint=x",
    "_external=1&_scheme=javascript",
    "page=2&_method=POST&_external=1",
]


@pytest.fixture
def long_lists(staff, partner, make_user):
    """More than one page of every paginated list outside the knowledge base, and who sees it."""
    add_tickets(partner, 26, 1, status="new")
    add_tickets(partner, 26, 101, status="assigned_l1", assignee_id=staff["l1"].id)
    add_tickets(partner, 26, 201, status="escalated_l3", tier=3)
    for number in range(26):
        auth_services.create_organization(staff["admin"], f"Listed organization {number}")
        make_user("agent_l1", email=f"listed{number}@edye.test")
    return {
        "/staff/triage": "admin",
        "/staff/work": "l1",
        "/staff/level3": "vp",
        "/admin/users": "admin",
        "/admin/organizations": "admin",
        "/admin/audit": "admin",
        "/tickets/": "partner",
    }


def test_list_pages_ignore_url_for_controls_in_the_query_string(long_lists, staff, partner, signed_in):
    clients = {name: signed_in(user) for name, user in [*staff.items(), ("partner", partner)]}
    for client in clients.values():  # the forged host must carry the session too
        client.set_cookie("session", client.get_cookie("session").value, domain="evil.test")
    for path, who in long_lists.items():
        for controls in URL_FOR_CONTROLS:
            for headers in ({}, {"HX-Request": "true"}):
                response = clients[who].get(f"{path}?{controls}", headers={"Host": "evil.test", **headers})
                body = response.get_data(as_text=True)
                assert response.status_code == 200, (path, controls, headers)
                assert 'rel="next"' in body or 'rel="prev"' in body, (path, controls)
                assert "evil.test" not in body and "javascript:" not in body, (path, controls)
                assert not re.search(r'href="[^"]*(_method|_external|_scheme|_anchor|endpoint)=', body), (
                    path,
                    controls,
                )


def test_queue_pagination_keeps_its_own_filters(long_lists, staff, signed_in):
    body = signed_in(staff["admin"]).get("/staff/triage?status=new&order=oldest&_external=1").get_data(as_text=True)
    next_link = re.search(r'<a href="([^"]+)"[^>]*rel="next"', body).group(1)
    assert "status=new" in next_link and "order=oldest" in next_link and "page=2" in next_link
    assert next_link.startswith("/staff/triage?") and "_external" not in next_link
    refresh = re.search(r'id="queue" hx-get="([^"]+)"', body).group(1)
    assert "status=new" in refresh and "_external" not in refresh


# Item 4b: a NUL byte anywhere in the request is a 400 before any view runs ---------------------


def _example_path(rule) -> str:
    values = {}
    for name, converter in rule._converters.items():
        kind = type(converter).__name__
        values[name] = (
            1
            if kind in ("DatabaseIdConverter", "IntegerConverter")
            else (sorted(converter.items)[0] if kind == "AnyConverter" else "x")
        )
    return rule.build(values, append_unknown=False)[1]


def test_nul_in_the_query_string_is_refused_on_every_route(app, staff, signed_in):
    client = signed_in(staff["admin"])
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(_example_path(rule) + "?q=a%00b", method=method)
            assert response.status_code == 400, (rule.rule, method, response.status_code)
            checked += 1
    assert checked > 40


@pytest.mark.parametrize(
    "request_args",
    [
        {"path": "/kb/search?q=edye%00"},
        {"path": "/kb/search?q%00=edye"},
        {"path": "/kb/es/a%00b"},
        {"path": "/tickets/%00"},
        {"path": "/login", "method": "POST", "data": {"email": "a\x00@example.test", "password": "x"}},
        {"path": "/login", "method": "POST", "data": {"em\x00ail": "a@example.test", "password": "x"}},
        {"path": "/language", "method": "POST", "data": {"language": "en", "next": "/\x00"}},
    ],
)
def test_nul_anywhere_is_a_clear_400(client, request_args):
    response = client.open(**request_args)
    assert response.status_code == 400
    assert b"Solicitud incorrecta" in response.data
    client.post("/language", data={"language": "en", "next": "/"})
    english = client.open(**request_args)
    assert english.status_code == 400 and b"null character" in english.data
    fragment = client.open(**request_args, headers={"HX-Request": "true"})
    assert fragment.status_code == 400 and b"<html" not in fragment.data and b"null character" in fragment.data


def test_nul_in_a_staff_form_stores_nothing(staff, signed_in, open_ticket):
    ticket = open_ticket()
    client = signed_in(staff["admin"])
    for data in ({"body": "note\x00"}, {"bo\x00dy": "note"}):
        assert client.post(f"/staff/tickets/{ticket.id}/note", data=data).status_code == 400
    upload = {"body": "note", "file": (io.BytesIO(b"x"), "a\x00.txt")}
    assert (
        client.post(f"/staff/tickets/{ticket.id}/note", data=upload, content_type="multipart/form-data").status_code
        == 400
    )
    assert db.session.scalar(select(func.count()).select_from(Comment).where(Comment.ticket_id == ticket.id)) == 0


# Item 4c: ids from forms and query strings ----------------------------------------------------


def test_queue_and_metrics_filters_with_bad_ids_are_ignored(staff, signed_in, partner):
    add_tickets(partner, 2, status="new")
    client = signed_in(staff["admin"])
    for value in BAD_IDS:
        for path in (
            "/staff/triage?organization_id={v}&assignee_id={v}&tier={v}&request_type={v}",
            "/staff/metrics?organization_id={v}&days={v}",
            "/staff/metrics/tickets-per-day.csv?organization_id={v}&days={v}",
            "/staff/metrics/first-response-times.csv?days={v}",
        ):
            response = client.get(path.format(v=value))
            assert response.status_code == 200, (path, value)
    filtered = client.get(f"/staff/triage?organization_id={HUGE}").get_data(as_text=True)
    assert "Listed ticket 1" in filtered  # not an id: no filter, every ticket listed


def test_staff_actions_with_bad_ids_answer_4xx_and_change_nothing(staff, signed_in, open_ticket):
    ticket = open_ticket()
    client = signed_in(staff["admin"])
    for value in BAD_IDS:
        assign = client.post(
            f"/staff/tickets/{ticket.id}/assign",
            data={"request_type": "technical", "priority": "normal", "agent_id": value},
        )
        assert assign.status_code == 422, value
        bulk = client.post(
            "/staff/triage/bulk-assign",
            data={
                "ticket_ids": [value, value],
                "request_type": "technical",
                "priority": "normal",
                "agent_id": staff["l1"].id,
            },
        )
        assert bulk.status_code == 422, value
    assert ticket.status == "new" and ticket.assignee_id is None
    too_many = client.post(
        "/staff/triage/bulk-assign",
        data={
            "ticket_ids": [str(n) for n in range(1, 200)],
            "request_type": "technical",
            "priority": "normal",
            "agent_id": staff["l1"].id,
        },
    )
    assert too_many.status_code == 422 and ticket.status == "new"
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
    file_report(staff["l1"], ticket)
    agent = signed_in(staff["l1"])
    for value in BAD_IDS:
        resolved = agent.post(f"/staff/tickets/{ticket.id}/resolve", data={"summary": "Fixed", "kb_article_id": value})
        assert resolved.status_code == 422, value
    for value in BAD_MINUTES:
        report = agent.post(f"/staff/tickets/{ticket.id}/reports", data={**STATUS_REPORT, "minutes_spent": value})
        assert report.status_code == 422, value
    assert ticket.status == "assigned_l1"


# Item 5 (global part): the 429 page ----------------------------------------------------------


class TestTooManyRequests:
    @pytest.fixture
    def app_config(self):
        return {"SEARCH_LIMIT_PER_CLIENT": "2 per minute", "LOGIN_LIMIT_PER_IP": "2 per minute"}

    @staticmethod
    def _exhaust(client, path="/kb/search?q=edye"):
        for _ in range(2):
            client.get(path)
        return client.get(path)

    def test_over_the_limit_in_spanish(self, client):
        response = self._exhaust(client)
        body = response.get_data(as_text=True)
        assert response.status_code == 429
        assert "Demasiados intentos" in body and re.search(r"\d+ (minuto|segundos)", body)
        assert 0 < int(response.headers["Retry-After"]) <= 60
        assert "per 1 minute" not in body and "2 per" not in body
        fragment = client.get("/kb/search?q=edye", headers={"HX-Request": "true"})
        assert fragment.status_code == 429 and b"<html" not in fragment.data and "Retry-After" in fragment.headers
        assert b"Demasiados intentos" in fragment.data

    def test_over_the_limit_in_english(self, client):
        client.post("/language", data={"language": "en", "next": "/"})
        response = self._exhaust(client)
        body = response.get_data(as_text=True)
        assert response.status_code == 429 and 0 < int(response.headers["Retry-After"]) <= 60
        assert "Too many attempts" in body and re.search(r"Try again in \d+ (minute|seconds)", body)

    def test_the_login_limit_keeps_retry_after(self, client):
        for _ in range(2):
            client.post("/login", data={"email": "nobody@example.test", "password": "wrong"})
        response = client.post("/login", data={"email": "nobody@example.test", "password": "wrong"})
        assert response.status_code == 429 and 0 < int(response.headers["Retry-After"]) <= 60
        assert b"2 per 1 minute" not in response.data


# Item 8: CSV exports -------------------------------------------------------------------------

HOSTILE_NAMES = ['=HYPERLINK("http://x")', "+1", "@SUM(1)", "-2+3"]


def test_spreadsheet_cells_neutralize_every_formula_trigger():
    for text in ['=HYPERLINK("http://x")', "+1", "-1", "@SUM(1)", "\t=1", "\r=1"]:
        assert spreadsheet_cell(text) == "'" + text
    assert spreadsheet_cell("Ana = admin") == "Ana = admin" and spreadsheet_cell(None) == ""
    assert spreadsheet_cell(-3) == -3 and spreadsheet_cell(0.25) == 0.25


def test_csv_exports_neutralize_formulas_and_keep_numbers(app, make_user, signed_in):
    admin = make_user("ticket_admin", name=HOSTILE_NAMES[1])
    agent = make_user("agent_l1", name=HOSTILE_NAMES[2])
    author = make_user("partner", name=HOSTILE_NAMES[0])
    ticket = intake.create_ticket(
        author, "technical", '=HYPERLINK("http://x") subject', "Playback stops after ten seconds on every device.", {}
    )
    workflow.classify_and_assign(admin, ticket, "technical", "normal", agent)
    add_tickets(
        author,
        1,
        500,
        status="assigned_l1",
        assignee_id=agent.id,
        request_type="technical",
        sla_due_at=utcnow() - timedelta(hours=1),
    )
    client = signed_in(admin)
    exported = []
    for path in (
        "/staff/audit.csv",
        "/staff/metrics/sla-per-agent-week.csv",
        "/staff/metrics/tickets-per-day.csv",
        "/staff/metrics/first-response-times.csv",
        "/staff/metrics/backlog.csv",
    ):
        response = client.get(path)
        assert response.status_code == 200 and response.mimetype == "text/csv"
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
        for row in rows:
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (path, cell)
        exported.append((response.get_data(as_text=True), rows))
    _audit_text, audit = exported[0]
    assert {"'" + HOSTILE_NAMES[0], "'" + HOSTILE_NAMES[1]} <= {row[2] for row in audit[1:]}
    weekly_text, weekly = exported[1]
    assert "'" + HOSTILE_NAMES[2] in {row[1] for row in weekly[1:]}
    # met, breached and the share are numbers (unquoted); the agent's name is quoted text
    assert re.search(r'^"[0-9-]+","\'@SUM\(1\)","technical",\d+,\d+,[0-9.]+\r?$', weekly_text, re.MULTILINE)
    per_day_text, per_day = exported[2]
    assert sum(int(row[4]) for row in per_day[1:]) == 2 and re.search(
        r'^"[0-9-]+",\d+,\d+,\d+,\d+\r?$', per_day_text, re.MULTILINE
    )


# Item 12: no caching of what a signed-in user sees; HSTS --------------------------------------


def test_signed_in_pages_and_exports_are_not_stored(client, login_as, open_ticket):
    for anonymous in (client.get("/kb/"), client.get("/kb/")):
        assert anonymous.status_code == 200 and "no-store" not in anonymous.headers.get("Cache-Control", "")
    assert "Cookie" in anonymous.headers["Vary"]
    assert "no-store" not in client.get("/static/css/portal.css").headers.get("Cache-Control", "")
    login_as("ticket_admin")
    for path in (
        "/",
        "/kb/",
        "/staff/triage",
        "/staff/audit.csv",
        "/staff/metrics/backlog.csv",
        "/admin/users",
        "/no-such-page",
    ):
        response = client.get(path)
        assert response.headers["Cache-Control"] == "no-store", path
    assert "no-store" not in client.get("/static/css/portal.css").headers.get("Cache-Control", "")


def test_no_strict_transport_security_unless_configured(client):
    assert "Strict-Transport-Security" not in client.get("/").headers


class TestStrictTransportSecurity:
    @pytest.fixture
    def app_config(self):
        return {"STRICT_TRANSPORT_SECURITY": "max-age=63072000; includeSubDomains"}

    def test_every_response_carries_the_configured_header(self, client):
        for path in ("/", "/no-such-page", "/healthz", "/static/css/portal.css"):
            assert client.get(path).headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"


# Item 17: error bodies, the webhook's JSON errors, the Server header -------------------------


def test_only_the_portals_own_messages_reach_error_pages(app):
    @app.get("/library-error-for-test")
    def library_error():
        raise BadRequest("Failed to decode JSON object: secret-token-123")

    @app.get("/library-not-found-for-test")
    def library_not_found():
        raise NotFound("/srv/portal/secret-path not found")

    @app.get("/portal-conflict-for-test")
    def portal_conflict():
        abort(409, description="Someone else changed this ticket.")

    client = app.test_client()
    for path, status in (("/library-error-for-test", 400), ("/library-not-found-for-test", 404)):
        response = client.get(path)
        assert response.status_code == status and b"secret" not in response.data
    conflict = client.get("/portal-conflict-for-test")
    assert conflict.status_code == 409 and b"Someone else changed this ticket." in conflict.data


class TestCsrfFailure:
    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_a_missing_token_says_the_session_expired(self, client):
        response = client.post("/language", data={"language": "en", "next": "/"})
        assert response.status_code == 400
        assert "Tu sesión caducó".encode() in response.data and b"token is missing" not in response.data


def test_webhook_errors_before_the_view_are_json(client, app):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    cases = [
        (client.get("/integrations/zendesk/webhook"), 405),
        (client.get("/integrations/zendesk/no-such-hook"), 404),
        (client.post("/integrations/zendesk/webhook?x=%00", json={"ticket": {"id": 1}}), 400),
        (
            client.post(
                "/integrations/zendesk/webhook", data=b"{" + b" " * 5000 + b"}", content_type="application/json"
            ),
            413,
        ),
    ]
    for response, status in cases:
        assert response.status_code == status and response.mimetype == "application/json", status
        assert set(response.json) == {"error"} and response.json["error"], status
    assert "null character" in cases[2][0].json["error"]
    assert "POST" in cases[0][0].headers["Allow"]


def test_access_log_lines_cannot_be_forged_through_the_path(client, caplog):
    access = logging.getLogger("portal.access")
    caplog.set_level(logging.INFO, logger="portal.access")
    access.addHandler(caplog.handler)
    try:
        client.get("/kb/x%0A2026-01-01 INFO [abc] portal.access: GET / 200%0D")
    finally:
        access.removeHandler(caplog.handler)
    lines = [record.getMessage() for record in caplog.records if record.name == "portal.access"]
    assert lines and all("\n" not in line and "\r" not in line for line in lines)
    assert any("/kb/x\\x0a2026-01-01" in line for line in lines)


def test_the_portal_sets_no_server_header(client):
    # Werkzeug's development server and gunicorn both write their own Server header before the
    # application's headers, so a value set here would only add a second one.
    for path in ("/", "/no-such-page", "/healthz"):
        assert "Server" not in client.get(path).headers


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_gunicorn_names_itself_without_a_version(tmp_path):
    port = _free_port()
    root = Path(__file__).resolve().parent.parent
    environment = {
        **os.environ,
        "PORTAL_ENV": "testing",
        "SECRET_KEY": "x",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'gunicorn.sqlite3'}",
        "SEARCH_INDEX_DIR": str(tmp_path / "index"),
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1", "wsgi:app"],
        cwd=root,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/healthz")
                response = connection.getresponse()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "gunicorn did not start"
                time.sleep(0.2)
        assert response.status == 200
        assert response.msg.get_all("Server") == ["gunicorn"]
        connection.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


# Staff workspace: InvalidInput from the ticket services is a 422 ------------------------------


def test_an_over_long_note_is_refused_with_422_and_nothing_stored(staff, signed_in, open_ticket):
    ticket = open_ticket()
    client = signed_in(staff["admin"])
    for headers in ({}, {"HX-Request": "true"}):
        response = client.post(f"/staff/tickets/{ticket.id}/note", data={"body": "x" * 50_000}, headers=headers)
        assert response.status_code == 422
        assert ticket.reference.encode() in response.data and b'class="toast toast-error"' in response.data
    assert db.session.scalar(select(func.count()).select_from(Comment).where(Comment.ticket_id == ticket.id)) == 0
