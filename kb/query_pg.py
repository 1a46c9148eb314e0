"""What the PostgreSQL search (`kb.search_pg`) searches for: the query's words as its language's
text search configuration makes them, each a concept with its alternatives, as tsquery text.

A word the articles use is searched as it is; an unknown one is widened to the nearest words they
use (trigram similarity: typos) and, when it is the last word, to the words it begins (typing). A
synonym group's member in the query also matches the group's other members (phrases as phrases);
vague words drop out when others exist. Lexemes come from PostgreSQL and are quoted, so no query
character becomes a tsquery operator; everything reaches SQL as bound parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import text

from kb import index_pg, synonyms
from kb.search_rules import ERROR_CODE, FUZZY_ALTERNATIVES, FUZZY_WEIGHT, SYNONYM_WEIGHT, words_of
from portal.core.extensions import db
from portal.core.i18n import LANGUAGES

WORD_MIN = 4  # shorter unknown words are neither typos nor words being typed


@dataclass
class Analysis:
    """What one language's configuration makes of words: their lexemes ("" for stop words), in how
    many articles the known ones are, and how many articles the language has."""

    lexemes: dict[str, str] = field(default_factory=dict)
    documents: dict[str, int] = field(default_factory=dict)
    total: int = 0

    def known(self, lexeme: str | None) -> bool:
        return lexeme in self.documents


@dataclass
class Concept:
    """One thing searched: what was typed (`exact`) or its alternatives (typos, completions,
    synonyms: `others`, weighted `others_weight`), and how rare it is (`weight`, BM25's idf)."""

    exact: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)
    others_weight: float = FUZZY_WEIGHT
    documents: int = 1

    @property
    def alternatives(self) -> str:
        return "(" + " | ".join(self.exact + self.others) + ")"

    def weight(self, total: int) -> float:
        # Counts are a rebuild's (see `kb.index_pg`): a word may count more articles than are left.
        return math.log(1 + (max(total - self.documents, 0) + 0.5) / (self.documents + 0.5))


@dataclass
class LanguageQuery:
    """One language's query: its concepts, the lexemes typed as they are, every lexeme searched
    (for snippets) and the corrections of unknown words."""

    language: str
    total: int
    concepts: list[Concept] = field(default_factory=list)
    typed: list[str] = field(default_factory=list)
    stems: set[str] = field(default_factory=set)
    corrections: dict[str, str] = field(default_factory=dict)  # word typed -> spelling found

    def searched(self, lexeme: str, suffix: str = "") -> str:
        self.stems.add(lexeme)
        return quoted(lexeme) + suffix


def quoted(lexeme: str) -> str:
    """A lexeme as tsquery text: quoted, so no character of it is an operator."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


_ANALYSE = text(
    """
    SELECT analysed.language, analysed.word, analysed.lexeme,
        (SELECT max(known.documents) FROM kb_search_words known
         WHERE known.language = analysed.language AND known.lexeme = analysed.lexeme) AS documents
    FROM (
        SELECT languages.language, typed.word,
            split_part(array_to_string(tsvector_to_array(
                to_tsvector(CAST(languages.configuration AS regconfig), typed.word)), ' '), ' ', 1) AS lexeme
        FROM unnest(CAST(:languages AS text[]), CAST(:configurations AS text[])) AS languages(language, configuration)
        CROSS JOIN unnest(CAST(:words AS text[])) AS typed(word)
    ) AS analysed
    """
)

_NEAREST = text(
    """
    SELECT typed.word, near.lexeme, near.spelling, near.documents
    FROM unnest(CAST(:words AS text[])) AS typed(word)
    CROSS JOIN LATERAL (
        SELECT known.lexeme, known.spelling, known.documents FROM kb_search_words known
        WHERE known.language = :language AND known.word % typed.word
        ORDER BY similarity(known.word, typed.word) DESC, known.documents DESC, known.word
        LIMIT :candidates
    ) AS near
    """
)


def analyse(analyses: dict[str, Analysis], words: set[str]) -> None:
    """Add to `analyses` (one per language) the words they do not have yet."""
    missing = sorted(word for word in words if any(word not in analysis.lexemes for analysis in analyses.values()))
    if not missing:
        return
    languages = list(analyses)
    configurations = [index_pg.CONFIGURATIONS[language] for language in languages]
    rows = db.session.execute(_ANALYSE, {"languages": languages, "configurations": configurations, "words": missing})
    totals = index_pg.totals(db.session())
    for language, word, lexeme, documents in rows:
        analysis = analyses[language]
        analysis.lexemes[word], analysis.total = lexeme, totals.get(language, 0)
        if documents is not None:
            analysis.documents[lexeme] = documents


def _nearest(language: str, words: list[str]) -> dict[str, list[tuple[str, str, int]]]:
    """The known (lexeme, spelling, documents) nearest each unknown word, best first."""
    if not words:
        return {}
    found: dict[str, list[tuple[str, str, int]]] = {}
    rows = db.session.execute(_NEAREST, {"language": language, "words": words, "candidates": FUZZY_ALTERNATIVES * 2})
    for word, lexeme, spelling, documents in rows:
        near = found.setdefault(word, [])
        if lexeme not in (known for known, _spelling, _documents in near) and len(near) < FUZZY_ALTERNATIVES:
            near.append((lexeme, spelling, documents))
    return found


def plan(language: str, query_text: str) -> tuple[list[str], list[synonyms.Match]]:
    """The words searched in `language` (vague ones out when others exist) and its synonym matches."""
    vocabulary = synonyms.vocabulary(language, words_of)
    words = words_of(query_text)
    if any(word not in vocabulary.vague for word in words):
        words = [word for word in words if word not in vocabulary.vague]
    return words, synonyms.matches(words, vocabulary)


def planned_words(words: list[str], matches: list[synonyms.Match]) -> set[str]:
    """Every word to analyse for a plan: the query's and its synonyms'."""
    members = [word for match in matches for other in match.others for word in other]
    return {index_pg.fold(word) for word in words + members}


def _phrase(query: LanguageQuery, member: tuple[str, ...], analysis: Analysis) -> tuple[str, int] | None:
    """A synonym as tsquery text, its words in order (stop words leave their gap), and its rarest
    word's article count; None when the articles do not use one of its words."""
    lexemes, parts, gap = [], [], 1
    for word in member:
        lexeme = analysis.lexemes.get(index_pg.fold(word), "")
        if not lexeme:
            gap += 1
            continue
        if not analysis.known(lexeme):
            return None
        lexemes.append(lexeme)
        parts.append((f" <{gap}> " if parts else "") + quoted(lexeme))
        gap = 1
    if not parts:
        return None
    query.stems.update(lexemes)
    return "".join(parts), min(analysis.documents[lexeme] for lexeme in lexemes)


