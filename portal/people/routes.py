""" "Forgot your password?" and the pages a reset or invitation link opens."""

from __future__ import annotations

import hashlib

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_limiter import RateLimitExceeded
from flask_login import current_user, logout_user

from auth import tokens
from auth.services import normalize_email
from auth.tokens import VALIDITY, LinkPurpose, LinkRefused
from portal.core.errors import InvalidInput
from portal.core.extensions import limiter
from portal.core.limits import client_address, setting
from portal.core.web import error_page, render, show_form_error, too_many_attempts_message
from portal.people import services
from portal.people.forms import ForgotPasswordForm, SetPasswordForm
from portal.people.mail import SECONDS_PER_MINUTE

bp = Blueprint("people", __name__)
ACCOUNT_KEY_CHARS = 32  # hex characters of the typed e-mail's digest in the limit's key


def reset_account_key() -> str:
    """The e-mail typed, as a digest (short, plain storage keys whatever was typed)."""
    email = normalize_email(request.form.get("email", ""))
    return "password-reset-account:" + hashlib.sha256(email.encode("utf-8", "replace")).hexdigest()[:ACCOUNT_KEY_CHARS]


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(setting("PASSWORD_RESET_LIMIT_PER_IP"), key_func=client_address, methods=["POST"])
@limiter.limit(setting("PASSWORD_RESET_LIMIT_PER_ACCOUNT"), key_func=reset_account_key, methods=["POST"])
def forgot_password():
    """Ask for a reset link by e-mail; the answer is the same whether or not the account exists."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data)
        return _forgot_page(ForgotPasswordForm(formdata=None), requested=True)
    return _forgot_page(form, status_code=422 if form.is_submitted() else 200)


def _forgot_page(form: ForgotPasswordForm, status_code: int = 200, requested: bool = False):
    minutes = int(VALIDITY[LinkPurpose.PASSWORD_RESET].total_seconds() // SECONDS_PER_MINUTE)
    return render("auth/forgot_password.html", status_code=status_code, form=form, requested=requested, minutes=minutes)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Choose a new password through the link of a reset e-mail."""
    return _set_password_page(token, LinkPurpose.PASSWORD_RESET)


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    """Choose one's first password through the link of an invitation e-mail."""
    return _set_password_page(token, LinkPurpose.INVITATION)


def _set_password_page(token: str, purpose: LinkPurpose):
    try:
        user = tokens.user_for_token(token, purpose)
    except LinkRefused as refused:
        return render("auth/link_refused.html", status_code=refused.status, message=refused.message)
    form = SetPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.set_password(user, form.new_password.data, purpose)
        except InvalidInput as error:
            show_form_error(form, error)
        else:
            if current_user.is_authenticated and current_user.id == user.id:
                logout_user()  # every session of this user has ended, this one too
            flash(_("Your password has been set. Log in with it."), "success")
            return redirect(url_for("auth.login"))
    if form.is_submitted():
        status = 422
    return render("auth/set_password.html", status_code=status, form=form, user=user, purpose=purpose, token=token)


@bp.errorhandler(RateLimitExceeded)
def too_many_requests(error: RateLimitExceeded):
    """Show the form again with the wait on it (the limiter adds Retry-After)."""
    if request.endpoint != "people.forgot_password":
        return error_page(error)
    form = ForgotPasswordForm()
    # Not validated, so the field's errors are still an empty tuple.
    form.email.errors = [too_many_attempts_message()]
    return _forgot_page(form, status_code=429)
