"""Item 12 of issue 11: what the team reads in Monday and Slack is in STAFF_LANGUAGE (Spanish unless
configured), whoever's request or job wrote it — never the acting person's interface language."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.core.config import ConfigError, load
from portal.core.extensions import db
from portal.integrations.models import OutboxMessage, Target
from portal.tickets import workflow
from tests.conftest import file_report


def texts(target: Target) -> list[str]:
    messages = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.target == target.value).order_by(OutboxMessage.id)
    )
    key = "body" if target is Target.MONDAY else "text"
    return [message.payload[key] for message in messages if key in message.payload]


def escalate(staff, ticket) -> None:
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "urgent", staff["l1"])
    file_report(staff["l1"], ticket)
    workflow.cannot_resolve(staff["l1"], ticket, "Needs the CDN team.")
    workflow.reassign_to_level_two(staff["admin"], ticket, staff["l2"], ["monday", "slack"])


def test_spanish_by_default_even_when_the_staff_member_reads_english(staff, open_ticket):
    staff["admin"].language = "en"
    db.session.commit()
    ticket = open_ticket()
    escalate(staff, ticket)
    monday = texts(Target.MONDAY)
    assert any(
        "Asignado a Luis Uno (Agente nivel 1), Errores o preguntas técnicas, prioridad Urgente." in t for t in monday
    )
    assert any("Reporte de estado de Luis Uno (15 min)" in t and "Información relevante:" in t for t in monday)
    assert any("Luis Uno no puede resolverlo: Needs the CDN team." in t for t in monday)
    assert any("Reasignado a Marta Dos (nivel 2)." in t for t in texts(Target.SLACK))
    assert not any("Assigned to" in t or "Reassigned" in t for t in monday + texts(Target.SLACK))


@pytest.fixture
def app_config(request):
    return getattr(request, "param", {})


@pytest.mark.parametrize("app_config", [{"STAFF_LANGUAGE": "en"}], indirect=True)
def test_english_when_the_team_reads_english(staff, open_ticket):
    ticket = open_ticket()
    escalate(staff, ticket)
    monday = texts(Target.MONDAY)
    assert any(
        "Assigned to Luis Uno (Level-1 agent), Technical errors or questions, priority Urgent." in t for t in monday
    )
    assert any("Reassigned to Marta Dos (level 2)." in t for t in texts(Target.SLACK))


def test_an_unknown_staff_language_stops_the_portal_at_start(monkeypatch, tmp_path):
    monkeypatch.setenv("STAFF_LANGUAGE", "fr")
    with pytest.raises(ConfigError, match="STAFF_LANGUAGE must be one of es, en"):
        load(tmp_path)
