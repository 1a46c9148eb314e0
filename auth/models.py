"""Partner organizations, users and their roles."""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.extensions import db
from portal.core.i18n import LANGUAGES, Language
from portal.core.types import UTCDateTime, utcnow


class Role(StrEnum):
    PARTNER = "partner"
    TICKET_ADMIN = "ticket_admin"
    AGENT_L1 = "agent_l1"
    AGENT_L2 = "agent_l2"
    VP = "vp"
    TECH_TEAM = "tech_team"  # level 3 with the VP: analyses and applies the measure the VP chooses
    BUSINESS = "business"  # the Marketing and business area (§8)

    @property
    def label(self) -> str:
        return str(ROLE_LABELS[self])

    @property
    def is_staff(self) -> bool:
        return self is not Role.PARTNER


ROLE_LABELS = {
    Role.PARTNER: _l("Partner"),
    Role.TICKET_ADMIN: _l("Ticket administrator"),
    Role.AGENT_L1: _l("Level-1 agent"),
    Role.AGENT_L2: _l("Level-2 agent"),
    Role.VP: _l("VP (level 3)"),
    Role.TECH_TEAM: _l("Technical team (level 3)"),
    Role.BUSINESS: _l("Marketing and business"),
}
STAFF_ROLES = frozenset(role for role in Role if role.is_staff)


def new_session_token() -> str:
    return secrets.token_urlsafe(16)


class Organization(db.Model):
    """A partner company (operator, app store, reseller)."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    zendesk_organization_id: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="organization")

    def audit_snapshot(self) -> dict:
        return {
            "name": self.name,
            "zendesk_organization_id": self.zendesk_organization_id,
            "active": self.active,
        }


class User(UserMixin, db.Model):
    """Anyone who logs in: a partner's employee or an EDYE staff member."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN (" + ", ".join(f"'{role}'" for role in Role) + ")", name="role_known"),
        CheckConstraint(
            "(role = 'partner' AND organization_id IS NOT NULL) OR (role <> 'partner' AND organization_id IS NULL)",
            name="partners_have_an_organization",
        ),
        CheckConstraint("language IN (" + ", ".join(f"'{code}'" for code in LANGUAGES) + ")", name="language_known"),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased (see the constraint) so uniqueness is case-insensitive everywhere.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    language: Mapped[str] = mapped_column(String(2), default=Language.ES.value)
    active: Mapped[bool] = mapped_column(default=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    # Part of the login cookie: rotating it ends every session of this user.
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The staff member's Monday account (people columns, notifications): looked up by e-mail once,
    # or typed by the administrator. Monday user ids are 64-bit.
    monday_user_id: Mapped[int | None] = mapped_column(BigInteger)
    # Whether the optional e-mails reach this user (news of tickets); account e-mails always do.
    optional_emails: Mapped[bool] = mapped_column(default=True, server_default=true())

    organization: Mapped[Organization | None] = relationship(back_populates="users")

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:
        return self.active and (self.organization is None or self.organization.active)

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def is_staff(self) -> bool:
        return self.role_enum.is_staff

    def audit_snapshot(self) -> dict:
        return {
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "organization": self.organization.name if self.organization else None,
            "language": self.language,
            "active": self.active,
        }