def _word(query: LanguageQuery, word: str, is_last: bool, analysis: Analysis, nearest) -> Concept | None:
    """One typed word: itself when the articles use it; else the nearest words they use, and (the
    last word) the words it begins. None for a stop word or nothing near."""
    folded = index_pg.fold(word)
    lexeme = analysis.lexemes.get(folded, "")
    if not lexeme:
        return None
    if analysis.known(lexeme):
        typed = query.searched(lexeme)
        query.typed.append(typed)
        return Concept(exact=[typed], documents=analysis.documents[lexeme])
    near = nearest.get(folded, [])
    if near:
        query.corrections.setdefault(word, near[0][1])
    concept = Concept(
        others=[query.searched(known) for known, _spelling, _documents in near],
        documents=max((documents for _known, _spelling, documents in near), default=1),
    )
    if is_last and len(folded) >= WORD_MIN:
        concept.others.append(query.searched(lexeme, ":*"))  # still being typed: "subti" finds "subtítulos"
    return concept if concept.others else None


def _unknown(words: list[str], analysis: Analysis) -> list[str]:
    """The words that may be typos: unknown, long enough, and not error codes (an unknown code is
    not a typo of another code)."""
    folded = [(word, index_pg.fold(word)) for word in words if len(word) >= WORD_MIN and not ERROR_CODE.match(word)]
    return [fold for _word, fold in folded if (lexeme := analysis.lexemes.get(fold)) and not analysis.known(lexeme)]


def language_query(language: str, words: list[str], matches, analysis: Analysis) -> LanguageQuery:
    """The concepts of `words` in `language`: each word, or a synonym's member and its group."""
    query = LanguageQuery(language, analysis.total)
    nearest = _nearest(language, _unknown(words, analysis))
    matched = {match.start: match for match in matches}
    position = 0
    while position < len(words):
        match = matched.get(position)
        size = len(match.member) if match else 1
        concepts = [
            concept
            for offset, word in enumerate(words[position : position + size])
            if (concept := _word(query, word, position + offset == len(words) - 1, analysis, nearest))
        ]
        if match is None:
            query.concepts += concepts
        else:
            query.concepts.append(_synonyms(query, match, concepts, analysis))
        position += size
    query.concepts = [concept for concept in query.concepts if concept.exact or concept.others]
    return query


def _synonyms(query: LanguageQuery, match: synonyms.Match, typed: list[Concept], analysis: Analysis) -> Concept:
    """A synonym group's member as typed (its words, all of them) or any other member. As typed, a
    member with a word the index lacks counts only when no synonym stands in (as in `kb.search`)."""
    phrases = [phrase for other in match.others if (phrase := _phrase(query, other, analysis))]
    if phrases:  # not a typo: a phrase the synonyms know
        query.corrections = {word: s for word, s in query.corrections.items() if word not in match.member}
        lexemes = [lexeme for word in match.member if (lexeme := analysis.lexemes.get(index_pg.fold(word)))]
        if not all(analysis.known(lexeme) for lexeme in lexemes):
            typed = []
    own = " & ".join(concept.alternatives for concept in typed)
    exact = all(concept.exact for concept in typed)
    documents = [concept.documents for concept in typed] + [documents for _phrase, documents in phrases]
    return Concept(
        exact=[f"({own})"] if own and exact else [],
        others=([f"({own})"] if own and not exact else []) + [phrase for phrase, _documents in phrases],
        others_weight=SYNONYM_WEIGHT,
        documents=max(documents, default=1),
    )


def other_language(language: str) -> str:
    return next(other for other in LANGUAGES if other != language)


def has_foreign_words(language: str, words: list[str], analyses: dict[str, Analysis]) -> bool:
    """Whether a word is unknown in `language`'s articles but known in the other's ("clear cache de la app")."""
    here, there = analyses[language], analyses[other_language(language)]
    for word in map(index_pg.fold, words):
        foreign = there.lexemes.get(word, "")
        if foreign and there.known(foreign) and not here.known(here.lexemes.get(word)):
            return True
    return False
