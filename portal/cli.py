"""`flask demo ...`: demo data for trying the portal locally."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from auth import services as auth_services
from auth.models import Role
from kb import content as kb_content
from portal import PROJECT_ROOT
from portal.sla import services as sla_services

demo_cli = AppGroup("demo", help="Demo data for local use.")

DEMO_ORGANIZATIONS = ("Andes Cable (demo)", "StreamMart App Store (demo)")
# Demo credentials are public by design: they only exist in a local demo database.
DEMO_USERS = (
    (Role.TICKET_ADMIN, "admin@edye.test", "Ana Administradora", None, "demo-admin-2026"),
    (Role.AGENT_L1, "agent1@edye.test", "Luis Agente N1", None, "demo-agent1-2026"),
    (Role.AGENT_L2, "agent2@edye.test", "Marta Agente N2", None, "demo-agent2-2026"),
    (Role.VP, "vp@edye.test", "Victoria VP", None, "demo-vp-2026-pass"),
    (Role.PARTNER, "partner@andes.test", "Pablo Partner", DEMO_ORGANIZATIONS[0], "demo-partner-2026"),
    (Role.PARTNER, "partner@streammart.test", "Sofia Store", DEMO_ORGANIZATIONS[1], "demo-partner-2026"),
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
    click.echo(f"Demo data ready ({created} users created). Log in at /login with:")
    for role, email, _name, organization_name, password in DEMO_USERS:
        where = f"  [{organization_name}]" if organization_name else ""
        click.echo(f"  {role.value:<13} {email:<26} {password}{where}")
