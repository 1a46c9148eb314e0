"""The XSS payload suite as a regression test: every kind of payload is typed through the real forms
into every free-text field (by the partner, the staff, the administrator, the readers), then every
page, fragment and CSV export where it can appear is read as every role that can see it. No markup
that could run or act on its own may survive, no template may evaluate it, no CSV cell may start a
formula — and each page must really show the stored text (a canary next to the payload)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from auth import services as auth_services
from portal.sla import services as sla
from tests.conftest import STATUS_REPORT, login
from tests.hostile_html import csv_problems, forms_of, markup_problems
from tests.hostile_payloads import PAYLOADS, TEMPLATE_PROBE

HX = {"HX-Request": "true"}


def line(payload: str, canary: str, limit: int) -> str:
    """A one-line field: the payload first (a formula must start the cell), then the canary."""
    return f"{payload.replace(chr(10), ' ')[: limit - len(canary) - 1]} {canary}"


def block(payload: str, canary: str) -> str:
    """A multi-line (Markdown) field: the canary in its own paragraph (an unclosed element of the
    payload may rightly swallow what follows it), then the payload."""
    return f"{canary}\n\n{payload}"


@dataclass
class Portal:
    """Signed-in clients of every role, and what the test stored and read."""

    app: object
    users: dict
    clients: dict = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stored: set[str] = field(default_factory=set)

    def client(self, role):
        if role not in self.clients:
            self.clients[role] = self.app.test_client()
            if role != "anonymous":
                assert login(self.clients[role], self.users[role].email).status_code == 302
        return self.clients[role]

    def store(self, role, url, data, canaries, ok=(200, 201, 302), **options):
        """Submit a form; its canaries count as stored when the portal accepted it."""
        response = self.client(role).post(url, data=data, **options)
        if response.status_code in ok:
            self.stored.update(canaries)
        else:
            self.refused.append(f"{role} POST {url}: {response.status_code}")
        self.audit(response, f"{role} POST {url} (its answer)")
        return response

    def read(self, role, url, shows=(), **options):
        """Read a page (or fragment, or CSV) and audit it; `shows` are canaries it must display."""
        response = self.client(role).get(url, **options)
        where = f"{role} GET {url}{' (htmx)' if options.get('headers') == HX else ''}"
        if response.status_code != 200:
            self.problems.append(f"{where}: status {response.status_code}")
        self.audit(response, where)
        text = response.get_data(as_text=True)
        missing = [canary for canary in shows if canary in self.stored and canary not in text]
        if missing:
            self.problems.append(f"{where}: does not show {missing}")
        return text

    def audit(self, response, where):
        text = response.get_data(as_text=True)
        found = csv_problems(text) if response.mimetype == "text/csv" else markup_problems(text)
        if TEMPLATE_PROBE in text:
            found.append(f"a template evaluated {TEMPLATE_PROBE!r}")
        self.problems.extend(f"{where}: {problem}" for problem in found)


@pytest.fixture
def portal(app, make_user):
    sla.import_matrix(Path(__file__).resolve().parent.parent / "content" / "escalation_matrix.yaml")
    organization = auth_services.create_organization(None, "Cable Norte")
    users = {
        role: make_user(role, email=f"{role}@xss.test", organization=organization if role == "partner" else None)
        for role in ("partner", "ticket_admin", "agent_l1", "agent_l2", "vp")
    }
    return Portal(app, users)


def ticket_id(response) -> int:
    return int(re.search(r"/tickets/(\d+)/created", response.headers["Location"]).group(1))


def partner_stores(portal: Portal, payload: str) -> tuple[int, int]:
    """The partner's fields: both intake forms, a comment, and a refused form that echoes them."""
    technical = portal.store(
        "partner",
        "/tickets/new/technical",
        {
            "subject": line(payload, "cnrysubject", 200),
            "description": block(payload, "cnrydescription"),
            "service": line(payload, "cnryservice", 120),
            "device": line(payload, "cnrydevice", 120),
            "app_version": line(payload, "cnryver", 40),
            "region": line(payload, "cnryregion", 80),
            "content_id": line(payload, "cnrycontent", 120),
            "started_at": line(payload, "cnrystarted", 80),
            "error_code": "EDY-4031",
            "impact": "many",
        },
        [
            "cnrysubject",
            "cnrydescription",
            "cnryservice",
            "cnrydevice",
            "cnryver",
            "cnryregion",
            "cnrycontent",
            "cnrystarted",
        ],
    )
    marketing = portal.store(
        "partner",
        "/tickets/new/marketing_business",
        {
            "subject": line(payload, "cnrymsubject", 200),
            "description": block(payload, "cnrymdescription"),
            "topic": line(payload, "cnrytopic", 120),
            "desired_date": "2031-01-15",
        },
        ["cnrymsubject", "cnrymdescription", "cnrytopic"],
    )
    assert technical.status_code == marketing.status_code == 302, portal.refused
    first, second = ticket_id(technical), ticket_id(marketing)
    portal.store("partner", f"/tickets/{first}/comments", {"body": block(payload, "cnrycomment")}, ["cnrycomment"])
    # A refused form shows the typed values again: the reflection must be as clean as the stored text.
    portal.store(
        "partner",
        "/tickets/new/technical",
        {"subject": payload, "description": payload, "service": payload, "region": payload, "impact": payload},
        [],
        ok=(422,),
    )
    return first, second


