"""The SLA vocabulary (request types, when a matrix row applies, kinds of target, a ticket's SLA
state), the escalation matrix rows, the partners' contract targets and the business-calendar
settings."""

from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.extensions import db


class RequestType(StrEnum):
    """The request types of the procedure's escalation matrix."""

    DAY_TO_DAY = "day_to_day"
    TECHNICAL = "technical"
    MARKETING_BUSINESS = "marketing_business"


REQUEST_TYPE_LABELS = {
    RequestType.DAY_TO_DAY: _l("Day-to-day questions and operations"),
    RequestType.TECHNICAL: _l("Technical errors or questions"),
    RequestType.MARKETING_BUSINESS: _l("Marketing and business questions"),
}


class Applies(StrEnum):
    """When a matrix row applies to a request of its type."""

    ANY = "any"
    BUSINESS_HOURS = "business_hours"  # technical requests received in business hours
    OUT_OF_HOURS = "out_of_hours"  # technical requests received outside them: the first contact
    SECOND_CONTACT = "second_contact"  # an out-of-hours request still unanswered at its due time


class TargetKind(StrEnum):
    BUSINESS_HOURS = "business_hours"  # only business time counts
    ELAPSED = "elapsed"  # every second counts


class SlaState(StrEnum):
    """Where a ticket stands against its first-response deadline."""

    ON_TRACK = "on_track"
    AT_RISK = "at_risk"  # past the warning time
    BREACHED = "breached"  # past the due time, or answered after it
    MET = "met"  # answered by the due time


KEY_MAX = 60
# The matrix row's texts and their column lengths; only the channel may be empty.
ROW_TEXTS = {
    "area": 120,
    "contact_name": 120,
    "contact_role": 120,
    "contact_email": 254,
    "contact_phone": 60,
    "channel": 120,
}


class EscalationRow(db.Model):
    """One row of the procedure's escalation matrix: a request type, when it applies, its
    first-response target and the contact responsible."""

    __tablename__ = "sla_escalation_rows"
    __table_args__ = (
        CheckConstraint("request_type IN ('day_to_day', 'technical', 'marketing_business')", name="type_known"),
        CheckConstraint("applies IN ('any', 'business_hours', 'out_of_hours', 'second_contact')", name="applies_known"),
        CheckConstraint("target_kind IN ('business_hours', 'elapsed')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_MAX), unique=True)
    position: Mapped[int] = mapped_column(default=0)
    request_type: Mapped[str] = mapped_column(String(30))
    applies: Mapped[str] = mapped_column(String(20))
    target_kind: Mapped[str] = mapped_column(String(20))
    warn_hours: Mapped[float]
    due_hours: Mapped[float]
    area: Mapped[str] = mapped_column(String(ROW_TEXTS["area"]))
    contact_name: Mapped[str] = mapped_column(String(ROW_TEXTS["contact_name"]))
    contact_role: Mapped[str] = mapped_column(String(ROW_TEXTS["contact_role"]))
    contact_email: Mapped[str] = mapped_column(String(ROW_TEXTS["contact_email"]))
    contact_phone: Mapped[str] = mapped_column(String(ROW_TEXTS["contact_phone"]))
    channel: Mapped[str] = mapped_column(String(ROW_TEXTS["channel"]), default="")

    def audit_snapshot(self) -> dict:
        return {
            name: getattr(self, name)
            for name in ("request_type", "applies", "target_kind", "warn_hours", "due_hours", *ROW_TEXTS)
        }

    @property
    def name(self) -> str:
        return self.key


class ContractTarget(db.Model):
    """A partner organization's own first-response time for one matrix row, over the row's (§4: SLAs
    "definidos internamente o mediante contratos con los partners"); the kind of hours stays the
    row's. Organizations live in `auth`, which this room does not import: the key names their table."""

    __tablename__ = "sla_contract_targets"
    __table_args__ = (
        UniqueConstraint("organization_id", "row_id"),
        CheckConstraint("due_hours > 0", name="hours_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    row_id: Mapped[int] = mapped_column(ForeignKey("sla_escalation_rows.id", ondelete="CASCADE"), index=True)
    due_hours: Mapped[float]


class SlaSettings(db.Model):
    """Business hours per weekday and extra holidays (one row)."""

    __tablename__ = "sla_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # weekday (0 = Monday) -> ["09:00", "18:00"]; a missing weekday is closed.
    business_hours: Mapped[dict] = mapped_column(JSON)
    extra_holidays: Mapped[list] = mapped_column(JSON, default=list)  # [{"date": "2026-12-24", "name": "..."}]
    us_federal_holidays: Mapped[bool] = mapped_column(default=True)
