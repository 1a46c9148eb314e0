"""Every route × every role answers as the matrix says; every POST needs a CSRF token."""

from __future__ import annotations

import re

import pytest

from auth import services
from tests.conftest import login

ROLES = ("anonymous", "partner", "ticket_admin", "agent_l1", "agent_l2", "vp", "tech_team", "business")
STAFF = ("ticket_admin", "agent_l1", "agent_l2", "vp", "tech_team", "business")


def everyone(status):
    return dict.fromkeys(ROLES, status)


def signed_in(status, anonymous=302):
    return {"anonymous": anonymous, **dict.fromkeys(ROLES[1:], status)}


def staff_only(status):
    return {"anonymous": 302, "partner": 403, **dict.fromkeys(STAFF, status)}


def partner_only(status):
    return {"anonymous": 302, "partner": status, **dict.fromkeys(STAFF, 403)}


def admin_only(status):
    return {**staff_only(403), "ticket_admin": status}


# (endpoint, method) -> (url template, form data, expected status per role)
MATRIX = {
    ("home.index", "GET"): ("/", {}, everyone(200)),
    ("home.healthz", "GET"): ("/healthz", {}, everyone(200)),
    ("home.set_language", "POST"): ("/language", {"language": "en"}, everyone(302)),
    ("kb.index", "GET"): ("/kb/", {}, everyone(200)),
    ("kb.category", "GET"): ("/kb/category/playback", {}, everyone(200)),
    ("kb.search_page", "GET"): ("/kb/search?q=edy", {}, everyone(200)),
    ("kb.article", "GET"): ("/kb/es/{article}", {}, {**signed_in(200), "anonymous": 404}),
    ("kb.feedback", "POST"): ("/kb/es/{article}/feedback", {"helpful": "yes"}, signed_in(302)),
    ("kb.new_article", "GET"): ("/kb/new", {}, staff_only(200)),
    ("kb.new_article", "POST"): ("/kb/new", {}, staff_only(422)),
    ("kb.edit_article", "GET"): ("/kb/es/{article}/edit", {}, staff_only(200)),
    ("kb.edit_article", "POST"): ("/kb/es/{article}/edit", {"base_revision": "1"}, staff_only(422)),
    ("kb.preview", "POST"): ("/kb/preview", {"body": "# Hola"}, staff_only(200)),
    ("kb.history", "GET"): ("/kb/es/{article}/history", {}, staff_only(200)),
    ("kb.diff", "GET"): ("/kb/es/{article}/diff?from=1&to=1", {}, staff_only(200)),
    ("kb.restore", "POST"): ("/kb/es/{article}/restore/1", {}, staff_only(302)),
    ("kb.archive", "POST"): ("/kb/es/{article}/archive", {"archived": "0"}, staff_only(302)),
    ("kb.manage", "GET"): ("/kb/manage", {}, staff_only(200)),
    ("kb.search_report", "GET"): ("/kb/reports/searches", {}, staff_only(200)),
    ("kb.categories_page", "GET"): ("/kb/categories", {}, admin_only(200)),
    ("kb.create_category", "POST"): ("/kb/categories", {}, admin_only(422)),
    ("kb.edit_category", "GET"): ("/kb/categories/playback/edit", {}, admin_only(200)),
    ("kb.edit_category", "POST"): ("/kb/categories/playback/edit", {"label_es": ""}, admin_only(422)),
    ("kb.move_category", "POST"): ("/kb/categories/playback/move", {"direction": "down"}, admin_only(302)),
    ("kb.archive_category", "POST"): ("/kb/categories/playback/archive", {"archived": "0"}, admin_only(302)),
    ("auth.login", "GET"): ("/login", {}, {"anonymous": 200, **dict.fromkeys(ROLES[1:], 302)}),
    ("auth.login", "POST"): ("/login", {}, everyone(422)),
    ("auth.logout", "POST"): ("/logout", {}, everyone(302)),
    ("auth.change_password", "GET"): ("/account/password", {}, signed_in(200)),
    ("auth.change_password", "POST"): ("/account/password", {}, signed_in(422)),
    ("auth.optional_emails", "POST"): ("/account/emails", {"optional_emails": "y"}, signed_in(302)),
    ("people.forgot_password", "GET"): ("/password/forgot", {}, everyone(200)),
    ("people.forgot_password", "POST"): ("/password/forgot", {}, everyone(422)),
    # A link's page is anyone's who holds a valid link; without one, a clear 400.
    ("people.reset_password", "GET"): ("/password/reset/not-a-token", {}, everyone(400)),
    ("people.reset_password", "POST"): ("/password/reset/not-a-token", {}, everyone(400)),
    ("people.accept_invitation", "GET"): ("/invitation/not-a-token", {}, everyone(400)),
    ("people.accept_invitation", "POST"): ("/invitation/not-a-token", {}, everyone(400)),
    ("admin.index", "GET"): ("/admin/", {}, staff_only(200)),
    ("admin.organizations", "GET"): ("/admin/organizations", {}, admin_only(200)),
    ("admin.create_organization", "POST"): ("/admin/organizations", {}, admin_only(422)),
    ("admin.edit_organization", "GET"): ("/admin/organizations/{organization}/edit", {}, admin_only(200)),
    ("admin.edit_organization", "POST"): ("/admin/organizations/{organization}/edit", {"name": ""}, admin_only(422)),
    ("admin.update_organization_contract", "POST"): (
        "/admin/organizations/{organization}/contract",
        {},
        admin_only(302),
    ),
    ("admin.set_organization_active", "POST"): (
        "/admin/organizations/{organization}/active",
        {"active": "1"},
        admin_only(302),
    ),
    ("admin.users", "GET"): ("/admin/users", {}, admin_only(200)),
    ("admin.create_user", "POST"): ("/admin/users", {}, admin_only(422)),
    ("admin.edit_user", "GET"): ("/admin/users/{user}/edit", {}, admin_only(200)),
    ("admin.edit_user", "POST"): ("/admin/users/{user}/edit", {"name": ""}, admin_only(422)),
    ("admin.set_user_active", "POST"): ("/admin/users/{user}/active", {"active": "1"}, admin_only(302)),
    ("admin.reset_password", "POST"): ("/admin/users/{user}/password-reset", {}, admin_only(200)),
    ("admin.audit_log", "GET"): ("/admin/audit", {}, admin_only(200)),
    ("admin.integrations", "GET"): ("/admin/integrations", {}, admin_only(200)),
    ("admin.dead_letter_action", "POST"): ("/admin/integrations/messages/{message}/retry", {}, admin_only(409)),
    # {message} is the sample ticket's Zendesk message: not an e-mail, so not found even by the administrator.
    ("admin.emails", "GET"): ("/admin/mail", {}, admin_only(200)),
    ("admin.email", "GET"): ("/admin/mail/{message}", {}, admin_only(404)),
    ("admin.email_html", "GET"): ("/admin/mail/{message}/html", {}, admin_only(404)),
    ("tickets.index", "GET"): ("/tickets/", {}, signed_in(200)),
    ("tickets.choose_form", "GET"): ("/tickets/new", {}, partner_only(200)),
    ("tickets.new_ticket", "GET"): ("/tickets/new/technical", {}, partner_only(200)),
    ("tickets.new_ticket", "POST"): ("/tickets/new/marketing_business", {}, partner_only(422)),
    ("tickets.check_field", "POST"): ("/tickets/new/technical/check/subject", {"subject": "x"}, partner_only(200)),
    ("tickets.suggestions", "GET"): ("/tickets/suggestions?subject=roku", {}, partner_only(200)),
    ("tickets.deflect", "POST"): ("/tickets/deflect", {}, partner_only(422)),
    ("tickets.created", "GET"): ("/tickets/{ticket}/created", {}, signed_in(200)),
    ("tickets.detail", "GET"): ("/tickets/{ticket}", {}, signed_in(200)),
    ("tickets.attachment", "GET"): ("/tickets/{ticket}/files/{attachment}", {}, signed_in(200)),
    ("tickets.thumbnail", "GET"): ("/tickets/{ticket}/files/{attachment}/thumbnail", {}, signed_in(200)),
    # The sample ticket is assigned to nobody: only the administrator answers the partner (§6.1).
    ("tickets.comment", "POST"): (
        "/tickets/{ticket}/comments",
        {"body": "Hola"},
        {**staff_only(403), "partner": 302, "ticket_admin": 302},
    ),
    ("tickets.confirm", "POST"): ("/tickets/{ticket}/confirm", {"answer": "yes"}, partner_only(409)),
    ("zendesk_webhook.zendesk_webhook", "POST"): ("/integrations/zendesk/webhook", {}, everyone(401)),
    ("staff.triage", "GET"): ("/staff/triage", {}, admin_only(200)),
    ("staff.metrics_dashboard", "GET"): ("/staff/metrics", {}, staff_only(200)),
    ("staff.kb_followup", "GET"): ("/staff/kb-follow-up", {}, staff_only(200)),
    ("staff.unmatched", "GET"): ("/staff/unmatched", {}, admin_only(200)),
    ("staff.link_unmatched", "POST"): ("/staff/unmatched/{arrival}/link", {"organization_id": ""}, admin_only(422)),
    ("staff.ignore_unmatched", "POST"): ("/staff/unmatched/{arrival}/ignore", {}, admin_only(302)),
    ("staff.metrics_csv", "GET"): ("/staff/metrics/backlog.csv", {}, staff_only(200)),
    ("tickets.contacts", "GET"): ("/tickets/contacts", {}, signed_in(200)),
    ("admin.sla_settings", "GET"): ("/admin/sla", {}, admin_only(200)),
    ("admin.update_sla_row", "POST"): ("/admin/sla/rows/{sla_row}", {}, admin_only(422)),
    ("admin.update_calendar", "POST"): ("/admin/sla/calendar", {}, admin_only(422)),
    ("staff.my_work", "GET"): ("/staff/work", {}, {**staff_only(403), "agent_l1": 200, "agent_l2": 200}),
    ("staff.business_area", "GET"): ("/staff/business", {}, {**staff_only(403), "business": 200}),
    ("staff.level_three", "GET"): ("/staff/level3", {}, {**staff_only(403), "vp": 200, "tech_team": 200}),
    ("staff.workspace", "GET"): ("/staff/tickets/{ticket}", {}, staff_only(200)),
    ("staff.audit_csv", "GET"): ("/staff/audit.csv", {}, admin_only(200)),
    ("staff.posted_reports", "GET"): ("/staff/reports", {}, {**admin_only(200), "vp": 200}),
    ("staff.bulk_assign", "POST"): ("/staff/triage/bulk-assign", {}, admin_only(422)),
    ("staff.note", "POST"): ("/staff/tickets/{ticket}/note", {}, staff_only(422)),
    ("staff.reply", "POST"): ("/staff/tickets/{ticket}/reply", {}, {**staff_only(403), "ticket_admin": 422}),
    ("staff.assign", "POST"): ("/staff/tickets/{ticket}/assign", {}, admin_only(422)),
    ("staff.report", "POST"): ("/staff/tickets/{ticket}/reports", {}, {**staff_only(403), "vp": 409, "tech_team": 409}),
    ("staff.resolve", "POST"): ("/staff/tickets/{ticket}/resolve", {}, {**staff_only(403), "ticket_admin": 422}),
    ("staff.kb_draft", "POST"): ("/staff/tickets/{ticket}/kb-draft", {}, {**staff_only(403), "ticket_admin": 302}),
    ("staff.cannot_resolve", "POST"): ("/staff/tickets/{ticket}/cannot-resolve", {}, staff_only(403)),
    ("staff.notify", "POST"): ("/staff/tickets/{ticket}/notify", {}, admin_only(409)),
    ("staff.reassign", "POST"): ("/staff/tickets/{ticket}/reassign", {}, admin_only(409)),
    ("staff.escalate", "POST"): ("/staff/tickets/{ticket}/escalate", {}, admin_only(409)),
    ("staff.decision", "POST"): ("/staff/tickets/{ticket}/decision", {}, {**staff_only(403), "vp": 409}),
    ("staff.result", "POST"): (
        "/staff/tickets/{ticket}/result",
        {},
        {**admin_only(409), "vp": 409, "tech_team": 409},
    ),
}
CSRF_EXEMPT = {"zendesk_webhook.zendesk_webhook"}  # authenticated by Zendesk's signature instead


