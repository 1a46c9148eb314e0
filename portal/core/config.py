"""Settings read from the environment (12-factor), with documented defaults.

Every setting can be overridden by an environment variable of the same name;
`create_app(overrides)` applies test or embedding overrides last.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from email.utils import parseaddr
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from portal.core.i18n import LANGUAGES, Language

# The checkout: templates, static files, migrations and the shipped content live here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
ENVIRONMENTS = ("development", "production", "testing")


class ConfigError(RuntimeError):
    """The environment does not describe a runnable portal."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _json_object(name: str) -> dict:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a JSON object") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a JSON object")
    return value


def _language(name: str) -> str:
    value = os.environ.get(name, Language.ES.value)
    if value not in LANGUAGES:
        raise ConfigError(f"{name} must be one of {', '.join(LANGUAGES)}, got {value!r}")
    return value


TIME_OF_DAY = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


def _time_of_day(name: str) -> str:
    """A local time of day "HH:MM" (24-hour clock), or "" when unset."""
    raw = os.environ.get(name, "").strip()
    if raw and not TIME_OF_DAY.fullmatch(raw):
        raise ConfigError(f"{name} must be a time of day HH:MM (e.g. 08:00), got {raw!r}")
    return raw


def _timezone(name: str) -> str:
    """An IANA timezone name, or "" when unset."""
    raw = os.environ.get(name, "").strip()
    try:
        if raw:
            ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{name} must be an IANA timezone such as America/New_York, got {raw!r}") from exc
    return raw


MAIL_DEFAULT_PORT = 25
PORT_MAX = 65535
MAIL_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")


def _check_mail(config: dict) -> None:
    """SMTP settings that cannot send refuse to start, rather than dead-lettering every e-mail."""
    if not config["MAIL_SERVER"]:
        return
    if not 0 < config["MAIL_PORT"] <= PORT_MAX:
        raise ConfigError(f"MAIL_PORT must be a port number (1-{PORT_MAX}), got {config['MAIL_PORT']!r}")
    if config["MAIL_USE_TLS"] and config["MAIL_USE_SSL"]:
        raise ConfigError("MAIL_USE_TLS (STARTTLS) and MAIL_USE_SSL (TLS from the start) exclude each other: set one.")
    if bool(config["MAIL_USERNAME"]) != bool(config["MAIL_PASSWORD"]):
        raise ConfigError("MAIL_USERNAME and MAIL_PASSWORD are set together (or neither, for a server without login).")
    sender = parseaddr(config["MAIL_DEFAULT_SENDER"])[1]
    if not MAIL_ADDRESS.fullmatch(sender):
        raise ConfigError(
            "MAIL_DEFAULT_SENDER must be set when MAIL_SERVER is, as an address or `Name <address>`, "
            f"got {config['MAIL_DEFAULT_SENDER']!r}"
        )


MEGABYTE = 1024 * 1024
ATTACHMENTS_MAX_BYTES_DEFAULT = 20 * MEGABYTE
ATTACHMENTS_MAX_FILES_DEFAULT = 5
# Room in a request for a form's text fields and the multipart framing beside its files.
FORM_ALLOWANCE_BYTES = 2 * MEGABYTE
S3_PREFIX = re.compile(r"[A-Za-z0-9/_.-]*")


class AttachmentsBackend(StrEnum):
    """Where attached files are kept."""

    LOCAL = "local"  # a folder of this server (ATTACHMENTS_DIR)
    S3 = "s3"  # an S3-compatible bucket, shared by several web servers


