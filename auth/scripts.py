"""Writing systems in e-mail addresses: a look-alike letter from another script (Cyrillic "а" in
"аdmin@edye.test") makes an address read as someone else's."""

from __future__ import annotations

import unicodedata

# Japanese writes one word with these together; they count as one writing system.
SCRIPT_ALIASES = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "KATAKANA-HIRAGANA": "CJK"}


def _script(letter: str) -> str:
    # Unicode letter names start with their script ("LATIN SMALL LETTER A", "CYRILLIC SMALL LETTER
    # A"); compatibility forms keep their own prefix ("FULLWIDTH LATIN ..."), so they count apart.
    prefix = unicodedata.name(letter, "UNKNOWN").split(" ", 1)[0]
    return SCRIPT_ALIASES.get(prefix, prefix)


def mixes_scripts(text: str) -> bool:
    """True when the letters of `text` come from more than one writing system (digits,
    punctuation and combining marks belong to none)."""
    return len({_script(character) for character in text if unicodedata.category(character).startswith("L")}) > 1


def address_mixes_scripts(email: str) -> bool:
    """True when the local part or any label of the domain mixes writing systems. Each part may
    use its own (a Cyrillic mailbox at a Latin domain is a real internationalized address)."""
    local_part, _, domain = email.rpartition("@")
    return any(mixes_scripts(part) for part in (local_part, *domain.split(".")))
