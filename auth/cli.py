"""`flask users ...`: account administration from the shell."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from auth import services
from auth.models import Role
from auth.passwords import check_new_password
from portal.core.errors import InvalidInput
from portal.core.i18n import LANGUAGES, Language

users_cli = AppGroup("users", help="Manage portal users.")


@users_cli.command("create")
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--password", help="Prompted for when omitted.")
@click.option("--org", "organization_name", help="Partner organization (created when missing).")
@click.option("--language", type=click.Choice(LANGUAGES), default=Language.ES.value, show_default=True)
def create_user(role, email, name, password, organization_name, language):
    """Create a user; partners need --org."""
    if role == Role.PARTNER.value and not organization_name:
        raise click.UsageError("a partner needs --org ORG_NAME")
    if role != Role.PARTNER.value and organization_name:
        raise click.UsageError("staff do not belong to an organization: drop --org")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        # Checked before the organization is created, so a refused password leaves nothing behind.
        check_new_password(password, "password", services.normalize_email(email), name)
        organization = services.find_or_create_organization(None, organization_name) if organization_name else None
        user, _ = services.create_user(None, email, name, role, organization, language, password=password)
    except InvalidInput as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Created {user.role} {user.email}" + (f" in {organization.name}" if organization else ""))
