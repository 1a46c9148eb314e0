"""Staff administration: organizations, users and the audit log."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from htmx_flask import make_response as htmx_response

from admin import services as admin_services
from admin.forms import ContractForm, OrganizationForm, UserForm
from auth import services as auth_services
from auth.models import ROLE_LABELS, Organization, Role, User
from auth.permissions import require_role, require_staff
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.web import database_id, page_number, paginate, render, render_list, show_form_error
from portal.integrations import outbox
from portal.integrations.http import DeliveryError
from portal.integrations.models import OutboxMessage, Target
from portal.people import services as people
from portal.reports.models import READERS as REPORT_READERS
from portal.sla import services as sla
from portal.sla.models import REQUEST_TYPE_LABELS, EscalationRow
from portal.sla.targets import contract, contract_field, targets, update_contract

bp = Blueprint("admin", __name__, url_prefix="/admin")
ADMINISTRATORS = frozenset({Role.TICKET_ADMIN})  # who manages accounts, integrations and the SLA matrix
require_admin = require_role(*ADMINISTRATORS)
SEARCH_MAX = 100  # longer terms name nothing; very long ones exceed SQLite's LIKE pattern limit


@bp.get("/")
@require_staff
def index():
    """The staff home: the screens this role can use."""
    role = current_user.role_enum
    return render("admin/index.html", administers=role in ADMINISTRATORS, reads_reports=role in REPORT_READERS)


def _saved(message: str, list_endpoint: str):
    """The answer to a change made without htmx: back to the list, with `message`."""
    flash(message, "success")
    return redirect(url_for(list_endpoint))


def _edit(form, save: Callable[[], str], list_endpoint: str, template: str, **context):
    """An edit page: a valid submission is saved (`save()` says what was saved) and leads back to
    the list; otherwise the page is shown, with a refused submission's errors on its fields (422)."""
    if form.validate_on_submit():
        try:
            message = save()
        except InvalidInput as error:
            show_form_error(form, error)
        else:
            return _saved(message, list_endpoint)
    return render(template, status_code=422 if form.is_submitted() else 200, form=form, **context)


# Organizations -------------------------------------------------------------


def _organizations_context(form: OrganizationForm | None = None) -> dict:
    query = request.args.get("q", "")[:SEARCH_MAX]
    return {
        "form": form or OrganizationForm(formdata=None),
        "query": query,
        "page": paginate(auth_services.list_organizations(query), page_number()),
    }


@bp.get("/organizations")
@require_admin
def organizations():
    """List and search partner organizations; create one inline."""
    return render("admin/organizations.html", "admin/_organization_list.html", **_organizations_context())


@bp.post("/organizations")
@require_admin
def create_organization():
    """Create an organization; htmx gets the fresh form and the list refreshes itself."""
    form = OrganizationForm()
    if form.validate_on_submit():
        try:
            organization = auth_services.create_organization(
                current_user, form.name.data, form.zendesk_organization_id.data, form.active.data
            )
        except InvalidInput as error:
            show_form_error(form, error)
        else:
            message = _("Organization %(name)s created.", name=organization.name)
            if not request.htmx:
                return _saved(message, "admin.organizations")
            response = render(
                "admin/organizations.html",
                "admin/_organization_form.html",
                form=OrganizationForm(formdata=None),
                notice=message,
            )
            return htmx_response(response, trigger="organizations-changed")
    return render(
        "admin/organizations.html", "admin/_organization_form.html", status_code=422, **_organizations_context(form)
    )


def _contract_context(organization: Organization, contract_form: ContractForm | None = None) -> dict:
    """The organization page's contract section: a field per matrix row, with the matrix's time as
    its hint."""
    rows = sla.rows()
    return {
        "organization": organization,
        "contract_form": contract_form or ContractForm.for_matrix(rows, contract(organization.id)),
        "matrix_times": {contract_field(target.row.id): sla.response_time(target) for target in targets(rows)},
    }


@bp.route("/organizations/<int:organization_id>/edit", methods=["GET", "POST"])
@require_admin
def edit_organization(organization_id: int):
    """Edit an organization's name, Zendesk link and status; its contract response times below."""
    organization = db.get_or_404(Organization, organization_id)
    form = OrganizationForm(obj=organization)

    def save() -> str:
        auth_services.update_organization(
            current_user, organization, form.name.data, form.zendesk_organization_id.data, form.active.data
        )
        return _("Organization %(name)s saved.", name=organization.name)

    return _edit(form, save, "admin.organizations", "admin/organization_edit.html", **_contract_context(organization))


