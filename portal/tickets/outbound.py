"""What Zendesk and Slack are told about a ticket: every payload is built here, once, and written
to the outbox in the caller's transaction (Monday's in `board`, e-mail in `contact_mail`).

Each message's idempotency key is part of what was already sent: messages in an outbox must still
find theirs, so the keys' shapes never change.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app
from flask_babel import force_locale

from auth.models import User
from portal.core.i18n import in_staff_language
from portal.core.markdown import render_markdown
from portal.integrations import outbox, slack
from portal.integrations.models import Target
from portal.sla.models import RequestType
from portal.tickets.attachments import Attachment
from portal.tickets.board import on_the_board, record_in_monday
from portal.tickets.models import (
    DETAIL_LABELS,
    Comment,
    Status,
    Ticket,
    name_for_partners,
)

ZENDESK_STATUS = {Status.AWAITING_CONFIRMATION: "solved", Status.CLOSED: "closed", Status.REOPENED: "open"}
# Zendesk's ticket type for each request type: day-to-day questions are questions; technical errors
# are incidents; marketing and business requests ask for work by a desired date, Zendesk's tasks
# (the type with a due date). "problem" (the cause behind linked incidents) is Zendesk's own.
ZENDESK_TYPE = {
    RequestType.DAY_TO_DAY: "question",
    RequestType.TECHNICAL: "incident",
    RequestType.MARKETING_BUSINESS: "task",
}
CLOSE_IF_SOLVED = "close_if_solved"  # the outbox kind of the auto-close's message to Zendesk
ATTACHMENT_IDS = "attachment_ids"  # a message's files, uploaded to Zendesk with it


# Zendesk ------------------------------------------------------------------------------------


def zendesk_classification(ticket: Ticket) -> dict:
    """The ticket's priority and, once classified, its type, as Zendesk names them."""
    fields = {"priority": ticket.priority}
    if ticket.request_type:
        fields["type"] = ZENDESK_TYPE[RequestType(ticket.request_type)]
    return fields


def _zendesk_new_ticket(ticket: Ticket, requester: User) -> dict:
    details = "\n".join(
        f"- **{DETAIL_LABELS[key]}:** {value}" for key, value in ticket.details.items() if value not in (None, "")
    )
    description = ticket.description + (f"\n\n---\n\n{details}" if details else "")
    custom_fields = [
        {"id": int(field_id), "value": ticket.details[key]}
        for key, field_id in current_app.config["ZENDESK_CUSTOM_FIELDS"].items()
        if ticket.details.get(key) not in (None, "")
    ]
    payload = {
        "subject": f"[{ticket.reference}] {ticket.subject}",
        # The partner writes Markdown: Zendesk gets it rendered and sanitized, so formatting survives.
        "comment": {"html_body": str(render_markdown(description)), "public": True},
        "requester": {"name": requester.name, "email": requester.email},
        "tags": ["edye_portal", f"form_{ticket.form}"],
        "external_id": ticket.reference,
        **zendesk_classification(ticket),
    }
    if custom_fields:
        payload["custom_fields"] = custom_fields
    if ticket.organization.zendesk_organization_id:
        payload["organization_id"] = ticket.organization.zendesk_organization_id
    return payload


def _files(files: Sequence[Attachment]) -> dict:
    """The part of a message naming its files (none: nothing, so plain messages keep their shape)."""
    return {ATTACHMENT_IDS: [file.id for file in files]} if files else {}


def zendesk_create(ticket: Ticket, requester: User, files: Sequence[Attachment] = ()) -> None:
    """Create the ticket in Zendesk (the key doubles as the request's Idempotency-Key), its
    description carrying `files` (uploaded on delivery: `zendesk_files`)."""
    outbox.enqueue(
        Target.ZENDESK,
        "create_ticket",
        {"ticket": _zendesk_new_ticket(ticket, requester), **_files(files)},
        f"zendesk:create:{ticket.reference}",
        ticket_id=ticket.id,
    )