def _check_attachments(config: dict) -> None:
    """Attachment limits and storage that cannot work refuse to start; MAX_CONTENT_LENGTH, unless
    set, lets the largest message through: every file at its largest, plus its form."""
    for name in ("ATTACHMENTS_MAX_BYTES", "ATTACHMENTS_MAX_FILES"):
        if not isinstance(config[name], int) or config[name] <= 0:
            raise ConfigError(f"{name} must be a positive whole number, got {config[name]!r}")
    backend = config["ATTACHMENTS_BACKEND"]
    if backend not in set(AttachmentsBackend):
        raise ConfigError(f"ATTACHMENTS_BACKEND must be one of {'|'.join(AttachmentsBackend)}, got {backend!r}")
    if backend == AttachmentsBackend.S3:
        if not config["ATTACHMENTS_S3_BUCKET"]:
            raise ConfigError("ATTACHMENTS_S3_BUCKET must be set when ATTACHMENTS_BACKEND is s3.")
        if not S3_PREFIX.fullmatch(config["ATTACHMENTS_S3_PREFIX"]) or ".." in config["ATTACHMENTS_S3_PREFIX"]:
            raise ConfigError(
                "ATTACHMENTS_S3_PREFIX may hold only letters, digits and / _ . - (no ..), "
                f"got {config['ATTACHMENTS_S3_PREFIX']!r}"
            )
        if bool(config["ATTACHMENTS_S3_ACCESS_KEY_ID"]) != bool(config["ATTACHMENTS_S3_SECRET_ACCESS_KEY"]):
            raise ConfigError(
                "ATTACHMENTS_S3_ACCESS_KEY_ID and ATTACHMENTS_S3_SECRET_ACCESS_KEY are set together "
                "(or neither, for boto3's own credentials: environment, profile, instance role)."
            )
        endpoint = config["ATTACHMENTS_S3_ENDPOINT_URL"]
        if endpoint and not endpoint.startswith(("https://", "http://")):
            raise ConfigError(f"ATTACHMENTS_S3_ENDPOINT_URL must be an http(s):// URL, got {endpoint!r}")
    config.setdefault(
        "MAX_CONTENT_LENGTH",
        config["ATTACHMENTS_MAX_FILES"] * config["ATTACHMENTS_MAX_BYTES"] + FORM_ALLOWANCE_BYTES,
    )


class SearchBackend(StrEnum):
    """Where the knowledge-base search index lives."""

    WHOOSH = "whoosh"  # a folder of this server (SEARCH_INDEX_DIR): one web server
    POSTGRES = "postgres"  # tables of the PostgreSQL database, shared by every web server


def _check_search(config: dict) -> None:
    backend = config["SEARCH_BACKEND"]
    if backend not in set(SearchBackend):
        raise ConfigError(f"SEARCH_BACKEND must be one of {'|'.join(SearchBackend)}, got {backend!r}")
    if backend == SearchBackend.POSTGRES and not config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        raise ConfigError(
            "SEARCH_BACKEND=postgres needs a PostgreSQL database (DATABASE_URL=postgresql+psycopg://...)."
        )


class PartnerEmail(StrEnum):
    """Who e-mails a partner the news of their ticket (a solution to confirm, reopened, closed)."""

    PORTAL = "portal"
    ZENDESK = "zendesk"  # Zendesk e-mails its requesters itself: the portal sends none
    OFF = "off"


def _check_partner_email(config: dict) -> None:
    value = config["PARTNER_EMAIL"]
    if value and value not in set(PartnerEmail):
        choices = "|".join(PartnerEmail)
        raise ConfigError(f"PARTNER_EMAIL must be one of {choices} (or unset), got {value!r}")


def partner_email(config) -> PartnerEmail:
    """PARTNER_EMAIL, or unset: Zendesk when it is configured (so nobody gets the same news twice),
    else the portal."""
    if config["PARTNER_EMAIL"]:
        return PartnerEmail(config["PARTNER_EMAIL"])
    return PartnerEmail.ZENDESK if config["ZENDESK_BASE_URL"] else PartnerEmail.PORTAL


class MondayColumnType(StrEnum):
    """The Monday column types the portal writes, each in the format Monday accepts for it."""

    TEXT = "text"
    STATUS = "status"
    NUMBERS = "numbers"
    DATE = "date"
    PEOPLE = "people"


