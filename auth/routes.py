"""Login, logout, password change and the optional e-mails."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_limiter import RateLimitExceeded
from flask_login import current_user, login_required, login_user, logout_user

from auth import preferences, services, throttling
from auth.forms import ChangePasswordForm, LoginForm, OptionalEmailsForm
from auth.login import start_session
from auth.throttling import LoginLimit, account_address_key, account_key
from portal.core.errors import InvalidInput
from portal.core.extensions import limiter
from portal.core.limits import client_address, setting, user_key
from portal.core.web import error_page, is_safe_redirect, render, show_form_error, too_many_attempts_message

bp = Blueprint("auth", __name__)


def _sign_in_limit(limit: LoginLimit, setting_name: str, key_func, *, failures_only: bool = False):
    """A limit on sign-in attempts (POST) counting every attempt or, with `failures_only`, the failed
    ones; administrators are told (once per lockout) when it refuses them."""
    return limiter.limit(
        setting(setting_name),
        key_func=key_func,
        methods=["POST"],
        deduct_when=throttling.failed if failures_only else None,
        on_breach=throttling.record_lockout(limit),
    )


@bp.route("/login", methods=["GET", "POST"])
@_sign_in_limit(LoginLimit.ADDRESS, "LOGIN_LIMIT_PER_IP", client_address)
@_sign_in_limit(LoginLimit.ACCOUNT_ADDRESS, "LOGIN_LIMIT_PER_ACCOUNT_ADDRESS", account_address_key, failures_only=True)
@_sign_in_limit(LoginLimit.ACCOUNT, "LOGIN_LIMIT_PER_ACCOUNT", account_key, failures_only=True)
def login():
    """Sign in with e-mail and password; failures get one generic message."""
    form = LoginForm(next=request.args.get("next", ""))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("home.index"))
    status = 200
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            start_session(user, remember=form.remember.data)
            target = form.next.data if is_safe_redirect(form.next.data) else url_for("home.index")
            return redirect(target)
        throttling.count_failure()
        form.password.errors.append(_("Wrong e-mail or password, or the account is not active."))
        status = 401
    elif form.is_submitted():
        status = 422
    return render("auth/login.html", status_code=status, form=form)


@bp.post("/logout")
@login_required
def logout():
    """End the session here and everywhere else the user is signed in (remember-me included)."""
    services.end_sessions(current_user._get_current_object())
    logout_user()
    flash(_("You have signed out."), "success")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@limiter.limit(setting("PASSWORD_CHANGE_LIMIT"), key_func=user_key, methods=["POST"], deduct_when=throttling.failed)
@login_required
def change_password():
    """Change one's own password (required after a reset by an administrator)."""
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current_password.data, form.new_password.data)
        except InvalidInput as error:
            if error.field == "current_password":
                throttling.count_failure()
            show_form_error(form, error)
            status = 422
        else:
            login_user(current_user._get_current_object())
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("home.index"))
    elif form.is_submitted():
        status = 422
    return render("auth/password.html", status_code=status, form=form, emails_form=_optional_emails_form())


def _optional_emails_form() -> OptionalEmailsForm:
    """The account page's e-mail choice, showing the user's own."""
    return OptionalEmailsForm(formdata=None, optional_emails=current_user.optional_emails)


@bp.post("/account/emails")
@login_required
def optional_emails():
    """Turn the optional e-mails (news of tickets) on or off for oneself; a value that is not a
    ticked or empty box changes nothing."""
    form = OptionalEmailsForm()
    if not form.validate_on_submit():
        return render("auth/password.html", status_code=422, form=ChangePasswordForm(formdata=None), emails_form=form)
    preferences.set_optional_emails(current_user, form.optional_emails.data)
    flash(_("Your e-mail choice has been saved."), "success")
    return redirect(url_for("auth.change_password"))


@bp.errorhandler(RateLimitExceeded)
def too_many_attempts(error: RateLimitExceeded):
    """Show the form again with the wait on it (the limiter adds Retry-After)."""
    if request.endpoint not in THROTTLED_FORMS:
        return error_page(error)
    form_class, template, field = THROTTLED_FORMS[request.endpoint]
    form = form_class()
    # Not validated, so the field's errors are still an empty tuple.
    getattr(form, field).errors = [too_many_attempts_message()]
    return render(template, status_code=429, form=form)


# Throttled forms: (form, template, field that shows the wait).
THROTTLED_FORMS = {
    "auth.login": (LoginForm, "auth/login.html", "password"),
    "auth.change_password": (ChangePasswordForm, "auth/password.html", "current_password"),
}
