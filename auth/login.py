"""Flask-Login wiring: loading users from the cookie, answering anonymous requests."""

from __future__ import annotations

from flask import Flask, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user, login_user
from sqlalchemy.orm import joinedload

from auth.models import User
from portal.core.extensions import db

# What an anonymous visitor's session may carry into the signed-in one.
SESSION_KEYS_KEPT_AT_LOGIN = ("language",)
# Pages a user who must change their password may still reach.
PASSWORD_CHANGE_ALLOWED_ENDPOINTS = frozenset(
    {"auth.change_password", "auth.logout", "home.set_language", "home.healthz", "static"}
)


def load_user(cookie_id: str) -> User | None:
    """The user behind a session cookie, if that session is still valid and the user active."""
    user_id, _, token = cookie_id.partition(":")
    if not user_id.isdigit() or not token:
        return None
    user = db.session.get(User, int(user_id), options=[joinedload(User.organization)])
    if user is None or user.session_token != token or not user.is_active:
        return None
    return user


def start_session(user: User, remember: bool) -> None:
    """Sign `user` in with a new session: whatever the anonymous one held (its CSRF token
    included) is dropped, except the chosen language."""
    kept = {key: session[key] for key in SESSION_KEYS_KEPT_AT_LOGIN if key in session}
    session.clear()
    session.update(kept)
    login_user(user, remember=remember)


def unauthorized():
    """Send anonymous visitors to the login page; htmx gets a 401 with HX-Redirect, except when it
    restores a page on Back or Forward: it ignores headers then, so it gets the login page itself."""
    login_url = url_for("auth.login", next=request.full_path.rstrip("?"))
    if request.htmx and not request.htmx.history_restore_request:
        response = Flask.response_class(status=401)
        response.headers["HX-Redirect"] = login_url
        response.vary.add("HX-Request")
        return response
    return redirect(login_url)


def init_app(app: Flask, login_manager: LoginManager) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to continue.")
    login_manager.user_loader(load_user)
    login_manager.unauthorized_handler(unauthorized)

    @app.before_request
    def require_new_password():
        if (
            current_user.is_authenticated
            and current_user.must_change_password
            and request.endpoint not in PASSWORD_CHANGE_ALLOWED_ENDPOINTS
        ):
            target = url_for("auth.change_password")
            if request.htmx:
                response = Flask.response_class(status=403)
                response.headers["HX-Redirect"] = target
                return response
            return redirect(target)
