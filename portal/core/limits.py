"""Keys for rate limits: who a limit counts against. Limits themselves are settings
(`*_LIMIT_*` in config) applied with `@limiter.limit(setting("NAME"), key_func=...)`."""

from __future__ import annotations

from flask import current_app, request
from flask_login import current_user

from portal.core.extensions import limiter


def setting(name: str):
    """A limit read from the configuration at request time (so tests and deployments can set it)."""
    return lambda: current_app.config[name]


def client_address() -> str:
    """The client's address (the proxy-corrected one when TRUSTED_PROXIES is set)."""
    return request.remote_addr or "unknown"


def user_key() -> str:
    """The signed-in user, or the client address for anonymous requests."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"address:{client_address()}"


def organization_key() -> str:
    """The signed-in partner's organization (staff and anonymous: as `user_key`)."""
    organization_id = getattr(current_user, "organization_id", None) if current_user.is_authenticated else None
    return f"organization:{organization_id}" if organization_id else user_key()


def succeeded(response) -> bool:
    """For `deduct_when`: only what was done counts against a limit, not a form sent back with errors."""
    return response.status_code < 400


# Limits that several routes share (one counter for all of them, per user): comments and replies
# however they are written; field checks, suggestions and previews, which all follow typing.
comment_limit = limiter.shared_limit(
    setting("COMMENT_LIMIT_PER_USER"), scope="comments", key_func=user_key, deduct_when=succeeded
)
typing_limit = limiter.shared_limit(setting("TYPING_LIMIT_PER_USER"), scope="typing", key_func=user_key)
