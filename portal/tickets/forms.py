"""The two intake forms of the procedure, the comment box and the confirmation."""

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import DateField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

from portal.core.text import clean_block, clean_line
from portal.files.checks import ATTACHMENT_TYPES, JSON_NAME_ENDINGS, megabytes
from portal.tickets.attachments import Upload
from portal.tickets.validation import (
    COMMENT_MAX,
    DESCRIPTION_MAX,
    DESCRIPTION_MIN,
    DETAIL_MAX,
    REASON_MAX,
    SUBJECT_MAX,
    SUBJECT_MIN,
)

# Cleaned before validation, so lengths count what is kept (spaces and invisible characters are not).
LINE = [clean_line]
BLOCK = [clean_block]

IMPACT_CHOICES = [
    SelectChoice("", "—"),
    SelectChoice("none", _l("No end users affected yet")),
    SelectChoice("some", _l("Some end users affected")),
    SelectChoice("many", _l("Many end users affected")),
    SelectChoice("all", _l("Service down for all end users")),
]


# What the file picker offers: the accepted types, and the extensions of text files that systems
# name in different ways (a log may be text/plain or nothing at all).
ACCEPTED_FILES = ",".join([*ATTACHMENT_TYPES, ".txt", ".log", *JSON_NAME_ENDINGS])


def attachments_field() -> MultipleFileField:
    """Files sent with a message; checked by the service (`portal.tickets.attachments.check`)."""
    return MultipleFileField(_l("Attach files"), render_kw={"accept": ACCEPTED_FILES})


def uploads_of(field: MultipleFileField) -> list[Upload]:
    """The files sent in a file field; browsers send an empty part when none was chosen."""
    return [Upload(file.filename, file.stream) for file in field.data or [] if getattr(file, "filename", "")]


def attachments_hint() -> str:
    """What the file field accepts, from the settings."""
    most = current_app.config["ATTACHMENTS_MAX_FILES"]
    return ngettext(
        "Up to %(num)d file of %(size)s MB: images, PDF, text and logs, HAR or JSON, zip, video.",
        "Up to %(num)d files of %(size)s MB each: images, PDF, text and logs, HAR or JSON, zip, video.",
        most,
        size=megabytes(current_app.config["ATTACHMENTS_MAX_BYTES"]),
    )


class TicketBaseForm(FlaskForm):
    subject = StringField(
        _l("Subject"), filters=LINE, validators=[DataRequired(), Length(min=SUBJECT_MIN, max=SUBJECT_MAX)]
    )
    description = TextAreaField(
        _l("Description (Markdown)"),
        filters=BLOCK,
        validators=[DataRequired(), Length(min=DESCRIPTION_MIN, max=DESCRIPTION_MAX)],
    )
    attachments = attachments_field()
    deflection_token = HiddenField()


class TechnicalTicketForm(TicketBaseForm):
    service = StringField(
        _l("Affected service or platform"), filters=LINE, validators=[DataRequired(), Length(max=DETAIL_MAX)]
    )
    device = StringField(
        _l("Device and operating system"), filters=LINE, validators=[Optional(), Length(max=DETAIL_MAX)]
    )
    app_version = StringField(_l("App version"), filters=LINE, validators=[Optional(), Length(max=40)])
    region = StringField(_l("Region / country"), filters=LINE, validators=[DataRequired(), Length(max=80)])
    content_id = StringField(_l("Content or stream id"), filters=LINE, validators=[Optional(), Length(max=DETAIL_MAX)])
    error_code = StringField(
        _l("Error code"),
        filters=LINE,
        validators=[
            Optional(),
            Length(max=40),
            Regexp(r"^[A-Za-z]{2,6}-?\d{2,6}$", message=_l("Use the code as shown, e.g. EDY-4031.")),
        ],
    )
    started_at = StringField(_l("When did it start?"), filters=LINE, validators=[Optional(), Length(max=80)])
    impact = SelectField(_l("Impact on end users"), choices=IMPACT_CHOICES, validators=[DataRequired()])


class MarketingTicketForm(TicketBaseForm):
    topic = StringField(_l("Topic"), filters=LINE, validators=[DataRequired(), Length(max=DETAIL_MAX)])
    desired_date = DateField(_l("Desired date"), validators=[Optional()])


FORMS = {"technical": TechnicalTicketForm, "marketing_business": MarketingTicketForm}


class CommentForm(FlaskForm):
    body = TextAreaField(_l("Add a message"), filters=BLOCK, validators=[DataRequired(), Length(max=COMMENT_MAX)])
    attachments = attachments_field()


class ConfirmationForm(FlaskForm):
    answer = RadioField(
        _l("Did this solve your problem?"),
        choices=[SelectChoice("yes", _l("Yes, close it")), SelectChoice("no", _l("No, it persists"))],
        validators=[InputRequired()],
    )
    reason = TextAreaField(_l("What still fails?"), filters=BLOCK, validators=[Length(max=REASON_MAX)])
