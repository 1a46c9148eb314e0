"""A user's own choice of which e-mails reach them: the optional ones (news of tickets) can be
turned off; the e-mails about their account (password reset, invitation) always go."""

from __future__ import annotations

from auth.models import User
from portal.core import audit
from portal.core.extensions import db


def set_optional_emails(user: User, wanted: bool) -> None:
    """Turn the optional e-mails on or off for `user` (audited when it changes)."""
    if user.optional_emails == wanted:
        return
    before = {"optional_emails": user.optional_emails}
    user.optional_emails = wanted
    audit.record(user, "user.optional_emails_changed", user, before=before, after={"optional_emails": wanted})
    db.session.commit()
