"""Cleaning free text people type: what is stored is what a reader sees."""

from __future__ import annotations

import re

# Bidirectional overrides and isolates (they can make "txt.exe" read as "exe.txt") and zero-width
# characters (they make two equal-looking names differ).
INVISIBLE_CHARACTERS = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_line(text: str | None) -> str:
    """A one-line text (subject, name, title) without invisible or control characters, stripped.
    Strip first, then check lengths: a limit counts what is kept."""
    text = INVISIBLE_CHARACTERS.sub("", text or "")
    return CONTROL_CHARACTERS.sub("", text).replace("\r", " ").replace("\n", " ").strip()


def clean_block(text: str | None) -> str:
    """A multi-line text (description, comment, note) with Windows line ends made plain, control
    characters other than tab and newline removed, and outer blank space stripped."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    return CONTROL_CHARACTERS.sub("", text).strip()
