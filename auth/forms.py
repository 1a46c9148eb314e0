"""Forms a user fills in for themselves: login, password change and the optional e-mails."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from auth.passwords import MAX_PASSWORD_LENGTH
from auth.services import MAX_EMAIL_LENGTH


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=MAX_EMAIL_LENGTH)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)])
    remember = BooleanField(_l("Keep me signed in on this device"))
    next = HiddenField()


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    # Length and the other rules are the service's (auth.passwords), with their own messages.
    new_password = PasswordField(_l("New password"), validators=[DataRequired()])
    confirm_password = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("The two passwords differ."))],
    )


CHECKED = "y"  # what a ticked box sends (WTForms' BooleanField)


class OptionalEmailsForm(FlaskForm):
    optional_emails = BooleanField(_l("E-mail me about tickets"))

    def validate_optional_emails(self, field):
        """A box is ticked or not: any other value changes nothing (BooleanField would read it as ticked)."""
        if field.raw_data and field.raw_data != [CHECKED]:
            raise ValidationError(_l("Tick the box or leave it empty."))
