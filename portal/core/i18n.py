"""The portal's languages, the choice among them, and locale-aware formatting helpers for templates."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

from flask import Flask, current_app, has_request_context, session
from flask_babel import force_locale, format_date, format_datetime, format_decimal, get_locale
from flask_login import current_user


class Language(StrEnum):
    """The portal's languages: of its interface, its users and its articles."""

    ES = "es"
    EN = "en"


# The codes as plain strings, for what is stored, compared and offered as a choice: psycopg writes
# an enum member as its name ("ES"), and click offers an enum's names.
LANGUAGES: tuple[str, ...] = tuple(language.value for language in Language)
LANGUAGE_NAMES = {Language.ES.value: "Español", Language.EN.value: "English"}


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


@contextmanager
def staff_language() -> Iterator[None]:
    """Texts made inside are in STAFF_LANGUAGE, the language of what the team reads in Monday and
    Slack, whoever's request or job makes them."""
    with force_locale(current_app.config["STAFF_LANGUAGE"]):
        yield


def in_staff_language(text) -> str:
    """`text` (a lazy string, or plain) as the team reads it; an optional last part left empty
    leaves no trailing space."""
    with staff_language():
        return str(text).strip()


def format_file_size(size: int) -> str:
    """A file's size as people read it, in the UI's locale: "820 KB", "1,5 MB"."""
    if size >= 1024 * 1024:
        return f"{format_decimal(round(size / 1024 / 1024, 1))} MB"
    return f"{format_decimal(max(1, round(size / 1024)))} KB"


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(
        format_datetime=format_datetime,
        format_file_size=format_file_size,
        format_date=format_date,
        current_locale=lambda: str(get_locale()),
        language_names=LANGUAGE_NAMES,
    )