def partners_article():
    from kb import services as kb_services

    text = kb_services.ArticleText(
        "Solo partners", "Texto **útil**.", "playback", ["x"], "partners", note="primera", publish=True
    )
    return kb_services.create_article(None, "es", "acceso-partners", text)


def sample_ticket(make_user):
    """A ticket of "Org A" (the organization of the partner making the requests), with a picture
    attached, and its outbox message."""
    import io
    from pathlib import Path

    from sqlalchemy import select

    from portal.sla import services as sla

    sla.import_matrix(Path(__file__).resolve().parent.parent / "content" / "escalation_matrix.yaml")

    from portal.core.extensions import db
    from portal.integrations.models import OutboxMessage
    from portal.tickets import intake
    from portal.tickets.attachments import Upload
    from tests.conftest import BUSINESS_HOURS_MOMENT
    from tests.sample_files import png

    owner = make_user("partner", email="ticket-owner@example.test")
    ticket = intake.create_ticket(
        owner,
        "technical",
        "Playback fails",
        "Every episode stops after ten seconds.",
        {"service": "app", "region": "MX", "impact": "some"},
        files=[Upload("screenshot.png", io.BytesIO(png()))],
        now=BUSINESS_HOURS_MOMENT,  # in hours: no e-mail to an out-of-hours contact
    )
    return ticket, db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "create_ticket"))


