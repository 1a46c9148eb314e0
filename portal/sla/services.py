"""Deadlines from the escalation matrix and the business calendar; the SLA monitor; the matrix as
data (import, edit)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from portal.core import audit
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.text import clean_line
from portal.core.types import utcnow
from portal.integrations import outbox
from portal.integrations.models import Target
from portal.sla.calendar import DEFAULT_HOURS, BusinessCalendar
from portal.sla.models import EscalationRow, SlaSettings

WARN_SHARE = 0.75  # elapsed-time targets warn at 75 % of the target
REQUEST_TYPES = ("day_to_day", "technical", "marketing_business")
APPLIES = ("any", "business_hours", "out_of_hours", "second_contact")
KINDS = ("business_hours", "elapsed")
MAX_TARGET_HOURS = 24 * 30
# The matrix row's texts and their column lengths (EscalationRow); only the channel may be empty.
ROW_TEXTS = {
    "area": 120,
    "contact_name": 120,
    "contact_role": 120,
    "contact_email": 254,
    "contact_phone": 60,
    "channel": 120,
}
KEY_MAX = 60
HOUR = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
HOLIDAYS_MAX = 366
HOLIDAY_NAME_MAX = 100


# Calendar ---------------------------------------------------------------------------------


def settings() -> SlaSettings:
    row = db.session.get(SlaSettings, 1)
    if row is None:
        row = SlaSettings(id=1, business_hours=dict(DEFAULT_HOURS), extra_holidays=[], us_federal_holidays=True)
        db.session.add(row)
        db.session.flush()
    return row


def calendar() -> BusinessCalendar:
    current = settings()
    return BusinessCalendar.from_settings(
        current_app.config["PORTAL_TIMEZONE"],
        current.business_hours,
        current.extra_holidays,
        current.us_federal_holidays,
    )


def update_settings(actor, business_hours: dict, extra_holidays: list, us_federal: bool) -> SlaSettings:
    """Change business hours and holidays (validated, audited). `business_hours` maps a weekday
    (0 = Monday) to [opening, closing] as HH:MM; errors name the screen's field (`open_N`,
    `close_N`, `holidays`)."""
    hours = {str(day): _business_span(day, span) for day, span in sorted(business_hours.items())}
    if not hours:
        raise InvalidInput(_("Keep at least one business day."), "business_hours")
    if len(extra_holidays) > HOLIDAYS_MAX:
        raise InvalidInput(_("At most %(count)d extra holidays.", count=HOLIDAYS_MAX), "holidays")
    holidays = [_holiday(item) for item in extra_holidays]
    current = settings()
    before = {
        "business_hours": current.business_hours,
        "extra_holidays": current.extra_holidays,
        "us_federal_holidays": current.us_federal_holidays,
    }
    current.business_hours, current.extra_holidays, current.us_federal_holidays = hours, holidays, us_federal
    audit.record(
        actor,
        "sla.settings_updated",
        current,
        before,
        {"business_hours": hours, "extra_holidays": holidays, "us_federal_holidays": us_federal},
        label="business calendar",
    )
    db.session.commit()
    return current


def _business_span(day, span) -> list[str]:
    opening, closing = span if isinstance(span, (list, tuple)) and len(span) == 2 else ("", "")
    for value, field in ((opening, f"open_{day}"), (closing, f"close_{day}")):
        if not value:
            raise InvalidInput(_("Give both the opening and the closing time, or neither."), field)
        if not isinstance(value, str) or not HOUR.fullmatch(value):
            raise InvalidInput(_("Use HH:MM, e.g. 09:00."), field)
    # HH:MM strings compare as the times they are.
    if closing <= opening:
        raise InvalidInput(_("Closing must be later than opening."), f"close_{day}")
    return [opening, closing]


def _holiday(item) -> dict:
    day = item.get("date") if isinstance(item, dict) else None
    try:
        date.fromisoformat(day if isinstance(day, str) and DAY.fullmatch(day) else "")
    except ValueError:
        raise InvalidInput(_("One holiday per line: a date as YYYY-MM-DD, then its name."), "holidays") from None
    name = clean_line(str(item.get("name") or ""))
    if len(name) > HOLIDAY_NAME_MAX:
        raise InvalidInput(_("At most %(maximum)d characters.", maximum=HOLIDAY_NAME_MAX), "holidays")
    return {"date": day, "name": name}


# Deadlines --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    row: EscalationRow
    warn_at: datetime
    due_at: datetime


def rows() -> list[EscalationRow]:
    return list(db.session.scalars(select(EscalationRow).order_by(EscalationRow.position, EscalationRow.id)))


def choose_row(request_type: str, received: datetime, cal: BusinessCalendar, matrix: list[EscalationRow]):
    """The matrix row for a request received at `received`: technical requests depend on whether
    they arrived in business hours."""
    applies = "any"
    if request_type == "technical":
        applies = "business_hours" if cal.is_business_time(received) else "out_of_hours"
    for row in matrix:
        if row.request_type == request_type and row.applies == applies:
            return row
    for row in matrix:
        if row.request_type == request_type and row.applies == "any":
            return row
    return None


def deadline_for(row: EscalationRow, start: datetime, cal: BusinessCalendar) -> Deadline:
    """Warn and due times: business hours count only business time; elapsed hours count every
    second (86,400 per day, across DST changes), with the warning at 75 %."""
    if row.target_kind == "business_hours":
        return Deadline(
            row, cal.add_business_hours(start, row.warn_hours), cal.add_business_hours(start, row.due_hours)
        )
    start = start.astimezone(UTC)
    return Deadline(row, start + timedelta(hours=row.due_hours * WARN_SHARE), start + timedelta(hours=row.due_hours))


def due(request_type: str, received: datetime) -> Deadline | None:
    row = choose_row(request_type, received, calendar(), rows())
    return deadline_for(row, received, calendar()) if row else None


def request_type_of(ticket) -> str:
    return ticket.request_type or ("marketing_business" if ticket.form == "marketing_business" else "technical")


def assign_deadline(ticket) -> None:
    """Set (or, before the first response, recompute) the ticket's deadline; the caller commits."""
    if ticket.first_response_at is not None:
        return
    deadline = due(request_type_of(ticket), ticket.created_at)
    if deadline is None:
        return
    ticket.sla_row_key, ticket.sla_warn_at, ticket.sla_due_at = deadline.row.key, deadline.warn_at, deadline.due_at
    ticket.second_contact_at = None
    ticket.sla_state = "on_track"


