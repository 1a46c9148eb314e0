"""Route guards: who may call what, checked on the server for every request."""

from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from auth.models import STAFF_ROLES, Role


def require_role(*roles: Role):
    """Allow only signed-in users holding one of `roles`; others get 403 (anonymous: login)."""
    allowed = frozenset(roles)

    def decorator(view):
        @wraps(view)
        @login_required
        def guarded(*args, **kwargs):
            if current_user.role_enum not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return guarded

    return decorator


def require_staff(view):
    """Allow any EDYE staff role."""
    return require_role(*STAFF_ROLES)(view)
