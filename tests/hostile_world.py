"""A portal with real data behind every route (users of every role, organizations, tickets, articles
with revisions, enough rows for second pages), built once per test module, and a caller that
sends raw requests as any role and keeps, for every server error, the exception the portal logged."""

from __future__ import annotations

import json
import logging
import os
import random
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update
from werkzeug.exceptions import HTTPException

from auth import services as auth_services
from auth.models import User
from auth.tokens import LinkPurpose, make_token
from kb import services as kb_services
from kb.models import Article
from portal import create_app
from portal.core.extensions import db
from portal.tickets import intake
from portal.tickets.models import Ticket
from tests.conftest import config_for_tests, file_report, login, serving
from tests.hostile_html import forms_of
from tests.hostile_routes import (
    PARAMS,
    PASSWORD,
    ROOT,
    HostileRequest,
    Params,
    RouteCase,
    build_path,
    encode_pairs,
    path_arguments,
)
from tests.test_permissions import (
    ROLES,
    first_attachment,
    first_sla_row,
    partners_article,
    sample_arrival,
    sample_ticket,
)
from tests.test_zendesk_webhook import SECRET

PAGE_ROWS = 26  # one more than a list page holds
SESSION_ENDPOINTS = {"auth.login", "auth.logout", "auth.change_password"}
AGENT_LEVEL = {"agent_l1": ("assigned_l1", 1), "agent_l2": ("assigned_l2", 2)}
# The status the work ticket is put in before each call of a ticket action, so the action is possible.
WORK_STATES = {
    "staff.assign": ("new", 1, None),
    "staff.bulk_assign": ("new", 1, None),
    "staff.notify": ("resolved_by_agent", 1, "agent_l1"),
    "staff.reassign": ("cannot_resolve", 1, "agent_l1"),
    "staff.escalate": ("cannot_resolve", 2, "agent_l2"),
    "staff.decision": ("escalated_l3", 3, None),
    "staff.result": ("external_provider", 3, None),
    "tickets.confirm": ("awaiting_confirmation", 1, "agent_l1"),
}
AGENT_ACTIONS = {"staff.report", "staff.resolve", "staff.kb_draft", "staff.cannot_resolve"}


@pytest.fixture(scope="module")
def hostile_app(database_url, tmp_path_factory):
    """The application for a whole module of hostile tests (its data is built once)."""
    application = create_app(
        config_for_tests(database_url, tmp_path_factory.mktemp("hostile"), ZENDESK_WEBHOOK_SECRET=SECRET)
    )
    # Thousands of requests from one client: the limits stay on (their key functions see every
    # hostile value) but high enough that a 429 never hides the code behind them.
    for key, value in list(application.config.items()):
        if "LIMIT" in key and isinstance(value, str) and " per " in value:
            application.config[key] = "100000 per minute"
    with serving(application):
        yield application


@dataclass
class World:
    """Ids of the data behind the routes (`ids` fills the placeholders of the parameter table)."""

    ids: dict
    emails: dict[str, str]
    slug: str

    def latest_revision(self) -> int:
        number = db.session.scalar(select(Article.latest_revision_number).where(Article.id == self.ids["article_id"]))
        db.session.commit()  # SQLite: an open read transaction here would make the next request wait for a lock
        return number

    def path_values(self, method: str, rule: str) -> dict[str, str]:
        """Real values for the route's arguments: rows that exist and that this route acts on."""
        ticket = self.ids["work_ticket"] if method == "POST" else self.ids["ticket"]
        known = {
            "ticket_id": ticket,
            "organization_id": self.ids["organization"],
            "user_id": self.ids["target_user"],
            "message_id": self.ids["message"],
            "row_id": self.ids["sla_row"],
            "arrival_id": self.ids["arrival"],
            "attachment_id": self.ids["attachment"],
            "number": 1,
            "slug": self.slug,
            "language": "es",
            "form_kind": "technical",
            "field_name": "subject",
            "name": "backlog",
            "category": "playback",
            "action": "retry",
        }
        if "token" in path_arguments(rule):
            known["token"] = self.link_token(rule)
        return {name: str(known[name]) for name in path_arguments(rule)}

    def link_token(self, rule: str) -> str:
        """A valid reset or invitation token of the target user (a fresh one: a used link is void)."""
        purpose = LinkPurpose.INVITATION if rule.startswith("/invitation/") else LinkPurpose.PASSWORD_RESET
        return make_token(db.session.get(User, self.ids["target_user"]), purpose)

    def prepare(self, endpoint: str, method: str, rule: str, role: str) -> None:
        """Put the work ticket where `endpoint` can act on it for `role`."""
        if method != "POST" or ("ticket_id" not in path_arguments(rule) and endpoint != "staff.bulk_assign"):
            return
        if endpoint in AGENT_ACTIONS and role in AGENT_LEVEL:
            status, tier, assignee = *AGENT_LEVEL[role], role
        elif endpoint in AGENT_ACTIONS and role == "vp":
            status, tier, assignee = "escalated_l3", 3, None
        else:
            status, tier, assignee = WORK_STATES.get(endpoint, ("new", 1, None))
        db.session.execute(
            update(Ticket)
            .where(Ticket.id == self.ids["work_ticket"])
            .values(status=status, tier=tier, assignee_id=self.ids[assignee] if assignee else None)
        )
        db.session.commit()

    def restore_password(self, role: str) -> None:
        db.session.execute(
            update(User)
            .where(User.email == self.emails[role])
            .values(password_hash=auth_services.hash_password(PASSWORD), must_change_password=False)
        )
        db.session.commit()


