"""Home page, language switch and the health check: the room above core that may import `auth`."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import text

from auth import services as auth_services
from portal.core.errors import InvalidInput
from portal.core.extensions import db, limiter
from portal.core.web import is_safe_redirect, render

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    """Landing page: what each role can do from here."""
    return render("home/index.html")


@bp.post("/language")
def set_language():
    """Switch the interface language for this session (and the signed-in user)."""
    language = request.form.get("language", "")
    user = current_user._get_current_object() if current_user.is_authenticated else None
    try:
        auth_services.set_language(user, language)
    except InvalidInput as error:
        abort(400, description=error.message)
    session["language"] = language
    target = request.form.get("next", "")
    return redirect(target if is_safe_redirect(target) else url_for("home.index"))


@bp.get("/healthz")
@limiter.exempt
def healthz():
    """Liveness and database reachability for load balancers (JSON, no login)."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any driver error means "not healthy", and the balancer needs an answer
        db.session.rollback()
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok")
