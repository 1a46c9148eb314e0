"""The ticket workspace: the partner's request, the status reports, the timeline, and a form for
each action the policy offers the signed-in staff member. An action the policy refuses answers 403
(not theirs to take) or 409 (not now; the workspace says what to do when a requirement the staff
member can meet holds it back); bad input comes back as typed, with the message on its field."""

from __future__ import annotations

from functools import wraps

from flask import abort, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.datastructures import CombinedMultiDict

from admin.workflow.blueprint import bp
from admin.workflow.forms import ACTION_FORMS, ActionForm
from auth.permissions import require_role, require_staff
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.limits import comment_limit
from portal.core.web import accepts_files, render, show_form_error
from portal.tickets import attachments, conversation, kb_on_close, level_three, policy, queries, workflow
from portal.tickets.forms import uploads_of
from portal.tickets.models import DETAIL_LABELS, PRIORITY_LABELS, Ticket
from portal.tickets.policy import Action


def _ticket_or_404(ticket_id: int) -> Ticket:
    ticket = queries.ticket_for(current_user, ticket_id)
    if ticket is None:
        abort(404)
    return ticket


def _workspace(ticket: Ticket, status_code: int = 200, error: str | None = None, sent: ActionForm | None = None):
    """The workspace page (or its fragment); `sent`: the form just refused, shown as it was typed."""
    reports = queries.status_reports(ticket)
    minutes_by_agent: dict[str, int] = {}
    for report in reports:
        minutes_by_agent[report.author.name] = minutes_by_agent.get(report.author.name, 0) + report.minutes_spent
    actions = policy.actions_for(current_user, ticket)
    forms = {action: ACTION_FORMS[action].for_ticket(ticket) for action in actions if action in ACTION_FORMS}
    # What holds an action back, said next to the status-report form rather than hiding it silently.
    held_back: dict[str, list[str]] = {}
    for action, what_to_do in policy.requirements_for(current_user, ticket).items():
        held_back.setdefault(what_to_do, []).append(action.value)
    if sent is not None and sent.action in forms:
        forms[sent.action] = sent
    return render(
        "workflow/workspace.html",
        "workflow/_workspace.html",
        status_code=status_code,
        ticket=ticket,
        entries=queries.timeline(ticket, include_internal=True),
        files=attachments.of_ticket(ticket, include_internal=True),
        event_details=True,
        reports=reports,
        minutes_total=sum(minutes_by_agent.values()),
        minutes_by_agent=minutes_by_agent,
        forms=forms,
        held_back=held_back,
        priorities=PRIORITY_LABELS,
        detail_labels=DETAIL_LABELS,
        error=error,
        kb_follow_up=kb_on_close.follow_up_for(ticket),
    )


@bp.get("/tickets/<int:ticket_id>")
@require_staff
def workspace(ticket_id: int):
    """The ticket workspace: partner data, full timeline with internal notes, reports, actions."""
    return _workspace(_ticket_or_404(ticket_id))


def ticket_action(action: Action, path: str, *limits, takes_files: bool = False):
    """Register the view of `action` at /staff/tickets/<id>/<path>, for the roles the policy gives
    the action (after `limits`; `takes_files`: its form carries attachments). The view gets the
    ticket and the action's form as sent; around it: 404 for unknown tickets; the policy's refusal
    (403 or 409); 422 with the form as typed and the message on its field; on success, where the
    view leads, or the workspace."""

    def register(perform):
        @wraps(perform)
        def view(ticket_id: int):
            ticket = _ticket_or_404(ticket_id)
            try:
                policy.check(current_user, ticket, action)
            except policy.RequirementUnmet as unmet:
                # Theirs once they meet it: the workspace again, announcing what to do.
                return _workspace(ticket, unmet.http_status, unmet.message)
            except policy.ActionRefused as refused:
                abort(refused.http_status, description=refused.message)
            form = ACTION_FORMS[action].for_ticket(ticket, CombinedMultiDict([request.files, request.form]))
            # Announced above the workspace (role="alert"); the form says which field and why.
            status, error = 422, _("Some of the data sent is not valid. Check it and try again.")
            if form.validate():
                try:
                    leads_to = perform(ticket, form)
                except InvalidInput as problem:
                    db.session.rollback()
                    show_form_error(form, problem)
                except policy.ActionRefused as refused:
                    db.session.rollback()
                    status, error = refused.http_status, refused.message
                else:
                    if leads_to:
                        return redirect(leads_to)
                    if not request.htmx:
                        return redirect(url_for("staff.workspace", ticket_id=ticket_id))
                    return _workspace(_ticket_or_404(ticket_id))
            return _workspace(_ticket_or_404(ticket_id), status, error, sent=form)

        guarded = require_role(*policy.roles_for(action))(view)
        for limit in reversed(limits):
            guarded = limit(guarded)
        bp.post(f"/tickets/<int:ticket_id>/{path}")(accepts_files(guarded) if takes_files else guarded)
        return perform

    return register