def zendesk_comment(ticket: Ticket, comment: Comment, files: Sequence[Attachment] = ()) -> None:
    """A public comment written in the portal with its `files`, signed as the partner reads it
    (staff as the support team, in the requester's language, unless SHOW_STAFF_NAMES_TO_PARTNERS). A partner's comment
    names its author's e-mail, so it is posted as theirs in Zendesk (`zendesk_delivery`); staff
    comments stay the API user's. Its Zendesk id is remembered on delivery, so the webhook's echo
    is not shown twice."""
    with force_locale(ticket.requester.language):
        signature = name_for_partners(comment.author, comment.author_name)
    payload = {
        "ticket": {"comment": {"body": f"{signature}:\n\n{comment.body}", "public": True}},
        "comment_id": comment.id,
        **_files(files),
    }
    if comment.author is not None and not comment.author.is_staff:
        payload["author_email"] = comment.author.email
    outbox.enqueue(Target.ZENDESK, "update_ticket", payload, f"zendesk:comment:{comment.id}", ticket_id=ticket.id)


def zendesk_status(
    ticket: Ticket,
    status: Status,
    comment: str | None = None,
    key: str = "",
    kind: str = "update_ticket",
    comment_id: int | None = None,
) -> None:
    """The Zendesk ticket's status follows the portal's, after the public comment that explains it.
    The comment goes first, as a message of its own: when Zendesk refuses the status (a solve
    without a valid assignee is a 422), the status becomes a dead letter an administrator retries,
    and the comment has reached the partner all the same. `comment_id` names the portal comment
    that holds the same words, which learns its Zendesk id on delivery."""
    if comment:
        outbox.enqueue(
            Target.ZENDESK,
            "update_ticket",
            {"ticket": {"comment": {"body": comment, "public": True}}, "comment_id": comment_id},
            f"zendesk:status:{ticket.id}:{key}:comment",
            ticket_id=ticket.id,
        )
    outbox.enqueue(
        Target.ZENDESK,
        kind,
        {"ticket": {"status": ZENDESK_STATUS[status]}},
        f"zendesk:status:{ticket.id}:{key}",
        ticket_id=ticket.id,
    )


def zendesk_close_if_solved(ticket: Ticket, key: str) -> None:
    """Closed by silence: Zendesk is told `closed` only if its ticket is still `solved` there (an
    answer in Zendesk reopens it, and then the silence was not the partner's)."""
    zendesk_status(ticket, Status.CLOSED, key=key, kind=CLOSE_IF_SOLVED)


def zendesk_reclassified(ticket: Ticket, key: str) -> None:
    """The ticket's priority or type changed in the portal: Zendesk's follow."""
    outbox.enqueue(
        Target.ZENDESK,
        "update_ticket",
        {"ticket": zendesk_classification(ticket)},
        f"zendesk:classification:{ticket.id}:{key}",
        ticket_id=ticket.id,
    )


# Slack ------------------------------------------------------------------------------------------


def staff_url(ticket: Ticket) -> str:
    """The ticket's workspace address, when PORTAL_URL says where the portal is served (the worker
    has no request to take it from); empty otherwise."""
    base = current_app.config["PORTAL_URL"].rstrip("/")
    if not base:
        return ""
    return base + current_app.url_map.bind("portal").build("staff.workspace", {"ticket_id": ticket.id})


def _slack_message(ticket: Ticket, text, idempotency_key: str) -> None:
    """Escaped once, each part within Slack's limits; a cut text ends with a link to the ticket."""
    body = slack.message(in_staff_language(text), ticket.reference, staff_url(ticket), ticket.reference)
    outbox.enqueue(Target.SLACK, "notify", body, idempotency_key, ticket_id=ticket.id)


def to_slack(ticket: Ticket, text, key: str) -> None:
    """A workflow step the team hears of in Slack (a lazy string, written in the team's language)."""
    _slack_message(ticket, text, f"slack:{ticket.id}:{key}")


def sla_alert(ticket: Ticket, text, key: str) -> None:
    """A first-response deadline crossed (`key` names the threshold): Slack always, and Monday
    when the ticket is there already or Monday is configured."""
    _slack_message(ticket, text, f"slack:sla:{ticket.id}:{key}")
    if on_the_board(ticket):
        record_in_monday(ticket, text, f"sla-{key}")
