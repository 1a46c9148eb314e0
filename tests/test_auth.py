"""Login, throttling, sessions, redirects and password changes."""

from __future__ import annotations

import pytest

from auth import services
from auth.models import User
from portal.core.extensions import db
from tests.conftest import change_password, login


def test_login_success_redirects_home_and_records_time(client, make_user):
    user = make_user("partner", email="Pablo@Example.test")
    response = login(client, "  PABLO@example.TEST ")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert db.session.get(User, user.id).last_login_at is not None
    assert user.name in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    "email,password", [("nobody@example.test", "whatever12345"), ("known@example.test", "wrong password!")]
)
def test_login_failure_is_generic(client, make_user, email, password):
    make_user("partner", email="known@example.test")
    response = login(client, email, password)
    assert response.status_code == 401
    body = response.get_data(as_text=True)
    assert "Correo o contraseña incorrectos" in body
    assert client.get("/admin/").status_code == 302


def test_login_form_errors_are_422(client):
    response = client.post("/login", data={"email": "", "password": ""})
    assert response.status_code == 422


class TestThrottling:
    @pytest.fixture
    def app_config(self):
        return {"LOGIN_LIMIT_PER_ACCOUNT_ADDRESS": "3 per minute", "LOGIN_LIMIT_PER_IP": "6 per minute"}

    def test_account_and_address_limit_blocks_even_the_right_password(self, client, make_user):
        make_user("partner", email="target@example.test")
        for _ in range(3):
            assert login(client, "target@example.test", "wrong-password-x").status_code == 401
        blocked = login(client, "target@example.test")
        assert blocked.status_code == 429
        assert "Retry-After" in blocked.headers
        other = make_user("partner", email="other@example.test")
        assert login(client, other.email).status_code == 302

    def test_successful_logins_do_not_count_against_the_account(self, client, make_user):
        make_user("partner", email="often@example.test")
        for _ in range(4):
            assert login(client, "often@example.test").status_code == 302
            client.post("/logout")

    def test_per_ip_limit_blocks_spraying_many_accounts(self, client):
        statuses = [login(client, f"spray{n}@example.test", "wrong-password-x").status_code for n in range(7)]
        assert statuses[:6] == [401] * 6
        assert statuses[6] == 429


def test_deactivated_user_cannot_log_in_and_sessions_end(client, make_user):
    admin = make_user("ticket_admin")
    partner = make_user("partner", email="leaver@example.test")
    assert login(client, partner.email).status_code == 302
    assert client.get("/").status_code == 200
    services.set_user_active(admin, partner, False)
    assert client.get("/admin/").status_code == 302
    assert partner.name not in client.get("/").get_data(as_text=True)
    assert login(client, partner.email).status_code == 401


def test_inactive_organization_locks_out_its_partners(client, make_user):
    admin = make_user("ticket_admin")
    partner = make_user("partner", email="member@example.test")
    services.set_organization_active(admin, partner.organization, False)
    assert login(client, partner.email).status_code == 401


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:evil.example",
        "https:/evil.example",
        "/\tevil.example",
        "/\r\nLocation: https://evil.example",
        "",
    ],
)
def test_open_redirects_are_refused(client, make_user, target):
    user = make_user("partner")
    response = login(client, user.email, next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_local_next_is_followed(client, make_user):
    user = make_user("ticket_admin")
    response = login(client, user.email, next="/admin/users?q=ana")
    assert response.headers["Location"] == "/admin/users?q=ana"


def test_logout_ends_session(client, login_as):
    login_as("ticket_admin")
    assert client.get("/admin/").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/admin/").status_code == 302


def test_logout_requires_post(client, login_as):
    login_as("partner")
    assert client.get("/logout").status_code == 405


def test_remember_me_sets_a_persistent_cookie(client, make_user):
    user = make_user("partner")
    response = login(client, user.email, remember="y")
    cookies = response.headers.getlist("Set-Cookie")
    remember = [cookie for cookie in cookies if cookie.startswith("remember_token=")]
    assert remember and "HttpOnly" in remember[0] and "SameSite=Lax" in remember[0]


def test_change_password(client, login_as):
    user = login_as("partner")
    assert change_password(client, "nope", "a brand new secret").status_code == 422
    assert change_password(client, "correct horse battery", "short").status_code == 422
    assert change_password(client, "correct horse battery", "a brand new secret").status_code == 302
    assert client.get("/account/password").status_code == 200
    client.post("/logout")
    assert login(client, user.email).status_code == 401
    assert login(client, user.email, "a brand new secret").status_code == 302


def test_password_change_ends_other_sessions(app, make_user):
    user = make_user("partner")
    first, second = app.test_client(), app.test_client()
    login(first, user.email)
    login(second, user.email)
    change_password(first, "correct horse battery", "another long secret")
    assert first.get("/account/password").status_code == 200
    assert second.get("/account/password").status_code == 302


def test_temporary_password_must_be_changed_first(client, make_user):
    admin = make_user("ticket_admin")
    partner = make_user("partner")
    temporary = services.reset_password(admin, partner)
    assert login(client, partner.email).status_code == 401
    assert login(client, partner.email, temporary).status_code == 302
    forced = client.get("/kb/")
    assert forced.status_code == 302 and forced.headers["Location"] == "/account/password"
    htmx = client.get("/kb/", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == "/account/password"
    change_password(client, temporary, "my own new secret")
    assert client.get("/kb/").status_code == 200


def test_no_self_registration(app):
    assert not any("register" in rule.rule or "signup" in rule.rule for rule in app.url_map.iter_rules())


def test_passwords_are_hashed_with_a_modern_kdf(app, make_user):
    app.config["PASSWORD_HASH_METHOD"] = "scrypt"
    user = make_user("partner", password="stored securely 123")
    assert user.password_hash.startswith("scrypt:")
    assert "stored securely" not in user.password_hash