@ticket_action(Action.ASSIGN, "assign")
def assign(ticket, form):
    """Classify (request type, priority) and assign to a level-1 agent or, for marketing and
    business, to a member of that area, in one step."""
    workflow.classify_and_assign(current_user, ticket, form.request_type.data, form.priority.data, form.chosen_agent())


@ticket_action(Action.NOTE, "note", comment_limit, takes_files=True)
def note(ticket, form):
    """An internal note (staff only), with files."""
    conversation.add_internal_note(current_user, ticket, form.body.data, files=uploads_of(form.attachments))


@ticket_action(Action.REPLY, "reply", comment_limit, takes_files=True)
def reply(ticket, form):
    """A public reply, with files: shown to the partner and sent to Zendesk as a public comment."""
    conversation.add_comment(current_user, ticket, form.body.data, files=uploads_of(form.attachments))


@ticket_action(Action.REPORT, "reports")
def report(ticket, form):
    """File a status report."""
    workflow.file_status_report(
        current_user,
        ticket,
        form.actions_taken.data,
        form.minutes(),
        form.relevant_information.data,
        form.next_step.data,
        form.visibility.data == "partner",
    )


@ticket_action(Action.RESOLVE, "resolve")
def resolve(ticket, form):
    """Resolved: a solution summary and a KB article (or the reason none is needed)."""
    workflow.resolve(current_user, ticket, form.summary.data, form.article_id(), form.no_kb_reason.data)


@ticket_action(Action.RESOLVE, "kb-draft")
def kb_draft(ticket, form):
    """Start a KB draft prefilled from the ticket, in the editor."""
    article = kb_on_close.kb_draft_for(current_user, ticket)
    return url_for("kb.edit_article", language=article.language, slug=article.slug)


@ticket_action(Action.CANNOT_RESOLVE, "cannot-resolve")
def cannot_resolve(ticket, form):
    """Cannot resolve at this level: back to the administrator with the reason."""
    workflow.cannot_resolve(current_user, ticket, form.reason.data)


@ticket_action(Action.NOTIFY, "notify")
def notify(ticket, form):
    """Send the resolution to the partner and record it in Monday."""
    workflow.notify_partner(current_user, ticket, form.message.data)


@ticket_action(Action.REASSIGN, "reassign")
def reassign(ticket, form):
    """Reassign to a level-2 agent through Monday, Slack or both."""
    workflow.reassign_to_level_two(current_user, ticket, form.chosen_agent(), form.channels.data)


@ticket_action(Action.ESCALATE, "escalate")
def escalate(ticket, form):
    """Escalate to level 3 (VP and tech team)."""
    workflow.escalate_to_level_three(current_user, ticket, form.note.data)


@ticket_action(Action.DECISION, "decision")
def decision(ticket, form):
    """Level 3's analysis and decision."""
    level_three.decide(
        current_user,
        ticket,
        form.priority.data,
        form.impact.data,
        form.resources.data,
        form.decision.data,
        provider=form.provider(),
        measure=form.measure.data,
        notes=form.notes.data,
        measure_description=form.measure_description.data,
    )


@ticket_action(Action.RESULT, "result")
def result(ticket, form):
    """Record the external provider's result or the alternative measure applied."""
    level_three.record_level_three_result(current_user, ticket, form.result.data)