@bp.post("/organizations/<int:organization_id>/contract")
@require_admin
def update_organization_contract(organization_id: int):
    """Set the organization's own first-response hours per matrix row (empty: the matrix's)."""
    organization = db.get_or_404(Organization, organization_id)
    rows = sla.rows()
    form = ContractForm.for_matrix(rows, {}, request.form)
    if form.validate_on_submit():
        try:
            update_contract(current_user, organization, form.typed_hours(rows))
        except InvalidInput as error:
            show_form_error(form, error)
        else:
            flash(_("Contract response times of %(name)s saved.", name=organization.name), "success")
            return redirect(url_for("admin.edit_organization", organization_id=organization.id))
    return render(
        "admin/organization_edit.html",
        status_code=422,
        form=OrganizationForm(formdata=None, obj=organization),
        **_contract_context(organization, form),
    )


@bp.post("/organizations/<int:organization_id>/active")
@require_admin
def set_organization_active(organization_id: int):
    """Activate or deactivate an organization (its partners cannot log in while inactive)."""
    organization = db.get_or_404(Organization, organization_id)
    auth_services.set_organization_active(current_user, organization, request.form.get("active") == "1")
    if request.htmx:
        return render("admin/organizations.html", "admin/_organization_row.html", organization=organization)
    return _saved(_("Organization %(name)s saved.", name=organization.name), "admin.organizations")


# Users ---------------------------------------------------------------------------


def _user_form(formdata=None, **values) -> UserForm:
    form = UserForm(formdata=formdata, **values) if formdata is not None else UserForm(**values)
    form.set_organizations(admin_services.all_organizations())
    return form


def _user_filters() -> dict:
    return {
        "q": request.args.get("q", "")[:SEARCH_MAX],
        "role": request.args.get("role", ""),
        "organization_id": database_id(request.args.get("organization_id")) or 0,
        "active": request.args.get("active", ""),
    }


def _users_context(form: UserForm | None = None, **extra) -> dict:
    filters = _user_filters()
    statement = auth_services.list_users(filters["q"], filters["role"], filters["organization_id"], filters["active"])
    context = {
        "form": form or _user_form(formdata=None),
        "filters": filters,
        "organizations": admin_services.all_organizations(),
        "role_labels": ROLE_LABELS,
        "page": paginate(statement, page_number()),
    }
    context.update(extra)
    return context


def _user_fields(form: UserForm) -> tuple:
    """The form's values in the order the account services take them: e-mail, name, role, organization, language."""
    organization = db.session.get(Organization, form.organization_id.data) if form.organization_id.data else None
    return form.email.data, form.name.data, form.role.data, organization, form.language.data


@bp.get("/users")
@require_admin
def users():
    """List and filter users; create one inline."""
    return render("admin/users.html", "admin/_user_list.html", **_users_context())


@bp.post("/users")
@require_admin
def create_user():
    """Create a user, invited by e-mail to choose a password (or, without mail, with a temporary
    password shown once)."""
    form = _user_form(request.form)
    if form.validate_on_submit():
        try:
            auth_services.check_monday_user_id(form.monday_user_id.data, form.role.data)
            user, password = people.create_user(current_user, *_user_fields(form))
            auth_services.set_monday_user_id(current_user, user, form.monday_user_id.data)
        except InvalidInput as error:
            show_form_error(form, error)
        else:
            context = _users_context(created=user, temporary_password=password)
            response = render("admin/users.html", "admin/_user_form.html", status_code=201, **context)
            return htmx_response(response, trigger="users-changed") if request.htmx else response
    return render("admin/users.html", "admin/_user_form.html", status_code=422, **_users_context(form))


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@require_admin
def edit_user(user_id: int):
    """Edit a user's name, e-mail, role, organization, language and Monday account."""
    user = db.get_or_404(User, user_id)
    form = _user_form(
        request.form if request.method == "POST" else None,
        obj=user,
        organization_id=user.organization_id or 0,
    )

    def save() -> str:
        auth_services.check_monday_user_id(form.monday_user_id.data, form.role.data)
        auth_services.update_user(current_user, user, *_user_fields(form))
        auth_services.set_monday_user_id(current_user, user, form.monday_user_id.data)
        return _("User %(name)s saved.", name=user.name)

    return _edit(form, save, "admin.users", "admin/user_edit.html", user=user)


@bp.post("/users/<int:user_id>/active")
@require_admin
def set_user_active(user_id: int):
    """Activate or deactivate a user; deactivation ends their sessions at once."""
    user = db.get_or_404(User, user_id)
    try:
        auth_services.set_user_active(current_user, user, request.form.get("active") == "1")
    except InvalidInput as error:
        if request.htmx:
            return render("admin/users.html", "admin/_user_row.html", status_code=409, user=user, error=error.message)
        flash(error.message, "error")
        return redirect(url_for("admin.users"))
    if request.htmx:
        return render("admin/users.html", "admin/_user_row.html", user=user)
    return _saved(_("User %(name)s saved.", name=user.name), "admin.users")


