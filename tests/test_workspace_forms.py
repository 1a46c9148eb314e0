"""The staff workspace's action forms: refused input (422) comes back as typed, in the action's open
form, with the service's message next to the field it names; nothing is stored."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.core.extensions import db
from portal.tickets.models import Comment, StatusReport, Ticket, TicketEvent
from tests.conftest import file_report, login

HX = {"HX-Request": "true"}
ROLES = {"admin": "ticket_admin", "l1": "agent_l1", "l2": "agent_l2", "vp": "vp"}


@pytest.fixture
def people(app, make_user):
    """English-speaking staff of every role, each with a signed-in client."""
    users = {
        name: make_user(role, email=f"{name}@forms.test", name=f"{name.upper()} Person", language="en")
        for name, role in ROLES.items()
    }
    clients = {}
    for name, user in users.items():
        clients[name] = app.test_client()
        assert login(clients[name], user.email).status_code == 302
    return users, clients


def _put(ticket: Ticket, status: str, tier: int = 1, assignee=None) -> None:
    ticket.status, ticket.tier, ticket.assignee_id = status, tier, assignee.id if assignee else None
    db.session.commit()


# (who, (status, tier, assignee), path, data, the field refused, its message, text that must come back)
CASES = {
    "assign": (
        "admin",
        ("new", 1, None),
        "assign",
        {"request_type": "marketing_business", "priority": "someday", "agent_id": "{l1}"},
        "priority",
        "Choose a priority.",
        '<option selected value="marketing_business">',
    ),
    "report": (
        "l1",
        ("assigned_l1", 1, "l1"),
        "reports",
        {
            "actions_taken": "Checked the CDN logs",
            "minutes_spent": "0",
            "relevant_information": "Edge 502s",
            "next_step": "Ask the CDN team",
        },
        "minutes_spent",
        "Time spent is between 1 and 1440 minutes.",
        "Checked the CDN logs",
    ),
    "resolve": (
        "l1",
        ("assigned_l1", 1, "l1"),
        "resolve",
        {"summary": "Reinstalled the app on the Roku"},
        "no_kb_reason",
        "Link the KB article you updated, or say why no KB change is needed.",
        "Reinstalled the app on the Roku",
    ),
    "cannot_resolve": (
        "l2",
        ("assigned_l2", 2, "l2"),
        "cannot-resolve",
        {"reason": "Needs the license server logs " + "x" * 5_000},
        "reason",
        "At most 5000 characters.",
        "Needs the license server logs",
    ),
    "notify": (
        "admin",
        ("resolved_by_agent", 1, "l1"),
        "notify",
        {"message": "We reverted the app " + "y" * 20_000},
        "message",
        "At most 20000 characters.",
        "We reverted the app",
    ),
    "reassign": (
        "admin",
        ("cannot_resolve", 1, "l1"),
        "reassign",
        {"agent_id": "{l2}"},
        "channels",
        "Choose Monday, Slack or both.",
        '<option selected value="{l2}">',
    ),
    "escalate": (
        "admin",
        ("cannot_resolve", 2, "l2"),
        "escalate",
        {"note": "Release regression " + "n" * 5_000},
        "note",
        "At most 5000 characters.",
        "Release regression",
    ),
    "decision": (
        "vp",
        ("escalated_l3", 3, None),
        "decision",
        {"priority": "urgent", "impact": "Every Roku user", "resources": " ", "decision": "external_provider"},
        "resources",
        "Describe the resources available.",
        'value="Every Roku user"',
    ),
    "result": (
        "vp",
        ("external_provider", 3, None),
        "result",
        {"result": "The provider purged the cache " + "r" * 5_000},
        "result",
        "At most 5000 characters.",
        "The provider purged the cache",
    ),
    "reply": (
        "l1",
        ("assigned_l1", 1, "l1"),
        "reply",
        {"body": "We are looking into it " + "b" * 20_000},
        "body",
        "At most 20000 characters.",
        "We are looking into it",
    ),
    "note": (
        "vp",
        ("new", 1, None),
        "note",
        {"body": "Old contract " + "b" * 20_000},
        "body",
        "At most 20000 characters.",
        "Old contract",
    ),
}


# An agent files a status report before resolving or giving up (the policy requires it).
REPORTED_FIRST = {"resolve", "cannot_resolve"}


def _stored(ticket_id: int) -> tuple[int, int, int]:
    """How many events, comments and status reports are stored."""
    return (
        db.session.scalar(select(func.count(TicketEvent.id)).where(TicketEvent.ticket_id == ticket_id)),
        db.session.scalar(select(func.count(Comment.id))),
        db.session.scalar(select(func.count(StatusReport.id))),
    )


@pytest.mark.parametrize("headers", [HX, {}], ids=["htmx", "page"])
@pytest.mark.parametrize("action", CASES)
def test_refused_input_comes_back_as_typed_with_the_message_on_its_field(people, open_ticket, action, headers):
    users, clients = people
    who, (status, tier, holder), path, data, field, message, kept = CASES[action]
    ids = {name: str(user.id) for name, user in users.items()}
    ticket = open_ticket()
    _put(ticket, status, tier, users[holder] if holder else None)
    if action in REPORTED_FIRST:
        file_report(users[holder], ticket)
    before = _stored(ticket.id)

    sent = {name: value.format(**ids) for name, value in data.items()}
    response = clients[who].post(f"/staff/tickets/{ticket.id}/{path}", data=sent, headers=headers)
    page = response.get_data(as_text=True)

    assert response.status_code == 422, page[:300]
    error = re.search(rf'<small id="{action}-{field}-error" class="field-error">([^<]*)</small>', page)
    assert error and error.group(1) == message, f"no message next to {action}.{field}"
    described = re.search(rf'<[^>]*aria-describedby="{action}-{field}-error"[^>]*>', page)
    assert described and 'aria-invalid="true"' in described.group(0), "the field points to its message"
    assert kept.format(**ids) in page, "what was typed is shown again"
    form = re.search(
        rf'<details class="action[^"]*" open>\s*<summary>[^<]*</summary>\s*<form [^>]*data-action="{action}"', page
    )
    assert form, "the refused action's form is open"
    assert page.count("field-error") == 1, "only the refused field carries a message"
    assert re.search(r'<p class="toast toast-error" role="alert">[^<]+</p>', page), "the refusal is announced"
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status == status
    assert _stored(ticket.id) == before, "nothing stored"


def test_a_refused_form_does_not_leak_into_the_other_forms(people, open_ticket):
    """The reply and the note share the field name `body`: a refused note keeps its text, the reply
    form stays empty, and no id appears twice."""
    _users, clients = people
    ticket = open_ticket()
    page = (
        clients["admin"]
        .post(f"/staff/tickets/{ticket.id}/note", data={"body": "Internal " + "z" * 20_000}, headers=HX)
        .get_data(as_text=True)
    )
    reply = re.search(r'<textarea [^>]*id="reply-body"[^>]*>([^<]*)</textarea>', page)
    note = re.search(r'<textarea [^>]*id="note-body"[^>]*>([^<]*)</textarea>', page)
    assert reply and note and reply.group(1).strip() == "" and note.group(1).strip().startswith("Internal")
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