def record_first_response(ticket, responder, now: datetime | None = None) -> None:
    """The first public reply from staff: the SLA is met (or stays breached); the caller commits."""
    if ticket.first_response_at is not None:
        return
    now = now or utcnow()
    ticket.first_response_at = now
    ticket.first_responder_id = getattr(responder, "id", None)
    ticket.sla_state = "met" if ticket.sla_due_at is None or now <= ticket.sla_due_at else "breached"


# Monitor ------------------------------------------------------------------------------------


def _notify(ticket, text: str, key: str) -> None:
    outbox.enqueue(
        Target.SLACK,
        "notify",
        {
            "text": f"{ticket.reference} {text}",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{ticket.reference}* {text}"}}],
        },
        f"slack:sla:{ticket.id}:{key}",
        ticket_id=ticket.id,
    )
    if ticket.monday_item_id or current_app.config["MONDAY_API_TOKEN"]:
        from portal.tickets.outbound import record_in_monday

        record_in_monday(ticket, text, f"sla-{key}")


def check(now: datetime | None = None) -> dict[str, int]:
    """Find tickets crossing their warning or due time; each threshold notifies once per ticket,
    even with several workers (a conditional UPDATE decides who notifies)."""
    from portal.tickets.models import Ticket
    from portal.tickets.states import OPEN_STATUSES

    now = now or utcnow()
    counts = {"at_risk": 0, "breached": 0, "second_contact": 0}
    open_values = [status.value for status in OPEN_STATUSES]
    matrix = {row.key: row for row in rows()}
    second = next((row for row in matrix.values() if row.applies == "second_contact"), None)
    candidates = db.session.scalars(
        select(Ticket).where(
            Ticket.first_response_at.is_(None),
            Ticket.status.in_(open_values),
            Ticket.sla_state.in_(["on_track", "at_risk"]),
            Ticket.sla_warn_at <= now,
        )
    )
    for ticket in list(candidates):
        row = matrix.get(ticket.sla_row_key)
        if ticket.sla_due_at <= now and row is not None and row.applies == "out_of_hours" and second is not None:
            deadline = deadline_for(second, now, calendar())
            claimed = db.session.execute(
                update(Ticket)
                .where(Ticket.id == ticket.id, Ticket.second_contact_at.is_(None), Ticket.first_response_at.is_(None))
                .values(
                    second_contact_at=now,
                    sla_row_key=second.key,
                    sla_warn_at=deadline.warn_at,
                    sla_due_at=deadline.due_at,
                    sla_state="on_track",
                )
            ).rowcount
            if claimed:
                db.session.refresh(ticket)
                _notify(
                    ticket,
                    f"no first response after {row.due_hours:g} h: second contact "
                    f"{second.contact_name} ({second.contact_role}, {second.contact_email}, "
                    f"{second.contact_phone}); new deadline {deadline.due_at:%Y-%m-%d %H:%M} UTC.",
                    "second-contact",
                )
                counts["second_contact"] += 1
            db.session.commit()
            continue
        state = "breached" if ticket.sla_due_at <= now else "at_risk"
        allowed_from = ["on_track", "at_risk"] if state == "breached" else ["on_track"]
        claimed = db.session.execute(
            update(Ticket)
            .where(Ticket.id == ticket.id, Ticket.sla_state.in_(allowed_from), Ticket.first_response_at.is_(None))
            .values(sla_state=state)
        ).rowcount
        if claimed:
            db.session.refresh(ticket)
            label = "SLA at risk" if state == "at_risk" else "SLA breached"
            _notify(
                ticket,
                f"{label}: first response due {ticket.sla_due_at:%Y-%m-%d %H:%M} UTC ({ticket.sla_row_key}).",
                state,
            )
            counts[state] += 1
        db.session.commit()
    return counts


