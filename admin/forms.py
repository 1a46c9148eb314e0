"""Forms of the staff administration screens."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from auth.models import ROLE_LABELS
from portal.core.i18n import LANGUAGE_NAMES
from portal.core.text import clean_line
from portal.integrations.zendesk import ZENDESK_ID_MAX

NAME_REQUIRED = DataRequired(message=_l("A name is required."))


class OrganizationForm(FlaskForm):
    name = StringField(_l("Name"), validators=[NAME_REQUIRED, Length(max=200)], filters=[clean_line])
    zendesk_organization_id = IntegerField(
        _l("Zendesk organization id"), validators=[Optional(), NumberRange(min=1, max=ZENDESK_ID_MAX)]
    )
    active = BooleanField(_l("Active"), default=True)


class UserForm(FlaskForm):
    name = StringField(_l("Name"), validators=[NAME_REQUIRED, Length(max=200)], filters=[clean_line])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    role = SelectField(_l("Role"), choices=[SelectChoice(role.value, label) for role, label in ROLE_LABELS.items()])
    organization_id = SelectField(_l("Organization (partners only)"), coerce=int, choices=[])
    language = SelectField(_l("Language"), choices=[SelectChoice(code, name) for code, name in LANGUAGE_NAMES.items()])

    def set_organizations(self, organizations) -> None:
        self.organization_id.choices = [SelectChoice(0, "—")] + [
            SelectChoice(org.id, org.name) for org in organizations
        ]
