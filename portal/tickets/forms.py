"""The two intake forms of the procedure, the comment box and the confirmation."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

IMPACT_CHOICES = [
    SelectChoice("", "—"),
    SelectChoice("none", _l("No end users affected yet")),
    SelectChoice("some", _l("Some end users affected")),
    SelectChoice("many", _l("Many end users affected")),
    SelectChoice("all", _l("Service down for all end users")),
]


class TicketBaseForm(FlaskForm):
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(min=5, max=200)])
    description = TextAreaField(
        _l("Description (Markdown)"), validators=[DataRequired(), Length(min=20, max=20_000)]
    )
    deflection_token = HiddenField()


class TechnicalTicketForm(TicketBaseForm):
    service = StringField(_l("Affected service or platform"), validators=[DataRequired(), Length(max=120)])
    device = StringField(_l("Device and operating system"), validators=[Optional(), Length(max=120)])
    app_version = StringField(_l("App version"), validators=[Optional(), Length(max=40)])
    region = StringField(_l("Region / country"), validators=[DataRequired(), Length(max=80)])
    content_id = StringField(_l("Content or stream id"), validators=[Optional(), Length(max=120)])
    error_code = StringField(
        _l("Error code"),
        validators=[Optional(), Length(max=40), Regexp(r"^[A-Za-z]{2,6}-?\d{2,6}$", message=_l("Use the code as shown, e.g. EDY-4031."))],
    )
    started_at = StringField(_l("When did it start?"), validators=[Optional(), Length(max=80)])
    impact = SelectField(_l("Impact on end users"), choices=IMPACT_CHOICES, validators=[DataRequired()])


class MarketingTicketForm(TicketBaseForm):
    topic = StringField(_l("Topic"), validators=[DataRequired(), Length(max=120)])
    desired_date = DateField(_l("Desired date"), validators=[Optional()])


FORMS = {"technical": TechnicalTicketForm, "marketing_business": MarketingTicketForm}


class CommentForm(FlaskForm):
    body = TextAreaField(_l("Add a message"), validators=[DataRequired(), Length(max=20_000)])


class ConfirmationForm(FlaskForm):
    answer = RadioField(
        _l("Did this solve your problem?"),
        choices=[SelectChoice("yes", _l("Yes, close it")), SelectChoice("no", _l("No, it persists"))],
        validators=[InputRequired()],
    )
    reason = TextAreaField(_l("What still fails?"), validators=[Length(max=5_000)])
