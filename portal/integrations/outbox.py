"""The transactional outbox: enqueue with the change, deliver later, retry, dead-letter.

A feature calls `enqueue()` inside its own transaction, so a message exists exactly when the change
it reports was committed. Workers claim due messages (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
several can run at once), deliver them with the target's client, and record the outcome. Messages
of one ticket go out in order per target: a message waits while an older one of its ticket for the
same target is undelivered.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from portal.core import audit
from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations.http import DeliveryError, RateLimited, Rejected, RetryLater
from portal.integrations.mail import MailClient, MailSettings
from portal.integrations.models import MessageState, OutboxMessage, Target
from portal.integrations.monday import MondayClient
from portal.integrations.slack import SlackClient
from portal.integrations.zendesk import ZendeskClient

log = logging.getLogger("portal.outbox")

Handler = Callable[[OutboxMessage, object], "HandlerResult | None"]
_handlers: dict[tuple[str, str], Handler] = {}


@dataclass
class HandlerResult:
    """What a delivery learned about the other system (e.g. its rate-limit headroom)."""

    rate_limit_remaining: int | None = None


def register(target: Target, kind: str, handler: Handler) -> None:
    """Declare how messages of (target, kind) are delivered; the handler may change rows
    (committed together with the delivery) and raises RetryLater or Rejected on failure."""
    _handlers[(target.value, kind)] = handler


def enqueue(target: Target, kind: str, payload: dict, idempotency_key: str, ticket_id: int | None = None):
    """Add a message to the current transaction (the caller commits it with its change)."""
    message = OutboxMessage(
        target=target.value, kind=kind, payload=payload, idempotency_key=idempotency_key, ticket_id=ticket_id
    )
    db.session.add(message)
    return message


def client_for(target: str):
    """The configured client of a target, or None while it is not configured."""
    config = current_app.config
    timeout = (config["OUTBOX_CONNECT_TIMEOUT"], config["OUTBOX_READ_TIMEOUT"])
    if target == Target.ZENDESK and config["ZENDESK_BASE_URL"]:
        return ZendeskClient(config["ZENDESK_BASE_URL"], config["ZENDESK_EMAIL"], config["ZENDESK_API_TOKEN"], timeout)
    if target == Target.MONDAY and config["MONDAY_API_TOKEN"] and config["MONDAY_BOARD_ID"]:
        return MondayClient(config["MONDAY_API_URL"], config["MONDAY_API_TOKEN"], config["MONDAY_API_VERSION"], timeout)
    if target == Target.SLACK and config["SLACK_WEBHOOK_URL"]:
        return SlackClient(config["SLACK_WEBHOOK_URL"], timeout)
    if target == Target.EMAIL and config["MAIL_SERVER"]:
        return MailClient(MailSettings.from_config(config))
    return None


def backoff(attempts: int) -> float:
    """Exponential delay with jitter, capped."""
    config = current_app.config
    ceiling = min(config["OUTBOX_RETRY_MAX_SECONDS"], config["OUTBOX_RETRY_BASE_SECONDS"] * 2 ** max(0, attempts - 1))
    return ceiling * random.uniform(0.5, 1.0)


def claim(targets: list[str], limit: int, now: datetime) -> list[OutboxMessage]:
    """Take up to `limit` due messages of `targets` for delivery, at most one per ticket."""
    if not targets:
        return []
    older = aliased(OutboxMessage)
    waits_for_older = exists().where(
        older.ticket_id == OutboxMessage.ticket_id,
        older.target == OutboxMessage.target,
        older.id < OutboxMessage.id,
        older.state.notin_([MessageState.DELIVERED.value, MessageState.DISCARDED.value]),
    )
    due = and_(
        OutboxMessage.state.in_([MessageState.PENDING.value, MessageState.IN_FLIGHT.value]),
        OutboxMessage.next_attempt_at <= now,
    )
    statement = (
        select(OutboxMessage)
        .where(OutboxMessage.target.in_(targets), due, or_(OutboxMessage.ticket_id.is_(None), ~waits_for_older))
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if db.engine.dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True, of=OutboxMessage)
    messages = list(db.session.scalars(statement))
    lease = timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])
    for message in messages:
        # An in-flight message past its lease belonged to a worker that died: it is retried.
        message.state = MessageState.IN_FLIGHT.value
        message.attempts += 1
        message.next_attempt_at = now + lease
    db.session.commit()
    return messages


@dataclass
class Deliverer:
    """Delivers claimed messages and remembers targets that asked to slow down."""

    paused_until: dict[str, datetime] = field(default_factory=dict)

    def active_targets(self, now: datetime) -> list[str]:
        return [
            target.value
            for target in Target
            if client_for(target.value) is not None and self.paused_until.get(target.value, now) <= now
        ]

    @staticmethod
    def _still_ours(message: OutboxMessage, now: datetime) -> bool:
        """Renew the message's lease just before it is sent. A batch can outlast the lease it was
        claimed with (a slow service, long timeouts); another worker may then have claimed the
        message again (its attempts moved on) and be sending it: this worker must not send it too."""
        lease = timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])
        renewed = db.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message.id,
                OutboxMessage.attempts == message.attempts,
                OutboxMessage.state == MessageState.IN_FLIGHT.value,
            )
            .values(next_attempt_at=now + lease)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        return bool(renewed)

    def deliver(self, message: OutboxMessage, now: datetime) -> bool:
        """Deliver one message and record the outcome; True when delivered (False also when another
        worker took it over meanwhile)."""
        if not self._still_ours(message, now):
            log.info("outbox message %s was claimed again by another worker: not sent by this one", message.id)
            return False
        handler = _handlers.get((message.target, message.kind))
        try:
            if handler is None:
                raise Rejected(f"no handler for {message.target}/{message.kind}")
            if self.paused_until.get(message.target, now) > now:
                raise RetryLater(
                    "target paused by its rate limit", (self.paused_until[message.target] - now).total_seconds()
                )
            result = handler(message, client_for(message.target))
        except RetryLater as error:
            db.session.rollback()
            delay = error.retry_after if error.retry_after is not None else backoff(message.attempts)
            if isinstance(error, RateLimited):
                self.paused_until[message.target] = now + timedelta(seconds=delay)
            self._record(message, MessageState.PENDING, str(error), now + timedelta(seconds=delay))
            return False
        except Rejected as error:
            db.session.rollback()
            self._record(message, MessageState.DEAD, str(error), now)
            return False
        except Exception as error:  # a bug must not stop the worker; the message is retried
            db.session.rollback()
            log.exception("delivering outbox message %s failed", message.id)
            self._record(
                message,
                MessageState.PENDING,
                f"{type(error).__name__}: {error}",
                now + timedelta(seconds=backoff(message.attempts)),
            )
            return False
        if result is not None and result.rate_limit_remaining is not None and result.rate_limit_remaining <= 0:
            pause = current_app.config["OUTBOX_RATE_LIMIT_PAUSE_SECONDS"]
            self.paused_until[message.target] = now + timedelta(seconds=pause)
        message.state = MessageState.DELIVERED.value
        message.delivered_at = utcnow()
        message.last_error = ""
        db.session.commit()
        return True

    @staticmethod
    def _record(message: OutboxMessage, state: MessageState, error: str, next_attempt_at: datetime) -> None:
        message = db.session.get(OutboxMessage, message.id)
        message.state = state.value
        message.last_error = error[:2000]
        message.next_attempt_at = next_attempt_at
        db.session.commit()
        log.warning("outbox message %s (%s/%s) %s: %s", message.id, message.target, message.kind, state.value, error)

    def run_pass(self, now: datetime | None = None, batch: int = 20) -> int:
        """Deliver every message due now (several claims if needed); returns how many were delivered."""
        delivered = 0
        while True:
            moment = now or utcnow()
            messages = claim(self.active_targets(moment), batch, moment)
            if not messages:
                return delivered
            # Each message's lease is renewed from the time it is sent (see `_still_ours`).
            delivered += sum(self.deliver(message, now or utcnow()) for message in messages)


# Operations for the Integrations screen ---------------------------------------------


def counts_by_target_and_state() -> dict[str, dict[str, int]]:
    rows = db.session.execute(
        select(OutboxMessage.target, OutboxMessage.state, func.count(OutboxMessage.id)).group_by(
            OutboxMessage.target, OutboxMessage.state
        )
    )
    counts = {target.value: {state.value: 0 for state in MessageState} for target in Target}
    for target, state, count in rows:
        counts[target][state] = count
    return counts


def last_delivery_times() -> dict[str, datetime | None]:
    rows = db.session.execute(
        select(OutboxMessage.target, func.max(OutboxMessage.delivered_at)).group_by(OutboxMessage.target)
    )
    times = {target.value: None for target in Target}
    times.update(rows.all())
    return times


def dead_letters(limit: int = 100):
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.state == MessageState.DEAD.value)
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        )
    )


def retry(actor, message: OutboxMessage) -> None:
    """Send a dead letter again (after fixing what the other system refused)."""
    _close_dead_letter(actor, message, MessageState.PENDING, "outbox.retried")


def discard(actor, message: OutboxMessage) -> None:
    """Give up on a dead letter (it stops holding back later messages of its ticket)."""
    _close_dead_letter(actor, message, MessageState.DISCARDED, "outbox.discarded")


def _close_dead_letter(actor, message: OutboxMessage, state: MessageState, action: str) -> None:
    if message.state != MessageState.DEAD.value:
        raise DeliveryError("only dead letters can be retried or discarded")
    message.state = state.value
    message.next_attempt_at = utcnow()
    audit.record(
        actor,
        action,
        message,
        {"state": "dead", "error": message.last_error},
        {"state": state.value},
        label=f"{message.target}/{message.kind}",
    )
    db.session.commit()
