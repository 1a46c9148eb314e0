"""CSV downloads whose cells spreadsheets read as data, never as formulas (OWASP "CSV injection")."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal

from flask import Response

# A spreadsheet evaluates a cell that begins with one of these as a formula (tab and carriage
# return because some applications skip them before looking at the first character).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value):
    """`value` as a CSV cell: numbers stay numbers; text that a spreadsheet would run as a formula
    gets a leading single quote, which spreadsheets show as text.

    Only text is neutralized: a number the portal computed (even a negative one) is written as
    digits, which no spreadsheet can turn into a function call, so it stays sortable and summable.
    Text that merely looks like a number ("-5" typed by someone) is still text and is prefixed.
    """
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return value
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_TRIGGERS) else text


def csv_response(name: str, header: list[str], rows: Iterable[Iterable]) -> Response:
    """A CSV attachment `name`.csv. Every text cell is quoted, so a spreadsheet whose list
    separator is not the comma (";" in Spanish locales) cannot split a cell into a new one that
    starts with a formula."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow([spreadsheet_cell(cell) for cell in header])
    writer.writerows([spreadsheet_cell(cell) for cell in row] for row in rows)
    return Response(
        buffer.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f"attachment; filename={name}.csv"}
    )