def technical_ticket(owner: User, subject: str, description: str = "Every episode stops after ten seconds.") -> Ticket:
    """A technical ticket of `owner` with the fewest details the form takes."""
    return intake.create_ticket(
        owner, "technical", subject, description, {"service": "app", "region": "MX", "impact": "some"}
    )


def build_world() -> World:
    """Users of every role, two organizations, tickets (enough for second pages of every queue), an
    article with two revisions, public articles for a second search page, a dead outbox message."""
    serial = iter(range(1, 10_000))

    def make_user(role="partner", email=None, organization=None, name=None):
        number = next(serial)
        if role == "partner" and organization is None:
            organization = auth_services.find_or_create_organization(None, "Org A")
        user, _ = auth_services.create_user(
            None,
            email or f"{role}{number}@hostile.test",
            name or f"Hostile {number}",
            role,
            organization if role == "partner" else None,
            "es",
            password=PASSWORD,
        )
        return user

    # The targets of the administrator's actions come first: a hostile id such as "0001" names them.
    target_organization = auth_services.create_organization(None, "Target Org")
    target = make_user("partner", "target@hostile.test", target_organization, "Target User")
    ticket, message = sample_ticket(make_user)
    ticket.zendesk_id, message.state = 35436, "dead"
    callers = {role: make_user(role, email=f"{role}@hostile.test") for role in ROLES[1:]}
    make_user("partner", "login@hostile.test")
    article = partners_article()
    kb_services.save_revision(
        callers["agent_l1"],
        article,
        1,
        kb_services.ArticleText(
            "Solo partners", "Texto **útil** y más.", "playback", ["x"], "partners", note="segunda", publish=True
        ),
    )
    for number in range(11):
        kb_services.create_article(
            None,
            "es",
            f"roku-{number}",
            kb_services.ArticleText(
                f"Roku guía {number}", f"Roku paso {number}.", "playback", ["roku"], "public", note="n", publish=True
            ),
        )
    for number in range(PAGE_ROWS):
        auth_services.create_organization(None, f"Org {number:02d}")
    owner = ticket.requester
    tickets = [technical_ticket(owner, f"Playback fails {n}") for n in range(3 * PAGE_ROWS)]
    queues = [("assigned_l1", 1, callers["agent_l1"].id), ("escalated_l3", 3, None)]
    for (status, tier, assignee), chunk in zip(
        queues, (tickets[:PAGE_ROWS], tickets[PAGE_ROWS : 2 * PAGE_ROWS]), strict=False
    ):
        db.session.execute(
            update(Ticket)
            .where(Ticket.id.in_([t.id for t in chunk]))
            .values(status=status, tier=tier, assignee_id=assignee)
        )
    work = technical_ticket(owner, "Work ticket", "The ticket the staff actions act on.")
    for role, (status, tier) in AGENT_LEVEL.items():  # agents report before they resolve or give up
        work.status, work.tier, work.assignee_id = status, tier, callers[role].id
        db.session.commit()
        file_report(callers[role], work)
    work.status, work.tier, work.assignee_id = "new", 1, None
    db.session.commit()
    hits, token = intake.suggest(callers["partner"], "roku guía", None)
    ids = {
        "organization": target_organization.id,
        "partner_organization": owner.organization_id,
        "target_user": target.id,
        "login_email": "login@hostile.test",
        "deflection_token": token,
        "article_id": article.id,
        "suggested_article": hits[0].article_id,
        "work_ticket": work.id,
        "ticket": ticket.id,
        "message": message.id,
        "sla_row": first_sla_row(),
        "arrival": sample_arrival(),
        "attachment": first_attachment(),
        **{role: user.id for role, user in callers.items()},
    }
    return World(ids, {role: user.email for role, user in callers.items()}, article.slug)


# Calling ------------------------------------------------------------------------------------------


