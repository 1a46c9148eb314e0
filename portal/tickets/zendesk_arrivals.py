"""Tickets born in Zendesk (an e-mail to support, an agent creating a ticket there: the procedure's
"multicanal"): matched to a partner and made portal tickets, or kept in the administrator's
"Unmatched from Zendesk" list until linked to an organization or ignored.

What Zendesk tells: a ticket event's `detail` carries the ticket's `requester_id`,
`organization_id`, `created_at`, `subject`, `description` and `via.channel`, never the requester's
e-mail ("Ticket events", developer.zendesk.com/api-reference/webhooks/event-types/ticket-events);
the e-mail is the requester's `email` in "Show User", GET /api/v2/users/{user_id}.json
(developer.zendesk.com/api-reference/ticketing/users/users). A user may belong to several Zendesk
organizations; the ticket's own `organization_id` is the one that counts here. The lookup happens
while Zendesk waits for the webhook's answer, which it gives up on after ten seconds
(alboz.eu/insights/master-webhooks-maximize-stability-performance), hence its short timeout; when it
fails the ticket waits for the administrator instead of failing the webhook.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from auth.models import Organization, Role, User
from auth.services import find_user_by_email, hash_password, normalize_email
from portal.core import audit
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.text import clean_line
from portal.core.types import utcnow
from portal.core.web import paginate
from portal.integrations.http import DeliveryError, check_status, json_object, send
from portal.integrations.zendesk import RATE_LIMIT_WAIT, ZendeskClient
from portal.tickets import intake
from portal.tickets.models import (
    ARRIVAL_EMAIL_MAX,
    AUTHOR_NAME_MAX,
    ArrivalState,
    Ticket,
    ZendeskArrival,
)
from portal.tickets.zendesk_files import fetch_files

log = logging.getLogger("portal.zendesk")

# Zendesk gives up on a webhook request after ten seconds: the requester's lookup must end first.
LOOKUP_TIMEOUT = (3.05, 5.0)


@dataclass(frozen=True)
class BornInZendesk:
    """What a webhook event says about a Zendesk ticket the portal does not know yet."""

    zendesk_ticket_id: int
    requester_id: int | None
    organization_id: int | None
    subject: str
    description: str
    created_at: datetime
    channel: str


@dataclass(frozen=True)
class ZendeskPerson:
    """A Zendesk user as "Show User" describes them."""

    email: str
    name: str


def look_up_requester(zendesk_user_id: int | None) -> ZendeskPerson | None:
    """The requester's primary e-mail and name from Zendesk; None when there is no requester, Zendesk
    is not configured, or it does not answer in time (logged)."""
    config = current_app.config
    if zendesk_user_id is None or not config["ZENDESK_BASE_URL"]:
        return None
    client = ZendeskClient(config["ZENDESK_BASE_URL"], config["ZENDESK_EMAIL"], config["ZENDESK_API_TOKEN"])
    try:
        response = send(client.session, "GET", f"{client.base_url}/api/v2/users/{zendesk_user_id}.json", LOOKUP_TIMEOUT)
        check_status(response, RATE_LIMIT_WAIT)
        user = json_object(response).get("user")
    except DeliveryError as error:
        log.warning("Zendesk user %s could not be looked up: %s", zendesk_user_id, error)
        return None
    email = user.get("email") if isinstance(user, dict) else None
    if not isinstance(email, str) or not _valid_email(email):
        return None
    name = user.get("name") if isinstance(user.get("name"), str) else ""
    return ZendeskPerson(normalize_email(email), clean_line(name)[:AUTHOR_NAME_MAX])


def _valid_email(email: str) -> bool:
    try:
        validate_email(
            email, check_deliverability=False, test_environment=current_app.config["PORTAL_ENV"] != "production"
        )
    except EmailNotValidError:
        return False
    return len(email) <= ARRIVAL_EMAIL_MAX


def arrival_of(zendesk_ticket_id: int) -> ZendeskArrival | None:
    return db.session.scalar(select(ZendeskArrival).where(ZendeskArrival.zendesk_ticket_id == zendesk_ticket_id))


def receive(born: BornInZendesk, now: datetime) -> ZendeskArrival:
    """Record a ticket born in Zendesk, once: a portal ticket at once when its requester's e-mail is
    a partner's, or when its Zendesk organization is linked to a portal organization; otherwise it
    waits in the unmatched list. The caller commits; the flush raises IntegrityError when a
    simultaneous event of the same Zendesk ticket recorded it first."""
    person = look_up_requester(born.requester_id)
    arrival = ZendeskArrival(
        zendesk_ticket_id=born.zendesk_ticket_id,
        zendesk_requester_id=born.requester_id,
        zendesk_organization_id=born.organization_id,
        requester_email=person.email if person else "",
        requester_name=person.name if person else "",
        subject=born.subject,
        description=born.description,
        channel=born.channel,
        zendesk_created_at=born.created_at,
        received_at=now,
        state=ArrivalState.UNMATCHED.value,
    )
    db.session.add(arrival)
    db.session.flush()
    partner = find_user_by_email(person.email) if person else None
    if partner is not None and partner.role_enum is Role.PARTNER:
        _make_ticket(arrival, partner, ArrivalState.MATCHED)
        return arrival
    linked = _linked_organization(born.organization_id)
    if linked is not None and partner is None and person is not None:
        _make_ticket(arrival, _account_for(arrival, linked), ArrivalState.MATCHED)
    return arrival


def _linked_organization(zendesk_organization_id: int | None) -> Organization | None:
    if zendesk_organization_id is None:
        return None
    return db.session.scalar(
        select(Organization)
        .where(Organization.zendesk_organization_id == zendesk_organization_id)
        .order_by(Organization.id)
        .limit(1)
    )


def _account_for(arrival: ZendeskArrival, organization: Organization) -> User:
    """The requester's portal account in `organization`: Ticket.requester is a portal user, so a
    requester the portal does not know gets an inactive partner account (no one can sign in with it
    until the administrator activates it and resets its password); audited."""
    user = User(
        email=arrival.requester_email,
        name=arrival.requester_name or arrival.requester_email,
        role=Role.PARTNER.value,
        organization=organization,
        password_hash=hash_password(secrets.token_urlsafe(32)),
        must_change_password=True,
        active=False,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(None, "user.created_from_zendesk", user, after=user.audit_snapshot())
    return user


def _make_ticket(arrival: ZendeskArrival, requester: User, state: ArrivalState) -> Ticket:
    ticket = intake.create_from_zendesk(
        requester,
        arrival.subject,
        arrival.description,
        arrival.zendesk_ticket_id,
        arrival.zendesk_created_at,
        arrival.channel,
    )
    arrival.ticket_id, arrival.state = ticket.id, state.value
    fetch_files(ticket, None)
    return ticket


def unmatched_page(number: int):
    """One page of the arrivals waiting for the administrator, oldest first."""
    statement = (
        select(ZendeskArrival)
        .where(ZendeskArrival.state == ArrivalState.UNMATCHED.value)
        .order_by(ZendeskArrival.received_at, ZendeskArrival.id)
    )
    return paginate(statement, number)


def _waiting(arrival_id: int) -> ZendeskArrival:
    arrival = db.session.get(ZendeskArrival, arrival_id)
    if arrival is None or arrival.state != ArrivalState.UNMATCHED:
        raise InvalidInput(_("This Zendesk ticket is no longer waiting: someone decided on it already."))
    return arrival


def link(actor: User, arrival_id: int, organization_id: int, now: datetime | None = None) -> Ticket:
    """The administrator says whose the ticket is: a portal ticket of `organization_id`, requested by
    its partner with the requester's e-mail (an inactive account when there is none); audited."""
    arrival = _waiting(arrival_id)
    organization = db.session.get(Organization, organization_id) if organization_id else None
    if organization is None:
        raise InvalidInput(_("Choose an organization."), "organization_id")
    if not arrival.requester_email:
        raise InvalidInput(_("Zendesk did not tell the requester's e-mail: this ticket cannot be linked."))
    requester = find_user_by_email(arrival.requester_email)
    if requester is not None and requester.organization_id != organization.id:
        raise InvalidInput(
            _("%(email)s is not a partner of that organization.", email=arrival.requester_email), "organization_id"
        )
    requester = requester or _account_for(arrival, organization)
    ticket = _make_ticket(arrival, requester, ArrivalState.LINKED)
    _decided(actor, arrival, "zendesk.arrival_linked", now, organization=organization.name, ticket=ticket.reference)
    db.session.commit()
    return ticket


def ignore(actor: User, arrival_id: int, now: datetime | None = None) -> ZendeskArrival:
    """The administrator says the ticket is no partner's: it leaves the list; audited."""
    arrival = _waiting(arrival_id)
    arrival.state = ArrivalState.IGNORED.value
    _decided(actor, arrival, "zendesk.arrival_ignored", now)
    db.session.commit()
    return arrival


def _decided(actor: User, arrival: ZendeskArrival, action: str, now: datetime | None, **after) -> None:
    arrival.decided_by_id, arrival.decided_at = actor.id, now or utcnow()
    audit.record(
        actor,
        action,
        arrival,
        before={"state": ArrivalState.UNMATCHED.value},
        after={"state": arrival.state, "requester_email": arrival.requester_email, **after},
    )