# The matrix as data ---------------------------------------------------------------------------


class MatrixError(ValueError):
    pass


def parse_matrix(text: str) -> list[dict]:
    """Validate the YAML matrix; MatrixError names the row and the problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise MatrixError(f"not valid YAML: {str(error).splitlines()[0]}") from None
    items = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise MatrixError("expected a mapping with a non-empty list `rows`")
    parsed, keys = [], set()
    for number, item in enumerate(items, start=1):
        where = f"row {number}"
        if not isinstance(item, dict):
            raise MatrixError(f"{where}: expected a mapping")
        key = item.get("key")
        if not isinstance(key, str) or not key.strip():
            raise MatrixError(f"{where}: `key` is required")
        where = f"row {number} ({key})"
        if key in keys:
            raise MatrixError(f"{where}: duplicate key")
        keys.add(key)
        if item.get("request_type") not in REQUEST_TYPES:
            raise MatrixError(f"{where}: request_type must be one of {', '.join(REQUEST_TYPES)}")
        if item.get("applies") not in APPLIES:
            raise MatrixError(f"{where}: applies must be one of {', '.join(APPLIES)}")
        target = item.get("target")
        if not isinstance(target, dict) or target.get("kind") not in KINDS:
            raise MatrixError(f"{where}: target.kind must be business_hours or elapsed")
        try:
            if target["kind"] == "business_hours":
                warn, due_hours = float(target["warn_hours"]), float(target["due_hours"])
            else:
                due_hours = float(target["hours"])
                warn = due_hours * WARN_SHARE
        except (KeyError, TypeError, ValueError):
            raise MatrixError(
                f"{where}: target needs numeric warn_hours/due_hours (business_hours) or hours (elapsed)"
            ) from None
        if not 0 < warn <= due_hours <= MAX_TARGET_HOURS:
            raise MatrixError(f"{where}: hours must be positive, warning before due")
        contact = item.get("contact")
        if not isinstance(contact, dict) or not all(
            isinstance(contact.get(k), str) and contact.get(k) for k in ("name", "role", "email", "phone")
        ):
            raise MatrixError(f"{where}: contact needs name, role, email and phone")
        if not isinstance(item.get("area"), str) or not item["area"]:
            raise MatrixError(f"{where}: area is required")
        values = {
            "key": key,
            "position": number,
            "request_type": item["request_type"],
            "applies": item["applies"],
            "target_kind": target["kind"],
            "warn_hours": warn,
            "due_hours": due_hours,
            "area": item["area"],
            "contact_name": contact["name"],
            "contact_role": contact["role"],
            "contact_email": contact["email"],
            "contact_phone": contact["phone"],
            "channel": str(item.get("channel") or ""),
        }
        for name, maximum in {"key": KEY_MAX, **ROW_TEXTS}.items():
            if len(values[name]) > maximum:
                raise MatrixError(f"{where}: {name} is longer than {maximum} characters")
        parsed.append(values)
    return parsed


def import_matrix(path: Path, actor=None) -> int:
    """Load the matrix file, replacing rows by key (a malformed file changes nothing)."""
    parsed = parse_matrix(Path(path).read_text(encoding="utf-8"))
    existing = {row.key: row for row in rows()}
    for values in parsed:
        row = existing.pop(values["key"], None)
        if row is None:
            row = EscalationRow(**values)
            db.session.add(row)
            db.session.flush()
            audit.record(actor, "sla.row_imported", row, after=row.audit_snapshot())
        else:
            before = row.audit_snapshot()
            for name, value in values.items():
                setattr(row, name, value)
            if row.audit_snapshot() != before:
                audit.record(actor, "sla.row_imported", row, before, row.audit_snapshot())
    for row in existing.values():
        db.session.delete(row)
    db.session.commit()
    return len(parsed)


def update_row(actor, row: EscalationRow, values: dict) -> EscalationRow:
    """Edit a matrix row from the admin screen (audited); errors name the row form's field."""
    kind = values.get("target_kind")
    if kind not in KINDS:
        raise InvalidInput(_("Choose business hours or elapsed hours."), "target_kind")
    due_hours = _target_hours(values.get("due_hours"), "due_hours")
    if kind == "elapsed":
        warn = due_hours * WARN_SHARE
    else:
        warn = _target_hours(values.get("warn_hours"), "warn_hours")
        if warn > due_hours:
            raise InvalidInput(_("Hours must be positive, the warning before the due time."), "warn_hours")
    texts = {name: clean_line(values.get(name)) for name in ROW_TEXTS}
    for name, maximum in ROW_TEXTS.items():
        if not texts[name] and name != "channel":
            raise InvalidInput(_("Every contact field is required."), name)
        if len(texts[name]) > maximum:
            raise InvalidInput(_("At most %(maximum)d characters.", maximum=maximum), name)
    before = row.audit_snapshot()
    row.target_kind, row.warn_hours, row.due_hours = kind, warn, due_hours
    for name, text in texts.items():
        setattr(row, name, text)
    audit.record(actor, "sla.row_updated", row, before, row.audit_snapshot())
    db.session.commit()
    return row


def _target_hours(value, field: str) -> float:
    try:
        hours = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(_("Hours must be numbers."), field) from None
    if not math.isfinite(hours):
        raise InvalidInput(_("Hours must be numbers."), field)
    if hours <= 0:
        raise InvalidInput(_("Hours must be positive, the warning before the due time."), field)
    if hours > MAX_TARGET_HOURS:
        raise InvalidInput(_("At most %(count)d hours.", count=MAX_TARGET_HOURS), field)
    return hours


def import_holidays(path: Path) -> int:
    """Add the dates of content/holidays.yaml to the calendar's extra holidays."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    entries = [{"date": str(item["date"]), "name": str(item.get("name", ""))} for item in data.get("holidays", [])]
    current = settings()
    known = {item["date"] for item in current.extra_holidays}
    current.extra_holidays = current.extra_holidays + [item for item in entries if item["date"] not in known]
    db.session.commit()
    return len(entries)