def sample_arrival() -> int:
    """A ticket born in Zendesk whose requester nobody knows, waiting in the unmatched list."""
    from portal.core.extensions import db
    from portal.core.types import utcnow
    from portal.tickets.models import ZendeskArrival

    arrival = ZendeskArrival(zendesk_ticket_id=2**40, subject="s", zendesk_created_at=utcnow(), state="unmatched")
    db.session.add(arrival)
    db.session.commit()
    return arrival.id


def first_attachment() -> int:
    from sqlalchemy import select

    from portal.core.extensions import db
    from portal.tickets.attachments import Attachment

    return db.session.scalar(select(Attachment.id).order_by(Attachment.id))


def first_sla_row() -> int:
    from portal.sla import services as sla

    return sla.rows()[0].id


def application_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method


def test_every_route_is_in_the_matrix(app):
    missing = set(application_routes(app)) - set(MATRIX)
    assert not missing, f"add these routes to the authorization matrix: {sorted(missing)}"
    stale = set(MATRIX) - set(application_routes(app))
    assert not stale, f"the matrix names routes that no longer exist: {sorted(stale)}"


@pytest.mark.parametrize("role", ROLES)
def test_authorization_matrix(app, client, make_user, role):
    target_org = services.create_organization(None, "Target Org")
    target_user = make_user("partner", email="target@example.test", organization=target_org)
    article = partners_article()
    ticket, message = sample_ticket(make_user)
    arrival = sample_arrival()
    if role != "anonymous":
        user = make_user(role, email=f"{role}-caller@example.test")
        assert login(client, user.email).status_code == 302
    failures = []
    for (endpoint, method), (template, data, expected) in MATRIX.items():
        url = template.format(
            organization=target_org.id,
            user=target_user.id,
            article=article.slug,
            ticket=ticket.id,
            message=message.id,
            sla_row=first_sla_row(),
            arrival=arrival,
            attachment=first_attachment(),
        )
        response = client.open(url, method=method, data=data)
        if response.status_code != expected[role]:
            failures.append(f"{method} {url}: expected {expected[role]}, got {response.status_code}")
        if endpoint in ("auth.logout",) and role != "anonymous":
            login(client, f"{role}-caller@example.test")
    assert not failures, "\n".join(failures)


