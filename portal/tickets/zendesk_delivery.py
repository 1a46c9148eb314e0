"""Delivering the portal's messages to Zendesk (outbox handlers): creating the ticket (adopting it
when a forgotten idempotency key would create it twice), comments (a partner's as the partner's;
adopted, not posted again, when an earlier attempt's answer was lost), status changes (with the
assignee Zendesk requires to solve), priority and type, follow-ups of closed tickets, and
remembering the ids Zendesk answers with, so their webhook echo is recognised (`zendesk_webhook`)."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations import outbox
from portal.integrations.http import Rejected
from portal.integrations.models import Target, WebhookReceipt
from portal.integrations.zendesk import TicketClosed, parse_id
from portal.tickets.models import Comment, EventKind, Status, Ticket
from portal.tickets.outbound import ATTACHMENT_IDS, CLOSE_IF_SOLVED, ZENDESK_STATUS, zendesk_classification
from portal.tickets.states import OPEN_STATUSES, record_event
from portal.tickets.zendesk_files import keyed_by_uploads, upload_tokens, with_uploads

log = logging.getLogger("portal.zendesk")

ECHO_SOURCE = "zendesk-comment"  # comments the portal itself wrote into Zendesk
# Zendesk keeps an Idempotency-Key about two hours; past this age of a creation message, the portal
# no longer trusts it and looks the ticket up by its external id first.
IDEMPOTENCY_KEY_TRUSTED = timedelta(hours=1, minutes=45)
SOLVING = {ZENDESK_STATUS[Status.AWAITING_CONFIRMATION], ZENDESK_STATUS[Status.CLOSED]}  # need an assignee
# The portal statuses in which each Zendesk status a message sets still tells the truth. The partner
# can answer in Zendesk (which reopens its ticket there, and the portal follows without writing back)
# while the portal's "solved" waits in the outbox; sent then, it would solve again what the partner
# has just reopened.
STILL_TRUE = {
    ZENDESK_STATUS[Status.AWAITING_CONFIRMATION]: {Status.AWAITING_CONFIRMATION, Status.CLOSED},
    ZENDESK_STATUS[Status.CLOSED]: {Status.CLOSED},
    ZENDESK_STATUS[Status.REOPENED]: set(OPEN_STATUSES),
}
# The name, in an update's audit metadata, of the outbox message that sent the update.
OUTBOX_KEY = "edye_outbox_key"


def _comment_ids(audit) -> list[int]:
    """Ids of the comments among an audit's events (an id that is not a 64-bit integer is skipped:
    the comment is in Zendesk already, and failing now would post it again on the retry)."""
    events = audit.get("events") if isinstance(audit, dict) else None
    ids = []
    for event in events if isinstance(events, list) else []:
        if isinstance(event, dict) and event.get("type") == "Comment":
            comment_id = parse_id(event.get("id"))
            if comment_id is None:
                log.warning("Zendesk answered with a comment id that is not a 64-bit integer: %.40r", event.get("id"))
            else:
                ids.append(comment_id)
    return ids


def _remember_comments(comment_ids: list[int]) -> None:
    """Note the ids of comments the portal wrote, so their webhook echo is not shown twice."""
    ids = {str(comment_id) for comment_id in comment_ids}
    known = (
        set(
            db.session.scalars(
                select(WebhookReceipt.event_id).where(
                    WebhookReceipt.source == ECHO_SOURCE, WebhookReceipt.event_id.in_(ids)
                )
            )
        )
        if ids
        else set()
    )
    db.session.add_all(WebhookReceipt(source=ECHO_SOURCE, event_id=comment_id) for comment_id in ids - known)


def _link(ticket: Ticket, remote: dict) -> None:
    """Remember the Zendesk ticket that carries `ticket`, and who requested it there."""
    ticket.zendesk_id = parse_id(remote.get("id"))
    ticket.zendesk_requester_id = parse_id(remote.get("requester_id")) or ticket.zendesk_requester_id


def _may_exist_under_another_key(message) -> bool:
    """Whether an earlier attempt may have created the ticket under a key that cannot find it now:
    one Zendesk has forgotten, or one that named other upload tokens (each attempt uploads the
    files again, so its request, and its key, differ)."""
    if message.attempts <= 1:
        return False
    return bool(message.payload.get(ATTACHMENT_IDS)) or utcnow() - message.created_at >= IDEMPOTENCY_KEY_TRUSTED


def _created_already(client, external_id: str, after: int = 0) -> dict | None:
    """The oldest Zendesk ticket carrying `external_id` (follow-ups carry it too) whose id is
    beyond `after` (a follow-up's: beyond the closed ticket it follows), if any."""
    found = [
        remote
        for remote in client.tickets_with_external_id(external_id)
        if remote.get("external_id") == external_id and (parse_id(remote.get("id")) or 0) > after
    ]
    return min(found, key=lambda remote: parse_id(remote["id"]), default=None)


def deliver_new_ticket(message, client) -> outbox.HandlerResult:
    """Create the ticket in Zendesk, its description carrying the files uploaded just before, and
    remember its id and requester. The Idempotency-Key makes a retry after a lost answer return the
    ticket already created, but Zendesk keeps keys about two hours, and a retry with files names new
    upload tokens under a key of its own: then the ticket is first looked up by its external id and
    adopted when it exists."""
    ticket = db.session.get(Ticket, message.ticket_id)
    fields = message.payload["ticket"]
    if _may_exist_under_another_key(message):
        existing = _created_already(client, fields["external_id"])
        log.info(
            "Zendesk lookup of %s before creating it again: %s",
            fields["external_id"],
            f"found ticket {existing['id']}, adopted" if existing else "none, creating it",
        )
        if existing is not None:
            _link(ticket, existing)
            return outbox.HandlerResult()
    tokens = upload_tokens(message, client)
    fields = {**fields, "comment": with_uploads(fields["comment"], tokens)}
    response = client.create_ticket(fields, keyed_by_uploads(message.idempotency_key, tokens))
    created = response.data.get("ticket")
    if not isinstance(created, dict) or parse_id(created.get("id")) is None:
        raise Rejected(f"Zendesk answered without a valid ticket id: {str(response.data)[:300]}")
    log.info(
        "Zendesk ticket %s created for %s (x-idempotency-lookup: %s)",
        created["id"],
        ticket.reference,
        response.idempotency_lookup or "absent",
    )
    _link(ticket, created)
    _remember_comments(_comment_ids(response.data.get("audit")))
    return outbox.HandlerResult(response.rate_limit_remaining)


def _still_solved(ticket: Ticket, client) -> tuple[bool, int | None]:
    """Whether the Zendesk ticket is still "solved": an answer there reopens it, and then the
    silence the portal saw was not the partner's."""
    response = client.show_ticket(ticket.zendesk_id)
    shown = response.data.get("ticket")
    status = shown.get("status") if isinstance(shown, dict) else None
    if status != "solved":
        log.info(
            "Zendesk ticket %s is %.20r, not solved: not closing it for portal ticket %s (closed by silence)",
            ticket.zendesk_id,
            status,
            ticket.reference,
        )
        record_event(
            ticket, None, EventKind.ZENDESK_STATUS, data={"zendesk_status": status, "close_sent": False}, public=False
        )
    return status == "solved", response.rate_limit_remaining


def _ticket_in_zendesk(message) -> Ticket:
    ticket = db.session.get(Ticket, message.ticket_id)
    if ticket.zendesk_id is None:
        raise Rejected("the ticket was never created in Zendesk (its creation was discarded)")
    return ticket


def deliver_close_if_solved(message, client) -> outbox.HandlerResult:
    """The close of a solution nobody answered: sent only while the Zendesk ticket is still solved;
    otherwise nothing is sent (and the portal notes what Zendesk said)."""
    solved, remaining = _still_solved(_ticket_in_zendesk(message), client)
    return deliver_update(message, client) if solved else outbox.HandlerResult(remaining)


def _partner_in_zendesk(ticket: Ticket, email: str, client) -> int | None:
    """The Zendesk user id of the partner with `email`: the ticket's requester is looked up once
    (when Zendesk's answer did not name them) and remembered; another partner of the organization
    is looked up each time. None when Zendesk knows no such user."""
    if email.lower() != ticket.requester.email.lower():
        return client.user_id_for_email(email)
    if ticket.zendesk_requester_id is None:
        ticket.zendesk_requester_id = client.user_id_for_email(email)
    return ticket.zendesk_requester_id


def _as_sent(ticket: Ticket, message, client) -> dict:
    """The update as Zendesk must receive it: a partner's comment authored by the partner's Zendesk
    user (else by the API user, signed in its text), an assignee with every solve or close, which
    Zendesk refuses without one (ZENDESK_ASSIGNEE_ID, else the API user itself), and a comment's
    message key as the audit's metadata (`_applied_already`)."""
    payload = message.payload
    update = {key: dict(value) if isinstance(value, dict) else value for key, value in payload["ticket"].items()}
    if "comment" in update:
        update["metadata"] = {OUTBOX_KEY: message.idempotency_key}
    if "comment" in update and payload.get("author_email"):
        author_id = _partner_in_zendesk(ticket, payload["author_email"], client)
        if author_id is None:
            log.warning("no Zendesk user for the author of comment %s: posted as the API user", payload["comment_id"])
        else:
            update["comment"]["author_id"] = author_id
    if update.get("status") in SOLVING:
        update["assignee_id"] = current_app.config["ZENDESK_ASSIGNEE_ID"] or client.own_user_id()
    return update


def _remember_delivered_comment(payload: dict, audit) -> None:
    """The portal comment's Zendesk id, and the echo receipts of the comments in `audit`."""
    comment_ids = _comment_ids(audit)
    comment = db.session.get(Comment, payload["comment_id"]) if payload.get("comment_id") else None
    if comment is not None and comment_ids:
        comment.zendesk_comment_id = comment_ids[-1]
    _remember_comments(comment_ids)


def _applied_already(ticket: Ticket, message, client) -> dict | None:
    """The audit of an earlier attempt of `message` that Zendesk applied, if any.

    Zendesk takes no idempotency key on updates, so an update whose answer was lost (a timeout, a
    dropped connection, a 500 after applying it) would post its comment again. An update with a
    comment carries the message's key as `ticket.metadata`, which Zendesk stores on the update's
    audit under `metadata.custom` ("Setting Metadata" in Zendesk's Tickets API documentation, as the
    zendesk_api gem ships it: up to 1 KB per audit, saved only when the update changes the ticket,
    which a comment always does; the audit's `metadata` in "Ticket Audits",
    developer.zendesk.com/api-reference/ticketing/tickets/ticket_audits); a retry reads the
    ticket's audits (`ZendeskClient.ticket_audits`) before sending again."""
    for audit in client.ticket_audits(ticket.zendesk_id):
        metadata = audit.get("metadata")
        custom = metadata.get("custom") if isinstance(metadata, dict) else None
        if isinstance(custom, dict) and custom.get(OUTBOX_KEY) == message.idempotency_key:
            return audit
    return None


def deliver_update(message, client) -> outbox.HandlerResult:
    """Add a comment, or change the status, priority or type of the ticket in Zendesk; a closed
    Zendesk ticket is continued by a follow-up (`_follow_up`). A retry of a comment first looks for
    the audit an earlier attempt left (`_applied_already`) and adopts its comment instead of
    posting it twice; a status, priority or type sent again changes nothing."""
    ticket = _ticket_in_zendesk(message)
    status = message.payload["ticket"].get("status")
    if status in STILL_TRUE and Status(ticket.status) not in STILL_TRUE[status]:
        log.info("Zendesk not told %r for %s: the ticket is %s now", status, ticket.reference, ticket.status)
        record_event(
            ticket, None, EventKind.ZENDESK_STATUS, data={"zendesk_status": status, "sent": False}, public=False
        )
        return outbox.HandlerResult()
    if message.attempts > 1 and "comment" in message.payload["ticket"]:
        audit = _applied_already(ticket, message, client)
        if audit is not None:
            log.info(
                "Zendesk applied outbox message %s already (audit %.40r): adopted, not sent again",
                message.id,
                audit.get("id"),
            )
            _remember_delivered_comment(message.payload, audit)
            return outbox.HandlerResult()
    update = _as_sent(ticket, message, client)
    if "comment" in update:
        update["comment"] = with_uploads(update["comment"], upload_tokens(message, client))
    try:
        response = client.update_ticket(ticket.zendesk_id, update)
    except TicketClosed:
        return _follow_up(ticket, message, update, client)
    _remember_delivered_comment(message.payload, response.data.get("audit"))
    return outbox.HandlerResult(response.rate_limit_remaining)


def _follow_up(ticket: Ticket, message, update: dict, client) -> outbox.HandlerResult:
    """Zendesk closed its ticket (its solved→closed automation ran first): a comment or a reopen
    goes to a follow-up ticket (`via_followup_source_id`), whose id the portal keeps from now on
    (the closed one stays in the ticket's events); a solve or a close has nothing left to do."""
    closed_id = ticket.zendesk_id
    if "comment" not in update and update.get("status") != ZENDESK_STATUS[Status.REOPENED]:
        record_event(ticket, None, EventKind.ZENDESK_STATUS, data={"zendesk_status": "closed"}, public=False)
        return outbox.HandlerResult()
    follow_up = {
        **update,
        **zendesk_classification(ticket),
        "via_followup_source_id": closed_id,
        "subject": f"[{ticket.reference}] {ticket.subject}",
        "external_id": ticket.reference,
    }
    if ticket.zendesk_requester_id:
        follow_up["requester_id"] = ticket.zendesk_requester_id
    else:
        follow_up["requester"] = {"name": ticket.requester.name, "email": ticket.requester.email}
    if "comment" not in follow_up:
        with force_locale(ticket.requester.language):
            text = _("The partner reopened %(reference)s in the portal.", reference=ticket.reference)
        follow_up["comment"] = {"body": text, "public": True}
    tokens = follow_up["comment"].get("uploads", [])
    if tokens and message.attempts > 1:
        # An earlier attempt's follow-up named other tokens, under another key: look for it first.
        existing = _created_already(client, ticket.reference, after=closed_id)
        if existing is not None:
            _continued_in(ticket, closed_id, existing)
            return outbox.HandlerResult()
    key = keyed_by_uploads(f"{message.idempotency_key}:follow-up:{closed_id}", tokens)
    response = client.create_ticket(follow_up, key)
    created = response.data.get("ticket")
    if not isinstance(created, dict) or parse_id(created.get("id")) is None:
        raise Rejected(f"Zendesk answered the follow-up without a valid ticket id: {str(response.data)[:300]}")
    _continued_in(ticket, closed_id, created)
    _remember_delivered_comment(message.payload, response.data.get("audit"))
    return outbox.HandlerResult(response.rate_limit_remaining)


def _continued_in(ticket: Ticket, closed_id: int, follow_up: dict) -> None:
    """From now on the ticket is the follow-up in Zendesk; the closed one stays in its events."""
    _link(ticket, follow_up)
    record_event(
        ticket,
        None,
        EventKind.ZENDESK_STATUS,
        data={"zendesk_status": "closed", "follow_up_of": closed_id, "zendesk_id": ticket.zendesk_id},
        public=False,
    )
    log.info(
        "Zendesk ticket %s was closed: %s continues in follow-up %s", closed_id, ticket.reference, ticket.zendesk_id
    )


def register_handlers() -> None:
    outbox.register(Target.ZENDESK, "create_ticket", deliver_new_ticket)
    outbox.register(Target.ZENDESK, "update_ticket", deliver_update)
    outbox.register(Target.ZENDESK, CLOSE_IF_SOLVED, deliver_close_if_solved)