def administrator_stores(portal: Portal, payload: str) -> None:
    """Names and contacts the administrator types."""
    admin, partner, agent = portal.users["ticket_admin"], portal.users["partner"], portal.users["agent_l1"]
    portal.store(
        "ticket_admin",
        f"/admin/organizations/{partner.organization_id}/edit",
        {"name": line(payload, "cnryorg", 200), "active": "y"},
        ["cnryorg"],
    )
    for user, canary in ((partner, "cnrypartner"), (agent, "cnryagent")):
        portal.store(
            "ticket_admin",
            f"/admin/users/{user.id}/edit",
            {
                "name": line(payload, canary, 200),
                "email": user.email,
                "role": user.role,
                "organization_id": str(user.organization_id or 0),
                "language": "es",
            },
            [canary],
        )
    portal.store(
        "ticket_admin", "/admin/organizations", {"name": line(payload, "cnryneworg", 200)}, ["cnryneworg"], headers=HX
    )
    sla_page = portal.client("ticket_admin").get("/admin/sla").get_data(as_text=True)
    row_form = next(form for form in forms_of(sla_page) if "/admin/sla/rows/" in form.action)
    contact = {
        name: line(payload, f"cnry{name.replace('_', '')}", 200) for name in ("area", "contact_name", "contact_role")
    }
    portal.store(
        "ticket_admin", row_form.action, {**row_form.fields, **contact}, [f"cnry{n.replace('_', '')}" for n in contact]
    )
    assert admin.role == "ticket_admin"


def staff_journey(portal: Portal, payload: str, first: int, second: int) -> None:
    """Every staff text on the way from a new ticket to level 3 and back to the partner."""
    users = portal.users

    def act(role, ticket, action, canaries, **data):
        portal.store(role, f"/staff/tickets/{ticket}/{action}", data, canaries, headers=HX)

    act("ticket_admin", first, "note", ["cnrynote"], body=block(payload, "cnrynote"))
    act("ticket_admin", first, "reply", ["cnryreply"], body=block(payload, "cnryreply"))
    act("ticket_admin", first, "assign", [], request_type="technical", priority="high", agent_id=users["agent_l1"].id)
    act(
        "agent_l1",
        first,
        "reports",
        ["cnryactions", "cnryinfo", "cnrynext"],
        actions_taken=block(payload, "cnryactions"),
        minutes_spent="5",
        visibility="partner",
        relevant_information=block(payload, "cnryinfo"),
        next_step=line(payload, "cnrynext", 200),
    )
    act("agent_l1", first, "cannot-resolve", ["cnryreason1"], reason=block(payload, "cnryreason1"))
    act("ticket_admin", first, "reassign", [], agent_id=users["agent_l2"].id, channels="monday")
    act("agent_l2", first, "reports", [], **STATUS_REPORT)
    act("agent_l2", first, "cannot-resolve", ["cnryreason2"], reason=block(payload, "cnryreason2"))
    act("ticket_admin", first, "escalate", ["cnryescalate"], note=block(payload, "cnryescalate"))
    act(
        "vp",
        first,
        "decision",
        ["cnryimpact", "cnryresources", "cnrynotes", "cnryprovider", "cnrycontact", "cnryscope"],
        priority="urgent",
        decision="external_provider",
        impact=block(payload, "cnryimpact"),
        resources=block(payload, "cnryresources"),
        notes=block(payload, "cnrynotes"),
        provider_name=line(payload, "cnryprovider", 200),
        provider_contact=line(payload, "cnrycontact", 200),
        provider_scope=block(payload, "cnryscope"),
    )
    act("vp", first, "result", ["cnryresult"], result=block(payload, "cnryresult"))
    act("ticket_admin", first, "notify", ["cnrynotify"], message=block(payload, "cnrynotify"))
    portal.store(
        "partner",
        f"/tickets/{first}/confirm",
        {"answer": "no", "reason": block(payload, "cnryconfirm")},
        ["cnryconfirm"],
    )
    act(
        "ticket_admin",
        second,
        "resolve",
        ["cnrysummary", "cnrynokb"],
        summary=block(payload, "cnrysummary"),
        no_kb_reason=line(payload, "cnrynokb", 200),
    )


