"""Forms of the pages a person reaches without signing in: asking for a reset link, and choosing a
password through a reset or invitation link."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from auth.services import MAX_EMAIL_LENGTH


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=MAX_EMAIL_LENGTH)])


class SetPasswordForm(FlaskForm):
    # Length and the other rules are the service's (auth.passwords), with their own messages.
    new_password = PasswordField(_l("New password"), validators=[DataRequired()])
    confirm_password = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("The two passwords differ."))],
    )
