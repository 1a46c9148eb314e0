"""The knowledge-base search index (Whoosh): analysis, indexing that follows the database, queries.

One index in SEARCH_INDEX_DIR holds both languages in separate fields, each with its own analysis:
lower-casing, Spanish or English stemming, accent folding, and error codes such as EDY-4031 kept
whole. Query words found in the index are searched as they are; only unknown words are expanded to
the nearest known words (typo tolerance), with a lower weight, so exact matches rank first.
"""
from __future__ import annotations

import html
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import nh3
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session
from whoosh import index, writing
from whoosh.analysis import CharsetFilter, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
from whoosh.fields import ID, STORED, TEXT, Schema
from whoosh.highlight import ContextFragmenter, HtmlFormatter
from whoosh.lang import stopwords_for_language
from whoosh.query import And, Or, Prefix, Term
from whoosh.support.charset import accent_map

LANGUAGES = ("es", "en")
TOKEN_PATTERN = r"[A-Za-z]{2,6}-\d{2,6}|[^\W_]+"
_SPACED_ERROR_CODE = re.compile(r"\b([A-Za-z]{2,6})[\s_]+(\d{3,6})\b")
PENDING_KEY = "kb_search_pending"
FUZZY_ALTERNATIVES = 3
FUZZY_WEIGHT = 0.6
PREFIX_WEIGHT = 0.5


def language_analyzer(language: str):
    return (
        RegexTokenizer(TOKEN_PATTERN)
        | LowercaseFilter()
        | StopFilter(stoplist=stopwords_for_language(language), minsize=1)
        | StemFilter(lang=language)
        | CharsetFilter(accent_map)
    )


def spelling_analyzer():
    return RegexTokenizer(TOKEN_PATTERN) | LowercaseFilter() | CharsetFilter(accent_map)


def build_schema() -> Schema:
    fields = {
        "article_id": ID(stored=True, unique=True),
        "slug": ID(stored=True),
        "language": ID(stored=True),
        "visibility": ID(stored=True),
        "category": ID(stored=True),
        "title": STORED(),
    }
    for language in LANGUAGES:
        analyzer = language_analyzer(language)
        fields[f"title_{language}"] = TEXT(analyzer=analyzer, field_boost=3.0, phrase=False)
        fields[f"tags_{language}"] = TEXT(analyzer=analyzer, field_boost=2.0, phrase=False)
        fields[f"body_{language}"] = TEXT(analyzer=analyzer, stored=True, phrase=False)
        fields[f"spell_{language}"] = TEXT(analyzer=spelling_analyzer(), phrase=False)
    return Schema(**fields)


@dataclass(frozen=True)
class IndexDocument:
    """What the index keeps of one published article."""

    article_id: int
    slug: str
    language: str
    visibility: str
    category: str
    title: str
    tags: tuple[str, ...]
    text: str

    def fields(self) -> dict:
        words = " ".join([self.title, " ".join(self.tags), self.text])
        return {
            "article_id": str(self.article_id),
            "slug": self.slug,
            "language": self.language,
            "visibility": self.visibility,
            "category": self.category,
            "title": self.title,
            f"title_{self.language}": self.title,
            f"tags_{self.language}": " ".join(self.tags),
            f"body_{self.language}": self.text,
            f"spell_{self.language}": words,
        }


# Opening and reading ---------------------------------------------------------------

_open_lock = threading.Lock()
_indexes: dict[str, index.Index] = {}
_local = threading.local()


def index_dir() -> Path:
    return Path(current_app.config["SEARCH_INDEX_DIR"])


def open_index(directory: Path | None = None) -> index.Index:
    """The index in `directory` (default: the app's), created empty when missing."""
    directory = Path(directory or index_dir())
    key = str(directory.resolve())
    with _open_lock:
        if key not in _indexes:
            directory.mkdir(parents=True, exist_ok=True)
            if index.exists_in(directory):
                _indexes[key] = index.open_dir(directory)
            else:
                _indexes[key] = index.create_in(directory, build_schema())
        return _indexes[key]


def forget_open_indexes() -> None:
    """Drop cached index handles (tests that delete index folders call this)."""
    with _open_lock:
        _indexes.clear()
    _local.__dict__.clear()


def _searcher(ix: index.Index):
    """A searcher per thread, reused across searches and reopened when the index changed."""
    searchers = _local.__dict__.setdefault("searchers", {})
    searcher = searchers.get(id(ix))
    if searcher is None or not searcher.up_to_date():
        if searcher is not None:
            # Not Searcher.refresh(): reusing segment readers across a full rebuild (mergetype
            # CLEAR) keeps the dropped segments visible, doubling every hit.
            searcher.close()
        searcher = searchers[id(ix)] = ix.searcher()
    return searcher


# Writing ----------------------------------------------------------------------------


def _write(ix: index.Index, documents: dict[int, IndexDocument | None]) -> None:
    writer = ix.writer(timeout=60.0)
    try:
        for article_id, document in documents.items():
            if document is None:
                writer.delete_by_term("article_id", str(article_id))
            else:
                writer.update_document(**document.fields())
    except BaseException:
        writer.cancel()
        raise
    writer.commit()


def schedule(session: Session, article_id: int, document: IndexDocument | None) -> None:
    """Update the index for this article once `session` commits (None removes it);
    a rollback forgets the change."""
    session.info.setdefault(PENDING_KEY, {})[article_id] = document