def knowledge_base_stores(portal: Portal, payload: str) -> str:
    """An article written and edited by staff, voted and commented by the partner; searches."""
    fields = {
        "category": "playback",
        "visibility": "public",
        "language": "es",
        "slug": "guia-hostil",
        "translation_id": "0",
        "action": "publish",
    }
    portal.store(
        "agent_l1",
        "/kb/new",
        {
            **fields,
            "title": line(payload, "cnrytitle", 300),
            "body": block(payload, "cnrybody"),
            "tags": line(payload, "cnrytag", 40),
            "note": line(payload, "cnrychange", 500),
        },
        ["cnrytitle", "cnrybody", "cnrytag", "cnrychange"],
    )
    portal.store(
        "agent_l2",
        "/kb/es/guia-hostil/edit",
        {
            **fields,
            "title": line(payload, "cnrytitle2", 300),
            "tags": "widevine",
            "body": f"Widevine intro.\n\n{block(payload, 'cnrybody2')}",
            "note": line(payload, "cnrychange2", 500),
            "base_revision": "1",
        },
        ["cnrytitle2", "cnrybody2", "cnrychange2"],
    )
    portal.store(
        "partner",
        "/kb/es/guia-hostil/feedback",
        {"helpful": "no", "comment": block(payload, "cnryfeedback")},
        ["cnryfeedback"],
    )
    # An edit based on an old revision is refused with a diff and the typed text kept.
    portal.store(
        "agent_l1",
        "/kb/es/guia-hostil/edit",
        {
            **fields,
            "title": payload,
            "body": payload,
            "tags": line(payload, "cnrytag3", 40),
            "note": payload,
            "base_revision": "1",
        },
        [],
        ok=(409,),
    )
    for role in ("anonymous", "partner", "agent_l1"):
        portal.read(role, "/kb/search", query_string={"q": payload})
    return "guia-hostil"


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_payload_never_runs_anywhere(portal, payload):
    first, second = partner_stores(portal, payload)
    administrator_stores(portal, payload)
    staff_journey(portal, payload, first, second)
    slug = knowledge_base_stores(portal, payload)
    users = portal.users
    ticket_texts = ["cnrysubject", "cnrydescription", "cnryservice", "cnrycomment"]
    query = {"q": payload}

    portal.read(
        "partner",
        f"/tickets/{first}",
        ["cnrysubject", "cnrydescription", "cnrycomment", "cnryreply", "cnryactions", "cnrynotify"],
    )
    portal.read("partner", f"/tickets/{first}", ["cnrycomment", "cnryreply", "cnrynotify"], headers=HX)
    for headers in ({}, HX):
        for role in ("ticket_admin", "agent_l1", "agent_l2", "vp"):
            portal.read(
                role,
                f"/staff/tickets/{first}",
                [*ticket_texts, "cnrynote", "cnryreason1", "cnryescalate", "cnryimpact", "cnryresult", "cnryorg"],
                headers=headers,
            )
    portal.read("partner", "/tickets/", ["cnrysubject", "cnrymsubject"])
    portal.read("partner", "/tickets/", query_string=query, headers=HX)
    portal.read("partner", "/tickets/", query_string={"status": payload})
    portal.read("partner", f"/tickets/{first}/created")
    portal.read("partner", f"/tickets/{second}", ["cnrymsubject", "cnrymdescription", "cnrytopic"])
    portal.read("partner", "/tickets/suggestions", query_string={"subject": payload, "description": payload})
    portal.read("partner", "/tickets/contacts", ["cnryarea", "cnrycontactname"])
    portal.read("ticket_admin", f"/staff/tickets/{second}", ["cnrymsubject", "cnrysummary"])
    portal.read("ticket_admin", "/staff/triage", ["cnrysubject", "cnryorg"])
    portal.read("ticket_admin", "/staff/triage", query_string={"status": payload, "request_type": payload}, headers=HX)
    portal.read("agent_l1", "/staff/work")
    portal.read("agent_l2", "/staff/work")
    portal.read("vp", "/staff/level3")
    portal.read("ticket_admin", "/staff/metrics")
    portal.read("ticket_admin", "/staff/audit.csv", ["cnryagent", "cnrynote"])
    for name in (
        "tickets-per-day",
        "sla-per-agent-week",
        "sla-per-organization-week",
        "first-response-times",
        "backlog",
    ):
        portal.read("ticket_admin", f"/staff/metrics/{name}.csv")
    portal.read("ticket_admin", "/staff/kb-follow-up")
    portal.read("ticket_admin", "/staff/reports")
    for url in ("/admin/audit", "/admin/organizations", "/admin/users"):
        portal.read("ticket_admin", url, ["cnryorg"] if "users" not in url else ["cnrypartner", "cnryagent"])
        portal.read(
            "ticket_admin", url, query_string={"q": payload, "action": payload, "target_type": payload}, headers=HX
        )
    portal.read("ticket_admin", f"/admin/users/{users['agent_l1'].id}/edit", ["cnryagent"])
    portal.read("ticket_admin", f"/admin/organizations/{users['partner'].organization_id}/edit", ["cnryorg"])
    portal.read("ticket_admin", "/admin/sla", ["cnryarea"])
    portal.read("ticket_admin", "/admin/integrations")

    for role in ("anonymous", "partner", "agent_l1"):
        portal.read(role, f"/kb/es/{slug}", ["cnrytitle2", "cnrybody2"])
        portal.read(role, f"/kb/es/{slug}", headers=HX)
        portal.read(role, "/kb/")
        portal.read(role, "/kb/category/playback", ["cnrytitle2"])
        portal.read(role, "/kb/search", query_string={"q": "widevine"})
    for role in ("ticket_admin", "agent_l2", "vp"):
        portal.read(role, f"/kb/es/{slug}", ["cnryfeedback"])
    portal.read("agent_l1", f"/kb/es/{slug}/edit", ["cnrytitle2", "cnrybody2"])
    portal.read("agent_l1", f"/kb/es/{slug}/history", ["cnrychange", "cnrychange2"])
    portal.read("agent_l1", f"/kb/es/{slug}/diff", ["cnrybody", "cnrybody2"], query_string={"from": "1", "to": "2"})
    portal.read("agent_l1", f"/kb/es/{slug}/diff", query_string={"from": "1", "to": "2"}, headers=HX)
    portal.read("agent_l1", "/kb/manage", ["cnrytitle2"])
    portal.read("agent_l1", "/kb/manage", query_string={"q": payload}, headers=HX)
    portal.read("agent_l1", "/kb/reports/searches")
    portal.store("agent_l1", "/kb/preview", {"body": payload}, [])

    assert not portal.refused, f"the portal refused a plausible submission: {portal.refused}"
    assert not portal.problems, "\n".join(portal.problems)


def test_the_checker_finds_what_the_payloads_try():
    """Every payload, pasted raw into a page, is caught: the suite cannot pass by looking away."""
    blind = [
        name
        for name, payload in PAYLOADS.items()
        if not name.startswith(("csv", "template", "double-quote", "single-quote", "markdown", "id "))
        and not markup_problems(f"<html><body><main>{payload}</main></body></html>")
    ]
    assert not blind, f"the HTML checker does not see these payloads: {blind}"
    clobbered = f'<html><body><section id="conversation"></section><main>{PAYLOADS["id clobbering"]}</main>'
    assert markup_problems(clobbered.replace("## Timeline", ""))
    attribute = '<input value="{}">'
    assert markup_problems(attribute.format(PAYLOADS["double-quote breakout"]))
    assert markup_problems(attribute.replace('"', "'").format(PAYLOADS["single-quote breakout"]))
    formula = PAYLOADS["csv formula"].replace('"', '""')
    assert csv_problems(f'name\n"{formula}"\n') and not csv_problems("name\n'=HYPERLINK(xss)\n")
