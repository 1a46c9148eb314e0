"""Issue 9, accounts and sessions: logout that logs out (item 3), sign-in throttling that works in
production and cannot lock people out (item 6), the password-change limit (item 5), password rules
(item 13), organization deactivation and look-alike staff addresses (item 17), cleaned names
(item 14)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from auth import services
from auth.models import Organization, User
from auth.passwords import COMMON_PASSWORDS_MIN_LENGTH, MIN_PASSWORD_LENGTH, common_passwords
from portal.core.audit import AuditEntry
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from tests.conftest import change_password, create_user_command, login

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
REDIS_URI = "redis://127.0.0.1:6379"


def attempt(client, email, password, address="127.0.0.1", forwarded_for=None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post(
        "/login", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": address}, headers=headers
    )


def lockout_entries() -> list[AuditEntry]:
    return list(
        db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "auth.login_throttled").order_by(AuditEntry.id)
        )
    )


def csrf_token(response) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', response.get_data(as_text=True)).group(1)


# Item 3: logout ends the session everywhere; login starts a new one --------------------------------


def test_logout_kills_saved_session_and_remember_me_cookies(app, client, partner, open_ticket):
    open_ticket(subject="Private partner ticket")
    assert login(client, partner.email, remember="y").status_code == 302
    saved = {name: client.get_cookie(name).value for name in ("session", "remember_token")}

    def fresh_client_with(name):
        other = app.test_client()
        other.set_cookie(name, saved[name])
        return other

    # The copies open the partner's tickets while the session lives (so the checks below can fail).
    for name in saved:
        assert "Private partner ticket" in fresh_client_with(name).get("/tickets/").get_data(as_text=True)
    assert client.post("/logout").status_code == 302
    for name in saved:
        response = fresh_client_with(name).get("/tickets/")
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
        assert "Private partner ticket" not in response.get_data(as_text=True)
    assert login(app.test_client(), partner.email).status_code == 302


class TestSessionRegeneratedAtLogin:
    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_csrf_token_from_before_login_stops_working(self, client, make_user):
        user = make_user("partner", language="en")
        anonymous_token = csrf_token(client.get("/login"))
        client.post("/language", data={"language": "en", "csrf_token": anonymous_token})
        response = client.post(
            "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": anonymous_token}
        )
        assert response.status_code == 302
        with client.session_transaction() as session:
            assert session["language"] == "en"  # the anonymous choice survives the new session
        assert client.post("/logout", data={"csrf_token": anonymous_token}).status_code == 400
        assert client.get("/tickets/").status_code == 200
        fresh_token = csrf_token(client.get("/account/password"))
        assert fresh_token != anonymous_token
        assert client.post("/logout", data={"csrf_token": fresh_token}).status_code == 302


# Item 6: sign-in throttling ----------------------------------------------------------------------------


def test_guesses_from_one_address_do_not_lock_the_owner_out(app, client, make_user):
    owner = make_user("partner", email="owner@example.test")
    client.post("/language", data={"language": "en"})
    for _ in range(5):  # LOGIN_LIMIT_PER_ACCOUNT_ADDRESS defaults to 5 per 5 minutes
        assert attempt(client, owner.email, "a wrong guess!", "203.0.113.7").status_code == 401
    blocked = attempt(client, owner.email, PASSWORD, "203.0.113.7")
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many attempts. Try again in 5 minutes." in blocked.get_data(as_text=True)
    owner_client = app.test_client()
    assert attempt(owner_client, owner.email, PASSWORD, "198.51.100.20").status_code == 302
    assert owner_client.get("/tickets/", environ_base={"REMOTE_ADDR": "198.51.100.20"}).status_code == 200


class TestAccountCeiling:
    @pytest.fixture
    def app_config(self):
        return {"LOGIN_LIMIT_PER_ACCOUNT": "4 per minute"}

    def test_guesses_spread_over_addresses_reach_the_account_ceiling(self, client, make_user):
        owner = make_user("partner", email="owner@example.test")
        for number in range(4):
            assert attempt(client, owner.email, "a wrong guess!", f"203.0.113.{number}").status_code == 401
        assert attempt(client, owner.email, PASSWORD, "198.51.100.20").status_code == 429
        assert attempt(client, "someone.else@example.test", "a wrong guess!", "198.51.100.20").status_code == 401


def test_a_lockout_is_audited_once_and_shown_to_administrators(app, client, make_user):
    owner = make_user("partner", email="owner@example.test", language="en")
    for _ in range(5):
        attempt(client, " Owner@Example.test", "secret guess 1", "203.0.113.7")
    for _ in range(3):
        assert attempt(client, owner.email, "secret guess 2", "203.0.113.7").status_code == 429
    [entry] = lockout_entries()
    assert (entry.target_type, entry.target_id) == ("User", owner.id)
    assert entry.after["email"] == "owner@example.test" and entry.after["address"] == "203.0.113.7"
    assert entry.after["limit"] == "account_address" and entry.after["until"]
    assert "secret guess" not in json.dumps([entry.before, entry.after, entry.target_label, entry.actor_label])

    for _ in range(6):
        attempt(client, "nobody@example.test", "secret guess 3", "203.0.113.8")
    unknown = [entry for entry in lockout_entries() if entry.after["email"] == "nobody@example.test"]
    assert [(entry.target_type, entry.target_id, entry.target_label) for entry in unknown] == [
        ("UnknownAccount", None, "nobody@example.test")
    ]

    admin = make_user("ticket_admin", language="en")
    admin_client = app.test_client()
    login(admin_client, admin.email)
    page = admin_client.get("/admin/audit?action=auth.login_throttled").get_data(as_text=True)
    assert "auth.login_throttled" in page and "owner@example.test" in page and "203.0.113.7" in page
    assert "nobody@example.test" in page


class TestAddressLimitWithoutTrustedProxies:
    @pytest.fixture
    def app_config(self):
        return {"LOGIN_LIMIT_PER_IP": "2 per minute", "TRUSTED_PROXIES": 0}

    def test_a_forged_forwarded_address_is_ignored(self, client):
        statuses = [
            attempt(client, f"spray{n}@example.test", "a wrong guess!", "192.0.2.10", f"10.1.1.{n}").status_code
            for n in range(3)
        ]
        assert statuses == [401, 401, 429]
        assert lockout_entries()[0].after["address"] == "192.0.2.10"

    def test_a_lockout_caused_by_junk_is_recorded_without_a_server_error(self, client):
        junk = "\u202e" + "j" * 5000 + "@example.test"
        statuses = [attempt(client, junk, "a wrong guess!", "192.0.2.11").status_code for _ in range(3)]
        assert statuses == [422, 422, 429]
        [entry] = lockout_entries()
        assert entry.after["email"] == entry.target_label == "j" * 254 and entry.after["limit"] == "address"


class TestAddressLimitBehindOneProxy:
    @pytest.fixture
    def app_config(self):
        return {"LOGIN_LIMIT_PER_IP": "2 per minute", "TRUSTED_PROXIES": 1}

    def test_the_proxy_given_client_address_is_counted(self, client):
        proxy = "192.0.2.10"
        different_clients = [
            attempt(client, f"spray{n}@example.test", "a wrong guess!", proxy, f"10.1.1.{n}").status_code
            for n in range(3)
        ]
        assert different_clients == [401, 401, 401]
        # A client can prepend anything; only the value the proxy appended (the last) is trusted.
        same_client = [
            attempt(client, f"other{n}@example.test", "a wrong guess!", proxy, f"6.6.6.{n}, 10.2.2.2").status_code
            for n in range(3)
        ]
        assert same_client == [401, 401, 429]
        assert lockout_entries()[0].after["address"] == "10.2.2.2"


def _run_portal_process(database_url, tmp_path, config, attempts) -> list[int]:
    """Sign-in attempts from a separate process running its own portal (as a second worker would)."""
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from portal import create_app\n"
        "from tests.conftest import config_for_tests\n"
        "job = json.loads(sys.argv[1])\n"
        "app = create_app(config_for_tests(job['database_url'], Path(job['tmp']), **job['config']))\n"
        "client = app.test_client()\n"
        "print(json.dumps([client.post('/login', data={'email': e, 'password': p},\n"
        "                  environ_base={'REMOTE_ADDR': a}).status_code for e, p, a in job['attempts']]))\n"
    )
    job = {"database_url": database_url, "tmp": str(tmp_path), "config": config, "attempts": attempts}
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(job)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_two_processes_share_the_per_account_counter_in_redis(database_url, tmp_path, make_user):
    owner = make_user("partner", email="owner@example.test")
    prefix = f"test-{uuid.uuid4().hex}"
    config = {
        "RATELIMIT_STORAGE_URI": REDIS_URI,
        "RATELIMIT_KEY_PREFIX": prefix,
        "LOGIN_LIMIT_PER_ACCOUNT": "3 per minute",
        "LOGIN_LIMIT_PER_ACCOUNT_ADDRESS": "50 per minute",
    }
    try:
        first = _run_portal_process(
            database_url, tmp_path, config, [[owner.email, "a wrong guess!", f"203.0.113.{n}"] for n in range(3)]
        )
        second = _run_portal_process(database_url, tmp_path, config, [[owner.email, PASSWORD, "198.51.100.20"]])
    finally:
        store = redis.Redis.from_url(REDIS_URI)
        keys = list(store.scan_iter(match=f"*{prefix}*"))
        if keys:
            store.delete(*keys)
    assert first == [401, 401, 401]
    assert second == [429]
    assert [entry.after["limit"] for entry in lockout_entries()] == ["account"]
    assert keys, "the counters were kept in Redis"


# Item 5: the password-change form is limited per user -------------------------------------------------


def test_password_change_limit_counts_wrong_current_passwords(app, client, login_as, make_user):
    user = login_as("partner", language="en")
    for _ in range(5):  # PASSWORD_CHANGE_LIMIT defaults to 5 per 15 minutes
        assert change_password(client, "not my password", "a fresh long secret").status_code == 422
    blocked = change_password(client, PASSWORD, "a fresh long secret")
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert "Too many attempts. Try again in" in blocked.get_data(as_text=True)
    assert login(app.test_client(), user.email).status_code == 302  # the password did not change
    other_client = app.test_client()
    other = make_user("partner")
    login(other_client, other.email)
    assert change_password(other_client, PASSWORD, "a fresh long secret").status_code == 302


class TestShortWindows:
    @pytest.fixture
    def app_config(self):
        return {"PASSWORD_CHANGE_LIMIT": "2 per 2 seconds", "LOGIN_LIMIT_PER_ACCOUNT_ADDRESS": "2 per 2 seconds"}

    def test_the_password_form_opens_again_when_the_window_passes(self, client, login_as):
        login_as("partner")
        for _ in range(2):
            change_password(client, "not my password", "a fresh long secret")
        assert change_password(client, PASSWORD, "a fresh long secret").status_code == 429
        time.sleep(2.1)
        assert change_password(client, PASSWORD, "a fresh long secret").status_code == 302

    def test_each_lockout_is_audited_once(self, client, make_user):
        owner = make_user("partner", email="owner@example.test")
        for _lockout in range(2):
            for _ in range(2):
                assert attempt(client, owner.email, "a wrong guess!").status_code == 401
            for _ in range(2):
                assert attempt(client, owner.email, PASSWORD).status_code == 429
            time.sleep(2.1)
        assert len(lockout_entries()) == 2
        assert attempt(client, owner.email, PASSWORD).status_code == 302


def test_refused_new_passwords_do_not_count_against_the_limit(client, login_as):
    login_as("partner")
    for _ in range(6):
        assert change_password(client, PASSWORD, "short").status_code == 422
    assert change_password(client, PASSWORD, "a fresh long secret").status_code == 302


# Item 13: password rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "new_password,message",
    [
        ("eleven char", "Use at least 12 characters."),
        ("x" * 513, "Use at most 512 characters."),
        ("qwertyuiopasdfgh", "This password is one of the most commonly used: choose another."),
        ("  QwertyuiopASDFGH ", "This password is one of the most commonly used: choose another."),
        ("1qaz2wsx3edc4rfv", "This password is one of the most commonly used: choose another."),
        ("ramona.quispe2025", "The password may not contain the name or the e-mail address of the account."),
        ("my RAMONA-Q 2025 secret", "The password may not contain the name or the e-mail address of the account."),
        ("ramona-quispe@andes.test", "The password may not contain the name or the e-mail address of the account."),
        ("Quispe forever and ever", "The password may not contain the name or the e-mail address of the account."),
        ("Ramona  Quispe Mendoza!", "The password may not contain the name or the e-mail address of the account."),
    ],
)
def test_password_rules_on_change(client, make_user, new_password, message):
    user = make_user("partner", email="ramona-q@andes.test", name="Ramona Quispe", language="en")
    login(client, user.email)
    response = change_password(client, PASSWORD, new_password)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert login(client.application.test_client(), user.email).status_code == 302


def test_a_password_without_personal_or_common_words_is_accepted(client, make_user):
    user = make_user("partner", email="ramona-q@andes.test", name="Ramona Quispe")
    login(client, user.email)
    assert change_password(client, PASSWORD, "tangerine orbit lamp 42").status_code == 302


def test_common_password_list_is_loaded_once_and_covers_the_length_rule():
    passwords = common_passwords()
    assert passwords is common_passwords() and isinstance(passwords, frozenset)
    assert len(passwords) > 40_000 and "qwertyuiopasdfgh" in passwords
    assert all(password == password.lower() for password in passwords)
    # Entries shorter than the floor were left out of the file: the length rule must refuse them.
    assert MIN_PASSWORD_LENGTH >= COMMON_PASSWORDS_MIN_LENGTH


def test_password_rules_apply_to_users_created_with_a_password(app):
    refused = create_user_command(
        app, "partner", "luz.marina@andes.test", "Luz Marina", "marina rocks 2025", organization="Andes"
    )
    assert refused.exit_code == 1 and any(
        message in refused.output for message in ("name or the e-mail address", "nombre ni el correo electrónico")
    )
    assert db.session.scalar(select(func.count(Organization.id))) == 0  # nothing half-created
    common = create_user_command(app, "vp", "v@edye.test", "V", "passwordpassword")
    assert common.exit_code == 1 and any(message in common.output for message in ("most commonly used", "más usadas"))
    with pytest.raises(InvalidInput) as refused_by_service:
        services.create_user(None, "luz.marina@edye.test", "Luz Marina", "agent_l1", password="LUZMARINA-2025!")
    assert refused_by_service.value.field == "password"
    assert services.find_user_by_email("luz.marina@edye.test") is None


# Item 17: organization deactivation, look-alike staff addresses ---------------------------------------------


@pytest.fixture
def admin_client(app, make_user):
    admin = make_user("ticket_admin", email="chief@edye.test", language="en")
    admin_client = app.test_client()
    assert login(admin_client, admin.email).status_code == 302
    return admin_client


def test_deactivating_an_organization_ends_its_partners_sessions(client, partner, admin_client):
    login(client, partner.email)
    assert client.get("/tickets/").status_code == 200
    organization_id = partner.organization_id
    assert admin_client.post(f"/admin/organizations/{organization_id}/active", data={"active": "0"}).status_code == 302
    assert client.get("/tickets/").status_code == 302
    admin_client.post(f"/admin/organizations/{organization_id}/active", data={"active": "1"})
    assert db.session.get(Organization, organization_id).active
    # Reactivation does not bring the old session back; signing in again works.
    assert client.get("/tickets/").status_code == 302
    assert login(client, partner.email).status_code == 302 and client.get("/tickets/").status_code == 200


def new_user_form(**values) -> dict:
    return {
        "name": "Someone New",
        "email": "someone@edye.test",
        "role": "agent_l1",
        "organization_id": "0",
        "language": "en",
        **values,
    }


MIXED_SCRIPTS = "Staff e-mail addresses may not mix alphabets (such as Latin and Cyrillic letters)."


@pytest.mark.parametrize("email", ["\u0430dmin@edye.test", "admin@\u0435dye.test", "ad\u03bcin@edye.test"])
def test_staff_addresses_may_not_mix_scripts(admin_client, email):
    response = admin_client.post("/admin/users", data=new_user_form(email=email), headers={"HX-Request": "true"})
    assert response.status_code == 422 and MIXED_SCRIPTS in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(User.id))) == 1


def test_staff_address_changes_and_promotions_are_checked_too(admin_client, make_user):
    agent = make_user("agent_l1", email="agent@edye.test")
    edit = admin_client.post(f"/admin/users/{agent.id}/edit", data=new_user_form(email="\u0430gent@edye.test"))
    assert edit.status_code == 422 and MIXED_SCRIPTS in edit.get_data(as_text=True)
    assert db.session.get(User, agent.id).email == "agent@edye.test"
    partner = make_user("partner", email="p\u0430blo@andes.test")  # partners are not checked
    promote = admin_client.post(
        f"/admin/users/{partner.id}/edit", data=new_user_form(email=partner.email, name=partner.name)
    )
    assert promote.status_code == 422 and MIXED_SCRIPTS in promote.get_data(as_text=True)


@pytest.mark.parametrize(
    "email,role",
    [
        ("пример@почта.рф", "partner"),
        ("用户@例子.广告", "partner"),
        ("ユーザー@edye.test", "agent_l1"),
        ("josé.núñez@edye.test", "agent_l2"),
        ("пример@edye.test", "vp"),
    ],
)
def test_single_script_addresses_stay_allowed(admin_client, email, role):
    organization = services.create_organization(None, "Partner Co")
    form = new_user_form(email=email, role=role, organization_id=str(organization.id) if role == "partner" else "0")
    response = admin_client.post("/admin/users", data=form, headers={"HX-Request": "true"})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert services.find_user_by_email(email) is not None


# Item 14: names are cleaned before length and uniqueness checks ---------------------------------------------


def test_organization_names_are_cleaned_before_checks(admin_client):
    assert admin_client.post("/admin/organizations", data={"name": "Org A", "active": "y"}).status_code == 302
    for lookalike in ("Org\u200b A", "\u202eOrg A\u202c", " org a\ufeff"):
        response = admin_client.post("/admin/organizations", data={"name": lookalike, "active": "y"})
        assert response.status_code == 422
        assert "An organization with this name already exists." in response.get_data(as_text=True)
    empty = admin_client.post("/admin/organizations", data={"name": "\u200b\u200d", "active": "y"})
    assert empty.status_code == 422 and "A name is required." in empty.get_data(as_text=True)
    assert services.create_organization(None, "B" * 200 + "\u200b" * 10).name == "B" * 200
    with pytest.raises(InvalidInput):
        services.create_organization(None, "C" * 201)
    assert services.find_or_create_organization(None, "Org\u2060 A").name == "Org A"
    assert db.session.scalar(select(func.count(Organization.id))) == 2


def test_user_names_are_cleaned(admin_client):
    response = admin_client.post(
        "/admin/users", data=new_user_form(name="\u202eAna\u200b Gómez\u202c "), headers={"HX-Request": "true"}
    )
    assert response.status_code == 201
    assert services.find_user_by_email("someone@edye.test").name == "Ana Gómez"
    invisible = admin_client.post(
        "/admin/users", data=new_user_form(name="\u200b\u2066", email="other@edye.test"), headers={"HX-Request": "true"}
    )
    assert invisible.status_code == 422 and "A name is required." in invisible.get_data(as_text=True)
