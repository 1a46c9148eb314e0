"""Signed links that let a person set their password without signing in: a password reset asked
for on the login page, and the invitation of a new user.

A token is signed with the application's SECRET_KEY (itsdangerous), under a salt per purpose, so a
reset token never opens an invitation and the other way round. It carries the user's id and a
fingerprint of their current password hash and last sign-in: setting a password (through the link,
the password page or an administrator's reset) changes the hash, so a link works once, and every
link sent before a password change stops working. The fingerprint is a digest, never the hash.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from auth.models import User
from portal.core.extensions import db
from portal.core.types import utcnow


class LinkPurpose(StrEnum):
    PASSWORD_RESET = "password-reset"
    INVITATION = "invitation"


VALIDITY = {
    LinkPurpose.PASSWORD_RESET: timedelta(minutes=30),
    LinkPurpose.INVITATION: timedelta(hours=72),
}
FINGERPRINT_CHARS = 32  # hex characters of the SHA-256 of the password hash and last sign-in
MAX_TOKEN_LENGTH = 300  # a real token is about 80 characters; anything much longer is not one


class LinkProblem(StrEnum):
    """Why a link does not set a password; each has its message and HTTP status."""

    INVALID = "invalid"
    EXPIRED = "expired"
    USED = "used"


LINK_PROBLEM_MESSAGES = {
    LinkProblem.INVALID: _l("This link is not valid. Copy the whole address from the e-mail, or ask for a new one."),
    LinkProblem.EXPIRED: _l("This link has expired. Ask for a new one."),
    LinkProblem.USED: _l("This link has already been used or is no longer valid. Ask for a new one."),
}
LINK_PROBLEM_STATUS = {LinkProblem.INVALID: 400, LinkProblem.EXPIRED: 410, LinkProblem.USED: 410}


class LinkRefused(Exception):
    def __init__(self, problem: LinkProblem):
        super().__init__(problem.value)
        self.problem = problem

    @property
    def message(self) -> str:
        return str(LINK_PROBLEM_MESSAGES[self.problem])

    @property
    def status(self) -> int:
        return LINK_PROBLEM_STATUS[self.problem]


class _IssuedAtSigner(TimestampSigner):
    """A timestamp signer whose clock can be set, so a token can be issued at a given time."""

    def __init__(self, *args, issued_at: datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.issued_at = issued_at

    def get_timestamp(self) -> int:
        return int(self.issued_at.timestamp()) if self.issued_at else super().get_timestamp()


def _serializer(purpose: LinkPurpose, issued_at: datetime | None = None) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"],
        salt=f"portal.{purpose.value}",
        signer=_IssuedAtSigner,
        signer_kwargs={"issued_at": issued_at},
    )


def fingerprint(user: User) -> str:
    """Changes whenever the user's password is set (and when they sign in)."""
    last_login = user.last_login_at.isoformat() if user.last_login_at else ""
    material = f"{user.password_hash}|{last_login}".encode()
    return hashlib.sha256(material).hexdigest()[:FINGERPRINT_CHARS]


def make_token(user: User, purpose: LinkPurpose, issued_at: datetime | None = None) -> str:
    """A token for `user`'s link of `purpose`, issued now (or at `issued_at`)."""
    return _serializer(purpose, issued_at).dumps([user.id, fingerprint(user)])


def user_for_token(token: str, purpose: LinkPurpose, now: datetime | None = None) -> User:
    """The active user a token of `purpose` was issued to, while it is valid; else `LinkRefused`."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise LinkRefused(LinkProblem.INVALID)
    try:
        payload, issued_at = _serializer(purpose).loads(token, return_timestamp=True)
        user_id, token_fingerprint = payload
        user_id, token_fingerprint = int(user_id), str(token_fingerprint)
    except (BadData, TypeError, ValueError):
        raise LinkRefused(LinkProblem.INVALID) from None
    if (now or utcnow()) - issued_at > VALIDITY[purpose]:
        raise LinkRefused(LinkProblem.EXPIRED)
    user = db.session.get(User, user_id) if 0 < user_id < 2**31 else None
    if user is None or not user.is_active or fingerprint(user) != token_fingerprint:
        raise LinkRefused(LinkProblem.USED)
    return user
