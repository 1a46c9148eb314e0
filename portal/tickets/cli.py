"""`flask sla check`: the SLA monitor once. It watches tickets, which `portal.sla` may not import,
so it is defined here and joins the `sla` group when the app registers its commands."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from portal.tickets import sla_clock


@click.command("check")
@with_appcontext
def sla_check_command():
    """Run the SLA monitor once."""
    counts = sla_clock.check()
    click.echo(", ".join(f"{value} {name}" for name, value in counts.items()))
