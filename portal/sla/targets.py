"""First-response targets: the rule hours follow (positive, at most MAX_TARGET_HOURS), and what a
matrix row promises one organization — its contract's hours where the administrator set them (§4:
SLAs "definidos internamente o mediante contratos con los partners"), else the matrix's — with the
contract's edits. Organizations are known here by id (and, for the audit, a name): `auth` is
another room."""

from __future__ import annotations

import math
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from portal.core import audit
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.sla.models import ContractTarget, EscalationRow

MAX_TARGET_HOURS = 24 * 30


@dataclass(frozen=True)
class Target:
    """What a matrix row promises one organization: the row's kind of hours, its warning and due
    hours, and whether they come from the organization's contract."""

    row: EscalationRow
    warn_hours: float
    due_hours: float
    contracted: bool = False

    @property
    def kind(self) -> str:
        return self.row.target_kind


def contract(organization_id: int | None) -> dict[int, float]:
    """An organization's contract: due hours by matrix row id (empty without one, or for staff)."""
    if organization_id is None:
        return {}
    return dict(
        db.session.execute(
            select(ContractTarget.row_id, ContractTarget.due_hours).where(
                ContractTarget.organization_id == organization_id
            )
        ).all()
    )


def targets(rows: list[EscalationRow], organization_id: int | None = None) -> list[Target]:
    """Each row's target for the organization, in the rows' order."""
    hours = contract(organization_id)
    return [_contracted(row, hours[row.id]) if row.id in hours else _matrix(row) for row in rows]


def target_for(row: EscalationRow, organization_id: int | None = None) -> Target:
    return targets([row], organization_id)[0]


def _matrix(row: EscalationRow) -> Target:
    return Target(row, row.warn_hours, row.due_hours)


def _contracted(row: EscalationRow, due_hours: float) -> Target:
    # A contract names the due time; the warning keeps the row's share of it (75 % for elapsed rows).
    return Target(row, due_hours * row.warn_hours / row.due_hours, due_hours, contracted=True)


def target_hours(value, field: str) -> float:
    """`value` as hours for a target, or InvalidInput on `field`."""
    try:
        hours = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(_("Hours must be numbers."), field) from None
    if not math.isfinite(hours):
        raise InvalidInput(_("Hours must be numbers."), field)
    if hours <= 0:
        raise InvalidInput(_("Hours must be more than zero."), field)
    if hours > MAX_TARGET_HOURS:
        raise InvalidInput(_("At most %(count)d hours.", count=MAX_TARGET_HOURS), field)
    return hours


def contract_field(row_id: int) -> str:
    """The admin form's field for a matrix row's contract hours."""
    return f"hours_{row_id}"


def update_contract(actor, organization, typed: dict[int, str | None]) -> dict[str, float]:
    """Replace an organization's contract from the admin screen: `typed` maps a matrix row id to the
    hours typed for it; a row left empty (or missing) follows the matrix. Every value is checked
    before anything changes; a refusal names the row's field. Audited on the organization (only
    its `id` and `name` are read); returns the contract as {row key: hours}."""
    matrix = list(db.session.scalars(select(EscalationRow).order_by(EscalationRow.position, EscalationRow.id)))
    wanted = {}
    for row in matrix:
        text = (typed.get(row.id) or "").strip()
        if text:
            wanted[row.id] = target_hours(text, contract_field(row.id))
    current = contract(organization.id)
    keys = {row.id: row.key for row in matrix}
    before = {keys[row_id]: hours for row_id, hours in current.items() if row_id in keys}
    after = {keys[row_id]: hours for row_id, hours in wanted.items()}
    if before == after:
        return after
    db.session.execute(
        delete(ContractTarget).where(
            ContractTarget.organization_id == organization.id, ContractTarget.row_id.not_in(list(wanted))
        )
    )
    stored = {
        item.row_id: item
        for item in db.session.scalars(select(ContractTarget).where(ContractTarget.organization_id == organization.id))
    }
    for row_id, hours in wanted.items():
        if row_id in stored:
            stored[row_id].due_hours = hours
        else:
            db.session.add(ContractTarget(organization_id=organization.id, row_id=row_id, due_hours=hours))
    audit.record(actor, "sla.contract_updated", organization, before, after)
    try:
        db.session.commit()
    except IntegrityError:
        # Another administrator saved this contract at the same moment: theirs is stored now, and
        # this save applies over it as if it had come second.
        db.session.rollback()
        return update_contract(actor, organization, typed)
    return after
