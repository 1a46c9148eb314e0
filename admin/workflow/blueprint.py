"""The staff workflow's blueprint, shared by its screens, and what every page takes from it: the
queue the signed-in person works (the policy says which), for the menus."""

from __future__ import annotations

from flask import Blueprint, request
from flask_login import current_user

from portal.core.web import database_id
from portal.tickets import policy

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.app_context_processor
def staff_queue() -> dict:
    """`staff_queue` in every template: the signed-in person's `policy.Queue`, or None."""
    return {"staff_queue": policy.queue_for(current_user) if current_user.is_authenticated else None}


def query_id(name: str) -> int:
    """An id filter from the query string; anything that cannot be a row id means "any" (0)."""
    return database_id(request.args.get(name)) or 0
