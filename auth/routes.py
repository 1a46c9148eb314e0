"""Login, logout and password change."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user

from auth import services
from auth.forms import ChangePasswordForm, LoginForm
from portal.errors import InvalidInput
from portal.extensions import limiter
from portal.web import is_safe_redirect, render

bp = Blueprint("auth", __name__)


def _login_account_key() -> str:
    return "login-account:" + services.normalize_email(request.form.get("email", ""))


def _login_failed(response) -> bool:
    return response.status_code == 401


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"], key_func=get_remote_address
)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    methods=["POST"],
    key_func=_login_account_key,
    deduct_when=_login_failed,
)
def login():
    """Sign in with e-mail and password; failures get one generic message."""
    form = LoginForm(next=request.args.get("next", ""))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("core.index"))
    status = 200
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user, remember=form.remember.data)
            target = form.next.data if is_safe_redirect(form.next.data) else url_for("core.index")
            return redirect(target)
        form.password.errors.append(_("Wrong e-mail or password, or the account is not active."))
        status = 401
    elif form.is_submitted():
        status = 422
    return render("auth/login.html", status_code=status, form=form)


@bp.post("/logout")
@login_required
def logout():
    """End the current session."""
    logout_user()
    flash(_("You have signed out."), "success")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change one's own password (required after a reset by an administrator)."""
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current_password.data, form.new_password.data)
        except InvalidInput as error:
            getattr(form, error.field).errors.append(error.message)
            status = 422
        else:
            login_user(current_user._get_current_object())
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("core.index"))
    elif form.is_submitted():
        status = 422
    return render("auth/password.html", status_code=status, form=form)
