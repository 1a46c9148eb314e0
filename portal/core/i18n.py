"""Language choice and locale-aware formatting helpers for templates."""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, session
from flask_babel import format_date, format_datetime, get_locale
from flask_login import current_user

LANGUAGE_NAMES = {"es": "Español", "en": "English"}


def select_locale() -> str:
    """The signed-in user's language, else the one chosen this session, else Spanish."""
    languages = current_app.config["PORTAL_LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and current_user.language in languages:
        return current_user.language
    chosen = session.get("language")
    if chosen in languages:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(
        format_datetime=format_datetime,
        format_date=format_date,
        current_locale=lambda: str(get_locale()),
        language_names=LANGUAGE_NAMES,
    )
