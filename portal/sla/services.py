"""The business calendar's settings, deadlines from the escalation matrix (and the organization's
contract, `portal.sla.targets`), and the matrix as data (import, edit). Tickets apply these
deadlines (`portal.tickets.sla_clock`); nothing here knows tickets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from portal.core import audit
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.text import clean_line
from portal.sla.calendar import DEFAULT_HOURS, BusinessCalendar
from portal.sla.models import KEY_MAX, ROW_TEXTS, Applies, EscalationRow, RequestType, SlaSettings, TargetKind
from portal.sla.targets import MAX_TARGET_HOURS, Target, target_for, target_hours, targets

WARN_SHARE = 0.75  # elapsed-time targets warn at 75 % of the target
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
    target: Target
    warn_at: datetime
    due_at: datetime

    @property
    def row(self) -> EscalationRow:
        return self.target.row


def rows() -> list[EscalationRow]:
    return list(db.session.scalars(select(EscalationRow).order_by(EscalationRow.position, EscalationRow.id)))


def row(key: str | None) -> EscalationRow | None:
    return db.session.scalar(select(EscalationRow).where(EscalationRow.key == key)) if key else None


def promised_targets(request_type: str, organization_id: int | None = None) -> list[Target]:
    """The first-response times the organization is promised for `request_type`, one per matrix row
    (the second contact is an internal escalation, not a promise)."""
    promised = [row for row in rows() if row.request_type == request_type and row.applies != Applies.SECOND_CONTACT]
    return targets(promised, organization_id)


def response_time(target: Target) -> str:
    """A target in words: the matrix's "2–3 business hours" or "24 hours", a contract's "4 business
    hours" (a contract names one figure)."""
    if target.kind != TargetKind.BUSINESS_HOURS:
        return _("%(hours)g hours", hours=target.due_hours)
    if target.contracted:
        return _("%(hours)g business hours", hours=target.due_hours)
    return _("%(warn)g–%(due)g business hours", warn=target.warn_hours, due=target.due_hours)


def when_applies(row: EscalationRow) -> str:
    """When a row applies, in words (empty for a row that always applies)."""
    return {
        Applies.BUSINESS_HOURS: _("in business hours"),
        Applies.OUT_OF_HOURS: _("outside business hours (first contact)"),
        Applies.SECOND_CONTACT: _("outside business hours (second contact)"),
    }.get(Applies(row.applies), "")


def choose_row(request_type: str, received: datetime, cal: BusinessCalendar, matrix: list[EscalationRow]):
    """The matrix row for a request received at `received`: technical requests depend on whether
    they arrived in business hours."""
    applies = Applies.ANY
    if request_type == RequestType.TECHNICAL:
        applies = Applies.BUSINESS_HOURS if cal.is_business_time(received) else Applies.OUT_OF_HOURS
    for row in matrix:
        if row.request_type == request_type and row.applies == applies:
            return row
    for row in matrix:
        if row.request_type == request_type and row.applies == Applies.ANY:
            return row
    return None


def second_contact_row(matrix: list[EscalationRow]) -> EscalationRow | None:
    """The row for out-of-hours requests still unanswered at their due time."""
    return next((row for row in matrix if row.applies == Applies.SECOND_CONTACT), None)


def told_on_arrival(row: EscalationRow) -> bool:
    """Whether the row's contact hears of a request when it arrives: the out-of-hours first contact
    (§10), and the marketing and business area, to which the procedure sends its requests (§8:
    "se derivan al área de Mercadeo y Negocio")."""
    return row.applies == Applies.OUT_OF_HOURS or row.request_type == RequestType.MARKETING_BUSINESS


def second_contact_due(request_type: str, received: datetime, organization_id: int | None = None) -> Deadline | None:
    """For a request received outside business hours, the second contact's deadline, counted from
    reception (§10: "los tiempos se expresan en horas desde la recepción del ticket") with the
    organization's contract hours when it has them; None when the request's row is not the
    out-of-hours first contact or the matrix has no second contact."""
    matrix, cal = rows(), calendar()
    first, second = choose_row(request_type, received, cal, matrix), second_contact_row(matrix)
    if first is None or second is None or first.applies != Applies.OUT_OF_HOURS:
        return None
    return deadline_for(second, received, cal, organization_id)


def deadline_for(
    row: EscalationRow, start: datetime, cal: BusinessCalendar, organization_id: int | None = None
) -> Deadline:
    """Warn and due times of the row's target for the organization (its contract's, else the
    matrix's): business hours count only business time; elapsed hours count every second (86,400
    per day, across DST changes)."""
    goal = target_for(row, organization_id)
    if goal.kind == TargetKind.BUSINESS_HOURS:
        return Deadline(
            goal, cal.add_business_hours(start, goal.warn_hours), cal.add_business_hours(start, goal.due_hours)
        )
    start = start.astimezone(UTC)
    return Deadline(goal, start + timedelta(hours=goal.warn_hours), start + timedelta(hours=goal.due_hours))


def due(request_type: str, received: datetime, organization_id: int | None = None) -> Deadline | None:
    """The deadline of a request of `request_type` received at `received` from the organization
    (its contract's hours where it has them; None: no matrix row)."""
    cal = calendar()
    row = choose_row(request_type, received, cal, rows())
    return deadline_for(row, received, cal, organization_id) if row else None


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
        if item.get("request_type") not in tuple(RequestType):
            raise MatrixError(f"{where}: request_type must be one of {', '.join(RequestType)}")
        if item.get("applies") not in tuple(Applies):
            raise MatrixError(f"{where}: applies must be one of {', '.join(Applies)}")
        target = item.get("target")
        if not isinstance(target, dict) or target.get("kind") not in tuple(TargetKind):
            raise MatrixError(f"{where}: target.kind must be {' or '.join(TargetKind)}")
        try:
            if target["kind"] == TargetKind.BUSINESS_HOURS:
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
    if kind not in tuple(TargetKind):
        raise InvalidInput(_("Choose business hours or elapsed hours."), "target_kind")
    due_hours = target_hours(values.get("due_hours"), "due_hours")
    if kind == TargetKind.ELAPSED:
        warn = due_hours * WARN_SHARE
    else:
        warn = target_hours(values.get("warn_hours"), "warn_hours")
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


def import_holidays(path: Path) -> int:
    """Add the dates of content/holidays.yaml to the calendar's extra holidays."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    entries = [{"date": str(item["date"]), "name": str(item.get("name", ""))} for item in data.get("holidays", [])]
    current = settings()
    known = {item["date"] for item in current.extra_holidays}
    current.extra_holidays = current.extra_holidays + [item for item in entries if item["date"] not in known]
    db.session.commit()
    return len(entries)
