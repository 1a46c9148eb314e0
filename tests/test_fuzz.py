"""A bad-input run over every route: hostile values (NUL and control characters, lone surrogates,
invalid UTF-8, bidi overrides, zero-width characters, values over every limit, huge and odd
numbers, empty values, repeated and unknown keys, hostile path arguments) in every query-string
parameter and form field, as every role, with real rows behind the ids; and hostile JSON documents,
validly signed, to the Zendesk webhook. No answer may be a server error."""

from __future__ import annotations

import copy
import json
import re
from itertools import count

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.core.extensions import db
from portal.integrations.zendesk import sign_webhook
from portal.tickets.models import Ticket
from tests.hostile_routes import (
    PARAMS,
    hostile_path_values,
    hostile_requests,
    module_of,
    names_read_in_code,
    path_arguments,
)
from tests.hostile_values import BATTERY, FEWER, NUMBER_BATTERY, PROFILE, RAW_JSON_BODIES, UNKNOWN_KEYS, json_values
from tests.hostile_world import Caller, build_world, hostile_app, route_cases  # noqa: F401 (fixture)
from tests.test_permissions import ROLES
from tests.test_zendesk_webhook import SECRET, URL, comment_event, stamp, status_event

WEBHOOK = ("zendesk_webhook.zendesk_webhook", "POST")
DISCOVERY = "reading its forms"
NUMBER = re.compile(rb"-?\d+(\.\d+)?")


@pytest.fixture(scope="module")
def caller(hostile_app):
    return Caller(hostile_app, build_world())


@pytest.fixture(scope="module")
def cases(hostile_app, caller):
    return route_cases(hostile_app, caller)


def server_errors(failures) -> str:
    return f"{len(failures)} responses >= 500:\n" + "\n".join(str(failure) for failure in failures)


def test_every_route_has_a_parameter_list(cases):
    missing = set(cases) - set(PARAMS)
    assert not missing, f"add these routes and the parameters they read to hostile_routes.PARAMS: {sorted(missing)}"
    stale = set(PARAMS) - set(cases)
    assert not stale, f"hostile_routes.PARAMS names routes that no longer exist: {sorted(stale)}"


def test_parameter_lists_name_everything_the_code_reads(hostile_app):
    listed: dict[str, set[str]] = {}
    for (endpoint, _method), params in PARAMS.items():
        listed.setdefault(module_of(hostile_app, endpoint), set()).update(params.query, params.form)
    missing = []
    for module, names in names_read_in_code().items():
        for name in names:
            pattern = re.compile(re.sub(r"\\\{[^}]*\\\}", r"\\d+", re.escape(name)))
            if not any(pattern.fullmatch(known) for known in listed.get(module, ())):
                missing.append(f"{module}: {name}")
    assert not missing, f"the code reads parameters missing from hostile_routes.PARAMS: {missing}"


def test_every_page_as_every_role_without_server_error(caller, cases):
    failures = [failure for failure in caller.failures if failure.tries == DISCOVERY]
    assert not failures, server_errors(failures)


def _guarded(response) -> bool:
    """The role may not use the route: refused before any parameter is read."""
    if response is None:
        return False
    location = response.headers.get("Location", "").split("?", 1)[0]
    return response.status_code in (401, 403) or (response.status_code == 302 and location.endswith("/login"))


def fuzz(caller: Caller, case, role: str, first_with_access: bool) -> bool:
    """Send `case` hostile requests as `role`; True when the role may use the route.

    The first role that may use it gets every battery value in every parameter one at a time (the
    others plausible; odd numbers too where a number is expected), the unknown keys and hostile path
    arguments; other roles get the first battery values in all parameters at once; every role that
    may use it gets Hypothesis's examples too. A role that may not gets NUL everywhere once."""
    world = caller.world
    real = world.path_values(case.method, case.rule)
    places = case.places
    if _guarded(caller.send(case, role, case.request(world, path=real))):
        caller.send(
            case,
            role,
            case.request(
                world,
                dict.fromkeys(places, BATTERY[0]),
                UNKNOWN_KEYS,
                path=real,
                tries="NUL in every parameter, unknown keys",
            ),
        )
        return False
    if first_with_access:
        query, form = case.plausible(world)
        plausible = {
            **{("query", name): value for name, value in query.items()},
            **{("form", name): value for name, value in form.items()},
        }
        for place in places:
            numeric = NUMBER.fullmatch(plausible.get(place, b""))
            for value in BATTERY + (NUMBER_BATTERY if numeric else []):
                caller.send(
                    case,
                    role,
                    case.request(world, {place: value}, path=real, tries=f"{place[0]}:{place[1]}={value[:40]!r}"),
                )
        caller.send(
            case,
            role,
            case.request(
                world,
                extra=UNKNOWN_KEYS,
                path=real,
                headers={"Host": "evil.example"},
                tries="unknown keys, forged Host",
            ),
        )
        for name, (converter, choices) in path_arguments(case.rule).items():
            for value in hostile_path_values(converter, choices):
                caller.send(
                    case, role, case.request(world, path={**real, name: value}, tries=f"path {name}={value[:40]!r}")
                )
    else:
        for value in BATTERY[:3]:
            caller.send(
                case,
                role,
                case.request(
                    world,
                    dict.fromkeys(places, value),
                    UNKNOWN_KEYS,
                    path=real,
                    tries=f"every parameter={value[:40]!r}, unknown keys",
                ),
            )

    @(PROFILE if first_with_access else FEWER)
    @given(hostile_requests(case, world, real))
    def explore(request):
        caller.send(case, role, request)

    explore()
    return True


