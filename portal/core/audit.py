"""The append-only audit log: who changed what, when, from what to what."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, event
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.extensions import db
from portal.core.types import UTCDateTime, utcnow


class AuditLogIsAppendOnly(RuntimeError):
    pass


class AuditEntry(db.Model):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # Kept as text so the entry stays readable after the actor is renamed or deactivated.
    actor_label: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(80), index=True)
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[int | None]
    target_label: Mapped[str] = mapped_column(String(300), default="")
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)

    @property
    def changes(self) -> list[tuple[str, object, object]]:
        """(field, before, after) for every field that differs."""
        before, after = self.before or {}, self.after or {}
        keys = list(dict.fromkeys([*before, *after]))
        return [(key, before.get(key), after.get(key)) for key in keys if before.get(key) != after.get(key)]


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_rewrites(mapper, connection, entry):
    raise AuditLogIsAppendOnly("audit entries are never changed or deleted")


def record(
    actor, action: str, target, before: dict | None = None, after: dict | None = None, label: str | None = None
) -> AuditEntry:
    """Add an audit entry to the current transaction; the caller's service commits it.
    `label` names the target when it has no `name` of its own."""
    entry = AuditEntry(
        actor_id=getattr(actor, "id", None),
        actor_label=f"{actor.name} <{actor.email}>" if actor is not None else "system",
        action=action,
        target_type=type(target).__name__,
        target_id=target.id,
        target_label=label if label is not None else getattr(target, "name", "") or "",
        before=before,
        after=after,
    )
    db.session.add(entry)
    return entry
