"""`flask sla ...`: deadlines from the shell and the matrix import. (`flask sla check`, the monitor
once, watches tickets: it is defined in `portal.tickets.cli` and joins this group when the app
registers its commands.)"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from portal.sla import services
from portal.sla.models import RequestType

sla_cli = AppGroup("sla", help="First-response SLAs.")


@sla_cli.command("due")
@click.option("--category", required=True, type=click.Choice([kind.value for kind in RequestType]))
@click.option("--received", required=True, help="ISO 8601 with an offset, e.g. 2026-03-06T17:30:00-05:00")
@click.option("--organization", "organization_id", type=click.IntRange(min=1), help="Use this organization's contract.")
@click.option("--json", "as_json", is_flag=True)
def due_command(category: str, received: str, organization_id: int | None, as_json: bool):
    """The matrix row, warning time and due time for a request received at RECEIVED (with
    --organization, from that organization's contract where it has one)."""
    try:
        moment = datetime.fromisoformat(received)
    except ValueError:
        raise click.BadParameter("use ISO 8601, e.g. 2026-03-06T17:30:00-05:00", param_hint="--received") from None
    if moment.tzinfo is None:
        raise click.BadParameter("include the offset (e.g. -05:00 or Z)", param_hint="--received")
    deadline = services.due(category, moment, organization_id)
    if deadline is None:
        raise click.ClickException("the escalation matrix has no row for this request type")
    zone = services.calendar().timezone
    second = services.second_contact_due(category, moment, organization_id)
    result = {
        "row": deadline.row.key,
        "warn_at": deadline.warn_at.astimezone(zone).isoformat(),
        "due_at": deadline.due_at.astimezone(zone).isoformat(),
        "second_contact_due_at": second.due_at.astimezone(zone).isoformat() if second else None,
        "second_contact": second.row.contact_name if second else None,
        "contract": deadline.target.contracted,
    }
    if as_json:
        click.echo(json.dumps(result))
    else:
        contract = " (the organization's contract)" if result["contract"] else ""
        click.echo(f"row:  {result['row']}{contract}\nwarn: {result['warn_at']}\ndue:  {result['due_at']}")
        if second:
            click.echo(f"second contact: {result['second_contact']}, due {result['second_contact_due_at']}")


@sla_cli.command("import-matrix")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_matrix_command(path: Path):
    """Load the escalation matrix from a YAML file (a malformed file changes nothing)."""
    try:
        count = services.import_matrix(path)
    except services.MatrixError as error:
        raise click.ClickException(f"{path}: {error}") from None
    click.echo(f"{count} rows loaded (timezone {current_app.config['PORTAL_TIMEZONE']})")