@bp.post("/users/<int:user_id>/password-reset")
@require_admin
def reset_password(user_id: int):
    """Replace a user's password with a temporary one, shown once, to change at next login."""
    user = db.get_or_404(User, user_id)
    password = auth_services.reset_password(current_user, user)
    return render("admin/password_reset.html", "admin/_user_row.html", user=user, temporary_password=password)


# Audit log -----------------------------------------------------------------------


@bp.get("/audit")
@require_admin
def audit_log():
    """The append-only audit log, newest first, filterable by action and target."""
    action, target_type = request.args.get("action", ""), request.args.get("target_type", "")
    statement = admin_services.audit_entries(action, target_type)
    filters = {"action": action, "target_type": target_type, "actions": admin_services.audit_actions()}
    return render_list("admin/audit.html", "admin/_audit_list.html", statement, per_page=50, **filters)


# Integrations ------------------------------------------------------------------------------


@bp.get("/integrations")
@require_admin
def integrations():
    """Outbox health: messages by target and state, dead letters, last successful delivery."""
    return render(
        "admin/integrations.html",
        counts=outbox.counts_by_target_and_state(),
        last_delivery=outbox.last_delivery_times(),
        dead=outbox.dead_letters(),
        configured={target.value: outbox.client_for(target.value) is not None for target in Target},
    )


@bp.post("/integrations/messages/<int:message_id>/<any(retry,discard):action>")
@require_admin
def dead_letter_action(message_id: int, action: str):
    """Send a dead letter again, or give up on it."""
    message = db.get_or_404(OutboxMessage, message_id)
    try:
        (outbox.retry if action == "retry" else outbox.discard)(current_user, message)
    except DeliveryError:
        abort(409, description=_("Only dead letters can be sent again or discarded."))
    flash(
        _(
            "Message %(id)d: %(action)s.",
            id=message.id,
            action=_("sent again") if action == "retry" else _("discarded"),
        ),
        "success",
    )
    return redirect(url_for("admin.integrations"))


# SLA: escalation matrix and business calendar ---------------------------------------------------

WEEKDAYS = range(7)


def _sla_page(status_code: int = 200, errors: dict | None = None, row_id: int | None = None):
    """The SLA screen; after a refused change, the message sits on the field it names (of the
    row `row_id`, or of the calendar) and the values just typed are shown again."""
    return render(
        "admin/sla.html",
        status_code=status_code,
        rows=sla.rows(),
        settings=sla.settings(),
        weekdays=WEEKDAYS,
        timezone=current_app.config["PORTAL_TIMEZONE"],
        request_types=REQUEST_TYPE_LABELS,
        errors=errors or {},
        error_row_id=row_id,
        typed=request.form if errors else {},
    )


@bp.get("/sla")
@require_admin
def sla_settings():
    """The escalation matrix (edit a row) and the business calendar (hours, holidays)."""
    return _sla_page()


@bp.post("/sla/rows/<int:row_id>")
@require_admin
def update_sla_row(row_id: int):
    """Edit one row of the escalation matrix (target and contact)."""
    row = db.get_or_404(EscalationRow, row_id)
    try:
        sla.update_row(current_user, row, request.form.to_dict())
    except InvalidInput as error:
        db.session.rollback()
        return _sla_page(422, {error.field: error.message}, row.id)
    flash(_("Escalation matrix row %(key)s saved.", key=row.key), "success")
    return redirect(url_for("admin.sla_settings"))


@bp.post("/sla/calendar")
@require_admin
def update_calendar():
    """Business hours per weekday and extra holidays."""
    hours = {}
    for day in WEEKDAYS:
        opening, closing = request.form.get(f"open_{day}", "").strip(), request.form.get(f"close_{day}", "").strip()
        if opening or closing:
            hours[str(day)] = [opening, closing]
    holidays = []
    for line in request.form.get("holidays", "").splitlines():
        if line.strip():
            day, _sep, name = line.strip().partition(" ")
            holidays.append({"date": day, "name": name.strip()})
    try:
        sla.update_settings(current_user, hours, holidays, request.form.get("us_federal") == "y")
    except InvalidInput as error:
        db.session.rollback()
        return _sla_page(422, {error.field: error.message})
    flash(_("Business calendar saved."), "success")
    return redirect(url_for("admin.sla_settings"))
