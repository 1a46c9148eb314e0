"""Level 3 (§9.11–14): the VP's analysis and decision — an external provider, or an alternative
measure — and the result the provider or the technical team reports back to the administrator."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from auth.models import User
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.tickets import policy
from portal.tickets.models import PRIORITY_LABELS, EventKind, Status, Ticket
from portal.tickets.outbound import zendesk_reclassified
from portal.tickets.policy import Action
from portal.tickets.validation import (
    DECISION_FIELD_MAX,
    PROVIDER_FIELD_MAX,
    SUMMARY_MAX,
    text_block,
    text_line,
)
from portal.tickets.workflow import staff_step


class Measure(StrEnum):
    """Level 3's alternative measures when no external provider is approved (§9.14). The procedure
    names four "como" examples, not all of them, so `OTHER` is a measure described in words."""

    NO_INTERVENTION = "no_intervention"
    REVERT_VERSION = "revert_version"
    REMOVE_COMPONENTS = "remove_components"
    REDUCE_FUNCTIONALITY = "reduce_functionality"
    OTHER = "other"

    @property
    def label(self) -> str:
        return str(MEASURE_LABELS[self])


MEASURE_LABELS = {
    Measure.NO_INTERVENTION: _l("No intervention"),
    Measure.REVERT_VERSION: _l("Revert to a previous version"),
    Measure.REMOVE_COMPONENTS: _l("Remove components"),
    Measure.REDUCE_FUNCTIONALITY: _l("Reduce functionality"),
    Measure.OTHER: _l("Other (describe it)"),
}


def decide(
    vp: User,
    ticket: Ticket,
    priority: str,
    impact: str,
    resources: str,
    decision: str,
    provider: dict | None = None,
    measure: str = "",
    notes: str = "",
    measure_description: str = "",
    now: datetime | None = None,
) -> Ticket:
    """Level 3's analysis and the VP's decision: an external provider, or an alternative measure
    (any measure may be described; "other" must be)."""
    policy.check(vp, ticket, Action.DECISION)
    if priority not in PRIORITY_LABELS:
        raise InvalidInput(_("Choose a priority."), "priority")
    impact = text_block(
        impact, "impact", DECISION_FIELD_MAX, _("Describe the impact (partners and end users affected).")
    )
    resources = text_block(resources, "resources", DECISION_FIELD_MAX, _("Describe the resources available."))
    data = {
        "priority": priority,
        "impact": impact,
        "resources": resources,
        "notes": text_block(notes, "notes", DECISION_FIELD_MAX),
    }
    if decision == "external_provider":
        missing = _("Give the provider's name, contact and scope.")
        provider = provider or {}
        provider = {
            "name": text_line(provider.get("name"), "provider_name", PROVIDER_FIELD_MAX, missing),
            "contact": text_line(provider.get("contact"), "provider_contact", PROVIDER_FIELD_MAX, missing),
            "scope": text_block(provider.get("scope"), "provider_scope", DECISION_FIELD_MAX, missing),
        }
        data["provider"] = provider
        target = Status.EXTERNAL_PROVIDER
        update = _l("Level 3 approved an external provider: %(name)s.", name=provider["name"])
    elif decision == "alternative_measure":
        if measure not in set(Measure):
            raise InvalidInput(_("Choose an alternative measure."), "measure")
        described = text_block(
            measure_description,
            "measure_description",
            DECISION_FIELD_MAX,
            _("Describe the measure.") if measure == Measure.OTHER else None,
        )
        data["measure"], data["measure_description"] = measure, described
        target = Status.ALTERNATIVE_MEASURE
        update = _l(
            "Level 3 decided an alternative measure: %(measure)s. %(description)s",
            measure=MEASURE_LABELS[Measure(measure)],
            description=described,
        )
    else:
        raise InvalidInput(_("Choose a decision."), "decision")
    reprioritized = ticket.priority != priority
    ticket.priority = priority
    event = staff_step(ticket, target, vp, EventKind.DECISION, data, update, slack=True, now=now)
    if reprioritized:
        zendesk_reclassified(ticket, str(event.id))
    db.session.commit()
    return ticket


def record_level_three_result(actor: User, ticket: Ticket, result: str, now: datetime | None = None) -> Ticket:
    """The provider's result, or the measure applied, goes back to the administrator."""
    policy.check(actor, ticket, Action.RESULT)
    result = text_block(result, "result", SUMMARY_MAX, _("Describe the result."))
    staff_step(
        ticket,
        Status.RESOLVED_BY_AGENT,
        actor,
        EventKind.LEVEL_THREE_RESULT,
        {"summary": result},
        _l("Level 3 result: %(result)s", result=result),
        now=now,
    )
    db.session.commit()
    return ticket
