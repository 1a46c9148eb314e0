"""Queries behind the administration screens."""

from __future__ import annotations

from sqlalchemy import func, select

from auth.models import Organization, Role, User
from portal.core.audit import AuditEntry
from portal.core.extensions import db
from portal.integrations.models import OutboxMessage, Target


def all_organizations() -> list[Organization]:
    """Every organization by name, for pickers and filters."""
    return list(db.session.scalars(select(Organization).order_by(func.lower(Organization.name))))


def active_users(role: Role) -> list[User]:
    """The active users holding `role`, by name (to choose an agent)."""
    return list(
        db.session.scalars(select(User).where(User.role == role.value, User.active.is_(True)).order_by(User.name))
    )


def audit_entries(action: str = "", target_type: str = ""):
    """A select of audit entries, newest first, filtered by exact action and target type."""
    statement = select(AuditEntry).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
    if action:
        statement = statement.where(AuditEntry.action == action)
    if target_type:
        statement = statement.where(AuditEntry.target_type == target_type)
    return statement


def audit_actions() -> list[str]:
    """The distinct actions present in the log, for the filter."""
    return list(db.session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


def emails():
    """A select of the e-mails the portal wrote (the outbox's messages to the e-mail target),
    newest first, whether sent, waiting for mail to be configured, or refused."""
    return select(OutboxMessage).where(OutboxMessage.target == Target.EMAIL.value).order_by(OutboxMessage.id.desc())


def email(message_id: int) -> OutboxMessage | None:
    """One e-mail the portal wrote; None for an unknown id and for a message to another system."""
    message = db.session.get(OutboxMessage, message_id)
    return message if message is not None and message.target == Target.EMAIL.value else None
