"""The search's vocabulary, kept by editors in a YAML file per portal (`KB_SYNONYMS_FILE`, by
default `content/kb/synonyms.yaml`), for each language:

- `synonyms`: groups of words or phrases partners use for the same thing — "se queda cargando" and
  "buffering", "login" and "iniciar sesión". A query that contains one member of a group also finds
  the articles with another member, weighted below the words typed (`kb.search`).
- `vague`: words that say only that the partner has a question ("problemas de DRM", "billing
  questions"); they are left out of a query that has other words.

    es:
      synonyms:
        - [buffering, "se queda cargando", "carga lenta"]
      vague: [problemas, dudas]

The file is read again when it changes; a malformed one is logged and the search works without it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from flask import current_app

from portal.core.i18n import LANGUAGES

log = logging.getLogger(__name__)

GROUP_MAX = 30  # members in one group
MEMBER_WORDS_MAX = 6  # words in one member phrase
SECTIONS = ("synonyms", "vague")

Member = tuple[str, ...]  # a member's words, as the search's word analyzer makes them


class MalformedVocabulary(ValueError):
    """The file is not a mapping of languages to their synonym groups and vague words."""


@dataclass(frozen=True)
class Match:
    """A group found in a query: the member it contains (from the query's word `start`), and the
    group's other members."""

    start: int
    member: Member
    others: tuple[Member, ...]


@dataclass
class Vocabulary:
    """One language's: each member's first word → (member, its group); the vague words."""

    by_first_word: dict[str, list[tuple[Member, tuple[Member, ...]]]] = field(default_factory=dict)
    vague: frozenset[str] = frozenset()


_lock = threading.Lock()
_loaded: dict[str, tuple[float, dict[str, Vocabulary]]] = {}


def _groups(language: str, listed, words) -> list[tuple[Member, ...]]:
    if not isinstance(listed, list):
        raise MalformedVocabulary(f"{language}.synonyms: expected a list of groups")
    groups = []
    for number, group in enumerate(listed, 1):
        if not isinstance(group, list) or not 2 <= len(group) <= GROUP_MAX:
            raise MalformedVocabulary(f"{language}, group {number}: expected a list of 2 to {GROUP_MAX} members")
        members = []
        for member in group:
            split = tuple(words(str(member)))
            if not split or len(split) > MEMBER_WORDS_MAX:
                raise MalformedVocabulary(
                    f"{language}, group {number}: {member!r} is not 1 to {MEMBER_WORDS_MAX} words"
                )
            members.append(split)
        groups.append(tuple(dict.fromkeys(members)))
    return groups


def parse(text: str, words) -> dict[str, Vocabulary]:
    """Each language's vocabulary from the file's text; `words` splits a member into words."""
    document = yaml.safe_load(text) or {}
    if not isinstance(document, dict) or not set(document) <= set(LANGUAGES):
        raise MalformedVocabulary(f"expected a mapping of {'/'.join(LANGUAGES)} to their vocabulary")
    vocabularies = {language: Vocabulary() for language in LANGUAGES}
    for language, sections in document.items():
        if not isinstance(sections, dict) or not set(sections) <= set(SECTIONS):
            raise MalformedVocabulary(f"{language}: expected {' and/or '.join(SECTIONS)}")
        vocabulary = vocabularies[language]
        for group in _groups(language, sections.get("synonyms", []), words):
            for member in group:
                vocabulary.by_first_word.setdefault(member[0], []).append((member, group))
        vague = sections.get("vague", [])
        if not isinstance(vague, list):
            raise MalformedVocabulary(f"{language}.vague: expected a list of words")
        vocabulary.vague = frozenset(word for entry in vague for word in words(str(entry)))
    return vocabularies


def vocabulary(language: str, words) -> Vocabulary:
    """The configured vocabulary of `language`, read again when the file changed; an empty one
    when there is no file or it is malformed (logged)."""
    path = Path(current_app.config["KB_SYNONYMS_FILE"])
    try:
        changed = path.stat().st_mtime
    except OSError:
        return Vocabulary()
    key = str(path)
    with _lock:
        if key not in _loaded or _loaded[key][0] != changed:
            try:
                parsed = parse(path.read_text(encoding="utf-8"), words)
            except (MalformedVocabulary, yaml.YAMLError, UnicodeDecodeError) as error:
                log.error("search vocabulary %s ignored: %s", path, error)
                parsed = {}
            _loaded[key] = (changed, parsed)
        return _loaded[key][1].get(language, Vocabulary())


def matches(query_words: list[str], vocabulary: Vocabulary) -> list[Match]:
    """The groups one of whose members the query contains (as consecutive words); the longest
    member wins where members overlap, and a query word belongs to one match only."""
    candidates = [
        (start, member, group)
        for start, word in enumerate(query_words)
        for member, group in vocabulary.by_first_word.get(word, ())
        if tuple(query_words[start : start + len(member)]) == member
    ]
    found: list[Match] = []
    taken: set[int] = set()
    for start, member, group in sorted(candidates, key=lambda candidate: -len(candidate[1])):
        span = set(range(start, start + len(member)))
        if not span & taken:
            taken |= span
            found.append(Match(start, member, tuple(other for other in group if other != member)))
    return sorted(found, key=lambda match: match.start)
