"""What every route of the portal reads: its path arguments, its query-string parameters and form
fields (with a plausible value for each, so that a hostile value in one of them reaches the code
behind the others), and the requests built from them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from urllib.parse import quote, quote_from_bytes

from hypothesis import strategies as st

from tests.conftest import TECHNICAL
from tests.hostile_values import UNKNOWN_KEYS, hostile_values

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase for 2031"
ROOT = Path(__file__).resolve().parent.parent
ROUTE_MODULES = [
    "portal/home.py",
    "auth/routes.py",
    "portal/people/routes.py",
    "kb/routes.py",
    "kb/category_routes.py",
    "portal/tickets/routes.py",
    "admin/routes.py",
    "admin/mail.py",
    "admin/workflow/queues.py",
    "admin/workflow/workspace.py",
    "admin/workflow/reports.py",
    "admin/workflow/kb_followup.py",
    "admin/workflow/unmatched.py",
]

_serial = count(1)


def unique(template: str):
    """A value that is new on every request (so that a creation does not fail as a duplicate)."""
    return lambda world: template.format(next(_serial))


@dataclass(frozen=True)
class Params:
    """The query-string parameters and form fields a route reads, with plausible values; a value is
    a string (formatted with the world's ids) or a function of the world."""

    query: dict = field(default_factory=dict)
    form: dict = field(default_factory=dict)


def get(**query) -> Params:
    return Params(query=query)


def post(query=None, **form) -> Params:
    return Params(query=query or {}, form=form)


TICKET_FIELDS = {
    **{name: TECHNICAL[name] for name in TECHNICAL},
    "topic": "Campaign for the summer",
    "desired_date": "2031-01-15",
    "deflection_token": "",
}
ARTICLE_FIELDS = {
    "title": "Guía de Roku",
    "body": "Pasos para **Roku**.",
    "category": "playback",
    "tags": "roku, guía",
    "visibility": "partners",
    "note": "cambio",
}
WEEK = {**{f"open_{day}": "09:00" for day in range(7)}, **{f"close_{day}": "18:00" for day in range(7)}}
USER_FILTERS = {
    "q": "hostile",
    "role": "partner",
    "organization_id": "{partner_organization}",
    "active": "1",
    "page": "2",
}

# Every (endpoint, method) of the application: a new route without a row fails test_fuzz.
PARAMS: dict[tuple[str, str], Params] = {
    ("home.index", "GET"): get(),
    ("home.healthz", "GET"): get(),
    ("home.set_language", "POST"): post(language="en", next="/kb/"),
    ("kb.index", "GET"): get(),
    ("kb.category", "GET"): get(),
    ("kb.search_page", "GET"): get(q="roku", lang="all", category="playback", page="2"),
    ("kb.article", "GET"): get(),
    ("kb.feedback", "POST"): post(helpful="no", comment="Faltan pasos."),
    ("kb.new_article", "GET"): get(language="en"),
    ("kb.new_article", "POST"): post(
        {"language": "es"},
        **ARTICLE_FIELDS,
        base_revision="",
        action="publish",
        language="es",
        slug=unique("nueva-{}"),
        translation_id="0",
    ),
    ("kb.edit_article", "GET"): get(),
    ("kb.edit_article", "POST"): post(
        **ARTICLE_FIELDS, action="publish", base_revision=lambda world: str(world.latest_revision())
    ),
    ("kb.preview", "POST"): post(body="# Hola\n\nTexto con [enlace](/kb/)."),
    ("kb.history", "GET"): get(),
    ("kb.diff", "GET"): get(**{"from": "1", "to": "2"}),
    ("kb.restore", "POST"): post(note="vuelta atrás"),
    ("kb.archive", "POST"): post(archived="0"),
    ("kb.manage", "GET"): get(status="published", language="es", q="guía", page="2"),
    ("kb.search_report", "GET"): get(days="30"),
    ("kb.categories_page", "GET"): get(),
    ("kb.create_category", "POST"): post(
        key=unique("nueva-{}"),
        label_es="Disputas de facturación",
        label_en="Billing disputes",
        description_es="Facturas y cobros.",
        description_en="Invoices and charges.",
    ),
    ("kb.edit_category", "GET"): get(),
    ("kb.edit_category", "POST"): post(
        label_es="Reproducción", label_en="Playback", description_es="Vídeo.", description_en="Video."
    ),
    ("kb.move_category", "POST"): post(direction="down"),
    ("kb.archive_category", "POST"): post(archived="0"),
    ("auth.login", "GET"): get(next="/tickets/"),
    ("auth.login", "POST"): post(
        {"next": "/tickets/"}, email="{login_email}", password=PASSWORD, remember="y", next="/tickets/"
    ),
    ("auth.logout", "POST"): post(),
    ("people.forgot_password", "GET"): get(),
    ("people.forgot_password", "POST"): post(email="{login_email}"),
    ("people.reset_password", "GET"): get(),
    ("people.reset_password", "POST"): post(new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD),
    ("people.accept_invitation", "GET"): get(),
    ("people.accept_invitation", "POST"): post(new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD),
    ("auth.change_password", "GET"): get(),
    ("auth.change_password", "POST"): post(
        current_password=PASSWORD, new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD
    ),
    ("auth.optional_emails", "POST"): post(optional_emails="y"),
    ("admin.index", "GET"): get(),
    ("admin.organizations", "GET"): get(q="org", page="2"),
    ("admin.create_organization", "POST"): post(
        {"q": "org", "page": "2"}, name=unique("Org hostil {}"), zendesk_organization_id="901", active="y"
    ),
    ("admin.edit_organization", "GET"): get(),
    ("admin.edit_organization", "POST"): post(name="Target Org", zendesk_organization_id="77", active="y"),
    # The contract form's fields (hours_<matrix row id>) are found on the organization's edit page.
    ("admin.update_organization_contract", "POST"): post(),
    ("admin.set_organization_active", "POST"): post(active="1"),
    ("admin.users", "GET"): get(**USER_FILTERS),
    ("admin.create_user", "POST"): post(
        USER_FILTERS,
        name="Nuevo Usuario",
        email=unique("new{}@hostile.test"),
        role="partner",
        organization_id="{partner_organization}",
        language="es",
    ),
    ("admin.edit_user", "GET"): get(),
    ("admin.edit_user", "POST"): post(
        name="Target User", email="target@hostile.test", role="partner", organization_id="{organization}", language="es"
    ),
    ("admin.set_user_active", "POST"): post(active="1"),
    ("admin.reset_password", "POST"): post(),
    ("admin.audit_log", "GET"): get(action="user.created", target_type="user", page="2"),
    ("admin.integrations", "GET"): get(),
    ("admin.dead_letter_action", "POST"): post(),
    ("admin.emails", "GET"): get(page="2"),
    ("admin.email", "GET"): get(),
    ("admin.email_html", "GET"): get(),
    ("tickets.index", "GET"): get(status="open", q="playback", page="2"),
    ("tickets.choose_form", "GET"): get(),
    ("tickets.new_ticket", "GET"): get(),
    ("tickets.new_ticket", "POST"): post(**TICKET_FIELDS),
    ("tickets.check_field", "POST"): post(**TICKET_FIELDS),
    ("tickets.suggestions", "GET"): get(
        subject="Roku playback", description="stops after ten seconds", deflection_token="{deflection_token}"
    ),
    ("tickets.deflect", "POST"): post(deflection_token="{deflection_token}", article_id="{suggested_article}"),
    ("tickets.created", "GET"): get(),
    ("tickets.detail", "GET"): get(),
    ("tickets.attachment", "GET"): get(),
    ("tickets.thumbnail", "GET"): get(),
    ("tickets.comment", "POST"): post(body="Sigue fallando."),
    ("tickets.confirm", "POST"): post(answer="no", reason="Sigue fallando en Roku."),
    # Its body is JSON, signed: test_fuzz.test_webhook_* send hostile documents.
    ("zendesk_webhook.zendesk_webhook", "POST"): post(),
    ("staff.triage", "GET"): get(
        request_type="technical",
        organization_id="{partner_organization}",
        tier="1",
        status="new",
        assignee_id="{agent_l1}",
        order="oldest",
        page="2",
    ),
    ("staff.metrics_dashboard", "GET"): get(days="90", organization_id="{partner_organization}"),
    ("staff.kb_followup", "GET"): get(page="2"),
    ("staff.unmatched", "GET"): get(page="2"),
    ("staff.link_unmatched", "POST"): post(organization_id="{partner_organization}"),
    ("staff.ignore_unmatched", "POST"): post(),
    ("staff.metrics_csv", "GET"): get(days="90", organization_id="{partner_organization}"),
    ("tickets.contacts", "GET"): get(),
    ("admin.sla_settings", "GET"): get(),
    ("admin.update_sla_row", "POST"): post(
        target_kind="business_hours",
        warn_hours="3",
        due_hours="4",
        area="Soporte",
        contact_name="Ana",
        contact_role="Admin",
        contact_email="ana@edye.test",
        contact_phone="+1 555 0100",
        channel="email",
    ),
    ("admin.update_calendar", "POST"): post(**WEEK, holidays="2031-12-24 Nochebuena", us_federal="y"),
    ("staff.my_work", "GET"): get(page="2"),
    ("staff.business_area", "GET"): get(page="2"),
    ("staff.level_three", "GET"): get(page="2"),
    ("staff.workspace", "GET"): get(),
    ("staff.audit_csv", "GET"): get(),
    ("staff.posted_reports", "GET"): get(page="2"),
    ("staff.bulk_assign", "POST"): post(
        ticket_ids="{work_ticket}", request_type="technical", priority="normal", agent_id="{agent_l1}"
    ),
    ("staff.note", "POST"): post(body="Nota interna."),
    ("staff.reply", "POST"): post(body="Respuesta pública."),
    ("staff.assign", "POST"): post(request_type="technical", priority="high", agent_id="{agent_l1}"),
    ("staff.report", "POST"): post(
        actions_taken="Reproducido",
        minutes_spent="25",
        relevant_information="403",
        next_step="CDN",
        visibility="partner",
    ),
    ("staff.resolve", "POST"): post(summary="Reinstalado", kb_article_id="", no_kb_reason="Ya documentado"),
    ("staff.kb_draft", "POST"): post(),
    ("staff.cannot_resolve", "POST"): post(reason="Necesita los registros."),
    ("staff.notify", "POST"): post(message="Resuelto."),
    ("staff.reassign", "POST"): post(agent_id="{agent_l2}", channels="monday"),
    ("staff.escalate", "POST"): post(note="Regresión."),
    ("staff.decision", "POST"): post(
        priority="high",
        impact="Todos",
        resources="Equipo",
        decision="external_provider",
        provider_name="CDN",
        provider_contact="ops@cdn.example",
        provider_scope="Caché",
        measure="revert_version",
        measure_description="Volver a la versión 3.2.0.",
        notes="Notas",
    ),
    ("staff.result", "POST"): post(result="Caché purgada."),
}
# A hostile new password is also typed in the confirmation box, or the form stops at "they differ".
LINKED = {"new_password": "confirm_password"}

# Names the code reads from request.args / request.form (directly or through the routes' helpers).
_READ = re.compile(r"""(?:request\.(?:args|form)\.(?:get|getlist)|_form|_user)\(\s*f?["']([^"']+)["']""")
# Route modules that read their fields through the forms of another module: every field declared there.
FORMS_READ_BY = {"admin/workflow/workspace.py": "admin/workflow/forms.py"}
_DECLARED_FIELD = re.compile(r"^    (\w+) = (?:_text|_select|\w+Field)\(", re.MULTILINE)


def names_read_in_code() -> dict[str, set[str]]:
    """Route module → every parameter name its code reads by name (f-string parts as patterns), and
    the fields of the forms it reads through."""
    names = {module: set(_READ.findall((ROOT / module).read_text(encoding="utf-8"))) for module in ROUTE_MODULES}
    for module, forms in FORMS_READ_BY.items():
        names[module] |= set(_DECLARED_FIELD.findall((ROOT / forms).read_text(encoding="utf-8")))
    return names


def module_of(app, endpoint: str) -> str:
    view = app.view_functions[endpoint]
    while hasattr(view, "__wrapped__"):
        view = view.__wrapped__
    return str(Path(view.__code__.co_filename).resolve().relative_to(ROOT))


# Path arguments --------------------------------------------------------------------------------

_ARGUMENT = re.compile(r"<(?:([a-zA-Z_]+)(?:\(([^)]*)\))?:)?([a-zA-Z_]+)>")
# `<int:...>` and `any(...)` refuse anything else before a view runs, so a few values prove it.
HOSTILE_PATH = {
    "int": ["0", "99999999999999999999", "00000000000000000001"],
    "any": ["%00", "x" * 3000],
    "default": [
        "%00",
        "a%00b",
        "%FF%FE",
        "..%2F..%2Fadmin",
        "%E2%80%AEevil",
        "x" * 3000,
        "__class__",
        "meta",
        "data",
        "errors",
        "populate_obj",
        "%7B%7B7*7%7D%7D",
        "%20",
        "%C0%AF",
    ],
}


def path_arguments(rule: str) -> dict[str, tuple[str, list[str]]]:
    """Argument name → (converter, the values an `any(...)` converter allows)."""
    found = {}
    for converter, options, name in _ARGUMENT.findall(rule):
        choices = [option.strip().strip("'\"") for option in options.split(",")] if converter == "any" else []
        found[name] = (converter or "default", choices)
    return found


def hostile_path_values(converter: str, choices: list[str]) -> list[str]:
    return choices + HOSTILE_PATH.get(converter, HOSTILE_PATH["default"])


def build_path(rule: str, values: dict[str, str]) -> str:
    """The rule with each argument replaced by its value (quoted unless it is already a raw path piece)."""

    def replace(match):
        value = str(values[match.group(3)])
        return value if "%" in value else quote(value, safe="")

    return _ARGUMENT.sub(replace, rule)


# Requests -----------------------------------------------------------------------------------------


@dataclass
class HostileRequest:
    """One request: path values, query and form pairs as raw bytes, extra headers, and what it tries."""

    path: dict[str, str]
    query: list[tuple[bytes, bytes]]
    form: list[tuple[bytes, bytes]] | None
    headers: dict[str, str] = field(default_factory=dict)
    tries: str = "plausible values"


def encode_pairs(pairs) -> str:
    return "&".join(f"{quote_from_bytes(key, safe='')}={quote_from_bytes(value, safe='')}" for key, value in pairs)


def short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}…({len(value)} long)"


