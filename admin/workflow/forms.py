"""The forms of the staff workspace's actions and of the triage queue's bulk assignment.

They carry what was typed, so that a refused action comes back as it was sent, with the message on
its field. What is required and how long a text may be is the services' to say (one rule for every
caller), so these forms check no more than the CSRF token."""

from __future__ import annotations

from typing import ClassVar

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, NumberInput

from admin import services as admin_services
from auth.models import Role, User
from portal.core.web import database_id
from portal.sla.models import REQUEST_TYPE_LABELS
from portal.tickets import queries
from portal.tickets.forms import attachments_field
from portal.tickets.level_three import MEASURE_LABELS
from portal.tickets.models import PRIORITY_LABELS, Ticket
from portal.tickets.policy import Action
from portal.tickets.validation import REPORT_MINUTES_MAX

REQUIRED = {"required": True}


def _choices(labels: dict, *first: SelectChoice) -> list[SelectChoice]:
    return [*first, *(SelectChoice(str(value), label) for value, label in labels.items())]


def _text(label, rows: int = 2, required: bool = True) -> TextAreaField:
    return TextAreaField(label, render_kw={"rows": rows, **(REQUIRED if required else {})})


def _select(label, choices=()) -> SelectField:
    # The service names a wrong choice (on this field); the form keeps whatever was sent.
    return SelectField(label, choices=list(choices), validate_choice=False)


class ActionForm(FlaskForm):
    """One action's form. Its fields' ids begin with the action, so that the forms of one page
    never share an id (several have a `body`, a `priority` or an `agent_id`)."""

    action: ClassVar[str]
    # Forms with an `agent_id` offer the active staff of these roles (grouped by role when several).
    agent_roles: ClassVar[tuple[Role, ...]] = ()

    class Meta:
        def bind_field(self, form, unbound_field, options):
            return unbound_field.bind(form=form, id=f"{form.action}-{options['name']}", **options)

    @classmethod
    def build(cls, formdata=None, **values) -> ActionForm:
        """The form with what was sent (`formdata`), else with `values`, and its choices."""
        form = cls(formdata=formdata, **values)
        form.agents = [agent for role in cls.agent_roles for agent in admin_services.active_users(role)]
        if cls.agent_roles:
            grouped = len(cls.agent_roles) > 1
            form.agent_id.choices = [
                SelectChoice(str(agent.id), agent.name, optgroup=agent.role_enum.label if grouped else None)
                for agent in form.agents
            ]
        return form

    @classmethod
    def for_ticket(cls, ticket: Ticket, formdata=None) -> ActionForm:
        return cls.build(formdata, **cls.defaults(ticket))

    @classmethod
    def defaults(cls, ticket: Ticket) -> dict:
        """What the form proposes for `ticket` before anything is typed."""
        return {}

    def chosen_agent(self) -> User | None:
        """The agent picked among those offered (None for anything else)."""
        chosen = database_id(self.agent_id.data)
        return next((agent for agent in self.agents if agent.id == chosen), None)


class AssignForm(ActionForm):
    """Marketing and business requests go to a member of that area, the others to level 1 (the
    service refuses a person of the other role)."""

    action = Action.ASSIGN
    agent_roles = (Role.AGENT_L1, Role.BUSINESS)
    request_type = _select(_l("Request type"), _choices(REQUEST_TYPE_LABELS))
    priority = _select(_l("Priority"), _choices(PRIORITY_LABELS))
    agent_id = _select(_l("Assign to"))

    @classmethod
    def defaults(cls, ticket: Ticket) -> dict:
        return {"request_type": ticket.form, "priority": ticket.priority}


class BulkAssignForm(AssignForm):
    """The same classification and agent for several tickets of the triage queue."""

    action = "bulk-assign"


