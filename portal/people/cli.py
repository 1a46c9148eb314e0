"""`flask users ...`: account administration from the shell."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from auth import services as accounts
from auth.models import Role
from auth.passwords import check_new_password
from portal.core.errors import InvalidInput
from portal.core.i18n import LANGUAGES, Language
from portal.people import services

users_cli = AppGroup("users", help="Manage portal users.")


@users_cli.command("create")
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--password", help="Without it: an invitation by e-mail (mail and PORTAL_URL set), else prompted for.")
@click.option("--org", "organization_name", help="Partner organization (created when missing).")
@click.option("--language", type=click.Choice(LANGUAGES), default=Language.ES.value, show_default=True)
def create_user(role, email, name, password, organization_name, language):
    """Create a user; partners need --org."""
    if role == Role.PARTNER.value and not organization_name:
        raise click.UsageError("a partner needs --org ORG_NAME")
    if role != Role.PARTNER.value and organization_name:
        raise click.UsageError("staff do not belong to an organization: drop --org")
    invite = password is None and services.invitations_available()
    if password is None and not invite:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        if not invite:
            # Checked before the organization is created, so a refused password leaves nothing behind.
            check_new_password(password, "password", accounts.normalize_email(email), name)
        organization = accounts.find_or_create_organization(None, organization_name) if organization_name else None
        if invite:
            user, _ = services.create_user(None, email, name, role, organization, language)
        else:
            user, _ = accounts.create_user(None, email, name, role, organization, language, password=password)
    except InvalidInput as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Created {user.role} {user.email}" + (f" in {organization.name}" if organization else ""))
    if invite:
        click.echo(f"Invitation e-mailed to {user.email}: the link sets their password.")
