"""Password rules: long enough, not a commonly used password, nothing of the account's own name or
e-mail address. No composition rules (they make passwords harder to remember, not to guess)."""

from __future__ import annotations

import gzip
import re
from functools import cache
from pathlib import Path

from flask_babel import gettext as _

from portal.core.errors import InvalidInput

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 512
COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common-passwords.txt.gz"
# The shipped list keeps only entries this long (shorter ones never pass the length rule); it must
# be rebuilt with a lower floor if MIN_PASSWORD_LENGTH is ever lowered (see data/README.md).
COMMON_PASSWORDS_MIN_LENGTH = 12
# Shorter parts of a name or address (initials, "vp") would refuse too many good passwords.
MIN_PERSONAL_PART_LENGTH = 4
WORD_SEPARATORS = re.compile(r"[\W_]+")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common and breached passwords, lower-cased (read once per process)."""
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as lines:
        return frozenset(stripped.lower() for line in lines if (stripped := line.rstrip("\r\n")))


def _compact(text: str) -> str:
    # "Pablo.Partner", "pablo partner" and "PabloPartner" all hide the same name.
    return "".join(character for character in text.casefold() if character.isalnum())


def _personal_parts(email: str, name: str) -> set[str]:
    local_part = email.rpartition("@")[0]
    candidates = [email, local_part, name, *WORD_SEPARATORS.split(local_part), *WORD_SEPARATORS.split(name)]
    return {part for part in map(_compact, candidates) if len(part) >= MIN_PERSONAL_PART_LENGTH}


def check_new_password(password: str, field: str, email: str = "", name: str = "") -> None:
    """Refuse a password a person is about to set, with the reason on `field`."""
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(_("Use at least %(count)d characters.", count=MIN_PASSWORD_LENGTH), field)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(_("Use at most %(count)d characters.", count=MAX_PASSWORD_LENGTH), field)
    if password.strip().lower() in common_passwords():
        raise InvalidInput(_("This password is one of the most commonly used: choose another."), field)
    compact = _compact(password)
    if any(part in compact for part in _personal_parts(email or "", name or "")):
        raise InvalidInput(_("The password may not contain the name or the e-mail address of the account."), field)
