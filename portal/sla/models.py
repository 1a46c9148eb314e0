"""The escalation matrix rows and the business-calendar settings."""

from __future__ import annotations

from sqlalchemy import JSON, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.extensions import db


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
    key: Mapped[str] = mapped_column(String(60), unique=True)
    position: Mapped[int] = mapped_column(default=0)
    request_type: Mapped[str] = mapped_column(String(30))
    applies: Mapped[str] = mapped_column(String(20))
    target_kind: Mapped[str] = mapped_column(String(20))
    warn_hours: Mapped[float]
    due_hours: Mapped[float]
    area: Mapped[str] = mapped_column(String(120))
    contact_name: Mapped[str] = mapped_column(String(120))
    contact_role: Mapped[str] = mapped_column(String(120))
    contact_email: Mapped[str] = mapped_column(String(254))
    contact_phone: Mapped[str] = mapped_column(String(60))
    channel: Mapped[str] = mapped_column(String(120), default="")

    def audit_snapshot(self) -> dict:
        return {
            name: getattr(self, name)
            for name in (
                "request_type",
                "applies",
                "target_kind",
                "warn_hours",
                "due_hours",
                "area",
                "contact_name",
                "contact_role",
                "contact_email",
                "contact_phone",
                "channel",
            )
        }

    @property
    def name(self) -> str:
        return self.key


class SlaSettings(db.Model):
    """Business hours per weekday and extra holidays (one row)."""

    __tablename__ = "sla_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # weekday (0 = Monday) -> ["09:00", "18:00"]; a missing weekday is closed.
    business_hours: Mapped[dict] = mapped_column(JSON)
    extra_holidays: Mapped[list] = mapped_column(JSON, default=list)  # [{"date": "2026-12-24", "name": "..."}]
    us_federal_holidays: Mapped[bool] = mapped_column(default=True)
