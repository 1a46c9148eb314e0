"""Account operations: authentication, organizations, users and passwords.

Every function takes plain arguments, commits its own transaction and writes
the audit log for changes made by a person.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager
from werkzeug.security import check_password_hash, generate_password_hash

from auth.models import Organization, Role, User, new_session_token
from auth.passwords import check_new_password
from auth.scripts import address_mixes_scripts
from portal.core import audit
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.i18n import LANGUAGES, Language
from portal.core.text import clean_line
from portal.core.types import utcnow

# Column sizes: User.name and Organization.name, User.email.
MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 254
# Room for any IPv6 address in text form.
MAX_ADDRESS_LENGTH = 64


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def _dummy_hash() -> str:
    # Checked for unknown e-mails so a login takes as long whether or not the account exists.
    cache = current_app.extensions.setdefault("auth_dummy_hash", {})
    method = current_app.config["PASSWORD_HASH_METHOD"]
    if method not in cache:
        cache[method] = hash_password(secrets.token_hex(16))
    return cache[method]


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None; records the login time."""
    user = find_user_by_email(email)
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.is_active:
        return None
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Replace the user's own password; every other session of the user ends."""
    if not check_password_hash(user.password_hash, current_password or ""):
        raise InvalidInput(_("The current password is not correct."), "current_password")
    check_new_password(new_password, "new_password", user.email, user.name)
    if check_password_hash(user.password_hash, new_password):
        raise InvalidInput(_("Choose a password different from the current one."), "new_password")
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    user.session_token = new_session_token()
    audit.record(user, "user.password_changed", user)
    db.session.commit()


def set_password_from_link(user: User, new_password: str, audit_action: str) -> None:
    """Set the password of the user a reset or invitation link was issued to (checked by
    `auth.tokens`); the link stops working and every session of the user ends."""
    check_new_password(new_password, "new_password", user.email, user.name)
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    user.session_token = new_session_token()
    audit.record(user, audit_action, user)
    db.session.commit()


def end_sessions(user: User) -> None:
    """Sign the user out everywhere: every session cookie and remember-me cookie issued so far
    stops working, including copies saved elsewhere."""
    user.session_token = new_session_token()
    db.session.commit()


@dataclass(frozen=True)
class UnknownAccount:
    """The audit target of a lockout whose e-mail names no account."""

    name: str
    id: None = None


def record_login_lockout(email: str, address: str, limit: str, until: datetime) -> None:
    """Tell administrators (in the audit log) that sign-ins for `email` or from `address` are
    refused until `until` after too many attempts; `limit` names the limit that was reached."""
    # Both come from the request before any validation: keep them storable.
    email, address = clean_line(email)[:MAX_EMAIL_LENGTH], clean_line(address)[:MAX_ADDRESS_LENGTH]
    target = find_user_by_email(email) or UnknownAccount(email)
    audit.record(
        None,
        "auth.login_throttled",
        target,
        after={"email": email, "address": address, "limit": limit, "until": until.isoformat(timespec="seconds")},
    )
    db.session.commit()


def set_language(user: User | None, language: str) -> None:
    """Remember a signed-in user's preferred language."""
    if language not in LANGUAGES:
        raise InvalidInput(_("Unknown language."), "language")
    if user is not None and user.language != language:
        user.language = language
        db.session.commit()


def _record_changes(actor: User, action: str, target: Organization | User, before: dict) -> None:
    """Audit and commit an update of `target`, whose snapshot was `before`, if it changed anything."""
    after = target.audit_snapshot()
    if after != before:
        audit.record(actor, action, target, before=before, after=after)
        db.session.commit()


# Organizations -------------------------------------------------------------