@pytest.mark.parametrize("endpoint,method", sorted(key for key in PARAMS if key != WEBHOOK))
def test_no_server_error_for_hostile_input(caller, cases, endpoint, method):
    case = cases[(endpoint, method)]
    before = len(caller.failures)
    first_with_access = True
    for role in ROLES:
        if fuzz(caller, case, role, first_with_access):
            first_with_access = False
    failures = caller.failures[before:]
    assert not failures, server_errors(failures)


# The Zendesk webhook -----------------------------------------------------------------------------

_event_ids = count(1)


def send_signed(caller: Caller, body: bytes, tries: str):
    timestamp = stamp()
    headers = {
        "X-Zendesk-Webhook-Signature": sign_webhook(SECRET, timestamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        "Content-Type": "application/json",
    }
    return caller.open("anonymous", URL, {"method": "POST", "data": body, "headers": headers}, "POST", URL, tries)


def leaf_paths(document, prefix=()):
    """Every key path of a JSON object, containers included."""
    for key, value in document.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from leaf_paths(value, (*prefix, key))


def replaced(document, path, value, delete=False):
    changed = copy.deepcopy(document)
    if path[-1:] != ("id",) or len(path) > 1:
        changed["id"] = f"evt-hostile-{next(_event_ids)}"
    target = changed
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


def dumped(document) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")


FIELD_VALUES = [
    None,
    [],
    {},
    [1, 2],
    "",
    "x",
    "a\x00b",
    "\ud800",
    1.5,
    0,
    -1,
    10**30,
    2**63,
    "99999999999999999999",
    True,
    "EDY-000001",
]


@pytest.fixture(scope="module")
def events(caller):
    ticket = db.session.get(Ticket, caller.world.ids["ticket"])
    made = [status_event(ticket), comment_event(ticket, "Webhook comment", comment_id=9001)]
    db.session.commit()
    return made


def test_webhook_hostile_fields_never_a_server_error(caller, events):
    before = len(caller.failures)
    for event in events:
        for path in leaf_paths(event):
            send_signed(caller, dumped(replaced(event, path, None, delete=True)), f"{event['type']}: without {path}")
            for value in FIELD_VALUES:
                send_signed(caller, dumped(replaced(event, path, value)), f"{event['type']}: {path}={value!r:.40}")
    failures = caller.failures[before:]
    assert not failures, server_errors(failures)


def test_webhook_hostile_documents_never_a_server_error(caller, events):
    before = len(caller.failures)
    for body in RAW_JSON_BODIES:
        send_signed(caller, body, f"body {body[:40]!r} ({len(body)} bytes)")
    for event in events:
        text = dumped(event)
        send_signed(caller, text.replace(b"Webhook comment", b"\xff\xfe bad utf8"), "invalid UTF-8 in a string")
        send_signed(caller, text.replace(b"Webhook comment", b"nul \\u0000 escaped"), "escaped NUL in a string")

    @PROFILE
    @given(st.sampled_from(events), st.data())
    def explore(event, data):
        path = data.draw(st.sampled_from(list(leaf_paths(event))))
        value = data.draw(json_values)
        send_signed(caller, dumped(replaced(event, path, value)), f"{event['type']}: {path}={value!r:.60}")

    explore()
    failures = caller.failures[before:]
    assert not failures, server_errors(failures)