# The ticket fields MONDAY_COLUMNS may map, and the column types each can be written to.
MONDAY_FIELD_TYPES: dict[str, frozenset[MondayColumnType]] = {
    "reference": frozenset({MondayColumnType.TEXT}),
    "type": frozenset({MondayColumnType.TEXT, MondayColumnType.STATUS}),
    "tier": frozenset({MondayColumnType.TEXT, MondayColumnType.NUMBERS, MondayColumnType.STATUS}),
    "status": frozenset({MondayColumnType.TEXT, MondayColumnType.STATUS}),
    "assignee": frozenset({MondayColumnType.TEXT, MondayColumnType.PEOPLE}),
    "sla_due": frozenset({MondayColumnType.TEXT, MondayColumnType.DATE}),
}
MONDAY_COLUMNS_EXAMPLE = '{"reference": "text_ref", "status": {"id": "status", "type": "status"}}'


def monday_columns(value) -> dict[str, dict[str, str]]:
    """MONDAY_COLUMNS as {field: {"id": column id, "type": column type}}. A field given as a plain
    column id (the older form) is a text column; ConfigError says what to write instead."""
    if not isinstance(value, dict):
        raise ConfigError(f"MONDAY_COLUMNS must be a JSON object such as {MONDAY_COLUMNS_EXAMPLE}")
    columns = {}
    for field, column in value.items():
        if field not in MONDAY_FIELD_TYPES:
            raise ConfigError(
                f"MONDAY_COLUMNS: unknown field {field!r}; the fields are {', '.join(MONDAY_FIELD_TYPES)}"
            )
        if isinstance(column, str):
            column = {"id": column, "type": MondayColumnType.TEXT.value}
        allowed = sorted(MONDAY_FIELD_TYPES[field])
        if (
            not isinstance(column, dict)
            or not isinstance(column.get("id"), str)
            or not column["id"].strip()
            or column.get("type") not in allowed
        ):
            raise ConfigError(
                f'MONDAY_COLUMNS[{field!r}] must be a column id, or {{"id": column id, "type": one of '
                f"{', '.join(allowed)}}}, e.g. {MONDAY_COLUMNS_EXAMPLE}; got {column!r}"
            )
        columns[field] = {"id": column["id"].strip(), "type": column["type"]}
    return columns


