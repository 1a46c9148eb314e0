"""The e-mails a person receives about their own account, rendered from `templates/email/` in the
recipient's language with the portal's look, and written to the outbox in the caller's transaction
(the worker sends them: no web request waits for SMTP)."""

from __future__ import annotations

import secrets

from flask import current_app, has_request_context, url_for
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from auth.models import User
from auth.tokens import VALIDITY, LinkPurpose, make_token
from portal.integrations import outbox
from portal.integrations.models import Target

# The page each link opens, and the e-mail that carries it.
LINK_ENDPOINTS = {
    LinkPurpose.PASSWORD_RESET: "people.reset_password",
    LinkPurpose.INVITATION: "people.accept_invitation",
}
TEMPLATES = {LinkPurpose.PASSWORD_RESET: "email/password_reset", LinkPurpose.INVITATION: "email/invitation"}
SUBJECTS = {
    LinkPurpose.PASSWORD_RESET: _l("Choose a new password for the EDYE support portal"),
    LinkPurpose.INVITATION: _l("Your account on the EDYE support portal"),
}
SECONDS_PER_MINUTE, SECONDS_PER_HOUR = 60, 3600


def mail_configured() -> bool:
    return bool(current_app.config["MAIL_SERVER"])


def can_link() -> bool:
    """Whether a link can be written: PORTAL_URL says where the portal is, or a request does."""
    return bool(current_app.config["PORTAL_URL"]) or has_request_context()


def link(purpose: LinkPurpose, token: str) -> str:
    """The link's full address: from PORTAL_URL when set (the host a request names may be anyone's),
    else from the request's own host."""
    base = current_app.config["PORTAL_URL"].rstrip("/")
    endpoint = LINK_ENDPOINTS[purpose]
    if base:
        return base + current_app.url_map.bind("portal").build(endpoint, {"token": token})
    return url_for(endpoint, token=token, _external=True)


def _validity_words(purpose: LinkPurpose) -> str:
    seconds = int(VALIDITY[purpose].total_seconds())
    if seconds % SECONDS_PER_HOUR == 0:
        return str(_l("%(count)d hours", count=seconds // SECONDS_PER_HOUR))
    return str(_l("%(count)d minutes", count=seconds // SECONDS_PER_MINUTE))


def email_link(user: User, purpose: LinkPurpose) -> None:
    """Write `user` the e-mail with their link of `purpose`, in their own language."""
    address = link(purpose, make_token(user, purpose))
    with force_locale(user.language):
        context = {"name": user.name, "link": address, "validity": _validity_words(purpose), "email": user.email}
        text, html = (_render(f"{TEMPLATES[purpose]}.{kind}", context) for kind in ("txt", "html"))
        subject = str(SUBJECTS[purpose])
    outbox.enqueue(
        Target.EMAIL,
        "send",
        {"to": user.email, "subject": subject, "text": text, "html": html},
        f"email:{purpose.value}:{user.id}:{secrets.token_hex(8)}",
    )


def _render(template: str, context: dict) -> str:
    """A template of `templates/email/`, without the web pages' context processors: it is written
    for the recipient, not for whoever is signed in."""
    return current_app.jinja_env.get_template(template).render(context)