@event.listens_for(Session, "after_commit")
def _apply_pending(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    if pending:
        _write(open_index(), pending)


@event.listens_for(Session, "after_rollback")
def _forget_pending(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)


def rebuild(
    documents: Iterable[IndexDocument],
    total: int,
    directory: Path | None = None,
    progress: Callable[[int], None] | None = None,
    processes: int = 2,
) -> int:
    """Replace the whole index with `documents` in one atomic commit; readers keep the old
    version until then. Uses several processes for large rebuilds."""
    ix = open_index(directory)
    parallel = processes > 1 and total >= 500
    writer = (
        ix.writer(timeout=60.0, procs=processes, limitmb=128, multisegment=True)
        if parallel
        else ix.writer(timeout=60.0, limitmb=128)
    )
    count = 0
    try:
        for document in documents:
            writer.add_document(**document.fields())
            count += 1
            if progress:
                progress(1)
    except BaseException:
        writer.cancel()
        raise
    writer.commit(mergetype=writing.CLEAR)
    return count


# Searching ----------------------------------------------------------------------------


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
    total: int
    page: int
    per_page: int
    suggestion: str | None = None
    corrected_words: dict[str, str] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def number(self) -> int:
        return self.page

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def normalize_query(text: str) -> str:
    """Trim, collapse spaces and join spaced error codes ("EDY 4031" → "EDY-4031")."""
    text = " ".join((text or "").split())[:200]
    return _SPACED_ERROR_CODE.sub(r"\1-\2", text)


_analyzers = {language: language_analyzer(language) for language in LANGUAGES}
_spell = spelling_analyzer()


def _stem(language: str, word: str) -> str | None:
    tokens = [token.text for token in _analyzers[language](word)]
    return tokens[0] if tokens else None


@dataclass
class Spelling:
    """Words found as typed, and the nearest known word for the others."""

    exact: set[str] = field(default_factory=set)
    corrections: dict[str, str] = field(default_factory=dict)

    def corrected(self) -> dict[str, str]:
        return {word: near for word, near in self.corrections.items() if word not in self.exact}


def _word_query(reader, language: str, word: str, is_last: bool, spelling: Spelling):
    fields = (f"title_{language}", f"tags_{language}", f"body_{language}")
    stem = _stem(language, word)
    if stem is None:
        return None
    if any(reader.doc_frequency(name, stem) for name in fields):
        spelling.exact.add(word)
        clauses = [Term(name, stem) for name in fields]
        if is_last and len(word) >= 4:
            clauses.append(Prefix(f"body_{language}", stem, boost=PREFIX_WEIGHT))
        return Or(clauses)
    clauses = []
    if is_last and len(word) >= 4:
        # The word may still be being typed: let "subti" find "subtítulos".
        clauses.extend(Prefix(name, stem, boost=PREFIX_WEIGHT) for name in fields)
    if len(word) >= 4:
        distance = 1 if len(word) < 7 else 2
        spell_field = f"spell_{language}"
        near = reader.terms_within(spell_field, word, distance, prefix=1)
        near = sorted(near, key=lambda term: -reader.doc_frequency(spell_field, term))[:FUZZY_ALTERNATIVES]
        if near:
            spelling.corrections.setdefault(word, near[0])
        for term in near:
            near_stem = _stem(language, term)
            if near_stem:
                clauses.extend(Term(name, near_stem, boost=FUZZY_WEIGHT) for name in fields)
    return Or(clauses) if clauses else None


def build_query(reader, language: str, text: str, spelling: Spelling):
    """The Whoosh query for `text` in one language (None when nothing searchable remains)."""
    words = [token.text for token in _spell(text)]
    clauses = []
    for position, word in enumerate(words):
        clause = _word_query(reader, language, word, position == len(words) - 1, spelling)
        if clause is not None:
            clauses.append(clause)
    if not clauses:
        return None
    # The coordination bonus ranks articles that match more of the words higher.
    return Or(clauses, scale=0.9) if len(clauses) > 1 else clauses[0]


def _snippet(hit, language: str) -> str:
    fragment = hit.highlights(f"body_{language}", top=2)
    if not fragment:
        fragment = html.escape(hit.get(f"body_{language}", "")[:220])
    # Whoosh escapes the text; the sanitizer makes sure only <mark> survives whatever happens.
    return nh3.clean(fragment, tags={"mark"}, attributes={})


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
    empty = SearchResults(query=text, hits=[], total=0, page=1, per_page=per_page)
    if not text or not languages:
        return empty
    searcher = _searcher(open_index())
    reader = searcher.reader()
    spelling = Spelling()
    language_queries = []
    for language in languages:
        query = build_query(reader, language, text, spelling)
        if query is not None:
            language_queries.append(query)
    if not language_queries:
        return empty
    query = language_queries[0] if len(language_queries) == 1 else Or(language_queries)
    filters = [Or([Term("visibility", v) for v in visibilities])]
    filters.append(Or([Term("language", language) for language in languages]))
    if category:
        filters.append(Term("category", category))
    results = searcher.search_page(query, max(1, page), pagelen=per_page, filter=And(filters))
    if with_snippets:
        results.results.fragmenter = ContextFragmenter(maxchars=240, surround=60)
        results.results.formatter = HtmlFormatter(tagname="mark", between=" … ")
    hits = [
        SearchHit(
            article_id=int(hit["article_id"]),
            slug=hit["slug"],
            language=hit["language"],
            category=hit["category"],
            title=hit["title"],
            score=float(hit.score),
            snippet=_snippet(hit, hit["language"]) if with_snippets else "",
        )
        for hit in results
    ]
    corrections = spelling.corrected()
    suggestion = None
    if corrections:
        suggestion = " ".join(corrections.get(word, word) for word in (t.text for t in _spell(text)))
    return SearchResults(
        query=text,
        hits=hits,
        total=results.total,
        page=results.pagenum,
        per_page=per_page,
        suggestion=suggestion,
        corrected_words=corrections,
    )