def _dev_secret_key(instance_path: Path) -> str:
    """Return a per-checkout development key, generated once into the instance folder."""
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def load(instance_path: Path, overrides: dict | None = None) -> dict:
    """Build the configuration mapping for one application instance."""
    overrides = dict(overrides or {})
    environment = overrides.get("PORTAL_ENV") or os.environ.get("PORTAL_ENV", "development")
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"PORTAL_ENV must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}")
    production = environment == "production"

    secret_key = overrides.get("SECRET_KEY") or os.environ.get("SECRET_KEY")
    if not secret_key:
        if production:
            raise ConfigError("SECRET_KEY must be set in production (PORTAL_ENV=production).")
        secret_key = _dev_secret_key(instance_path)

    storage_uri = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    allow_memory_limits = _bool(os.environ.get("RATELIMIT_ALLOW_MEMORY"), False)
    if production and storage_uri.startswith("memory://") and not allow_memory_limits:
        # Each process would keep its own counters, multiplying every limit by the worker count.
        raise ConfigError(
            "RATELIMIT_STORAGE_URI is memory:// in production: use a shared store such as "
            "redis://HOST:6379, or set RATELIMIT_ALLOW_MEMORY=1 when only one process serves the portal."
        )

    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'portal.sqlite3'}"
    config = {
        "PORTAL_ENV": environment,
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": database_url,
        # A server's connections can be dropped under the pool; a SQLite file's cannot.
        "SQLALCHEMY_ENGINE_OPTIONS": {} if database_url.startswith("sqlite") else {"pool_pre_ping": True},
        "SEARCH_BACKEND": os.environ.get("SEARCH_BACKEND", SearchBackend.WHOOSH.value).strip().lower(),
        "SEARCH_INDEX_DIR": os.environ.get("SEARCH_INDEX_DIR") or str(instance_path / "search-index"),
        "KB_SYNONYMS_FILE": os.environ.get("KB_SYNONYMS_FILE")
        or str(PROJECT_ROOT / "content" / "kb" / "synonyms.yaml"),
        "PORTAL_TIMEZONE": os.environ.get("PORTAL_TIMEZONE", "America/New_York"),
        "BABEL_DEFAULT_LOCALE": "es",
        "PORTAL_LANGUAGES": LANGUAGES,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(os.environ.get("SESSION_COOKIE_SECURE"), production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _bool(os.environ.get("SESSION_COOKIE_SECURE"), production),
        "REMEMBER_COOKIE_DURATION": _int("REMEMBER_COOKIE_DAYS", 14) * 86400,
        "PASSWORD_HASH_METHOD": os.environ.get("PASSWORD_HASH_METHOD", "scrypt"),
        "RATELIMIT_STORAGE_URI": storage_uri,
        "RATELIMIT_ENABLED": _bool(os.environ.get("RATELIMIT_ENABLED"), True),
        "RATELIMIT_ALLOW_MEMORY": allow_memory_limits,
        # Number of proxies in front of the portal whose X-Forwarded-* headers are trusted (0: none).
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        # Limits in Flask-Limiter's notation ("N per period", several separated by ";").
        "LOGIN_LIMIT_PER_IP": os.environ.get("LOGIN_LIMIT_PER_IP", "30 per 5 minutes"),
        "LOGIN_LIMIT_PER_ACCOUNT_ADDRESS": os.environ.get("LOGIN_LIMIT_PER_ACCOUNT_ADDRESS", "5 per 5 minutes"),
        "LOGIN_LIMIT_PER_ACCOUNT": os.environ.get("LOGIN_LIMIT_PER_ACCOUNT", "20 per hour"),
        "PASSWORD_CHANGE_LIMIT": os.environ.get("PASSWORD_CHANGE_LIMIT", "5 per 15 minutes"),
        # "Forgot your password?": per client address, and per e-mail typed (so no inbox is flooded).
        "PASSWORD_RESET_LIMIT_PER_IP": os.environ.get("PASSWORD_RESET_LIMIT_PER_IP", "10 per hour"),
        "PASSWORD_RESET_LIMIT_PER_ACCOUNT": os.environ.get("PASSWORD_RESET_LIMIT_PER_ACCOUNT", "3 per hour"),
        "TICKET_LIMIT_PER_PARTNER": os.environ.get("TICKET_LIMIT_PER_PARTNER", "10 per 10 minutes;30 per day"),
        "TICKET_LIMIT_PER_ORGANIZATION": os.environ.get("TICKET_LIMIT_PER_ORGANIZATION", "100 per day"),
        "COMMENT_LIMIT_PER_USER": os.environ.get("COMMENT_LIMIT_PER_USER", "20 per 10 minutes;300 per day"),
        "SEARCH_LIMIT_PER_CLIENT": os.environ.get("SEARCH_LIMIT_PER_CLIENT", "120 per minute"),
        "TYPING_LIMIT_PER_USER": os.environ.get("TYPING_LIMIT_PER_USER", "240 per minute"),
        # Anonymous queries appear in the staff search report only once this many clients asked them.
        "SEARCH_REPORT_MIN_CLIENTS": _int("SEARCH_REPORT_MIN_CLIENTS", 3),
        # Host names the portal answers to (Flask refuses others with 400); empty: any.
        "TRUSTED_HOSTS": [host.strip() for host in os.environ.get("TRUSTED_HOSTS", "").split(",") if host.strip()]
        or None,
        "STRICT_TRANSPORT_SECURITY": os.environ.get(
            "STRICT_TRANSPORT_SECURITY", "max-age=31536000; includeSubDomains" if production else ""
        ),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        # Integrations (used by the ticket and staff issues; empty means "not configured").
        "ZENDESK_BASE_URL": os.environ.get("ZENDESK_BASE_URL", ""),
        "ZENDESK_EMAIL": os.environ.get("ZENDESK_EMAIL", ""),
        "ZENDESK_API_TOKEN": os.environ.get("ZENDESK_API_TOKEN", ""),
        "ZENDESK_WEBHOOK_SECRET": os.environ.get("ZENDESK_WEBHOOK_SECRET", ""),
        # The API user's Zendesk id: events it made are the portal's own (0: recognised by comment id only).
        "ZENDESK_INTEGRATION_USER_ID": _int("ZENDESK_INTEGRATION_USER_ID", 0),
        # The Zendesk agent that solved and closed tickets are assigned to (Zendesk refuses "solved"
        # without an assignee); 0: the API user itself (GET /api/v2/users/me.json).
        "ZENDESK_ASSIGNEE_ID": _int("ZENDESK_ASSIGNEE_ID", 0),
        "MONDAY_API_URL": os.environ.get("MONDAY_API_URL", "https://api.monday.com/v2"),
        "MONDAY_API_TOKEN": os.environ.get("MONDAY_API_TOKEN", ""),
        # Monday's "Current" version (stable for at least six months); its API changes every quarter.
        "MONDAY_API_VERSION": os.environ.get("MONDAY_API_VERSION", "2026-10"),
        "MONDAY_BOARD_ID": os.environ.get("MONDAY_BOARD_ID", ""),
        "MONDAY_GROUP_ID": os.environ.get("MONDAY_GROUP_ID", ""),
        "MONDAY_COLUMNS": monday_columns(_json_object("MONDAY_COLUMNS")),
        "SLACK_WEBHOOK_URL": os.environ.get("SLACK_WEBHOOK_URL", ""),
        # Seconds between two messages to the webhook, across all workers (Slack allows about one a second).
        "SLACK_MESSAGE_INTERVAL_SECONDS": _float("SLACK_MESSAGE_INTERVAL_SECONDS", 1.0),
        # E-mail over SMTP (Flask-Mail's names); no MAIL_SERVER: e-mails wait in the outbox.
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", "").strip(),
        "MAIL_PORT": _int("MAIL_PORT", MAIL_DEFAULT_PORT),
        "MAIL_USE_TLS": _bool(os.environ.get("MAIL_USE_TLS"), False),  # STARTTLS after connecting
        "MAIL_USE_SSL": _bool(os.environ.get("MAIL_USE_SSL"), False),  # TLS from the first byte (port 465)
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD", ""),
        "MAIL_DEFAULT_SENDER": os.environ.get("MAIL_DEFAULT_SENDER", "").strip(),
        # Who e-mails partners their tickets' news (`PartnerEmail`); empty: Zendesk when configured, else the portal.
        "PARTNER_EMAIL": os.environ.get("PARTNER_EMAIL", "").strip().lower(),
        # Where the portal is served (e.g. https://support.example.com): links in Slack and Monday texts.
        "PORTAL_URL": os.environ.get("PORTAL_URL", ""),
        "ZENDESK_CUSTOM_FIELDS": _json_object("ZENDESK_CUSTOM_FIELDS"),
        "AUTO_CLOSE_AFTER_HOURS": _int("AUTO_CLOSE_AFTER_HOURS", 72),
        # Partners read staff replies as from "EDYE Support" unless this shows the staff member's name.
        "SHOW_STAFF_NAMES_TO_PARTNERS": _bool(os.environ.get("SHOW_STAFF_NAMES_TO_PARTNERS"), False),
        # The language of what the team reads in Monday and Slack (the procedure's team writes Spanish).
        "STAFF_LANGUAGE": _language("STAFF_LANGUAGE"),
        "OUTBOX_CONNECT_TIMEOUT": _float("OUTBOX_CONNECT_TIMEOUT", 3.05),
        "OUTBOX_READ_TIMEOUT": _float("OUTBOX_READ_TIMEOUT", 15.0),
        "OUTBOX_RETRY_BASE_SECONDS": _float("OUTBOX_RETRY_BASE_SECONDS", 5.0),
        "OUTBOX_RETRY_MAX_SECONDS": _float("OUTBOX_RETRY_MAX_SECONDS", 900.0),
        "OUTBOX_LEASE_SECONDS": _float("OUTBOX_LEASE_SECONDS", 120.0),
        "OUTBOX_RATE_LIMIT_PAUSE_SECONDS": _float("OUTBOX_RATE_LIMIT_PAUSE_SECONDS", 60.0),
        "WORKER_POLL_SECONDS": _float("WORKER_POLL_SECONDS", 2.0),
        # The reports of §14, posted by the worker at these local times ("HH:MM"); the procedure
        # names no hour, so each report is off until its time is set.
        "REPORTS_DAILY_AT": _time_of_day("REPORTS_DAILY_AT"),
        "REPORTS_WEEKLY_AT": _time_of_day("REPORTS_WEEKLY_AT"),
        "REPORTS_TIMEZONE": _timezone("REPORTS_TIMEZONE"),  # empty: PORTAL_TIMEZONE
        "MONDAY_REPORTS_ITEM_ID": os.environ.get("MONDAY_REPORTS_ITEM_ID", ""),
        # Files attached to tickets and comments: limits, and where they are kept.
        "ATTACHMENTS_MAX_BYTES": _int("ATTACHMENTS_MAX_BYTES", ATTACHMENTS_MAX_BYTES_DEFAULT),
        "ATTACHMENTS_MAX_FILES": _int("ATTACHMENTS_MAX_FILES", ATTACHMENTS_MAX_FILES_DEFAULT),
        "ATTACHMENTS_BACKEND": os.environ.get("ATTACHMENTS_BACKEND", AttachmentsBackend.LOCAL.value).strip().lower(),
        "ATTACHMENTS_DIR": os.environ.get("ATTACHMENTS_DIR") or str(instance_path / "attachments"),
        "ATTACHMENTS_S3_BUCKET": os.environ.get("ATTACHMENTS_S3_BUCKET", "").strip(),
        "ATTACHMENTS_S3_PREFIX": os.environ.get("ATTACHMENTS_S3_PREFIX", "").strip(),
        # For S3-compatible services (MinIO, Ceph, R2…); empty: AWS itself.
        "ATTACHMENTS_S3_ENDPOINT_URL": os.environ.get("ATTACHMENTS_S3_ENDPOINT_URL", "").strip(),
        "ATTACHMENTS_S3_REGION": os.environ.get("ATTACHMENTS_S3_REGION", "").strip(),
        # Both empty: boto3's own credential chain (environment, profile, instance role).
        "ATTACHMENTS_S3_ACCESS_KEY_ID": os.environ.get("ATTACHMENTS_S3_ACCESS_KEY_ID", "").strip(),
        "ATTACHMENTS_S3_SECRET_ACCESS_KEY": os.environ.get("ATTACHMENTS_S3_SECRET_ACCESS_KEY", "").strip(),
    }
    if os.environ.get("MAX_CONTENT_LENGTH"):
        config["MAX_CONTENT_LENGTH"] = _int("MAX_CONTENT_LENGTH", 0)
    config.update(overrides)
    _check_mail(config)
    _check_partner_email(config)
    _check_attachments(config)
    _check_search(config)
    config["MONDAY_COLUMNS"] = monday_columns(config["MONDAY_COLUMNS"])
    config["BABEL_DEFAULT_TIMEZONE"] = config["PORTAL_TIMEZONE"]
    return config