def _clean_name(name: str) -> str:
    name = clean_line(name)
    if not name:
        raise InvalidInput(_("A name is required."), "name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(_("Use at most %(count)d characters.", count=MAX_NAME_LENGTH), "name")
    return name


def _organization_named(name: str) -> Organization | None:
    return db.session.scalar(select(Organization).where(func.lower(Organization.name) == name.lower()))


def _check_organization_name(name: str, existing: Organization | None = None) -> str:
    name = _clean_name(name)
    clash = _organization_named(name)
    if clash is not None and clash is not existing:
        raise InvalidInput(_("An organization with this name already exists."), "name")
    return name


def create_organization(
    actor: User | None, name: str, zendesk_organization_id: int | None = None, active: bool = True
) -> Organization:
    """Add a partner organization."""
    organization = Organization(
        name=_check_organization_name(name),
        zendesk_organization_id=zendesk_organization_id,
        active=active,
    )
    db.session.add(organization)
    db.session.flush()
    audit.record(actor, "organization.created", organization, after=organization.audit_snapshot())
    db.session.commit()
    return organization


def find_or_create_organization(actor: User | None, name: str) -> Organization:
    """The organization called `name` (case-insensitively), created when missing."""
    return _organization_named(clean_line(name)) or create_organization(actor, name)


def update_organization(
    actor: User, organization: Organization, name: str, zendesk_organization_id: int | None, active: bool
) -> Organization:
    """Rename or re-link an organization; deactivating it ends its partners' sessions and locks
    them out until it is active again."""
    before = organization.audit_snapshot()
    organization.name = _check_organization_name(name, organization)
    organization.zendesk_organization_id = zendesk_organization_id
    if organization.active and not active:
        for partner in organization.users:
            partner.session_token = new_session_token()
    organization.active = active
    _record_changes(actor, "organization.updated", organization, before)
    return organization


def set_organization_active(actor: User, organization: Organization, active: bool) -> Organization:
    """Activate or deactivate an organization."""
    return update_organization(actor, organization, organization.name, organization.zendesk_organization_id, active)


def list_organizations(query: str = ""):
    """A select of organizations, by name, optionally filtered by a name fragment."""
    statement = select(Organization).order_by(func.lower(Organization.name))
    if query.strip():
        statement = statement.where(Organization.name.ilike(f"%{query.strip()}%"))
    return statement


# Users ------------------------------------------------------------------------


def temporary_password() -> str:
    return secrets.token_urlsafe(12)


def _check_user_fields(
    email: str, name: str, role: str, organization: Organization | None, language: str, existing: User | None
) -> tuple[str, str, Role]:
    try:
        email = normalize_email(
            validate_email(
                normalize_email(email),
                check_deliverability=False,
                # Reserved domains such as .test are fine for demo and test data, never in production.
                test_environment=current_app.config["PORTAL_ENV"] != "production",
            ).normalized
        )
    except EmailNotValidError:
        raise InvalidInput(_("Enter a valid e-mail address."), "email") from None
    clash = find_user_by_email(email)
    if clash is not None and clash is not existing:
        raise InvalidInput(_("Another user already has this e-mail address."), "email")
    name = _clean_name(name)
    try:
        role_enum = Role(role)
    except ValueError:
        raise InvalidInput(_("Unknown role."), "role") from None
    newly_staff = existing is None or existing.email != email or not existing.is_staff
    if role_enum.is_staff and newly_staff and address_mixes_scripts(email):
        raise InvalidInput(
            _("Staff e-mail addresses may not mix alphabets (such as Latin and Cyrillic letters)."), "email"
        )
    if role_enum is Role.PARTNER and organization is None:
        raise InvalidInput(_("A partner must belong to an organization."), "organization_id")
    if role_enum is not Role.PARTNER and organization is not None:
        raise InvalidInput(_("EDYE staff do not belong to a partner organization."), "organization_id")
    if language not in LANGUAGES:
        raise InvalidInput(_("Unknown language."), "language")
    return email, name, role_enum


def create_user(
    actor: User | None,
    email: str,
    name: str,
    role: str,
    organization: Organization | None = None,
    language: str = Language.ES.value,
    password: str | None = None,
) -> tuple[User, str | None]:
    """Add a user. Without `password`, a temporary one is generated, returned once,
    and must be changed at first login."""
    user, generated = add_user(actor, email, name, role, organization, language, password)
    db.session.commit()
    return user, generated


def add_user(
    actor: User | None,
    email: str,
    name: str,
    role: str,
    organization: Organization | None = None,
    language: str = Language.ES.value,
    password: str | None = None,
) -> tuple[User, str | None]:
    """`create_user` without the commit, for a caller that adds to the same transaction (the user's
    invitation) and commits it."""
    email, name, role_enum = _check_user_fields(email, name, role, organization, language, None)
    generated = None
    if password is None:
        generated = password = temporary_password()
    else:
        check_new_password(password, "password", email, name)
    user = User(
        email=email,
        name=name,
        role=role_enum.value,
        organization=organization,
        language=language,
        password_hash=hash_password(password),
        must_change_password=generated is not None,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.created", user, after=user.audit_snapshot())
    return user, generated


def update_user(
    actor: User,
    user: User,
    email: str,
    name: str,
    role: str,
    organization: Organization | None,
    language: str,
) -> User:
    """Change a user's details or role; a role change ends the user's sessions."""
    email, name, role_enum = _check_user_fields(email, name, role, organization, language, user)
    if user.id == actor.id and role_enum is not Role.TICKET_ADMIN:
        raise InvalidInput(_("You cannot remove your own administrator role."), "role")
    before = user.audit_snapshot()
    if user.role != role_enum.value:
        user.session_token = new_session_token()
    user.email, user.name, user.role = email, name, role_enum.value
    user.organization, user.language = organization, language
    _record_changes(actor, "user.updated", user, before)
    return user


MONDAY_USER_ID_MAX = 2**63 - 1  # Monday user ids are 64-bit


def check_monday_user_id(monday_user_id: int | None, role: str) -> int | None:
    """A Monday user id for a user of `role` (None: not known); partners have none (§7.2: Monday
    is the internal team's)."""
    if monday_user_id is None:
        return None
    if not 0 < monday_user_id <= MONDAY_USER_ID_MAX:
        raise InvalidInput(_("A Monday user id is a positive whole number."), "monday_user_id")
    if role == Role.PARTNER:
        raise InvalidInput(_("Only EDYE staff have Monday accounts."), "monday_user_id")
    return monday_user_id


def set_monday_user_id(actor: User | None, user: User, monday_user_id: int | None) -> User:
    """Record (or clear) a staff member's Monday account, used for people columns and notifications."""
    monday_user_id = check_monday_user_id(monday_user_id, user.role)
    if user.monday_user_id != monday_user_id:
        before = {"monday_user_id": user.monday_user_id}
        user.monday_user_id = monday_user_id
        audit.record(actor, "user.monday_id_changed", user, before=before, after={"monday_user_id": monday_user_id})
        db.session.commit()
    return user


def set_user_active(actor: User, user: User, active: bool) -> User:
    """Activate or deactivate a user; deactivation ends every session at once."""
    if user.id == actor.id and not active:
        raise InvalidInput(_("You cannot deactivate your own account."), "active")
    if user.active == active:
        return user
    before = user.audit_snapshot()
    user.active = active
    if not active:
        user.session_token = new_session_token()
    audit.record(actor, "user.activated" if active else "user.deactivated", user, before, user.audit_snapshot())
    db.session.commit()
    return user


def reset_password(actor: User, user: User) -> str:
    """Give the user a temporary password (returned once) to change at next login."""
    password = temporary_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.session_token = new_session_token()
    audit.record(actor, "user.password_reset", user)
    db.session.commit()
    return password


def list_users(query: str = "", role: str = "", organization_id: int | None = None, active: str = ""):
    """A select of users with their organizations, filtered as the admin asked."""
    statement = (
        select(User)
        .outerjoin(User.organization)
        .options(contains_eager(User.organization))
        .order_by(func.lower(User.name))
    )
    if query.strip():
        pattern = f"%{query.strip()}%"
        statement = statement.where(User.name.ilike(pattern) | User.email.ilike(pattern))
    if role in {r.value for r in Role}:
        statement = statement.where(User.role == role)
    if organization_id:
        statement = statement.where(User.organization_id == organization_id)
    if active in ("yes", "no"):
        statement = statement.where(User.active.is_(active == "yes"))
    return statement
