"""Send slots shared by every worker: at most one message per interval to a destination (a Slack
webhook allows about one message per second), however many workers deliver.

Each destination has one row holding the earliest time its next message may go. A sender takes
the slot in its own short transaction (the row locked, or on SQLite the database, while it is
read and moved on), then waits for it; so two workers never take the same slot, and no lock is
held while a message travels. A destination that answers "too many requests" moves its slot past
the wait it asks for, for every worker at once.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta

from sqlalchemy import String, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.extensions import db
from portal.core.types import UTCDateTime, utcnow

DESTINATION_KEY_LENGTH = 64  # a SHA-256 in hex: the destination's address is a secret, never stored


class SendSlot(db.Model):
    """The earliest time the next message may go to one destination."""

    __tablename__ = "send_slots"

    destination: Mapped[str] = mapped_column(String(DESTINATION_KEY_LENGTH), primary_key=True)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime)


def destination_key(address: str) -> str:
    return hashlib.sha256(address.encode()).hexdigest()


def _move_slot(address: str, interval: float, wait: float = 0.0) -> datetime:
    """Take the destination's next slot (no earlier than `wait` seconds from now) and move it on
    by `interval`; returns the slot taken. Runs in its own transaction, committed at once."""
    key = destination_key(address)
    now = utcnow()
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    with db.engine.begin() as connection:
        # Writing first takes SQLite's write lock before the read, so two senders never read the
        # same slot; on PostgreSQL the row lock below does the same.
        connection.execute(insert(SendSlot).values(destination=key, next_at=now).on_conflict_do_nothing())
        current = connection.execute(
            select(SendSlot.next_at).where(SendSlot.destination == key).with_for_update()
        ).scalar_one()
        slot = max(current, now + timedelta(seconds=wait))
        connection.execute(
            update(SendSlot).where(SendSlot.destination == key).values(next_at=slot + timedelta(seconds=interval))
        )
    return slot


def wait_for_turn(address: str, interval: float) -> None:
    """Block until this sender's slot for `address` comes; each slot is `interval` seconds after
    the one before it, whichever worker took it."""
    slot = _move_slot(address, interval)
    delay = (slot - utcnow()).total_seconds()
    if delay > 0:
        time.sleep(delay)


def hold(address: str, seconds: float) -> None:
    """Nothing goes to `address` for `seconds` (it asked to slow down), from any worker."""
    _move_slot(address, 0.0, wait=seconds)
