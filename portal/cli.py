"""`flask demo ...`: demo data for trying the portal locally."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from auth import services as auth_services
from auth.models import Role
from kb import content as kb_content
from portal.core.config import PROJECT_ROOT
from portal.core.extensions import db
from portal.sla import services as sla_services
from portal.tickets import intake
from portal.tickets.models import Ticket, TicketForm

demo_cli = AppGroup("demo", help="Demo data for local use.")

DEMO_ORGANIZATIONS = ("Andes Cable (demo)", "StreamMart App Store (demo)")
# Demo credentials are public by design: they only exist in a local demo database.
DEMO_USERS = (
    (Role.TICKET_ADMIN, "admin@edye.test", "Ana Administradora", None, "demo-2026-edye-ta"),
    (Role.AGENT_L1, "agent1@edye.test", "Luis Agente N1", None, "demo-2026-edye-l1"),
    (Role.AGENT_L2, "agent2@edye.test", "Marta Agente N2", None, "demo-2026-edye-l2"),
    (Role.VP, "vp@edye.test", "Victoria VP", None, "demo-2026-edye-l3"),
    (Role.TECH_TEAM, "tech@edye.test", "Tomás Equipo Técnico", None, "demo-2026-edye-tt"),
    (Role.BUSINESS, "business@edye.test", "Mercedes Mercadeo", None, "demo-2026-edye-mb"),
    (Role.PARTNER, "partner@andes.test", "Pablo Partner", DEMO_ORGANIZATIONS[0], "demo-2026-andes-p1"),
    (Role.PARTNER, "partner@streammart.test", "Sofia Store", DEMO_ORGANIZATIONS[1], "demo-2026-mart-p2"),
)


@demo_cli.command("seed")
def seed():
    """Create demo organizations, one user per role and the shipped knowledge base (idempotent);
    print the logins."""
    organizations = {name: auth_services.find_or_create_organization(None, name) for name in DEMO_ORGANIZATIONS}
    created = 0
    for role, email, name, organization_name, password in DEMO_USERS:
        if auth_services.find_user_by_email(email) is None:
            organization = organizations[organization_name] if organization_name else None
            auth_services.create_user(None, email, name, role.value, organization, password=password)
            created += 1
    rows = sla_services.import_matrix(PROJECT_ROOT / "content" / "escalation_matrix.yaml")
    sla_services.import_holidays(PROJECT_ROOT / "content" / "holidays.yaml")
    click.echo(f"Escalation matrix: {rows} rows.")
    report = kb_content.import_folder(PROJECT_ROOT / "content" / "kb")
    click.echo(
        f"Knowledge base: {len(report.created)} articles created, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged."
    )
    for label, reason in report.errors:
        click.echo(f"  rejected {label}: {reason}", err=True)
    tickets = _demo_tickets()
    click.echo(f"Demo data ready ({created} users, {tickets} tickets created). Log in at /login with:")
    for role, email, _name, organization_name, password in DEMO_USERS:
        where = f"  [{organization_name}]" if organization_name else ""
        click.echo(f"  {role.value:<13} {email:<26} {password}{where}")


DEMO_TICKETS = (
    (
        "partner@andes.test",
        TicketForm.TECHNICAL,
        "La app se cierra al abrir episodios en Roku",
        "Desde esta mañana la app de EDYE se cierra al abrir cualquier episodio en Roku Ultra.",
        {"service": "App EDYE", "device": "Roku Ultra", "app_version": "3.2.1", "region": "Perú", "impact": "many"},
    ),
    (
        "partner@andes.test",
        TicketForm.TECHNICAL,
        "Error EDY-4031 en Android TV",
        "Varios suscriptores ven el error EDY-4031 al reproducir en Android TV desde ayer.",
        {
            "service": "App EDYE",
            "device": "Android TV 12",
            "region": "Chile",
            "error_code": "EDY-4031",
            "impact": "some",
        },
    ),
    (
        "partner@streammart.test",
        TicketForm.MARKETING_BUSINESS,
        "Materiales para la campaña de Navidad",
        "Necesitamos logos y key art de EDYE para una campaña de co-marketing en diciembre.",
        {"topic": "Co-marketing", "desired_date": "2026-12-10"},
    ),
)


def _demo_tickets() -> int:
    """A few tickets so the staff screens have something to show (only into an empty portal)."""
    if db.session.scalar(select(func.count(Ticket.id))):
        return 0
    for email, form, subject, description, details in DEMO_TICKETS:
        partner = auth_services.find_user_by_email(email)
        intake.create_ticket(partner, form, subject, description, details)
    return len(DEMO_TICKETS)
