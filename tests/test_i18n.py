"""Spanish by default, English on request, and complete catalogs."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC
from pathlib import Path

from babel.messages.pofile import read_po

from auth.models import User
from portal.core.extensions import db

ROOT = Path(__file__).resolve().parent.parent


def test_spanish_by_default_and_english_after_switching(client):
    spanish = client.get("/login").get_data(as_text=True)
    assert '<html lang="es"' in spanish and "Iniciar sesión" in spanish
    response = client.post("/language", data={"language": "en", "next": "/login"})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    english = client.get("/login").get_data(as_text=True)
    assert '<html lang="en"' in english and "Log in" in english and "Iniciar sesión" not in english


def test_signed_in_users_language_is_remembered(app, client, login_as):
    user = login_as("partner", language="en")
    assert '<html lang="en"' in client.get("/").get_data(as_text=True)
    client.post("/language", data={"language": "es", "next": "/"})
    assert db.session.get(User, user.id).language == "es"
    client.post("/logout")
    other_device = app.test_client()
    other_device.post("/login", data={"email": user.email, "password": "correct horse battery"})
    assert '<html lang="es"' in other_device.get("/").get_data(as_text=True)


def test_unknown_language_is_refused(client):
    response = client.post("/language", data={"language": "fr"})
    assert response.status_code == 400
    assert '<html lang="es"' in client.get("/").get_data(as_text=True)


def test_language_switch_refuses_offsite_next(client):
    response = client.post("/language", data={"language": "en", "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"


def test_dates_use_portal_timezone_and_locale(app, client, login_as):
    from datetime import datetime

    from flask_babel import force_locale, format_datetime

    moment = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    with app.test_request_context():
        with force_locale("es"):
            spanish = format_datetime(moment, "long")
        with force_locale("en"):
            english = format_datetime(moment, "long")
    assert "julio" in spanish and "8:00" in spanish
    assert "July" in english and "8:00" in english


def test_every_message_is_translated_to_spanish(tmp_path):
    template = tmp_path / "messages.pot"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "pybabel"),
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-o",
            str(template),
            "--no-location",
            "--omit-header",
            ".",
        ],
        capture_output=True,
        cwd=ROOT,
        check=True,
    )
    extracted = read_po(template.open("rb"))
    catalog = read_po((ROOT / "portal/translations/es/LC_MESSAGES/messages.po").open("rb"))
    problems = []
    for message in extracted:
        if not message.id:
            continue
        translated = catalog.get(message.id)
        if translated is None:
            problems.append(f"missing: {message.id!r}")
        elif translated.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        elif not (translated.string if isinstance(translated.string, str) else all(translated.string)):
            problems.append(f"untranslated: {message.id!r}")
    assert len(extracted) > 100
    assert not problems, "run `make extract-messages` and translate:\n" + "\n".join(problems)
