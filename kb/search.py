"""Knowledge-base search: queries over the index (`kb.index`), ranked and filtered results.

Query words found in the index are searched as they are; only unknown words are expanded to the
nearest known stems (typo tolerance) and completions (typing), with a lower weight, so exact
matches rank first. Articles with every word are found first; only when they do not fill a page
does the search widen to any of the words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from whoosh.query import And, Term
from whoosh.query.compound import DefaultOr

from kb import index, snippets
from portal.core.i18n import LANGUAGES
from portal.core.text import clean_line

_SPACED_ERROR_CODE = re.compile(r"\b([A-Za-z]{2,6})[\s_]+(\d{3,6})\b")
_ERROR_CODE = re.compile(r"^[a-z]{2,6}-\d{2,6}$")
FUZZY_ALTERNATIVES = 3
FUZZY_WEIGHT = 0.6
PREFIX_WEIGHT = 0.5
COMMON_WORD_SHARE = 0.3


@dataclass
class SearchHit:
    article_id: int
    slug: str
    language: str
    category: str
    title: str
    score: float
    snippet: str


@dataclass
class SearchResults:
    query: str
    hits: list[SearchHit]
    found: int  # hits up to and including this page
    more: bool  # further pages exist
    page: int
    per_page: int
    suggestion: str | None = None
    corrected_words: dict[str, str] = field(default_factory=dict)

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.more


def normalize_query(text: str) -> str:
    """Clean (see `clean_line`), collapse spaces and join spaced error codes ("EDY 4031" → "EDY-4031")."""
    text = " ".join(clean_line(text).split())[:200]
    return _SPACED_ERROR_CODE.sub(r"\1-\2", text)


_words = index.word_analyzer()


def _stem(language: str, word: str) -> str | None:
    tokens = [token.text for token in index.ANALYZERS[language](word)]
    return tokens[0] if tokens else None


@dataclass
class Spelling:
    """Words found as typed, and the nearest known stem for the others."""

    exact: set[str] = field(default_factory=set)
    corrections: dict[str, tuple[str, str]] = field(default_factory=dict)  # word -> (language, stem)

    def corrected(self) -> dict[str, tuple[str, str]]:
        return {word: near for word, near in self.corrections.items() if word not in self.exact}


def _most_frequent(reader, fieldname: str, terms, limit: int) -> list[str]:
    return sorted(terms, key=lambda term: -reader.doc_frequency(fieldname, term))[:limit]


def _word_query(reader, language: str, word: str, is_last: bool, spelling: Spelling):
    fieldname = f"text_{language}"
    stem = _stem(language, word)
    if stem is None:
        return None
    if reader.doc_frequency(fieldname, stem):
        spelling.exact.add(word)
        return Term(fieldname, stem)
    alternatives: dict[str, float] = {}
    if is_last and len(word) >= 4:
        # The word may still be being typed: let "subti" find "subtítulos".
        for term in _most_frequent(reader, fieldname, reader.expand_prefix(fieldname, stem), FUZZY_ALTERNATIVES):
            alternatives[term] = PREFIX_WEIGHT
    # An unknown error code is not a typo of another code; other words of 4+ letters may be.
    if len(word) >= 4 and not _ERROR_CODE.match(word):
        long_word = len(stem) >= 6
        candidates = reader.terms_within(fieldname, stem, 2 if long_word else 1, prefix=2 if long_word else 1)
        near = _most_frequent(reader, fieldname, candidates, FUZZY_ALTERNATIVES)
        if near:
            spelling.corrections.setdefault(word, (language, near[0]))
        for term in near:
            alternatives[term] = max(alternatives.get(term, 0), FUZZY_WEIGHT)
    clauses = [Term(fieldname, term, boost=weight) for term, weight in alternatives.items()]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else DefaultOr(clauses)


def word_queries(reader, language: str, text: str, spelling: Spelling) -> list:
    """One query per searchable word of `text` in `language` (stop words drop out)."""
    words = [token.text for token in _words(text)]
    clauses = []
    for position, word in enumerate(words):
        clause = _word_query(reader, language, word, position == len(words) - 1, spelling)
        if clause is not None:
            clauses.append(clause)
    return clauses


def _distinctive(reader, clauses: list) -> list:
    """The clauses without words found in most articles: they barely change the ranking of an
    "any of the words" search, yet scoring them costs the most."""
    limit = COMMON_WORD_SHARE * max(1, reader.doc_count())
    kept = [clause for clause in clauses if clause.estimate_size(reader) <= limit]
    return kept or clauses


def _combine(per_language: list[list], strict: bool, reader=None):
    combined = []
    for clauses in per_language:
        if len(clauses) == 1:
            combined.append(clauses[0])
        elif strict:
            combined.append(And(clauses))
        else:
            kept = _distinctive(reader, clauses)
            combined.append(DefaultOr(kept) if len(kept) > 1 else kept[0])
    return combined[0] if len(combined) == 1 else DefaultOr(combined)


def search(
    text: str,
    languages: Iterable[str],
    visibilities: Iterable[str],
    category: str | None = None,
    page: int = 1,
    per_page: int = 10,
    with_snippets: bool = True,
) -> SearchResults:
    """Ranked, visibility-filtered results for `text` (BM25F over title, tags and body)."""
    text = normalize_query(text)
    languages = [language for language in languages if language in LANGUAGES]
    empty = SearchResults(query=text, hits=[], found=0, more=False, page=1, per_page=per_page)
    if not text or not languages:
        return empty
    opened = index.open_searcher(index.open_index())
    searcher = opened.searcher
    reader = searcher.reader()
    spelling = Spelling()
    per_language = [clauses for language in languages if (clauses := word_queries(reader, language, text, spelling))]
    if not per_language:
        return empty
    allowed = index.allowed_documents(opened, visibilities, languages, category)
    if not allowed:
        # Whoosh reads an empty filter as "no filter": nothing this reader may see means no hits.
        return empty
    page = max(1, page)
    # One hit beyond the page tells whether more exist: counting every match of a common word
    # would cost more than the search itself.
    limit = page * per_page + 1
    # Articles containing every word come first and are cheap to find (an intersection); only
    # when they do not fill a page does the search widen to articles with any of the words.
    results = searcher.search(_combine(per_language, strict=True), limit=limit, filter=allowed)
    if results.scored_length() < per_page and any(len(clauses) > 1 for clauses in per_language):
        results = searcher.search(_combine(per_language, strict=False, reader=reader), limit=limit, filter=allowed)
    more = results.scored_length() > page * per_page
    searched = _combine(per_language, strict=True).existing_terms(reader, expand=True)
    stems = {
        language: frozenset(
            term.decode("utf-8") if isinstance(term, bytes) else term
            for fieldname, term in searched
            if fieldname == f"text_{language}"
        )
        for language in languages
    }
    page_hits = list(results[(page - 1) * per_page : page * per_page])
    hits = [
        SearchHit(
            article_id=int(hit["article_id"]),
            slug=hit["slug"],
            language=hit["language"],
            category=hit["category"],
            title=hit["title"],
            score=float(hit.score),
            snippet=snippets.snippet(hit.get(f"body_{hit['language']}", ""), stems[hit["language"]])
            if with_snippets
            else "",
        )
        for hit in page_hits
    ]
    corrections = {
        word: snippets.surface_word(page_hits[:3], language, stem)
        for word, (language, stem) in spelling.corrected().items()
    }
    suggestion = None
    if corrections:
        suggestion = " ".join(corrections.get(word, word) for word in (t.text for t in _words(text)))
    return SearchResults(
        query=text,
        hits=hits,
        found=min(results.scored_length(), page * per_page),
        more=more,
        page=page,
        per_page=per_page,
        suggestion=suggestion,
        corrected_words=corrections,
    )


def related(article_id: int, language: str, category: str, tags: Iterable[str], visibilities, limit: int = 5):
    """Live articles of the same language sharing tags (first) or the category with an article."""
    opened = index.open_searcher(index.open_index())
    clauses = [Term("tags", tag.lower(), boost=2.0) for tag in tags] + [Term("category", category)]
    allowed = index.allowed_documents(opened, visibilities, [language], None)
    if not allowed:
        return []
    results = opened.searcher.search(
        DefaultOr(clauses), limit=limit, filter=allowed, mask=Term("article_id", str(article_id))
    )
    return [
        SearchHit(int(hit["article_id"]), hit["slug"], hit["language"], hit["category"], hit["title"], hit.score, "")
        for hit in results
    ]
