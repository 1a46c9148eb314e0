"""Throttling of sign-ins and password changes: who a failed attempt counts against, and the audit
entry administrators see when sign-ins are refused.

Failed sign-ins count per (account, address) pair, so guesses from one address cannot lock the
owner out from theirs; a softer per-account ceiling stops guessing spread over many addresses; and
every attempt counts per address, which stops one address trying many accounts.
"""

from __future__ import annotations

import hashlib
import math
import time
from datetime import UTC, datetime
from enum import StrEnum

from flask import g, request
from flask_limiter import RequestLimit

from auth import services
from portal.core.extensions import limiter
from portal.core.limits import client_address


class LoginLimit(StrEnum):
    """The sign-in limits, as named in the audit log."""

    ACCOUNT_ADDRESS = "account_address"
    ACCOUNT = "account"
    ADDRESS = "address"


def attempted_email() -> str:
    return services.normalize_email(request.form.get("email", ""))


def _account() -> str:
    # A digest keeps storage keys short and plain whatever was typed into the e-mail field.
    return hashlib.sha256(attempted_email().encode("utf-8", "replace")).hexdigest()[:32]


def account_key() -> str:
    return f"login-account:{_account()}"


def account_address_key() -> str:
    return f"login-account-address:{_account()}:{client_address()}"


def count_failure() -> None:
    """Count this request against the limits that only count failures (wrong credentials)."""
    g.auth_attempt_failed = True


def failed(response) -> bool:
    return g.get("auth_attempt_failed", False)


def record_lockout(limit: LoginLimit):
    """An `on_breach` callback writing one audit entry per lockout, not one per refused attempt:
    the first refusal of a lockout (named by the limit's key and its reset time) leaves a marker
    in the limits' store, shared by every process, that expires when the limit resets."""

    def on_breach(request_limit: RequestLimit) -> None:
        reset_at = request_limit.window.reset_time
        marker = f"{request_limit.key}/lockout-recorded/{int(reset_at)}"
        if limiter.storage.incr(marker, max(1, math.ceil(reset_at - time.time()))) == 1:
            services.record_login_lockout(
                attempted_email(), client_address(), limit.value, datetime.fromtimestamp(reset_at, UTC)
            )

    return on_breach
