"""App factory, configuration, response headers, errors and the health check."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from portal import create_app
from portal.core.config import ConfigError


def test_production_without_secret_key_refuses_to_start(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("PORTAL_ENV", "production")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3"})


def test_production_with_secret_key_starts_with_secure_cookies(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-real-secret")
    monkeypatch.setenv("RATELIMIT_ALLOW_MEMORY", "1")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_production_refuses_per_process_limit_counters_unless_allowed(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-real-secret")
    monkeypatch.delenv("RATELIMIT_STORAGE_URI", raising=False)
    monkeypatch.delenv("RATELIMIT_ALLOW_MEMORY", raising=False)
    with pytest.raises(ConfigError, match="RATELIMIT_STORAGE_URI"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3"})
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3"})
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379"
    assert app.config["STRICT_TRANSPORT_SECURITY"].startswith("max-age=")


def test_unknown_environment_is_refused(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "staging-ish")
    with pytest.raises(ConfigError, match="PORTAL_ENV"):
        create_app()


def test_development_generates_a_secret_key_once(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("PORTAL_ENV", raising=False)
    from portal.core.config import load

    first = load(tmp_path)["SECRET_KEY"]
    assert len(first) == 64
    assert load(tmp_path)["SECRET_KEY"] == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_test_config_uses_temporary_database_and_index(app, tmp_path):
    assert Path(app.config["SEARCH_INDEX_DIR"]).is_relative_to(tmp_path)
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    assert "instance" not in uri and uri != "sqlite:///portal.sqlite3"
    assert app.config["MAX_CONTENT_LENGTH"] > 0


def test_environment_variables_configure_the_app(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_TIMEZONE", "America/Bogota")
    monkeypatch.setenv("SEARCH_INDEX_DIR", str(tmp_path / "idx"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/env.sqlite3")
    app = create_app({"SECRET_KEY": "x"})
    assert app.config["BABEL_DEFAULT_TIMEZONE"] == "America/Bogota"
    assert app.config["SEARCH_INDEX_DIR"] == str(tmp_path / "idx")
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("env.sqlite3")


def test_healthz_reports_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_healthz_reports_unreachable_database(monkeypatch, tmp_path):
    app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/db.sqlite3"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"


def test_security_headers_on_every_response(client):
    for path in ("/", "/login", "/does-not-exist", "/healthz"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"


def test_pages_have_no_inline_script(client):
    body = client.get("/login").get_data(as_text=True)
    assert "<script>" not in body and "onclick" not in body.lower()
    assert 'src="/static/vendor/htmx-2.0.11/htmx.min.js"' in body


def test_vary_on_hx_request_and_fragment_for_htmx(client, login_as):
    login_as("ticket_admin")
    page = client.get("/admin/users")
    fragment = client.get("/admin/users", headers={"HX-Request": "true"})
    boosted = client.get("/admin/users", headers={"HX-Request": "true", "HX-Boosted": "true"})
    for response in (page, fragment, boosted):
        assert "HX-Request" in response.headers["Vary"]
    assert b"<html" in page.data and b"<html" in boosted.data
    assert b"<html" not in fragment.data and b"<table" in fragment.data


def test_back_after_signing_out_gets_the_login_page(client):
    """htmx restoring a page on Back ignores HX-Redirect: it must be led to the login page itself."""
    restore = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    response = client.get("/admin/users", headers=restore, follow_redirects=True)
    assert response.status_code == 200 and response.request.path == "/login"
    assert 'name="password"' in response.get_data(as_text=True)


def test_htmx_request_without_login_gets_401_with_redirect(client):
    response = client.get("/admin/users", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=/admin/users")


def test_request_id_on_response_and_log_lines(client, caplog):
    caplog.set_level(logging.INFO, logger="portal.access")
    logging.getLogger("portal.access").addHandler(caplog.handler)
    try:
        response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        generated = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"})
    finally:
        logging.getLogger("portal.access").removeHandler(caplog.handler)
    assert response.headers["X-Request-ID"] == "abc-123"
    assert generated.headers["X-Request-ID"] != "bad id <script>"
    ids = [record.request_id for record in caplog.records]
    assert "abc-123" in ids and generated.headers["X-Request-ID"] in ids


def test_unexpected_error_is_logged_with_traceback_and_hidden(app, caplog):
    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("secret internal detail")

    caplog.set_level(logging.ERROR)
    app.logger.addHandler(caplog.handler)
    try:
        response = app.test_client().get("/boom-for-test")
    finally:
        app.logger.removeHandler(caplog.handler)
    assert response.status_code == 500
    assert b"secret internal detail" not in response.data
    assert b"Algo ha fallado" in response.data
    assert any(record.exc_info and "secret internal detail" in str(record.exc_info[1]) for record in caplog.records)


def test_not_found_page_in_both_languages(client):
    spanish = client.get("/no-such-page")
    assert spanish.status_code == 404
    assert "Página no encontrada".encode() in spanish.data
    client.post("/language", data={"language": "en", "next": "/"})
    english = client.get("/no-such-page")
    assert english.status_code == 404 and b"Page not found" in english.data


def test_request_larger_than_limit_is_refused(client, app):
    response = client.post("/login", data={"email": "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)})
    assert response.status_code == 413


def test_static_vendor_files_carry_their_licence():
    root = Path(__file__).resolve().parent.parent / "static" / "vendor"
    for folder in root.iterdir():
        assert any(child.name.upper().startswith("LICENSE") for child in folder.iterdir()), folder


def test_trusted_hosts_refuse_a_forged_host(monkeypatch, tmp_path):
    monkeypatch.setenv("TRUSTED_HOSTS", "soporte.edye.test, localhost")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3", "TESTING": True})
    client = app.test_client()
    assert client.get("/healthz", headers={"Host": "evil.test"}).status_code == 400
    assert client.get("/healthz", headers={"Host": "soporte.edye.test"}).status_code == 200