class ExceptionLog(logging.Handler):
    """Keeps the log records that carry an exception."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        if record.exc_info:
            self.records.append(record)


def exception_line(exc_info) -> str:
    """`Type: first line of the message at file:line` (the innermost frame of the portal's code)."""
    kind, value, trace = exc_info
    frames = [
        frame
        for frame in traceback.extract_tb(trace)
        if frame.filename.startswith(str(ROOT)) and "/.venv/" not in frame.filename and "/tests/" not in frame.filename
    ]
    where = f" at {Path(frames[-1].filename).relative_to(ROOT)}:{frames[-1].lineno}" if frames else ""
    message = (str(value).strip().splitlines() or [""])[0]
    return f"{kind.__name__}: {message[:200]}{where}"


@dataclass
class Failure:
    status: int
    method: str
    rule: str
    role: str
    tries: str
    exception: str

    def __str__(self):
        return f"{self.status} {self.method} {self.rule} as {self.role}: {self.tries} -> {self.exception}"


@dataclass
class Caller:
    """Sends requests as any role (signing in again when a route ended the session) and records
    every answer of 500 or more with the exception behind it."""

    app: object
    world: World
    clients: dict = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    log: ExceptionLog = field(default_factory=ExceptionLog)

    def __post_init__(self):
        self.app.logger.addHandler(self.log)

    def client(self, role: str):
        if role not in self.clients:
            client = self.app.test_client()
            if role != "anonymous":
                response = login(client, self.world.emails[role])
                assert response.status_code == 302, f"{role} cannot sign in: {response.status_code}"
            self.clients[role] = client
        return self.clients[role]

    def send(self, case: RouteCase, role: str, request: HostileRequest):
        """The response (None when the portal raised instead of answering)."""
        self.world.prepare(case.endpoint, case.method, case.rule, role)
        url = build_path(case.rule, request.path)
        if request.query:
            url += "?" + encode_pairs(request.query)
        options = {"method": case.method, "headers": request.headers}
        if request.form is not None:
            options.update(data=encode_pairs(request.form), content_type="application/x-www-form-urlencoded")
        response = self.open(role, url, options, case.method, case.rule, request.tries)
        if case.endpoint in SESSION_ENDPOINTS:
            self.clients.pop(role, None)
            if role != "anonymous":
                self.world.restore_password(role)
        return response

    def open(self, role, url, options, method, rule, tries):
        self.log.records.clear()
        # Hypothesis seeds the global `random` identically for every example; Whoosh names its
        # segments with it, and equal names make the index refuse the next commit.
        random.seed()
        try:
            response = self.client(role).open(url, **options)
        except Exception as error:  # a server would have answered 500
            self.record(500, method, rule, role, tries, exception_line((type(error), error, error.__traceback__)))
            return None
        if response.status_code >= 500:
            logged = self.log.records[-1].exc_info if self.log.records else None
            self.record(
                response.status_code,
                method,
                rule,
                role,
                tries,
                exception_line(logged) if logged else "(nothing logged)",
            )
        return response

    def record(self, *details) -> None:
        failure = Failure(*details)
        self.failures.append(failure)
        report = os.environ.get("HOSTILE_REPORT")  # a file collecting every failure of a run, as JSON lines
        if report:
            with open(report, "a", encoding="utf-8") as stream:
                stream.write(json.dumps(failure.__dict__) + "\n")


def route_cases(app, caller: Caller) -> dict[tuple[str, str], RouteCase]:
    """Every (endpoint, method) with its parameters: the table's, and the fields of the forms that
    the route's pages offer to any role (found by reading every GET page as every role)."""
    adapter = app.url_map.bind("localhost")
    rules = {}
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if rule.endpoint != "static":
                rules[(rule.endpoint, method)] = rule.rule
    discovered: dict[tuple[str, str], dict[str, str]] = {}
    for (_endpoint, method), rule in rules.items():
        if method != "GET":
            continue
        path = build_path(rule, caller.world.path_values(method, rule))
        for role in ROLES:
            response = caller.open(role, path, {"method": "GET"}, method, rule, "reading its forms")
            if response is None or response.mimetype != "text/html":
                continue
            for form in forms_of(response.get_data(as_text=True)):
                try:
                    found, _arguments = adapter.match(urlsplit(form.action or path).path, method=form.method)
                except HTTPException:
                    continue
                fields = discovered.setdefault((found, form.method), {})
                for name, value in form.fields.items():
                    if name != "csrf_token":
                        fields.setdefault(name, value)
    return {
        key: RouteCase(key[0], key[1], rule, PARAMS.get(key, Params()), discovered.get(key, {}))
        for key, rule in rules.items()
    }
