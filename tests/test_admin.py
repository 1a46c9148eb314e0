"""Administration screens: organizations, users, password resets and the audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from auth import services
from auth.models import Organization, User
from portal.core.audit import AuditEntry, AuditLogIsAppendOnly
from portal.core.extensions import db
from tests.conftest import login


def audit_actions():
    return [entry.action for entry in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


@pytest.fixture
def admin(login_as):
    return login_as("ticket_admin", name="Ana Admin")


def test_create_organization_inline_with_htmx(client, admin):
    response = client.post(
        "/admin/organizations",
        data={"name": "Cable Norte", "zendesk_organization_id": "901", "active": "y"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "organizations-changed"
    assert "Cable Norte" in response.get_data(as_text=True)
    organization = db.session.scalar(select(Organization).where(Organization.name == "Cable Norte"))
    assert organization.zendesk_organization_id == 901 and organization.active
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "organization.created"))
    assert entry.actor_id == admin.id and entry.after["name"] == "Cable Norte"


def test_create_organization_without_javascript_redirects(client, admin):
    response = client.post("/admin/organizations", data={"name": "Sin JS"})
    assert response.status_code == 302
    assert "Sin JS" in client.get("/admin/organizations").get_data(as_text=True)


@pytest.mark.parametrize(
    "data,message",
    [
        ({"name": ""}, "El nombre es obligatorio"),
        ({"name": "Dup Org"}, "Ya existe una organización con este nombre"),
        ({"name": "Bad id", "zendesk_organization_id": "abc"}, "No es un valor entero válido"),
    ],
)
def test_create_organization_rejects_bad_input(client, admin, data, message):
    services.create_organization(admin, "dup org")
    before = db.session.scalar(select(db.func.count(Organization.id)))
    response = client.post("/admin/organizations", data=data, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count(Organization.id))) == before


def test_edit_and_deactivate_organization(client, admin):
    organization = services.create_organization(admin, "Editable")
    response = client.post(
        f"/admin/organizations/{organization.id}/edit",
        data={"name": "Edited", "zendesk_organization_id": "77", "active": "y"},
    )
    assert response.status_code == 302
    assert organization.name == "Edited" and organization.zendesk_organization_id == 77
    toggle = client.post(
        f"/admin/organizations/{organization.id}/active", data={"active": "0"}, headers={"HX-Request": "true"}
    )
    assert toggle.status_code == 200 and "Inactiva" in toggle.get_data(as_text=True)
    assert organization.active is False
    updated = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "organization.updated"))
    assert updated.before["name"] == "Editable" and updated.after["name"] == "Edited"


def test_organization_search_and_missing_one(client, admin):
    services.create_organization(admin, "Alpha Telecom")
    services.create_organization(admin, "Beta Stores")
    response = client.get("/admin/organizations?q=alpha", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert "Alpha Telecom" in body and "Beta Stores" not in body
    assert client.get("/admin/organizations/999999/edit").status_code == 404


def test_create_user_shows_temporary_password_once(client, admin):
    organization = services.create_organization(admin, "Partner Co")
    response = client.post(
        "/admin/users",
        data={
            "name": "Nuevo Partner",
            "email": "New.Partner@Example.test",
            "role": "partner",
            "organization_id": str(organization.id),
            "language": "en",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 201
    assert response.headers["HX-Trigger"] == "users-changed"
    user = services.find_user_by_email("new.partner@example.test")
    assert user.email == "new.partner@example.test" and user.must_change_password
    body = response.get_data(as_text=True)
    start = body.index('id="temporary-password">') + len('id="temporary-password">')
    temporary = body[start : body.index("</code>", start)]
    assert temporary not in client.get("/admin/users").get_data(as_text=True)
    client.post("/logout")
    assert login(client, user.email, temporary).status_code == 302


@pytest.mark.parametrize(
    "data,field_message",
    [
        ({"role": "partner", "organization_id": "0"}, "Un partner debe pertenecer a una organización"),
        ({"role": "agent_l1", "organization_id": "ORG"}, "El personal de EDYE no pertenece"),
        ({"role": "superuser"}, "Opción inválida"),
        ({"email": "ADMIN-TAKEN@example.test"}, "Otro usuario ya tiene este correo"),
        ({"email": "not-an-email"}, "Escribe un correo electrónico válido"),
        ({"name": "  "}, "El nombre es obligatorio"),
    ],
)
def test_create_user_rejects_bad_input(client, admin, make_user, data, field_message):
    make_user("agent_l1", email="admin-taken@example.test")
    organization = services.create_organization(admin, "Org For Users")
    form = {
        "name": "Someone",
        "email": "someone@example.test",
        "role": "agent_l1",
        "organization_id": "0",
        "language": "es",
    }
    form.update({key: value.replace("ORG", str(organization.id)) for key, value in data.items()})
    users_before = db.session.scalar(select(db.func.count(User.id)))
    response = client.post("/admin/users", data=form, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert field_message in response.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count(User.id))) == users_before


def test_edit_user_changes_role_and_ends_sessions(app, client, admin, make_user):
    agent = make_user("agent_l1", email="promote@example.test")
    agent_client = app.test_client()
    login(agent_client, agent.email)
    assert agent_client.get("/admin/").status_code == 200
    response = client.post(
        f"/admin/users/{agent.id}/edit",
        data={"name": "Promoted", "email": agent.email, "role": "agent_l2", "organization_id": "0", "language": "en"},
    )
    assert response.status_code == 302
    assert agent.role == "agent_l2" and agent.language == "en"
    assert agent_client.get("/admin/").status_code == 302
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.updated"))
    assert entry.before["role"] == "agent_l1" and entry.after["role"] == "agent_l2"


def test_admin_cannot_lock_themselves_out(client, admin):
    demote = client.post(
        f"/admin/users/{admin.id}/edit",
        data={"name": admin.name, "email": admin.email, "role": "agent_l1", "organization_id": "0", "language": "es"},
    )
    assert demote.status_code == 422 and admin.role == "ticket_admin"
    deactivate = client.post(f"/admin/users/{admin.id}/active", data={"active": "0"}, headers={"HX-Request": "true"})
    assert deactivate.status_code == 409 and admin.active


def test_deactivate_and_reactivate_user(client, admin, make_user):
    partner = make_user("partner")
    response = client.post(f"/admin/users/{partner.id}/active", data={"active": "0"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Activar" in response.get_data(as_text=True)
    assert partner.active is False
    client.post(f"/admin/users/{partner.id}/active", data={"active": "1"})
    assert partner.active is True
    assert audit_actions()[-2:] == ["user.deactivated", "user.activated"]


def test_reset_password_without_javascript_shows_page(client, admin, make_user):
    partner = make_user("partner")
    response = client.post(f"/admin/users/{partner.id}/password-reset")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" in body and partner.name in body
    assert partner.must_change_password
    assert audit_actions()[-1] == "user.password_reset"


def test_user_filters(client, admin, make_user):
    make_user("partner", name="Filtered Partner")
    make_user("agent_l2", name="Second Level")
    body = client.get("/admin/users?role=agent_l2", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Second Level" in body and "Filtered Partner" not in body
    body = client.get("/admin/users?q=filtered&active=yes").get_data(as_text=True)
    assert "Filtered Partner" in body and "Second Level" not in body
    assert client.get("/admin/users?page=abc&organization_id=zz").status_code == 200


def test_user_list_has_no_n_plus_one(client, admin, make_user, count_queries):
    def list_queries():
        with count_queries() as counter:
            assert client.get("/admin/users").status_code == 200
        return counter.count

    make_user("partner")
    few = list_queries()
    for number in range(15):
        organization = services.create_organization(admin, f"Org {number}")
        make_user("partner", organization=organization)
    assert list_queries() == few


def test_organization_and_audit_lists_have_no_n_plus_one(client, admin, count_queries):
    def queries(url):
        with count_queries() as counter:
            assert client.get(url).status_code == 200
        return counter.count

    services.create_organization(admin, "First")
    few = queries("/admin/organizations"), queries("/admin/audit")
    for number in range(12):
        services.create_organization(admin, f"More {number}")
    assert (queries("/admin/organizations"), queries("/admin/audit")) == few


def test_audit_log_page_lists_changes_and_filters(client, admin):
    services.create_organization(admin, "Audited Org")
    body = client.get("/admin/audit").get_data(as_text=True)
    assert "organization.created" in body and "Audited Org" in body and admin.email in body
    filtered = client.get("/admin/audit?action=user.created", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "organization.created" not in filtered


def test_audit_log_is_append_only(admin):
    services.create_organization(admin, "Immutable")
    created = select(AuditEntry).where(AuditEntry.action == "organization.created")
    entry = db.session.scalar(created)
    entry.action = "tampered"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.scalar(created))
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    assert db.session.scalar(created).target_label == "Immutable"


def test_staff_cannot_belong_to_organization_at_the_database_level(app, make_user):
    from sqlalchemy.exc import IntegrityError

    agent = make_user("agent_l1")
    agent.organization = services.create_organization(None, "Not allowed")
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