class ReportForm(ActionForm):
    action = Action.REPORT
    actions_taken = _text(_l("Actions taken"))
    minutes_spent = StringField(
        _l("Time spent (minutes)"), widget=NumberInput(min=1, max=REPORT_MINUTES_MAX), render_kw=REQUIRED
    )
    visibility = _select(
        _l("Visibility"),
        [SelectChoice("internal", _l("Internal")), SelectChoice("partner", _l("Also visible to the partner"))],
    )
    relevant_information = _text(_l("Relevant information"))
    next_step = StringField(_l("Next step"))

    def minutes(self) -> int | None:
        """The time spent as a whole number of minutes (None when it is not one)."""
        try:
            return int(self.minutes_spent.data)
        except (TypeError, ValueError):
            return None


class ResolveForm(ActionForm):
    action = Action.RESOLVE
    summary = _text(_l("Solution summary"))
    kb_article_id = StringField(_l("KB article created or updated for this ticket (id)"), widget=NumberInput(min=1))
    no_kb_reason = StringField(_l("Or: why no KB change is needed"))

    def article_id(self) -> int | None:
        return database_id(self.kb_article_id.data)


class CannotResolveForm(ActionForm):
    action = Action.CANNOT_RESOLVE
    reason = _text(_l("Reason"))


class NotifyForm(ActionForm):
    action = Action.NOTIFY
    message = _text(_l("Message for the partner (public, through Zendesk)"), 3)

    @classmethod
    def defaults(cls, ticket: Ticket) -> dict:
        return {"message": queries.last_summary(ticket)}


class ReassignForm(ActionForm):
    action = Action.REASSIGN
    agent_roles = (Role.AGENT_L2,)
    agent_id = _select(_l("Level-2 agent"))
    channels = SelectMultipleField(
        _l("Notify through"),
        choices=[SelectChoice("monday", "Monday"), SelectChoice("slack", "Slack")],
        default=["monday"],
        option_widget=CheckboxInput(),
        validate_choice=False,
    )


class EscalateForm(ActionForm):
    action = Action.ESCALATE
    note = _text(_l("Note for the VP and the tech team"), required=False)


class DecisionForm(ActionForm):
    action = Action.DECISION
    priority = _select(_l("Priority"), _choices(PRIORITY_LABELS))
    impact = StringField(_l("Impact (partners and end users affected)"), render_kw=REQUIRED)
    resources = StringField(_l("Resources available"), render_kw=REQUIRED)
    decision = RadioField(
        _l("Decision"),
        choices=[
            SelectChoice("external_provider", _l("Approve an external provider")),
            SelectChoice("alternative_measure", _l("Alternative measure")),
        ],
        validate_choice=False,
    )
    provider_name = StringField(_l("Provider name"))
    provider_contact = StringField(_l("Provider contact"))
    provider_scope = StringField(_l("Scope"))
    measure = _select(_l("Alternative measure"), _choices(MEASURE_LABELS, SelectChoice("", "—")))
    measure_description = _text(_l("Describe the measure (required for “Other”)"), required=False)
    notes = _text(_l("Notes"), required=False)

    @classmethod
    def defaults(cls, ticket: Ticket) -> dict:
        return {"priority": ticket.priority}

    def provider(self) -> dict:
        return {
            "name": self.provider_name.data,
            "contact": self.provider_contact.data,
            "scope": self.provider_scope.data,
        }


class ResultForm(ActionForm):
    action = Action.RESULT
    result = _text(_l("Result (provider's solution or measure applied)"))


class ReplyForm(ActionForm):
    action = Action.REPLY
    body = _text(_l("Message (the partner sees it; it goes to Zendesk)"), 3)
    attachments = attachments_field()


class NoteForm(ActionForm):
    action = Action.NOTE
    body = _text(_l("Note (staff only, never shown to the partner)"))
    attachments = attachments_field()


ACTION_FORMS: dict[Action, type[ActionForm]] = {
    form.action: form
    for form in (
        AssignForm,
        ReportForm,
        ResolveForm,
        CannotResolveForm,
        NotifyForm,
        ReassignForm,
        EscalateForm,
        DecisionForm,
        ResultForm,
        ReplyForm,
        NoteForm,
    )
}