@dataclass
class RouteCase:
    """A route with everything needed to call it plausibly, and to call it with hostile values."""

    endpoint: str
    method: str
    rule: str
    params: Params
    discovered: dict[str, str]

    def _fields(self) -> tuple[dict, dict]:
        """(query, form) names with their values: those the route's forms offer, then the table's."""
        discovered = {name: value.encode() for name, value in self.discovered.items()}
        if self.method == "GET":
            return {**discovered, **self.params.query}, {}
        return dict(self.params.query), {**discovered, **self.params.form}

    @property
    def places(self) -> list[tuple[str, str]]:
        """(query|form, name) of every parameter the route reads."""
        query, form = self._fields()
        return [("query", name) for name in query] + [("form", name) for name in form]

    def plausible(self, world) -> tuple[dict[str, bytes], dict[str, bytes]]:
        """Values the route accepts, as bytes (the table's are formatted with the world's ids)."""

        def resolve(value):
            if isinstance(value, bytes):
                return value
            return (value(world) if callable(value) else value.format_map(world.ids)).encode()

        query, form = self._fields()
        return (
            {name: resolve(value) for name, value in query.items()},
            {name: resolve(value) for name, value in form.items()},
        )

    def request(
        self,
        world,
        hostile: dict[tuple[str, str], bytes] = (),
        extra=(),
        repeat=(),
        first=True,
        path=None,
        headers=None,
        tries="plausible values",
    ) -> HostileRequest:
        """Plausible values, with `hostile` ones in their places; `extra` pairs in both places;
        `repeat` places sent twice (the hostile value first, or second when `first` is False)."""
        query, form = self.plausible(world)
        places = {"query": query, "form": form}
        pairs = {"query": [], "form": []}
        hostile = dict(hostile)
        for (place, name), value in list(hostile.items()):
            if name in LINKED and (place, LINKED[name]) not in hostile:
                hostile[(place, LINKED[name])] = value
        for place, values in places.items():
            for name, value in values.items():
                chosen = hostile.get((place, name), value)
                if (place, name) in repeat:
                    twice = [(name.encode(), chosen), (name.encode(), value)]
                    pairs[place].extend(twice if first else twice[::-1])
                else:
                    pairs[place].append((name.encode(), chosen))
        for key, value in extra:
            pairs["query"].append((key, value))
            if self.method == "POST":
                pairs["form"].append((key, value))
        return HostileRequest(
            path or {}, pairs["query"], pairs["form"] if self.method == "POST" else None, headers or {}, tries
        )


