"""Account operations that e-mail the person concerned: the password reset they ask for, the
invitation of a new user, and setting a password through either link. Each commits its own
transaction and writes the audit log (never a token or a password)."""

from __future__ import annotations

from auth import services as accounts
from auth.models import Organization, User
from auth.tokens import LinkPurpose
from portal.core import audit
from portal.core.extensions import db
from portal.core.i18n import Language
from portal.core.text import clean_line
from portal.people.mail import can_link, email_link, mail_configured

# The audit action of a password set through each kind of link.
PASSWORD_SET_ACTIONS = {
    LinkPurpose.PASSWORD_RESET: "auth.password_reset_completed",
    LinkPurpose.INVITATION: "user.invitation_accepted",
}


def invitations_available() -> bool:
    """New users are invited by e-mail when mail is configured and a link can be written;
    otherwise they get a temporary password shown once."""
    return mail_configured() and can_link()


def request_password_reset(email: str) -> None:
    """Send the reset link to the active account with this e-mail, if there is one. The caller
    answers the same either way; the audit log records the request (and whether a link went out)."""
    email = accounts.normalize_email(clean_line(email))[: accounts.MAX_EMAIL_LENGTH]
    user = accounts.find_user_by_email(email) if email else None
    sent = user is not None and user.is_active
    if sent:
        email_link(user, LinkPurpose.PASSWORD_RESET)
    target = user or accounts.UnknownAccount(email)
    audit.record(None, "auth.password_reset_requested", target, after={"email": email, "link_sent": sent})
    db.session.commit()


def create_user(
    actor: User | None,
    email: str,
    name: str,
    role: str,
    organization: Organization | None = None,
    language: str = Language.ES.value,
) -> tuple[User, str | None]:
    """Add a user and invite them by e-mail to choose their password (returning no password), or,
    while invitations are not available, give them a temporary password (returned once)."""
    user, temporary = accounts.add_user(actor, email, name, role, organization, language)
    if invitations_available():
        db.session.flush()
        _invite(actor, user)
        temporary = None
    db.session.commit()
    return user, temporary


def _invite(actor: User | None, user: User) -> None:
    email_link(user, LinkPurpose.INVITATION)
    audit.record(actor, "user.invitation_sent", user, after={"email": user.email})


def set_password(user: User, new_password: str, purpose: LinkPurpose) -> None:
    """Set the password of the user whose link of `purpose` was checked; the link stops working
    and every session of the user ends."""
    accounts.set_password_from_link(user, new_password, PASSWORD_SET_ACTIONS[purpose])
