"""What the knowledge base's files share: reading one safely, writing a text YAML reads back
exactly, and the error that names what is wrong with a file."""

from __future__ import annotations

import json
import re
from pathlib import Path

# An article's text is at most MAX_BODY_LENGTH characters: even in 4-byte characters, with its
# front matter, that fits in this many bytes.
MAX_FILE_BYTES = 1_000_000
# Characters that JSON writes as they are but YAML reads differently (line breaks it folds,
# characters it refuses): exported as \u escapes, which YAML and JSON read alike.
YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


class MalformedFile(ValueError):
    pass


class ImportRefused(ValueError):
    """Nothing of an import was stored, because of these (file, reason) problems."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{label}: {reason}" for label, reason in problems))
        self.problems = problems


def read_text(path: Path) -> str:
    """The file's UTF-8 text with Unix line ends; MalformedFile when too large or unreadable."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise MalformedFile(f"larger than {MAX_FILE_BYTES // 1_000_000} MB")
        return path.read_text(encoding="utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError:
        raise MalformedFile("not UTF-8 text") from None
    except OSError as error:
        raise MalformedFile(f"cannot be read ({error.strerror})") from None


def yaml_text(text: str) -> str:
    """`text` as a double-quoted scalar that YAML reads back exactly (titles, tags, labels)."""
    return YAML_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", json.dumps(text, ensure_ascii=False))