@st.composite
def hostile_requests(draw, case: RouteCase, world, real_path: dict[str, str]):
    """A request with hostile values in a few parameters, maybe unknown or repeated keys, maybe a
    hostile path argument, as a page or an htmx fragment."""
    places = case.places
    chosen = draw(st.lists(st.sampled_from(places), min_size=1, max_size=3, unique=True)) if places else []
    hostile = {place: draw(hostile_values) for place in chosen}
    extra_names = [key for key, _value in UNKNOWN_KEYS] + [name.encode() for _place, name in places]
    extra = draw(
        st.lists(
            st.tuples(
                st.sampled_from(extra_names), hostile_values | st.sampled_from([value for _key, value in UNKNOWN_KEYS])
            ),
            max_size=2,
        )
    )
    repeat = draw(st.lists(st.sampled_from(chosen), max_size=1)) if chosen else []
    first = draw(st.booleans())
    path = dict(real_path)
    arguments = path_arguments(case.rule)
    if arguments and draw(st.integers(0, 3)) == 0:
        name = draw(st.sampled_from(sorted(arguments)))
        path[name] = draw(st.sampled_from(hostile_path_values(*arguments[name])))
    headers = {"HX-Request": "true"} if draw(st.booleans()) else {}
    tries = ", ".join(f"{place}:{name}={short(value)}" for (place, name), value in hostile.items())
    tries += "".join(f", extra {short(key)}={short(value)}" for key, value in extra)
    tries += f", repeated {repeat[0][1]}" if repeat else ""
    tries += "".join(f", path {name}={short(value)}" for name, value in path.items() if value != real_path[name])
    return case.request(world, hostile, extra, repeat, first, path, headers, tries.lstrip(", "))