class TestCsrf:
    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    @staticmethod
    def token_from(client, url="/login"):
        body = client.get(url).get_data(as_text=True)
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', body).group(1)

    def post_routes(self, app):
        for endpoint, method in application_routes(app):
            if method == "POST":
                yield endpoint

    def test_every_post_route_refuses_a_missing_token(self, app, client, make_user):
        admin = make_user("ticket_admin", email="csrf-admin@example.test")
        organization = services.create_organization(None, "CSRF Org")
        article = partners_article()
        token = self.token_from(client)
        assert login(client, admin.email, csrf_token=token).status_code == 302
        checked = []
        ticket, message = sample_ticket(make_user)
        arrival = sample_arrival()
        for endpoint in self.post_routes(app):
            if endpoint in CSRF_EXEMPT:
                continue
            template = MATRIX[(endpoint, "POST")][0]
            url = template.format(
                organization=organization.id,
                user=admin.id,
                article=article.slug,
                ticket=ticket.id,
                message=message.id,
                sla_row=first_sla_row(),
                arrival=arrival,
            )
            response = client.post(url, data={"active": "0", "language": "en", "name": "x"})
            assert response.status_code == 400, f"{endpoint} accepted a POST without CSRF token"
            checked.append(endpoint)
        assert len(checked) >= 10
        assert admin.active and admin.language == "es"

    def test_htmx_header_token_is_accepted(self, app, client, make_user):
        admin = make_user("ticket_admin", email="csrf-admin2@example.test")
        token = self.token_from(client)
        login(client, admin.email, csrf_token=token)
        page = client.get("/admin/organizations").get_data(as_text=True)
        header_token = re.search(
            r"hx-headers='\{&#34;X-CSRFToken&#34;: &#34;([^&]+)&#34;\}'|hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'",
            page,
        )
        value = header_token.group(1) or header_token.group(2)
        response = client.post(
            "/admin/organizations",
            data={"name": "Via htmx"},
            headers={"HX-Request": "true", "X-CSRFToken": value},
        )
        assert response.status_code == 200
