"""Forms of the staff administration screens."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from auth.models import ROLE_LABELS
from auth.services import MONDAY_USER_ID_MAX
from portal.core.i18n import LANGUAGE_NAMES
from portal.core.text import clean_line
from portal.integrations.zendesk import ZENDESK_ID_MAX
from portal.sla.models import REQUEST_TYPE_LABELS
from portal.sla.services import when_applies
from portal.sla.targets import contract_field

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
    monday_user_id = IntegerField(
        _l("Monday user id (staff only; found automatically when empty)"),
        validators=[Optional(), NumberRange(min=1, max=MONDAY_USER_ID_MAX)],
    )

    def set_organizations(self, organizations) -> None:
        self.organization_id.choices = [SelectChoice(0, "—")] + [
            SelectChoice(org.id, org.name) for org in organizations
        ]


class ContractForm(FlaskForm):
    """An organization's contract response times: one field per matrix row (named by
    `contract_field`), empty for the matrix's target; the SLA service checks the hours, and typed
    text comes back with its message on a 422."""

    @classmethod
    def for_matrix(cls, rows, contract: dict[int, float], formdata=None) -> "ContractForm":
        """The form for the matrix `rows`, showing `contract` (hours by row id) unless `formdata`
        (what was just typed) is given."""
        fields = {contract_field(row.id): StringField(_row_label(row), filters=[clean_line]) for row in rows}
        form_class = type("MatrixContractForm", (cls,), fields)
        values = {contract_field(row_id): f"{hours:g}" for row_id, hours in contract.items()}
        return form_class(formdata=formdata, data=values)

    def typed_hours(self, rows) -> dict[int, str]:
        """The hours typed for each matrix row, by row id."""
        return {row.id: self[contract_field(row.id)].data for row in rows}


def _row_label(row) -> str:
    when = when_applies(row)
    return f"{REQUEST_TYPE_LABELS[row.request_type]} — {when}" if when else str(REQUEST_TYPE_LABELS[row.request_type])
