"""What people type into tickets and the staff workflow: cleaned first (`portal.core.text`), then
measured against these caps. Forms show the same limits while typing; services enforce them for
every caller, so nothing longer is ever stored."""

from __future__ import annotations

from flask_babel import gettext as _

from portal.core.errors import InvalidInput
from portal.core.text import INVISIBLE_CHARACTERS, clean_block, clean_line

LONG_TEXT_MAX = 20_000  # what people write at length: descriptions, comments, replies, notes
STEP_TEXT_MAX = 5_000  # each text of a workflow step: reports, summaries, reasons, decisions

SUBJECT_MIN, SUBJECT_MAX = 5, 200  # also Ticket.subject's column length
DESCRIPTION_MIN, DESCRIPTION_MAX = 20, LONG_TEXT_MAX
DETAIL_MAX = 120  # the longest one-line detail of the intake forms
COMMENT_MAX = LONG_TEXT_MAX  # public comments, replies and the solution message to the partner
NOTE_MAX = LONG_TEXT_MAX  # internal notes
REPORT_FIELD_MAX = STEP_TEXT_MAX  # each text of a status report
REPORT_MINUTES_MAX = 24 * 60  # a status report's time spent: at most a day
SUMMARY_MAX = STEP_TEXT_MAX  # resolution summaries and level-3 results
REASON_MAX = STEP_TEXT_MAX  # cannot-resolve, no-KB-change, confirmation and escalation reasons
DECISION_FIELD_MAX = STEP_TEXT_MAX  # the VP's impact, resources, notes and the provider's scope
PROVIDER_FIELD_MAX = 200  # the external provider's name and contact


def text_line(value: str | None, field: str, maximum: int, missing: str | None = None) -> str:
    """`value` as a clean one-line text; InvalidInput on `field` when it is empty (only if a
    `missing` message is given) or longer than `maximum`."""
    return _measured(clean_line(value), field, maximum, missing)


def text_block(value: str | None, field: str, maximum: int, missing: str | None = None) -> str:
    """`value` as a clean multi-line text, checked as `text_line()` does."""
    return _measured(clean_block(value), field, maximum, missing)


def _measured(text: str, field: str, maximum: int, missing: str | None) -> str:
    # Zero-width characters stay in what is kept (emoji need them) but do not make a text present.
    if missing is not None and not INVISIBLE_CHARACTERS.sub("", text).strip():
        raise InvalidInput(missing, field)
    if len(text) > maximum:
        raise InvalidInput(_("At most %(maximum)d characters.", maximum=maximum), field)
    return text
