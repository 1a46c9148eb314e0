"""The outbox of messages for other systems, and the webhook events already applied."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.extensions import db
from portal.core.types import UTCDateTime, utcnow


class Target(StrEnum):
    ZENDESK = "zendesk"
    MONDAY = "monday"
    SLACK = "slack"
    EMAIL = "email"


class MessageState(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DELIVERED = "delivered"
    DEAD = "dead"
    DISCARDED = "discarded"  # a dead letter an administrator gave up on


class OutboxMessage(db.Model):
    """A message for another system, written in the same transaction as the change it reports."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_outbox_messages_idempotency_key"),
        CheckConstraint("state IN ('pending', 'in_flight', 'delivered', 'dead', 'discarded')", name="state_known"),
        CheckConstraint("target IN ('zendesk', 'monday', 'slack', 'email')", name="target_known"),
        Index("ix_outbox_messages_due", "state", "next_attempt_at"),
        Index("ix_outbox_messages_ticket_order", "ticket_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(10), default=MessageState.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))


EVENT_ID_MAX = 120


class WebhookReceipt(db.Model):
    """An incoming webhook event already applied, so a replay changes nothing."""

    __tablename__ = "webhook_receipts"
    __table_args__ = (UniqueConstraint("source", "event_id", name="uq_webhook_receipts_source_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(EVENT_ID_MAX))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
