"""The knowledge-base search index (Whoosh): analysis, indexing that follows the database, queries.

One index in SEARCH_INDEX_DIR holds both languages in separate fields, each with its own analysis:
lower-casing, Spanish or English stemming, accent folding, and error codes such as EDY-4031 kept
whole. Query words found in the index are searched as they are; only unknown words are expanded to
the nearest known stems (typo tolerance) and completions (typing), with a lower weight, so exact
matches rank first. Articles with every word are found first; only when they do not fill a page
does the search widen to any of the words.
"""

from __future__ import annotations

import html
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session
from whoosh import index, writing
from whoosh.analysis import CharsetFilter, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema
from whoosh.lang import stopwords_for_language
from whoosh.query import And, Or, Term
from whoosh.query.compound import DefaultOr
from whoosh.support.charset import accent_map

from portal.core.text import clean_line

log = logging.getLogger(__name__)

LANGUAGES = ("es", "en")
TOKEN_PATTERN = r"[A-Za-z]{2,6}-\d{2,6}|[^\W_]+"
_SPACED_ERROR_CODE = re.compile(r"\b([A-Za-z]{2,6})[\s_]+(\d{3,6})\b")
_ERROR_CODE = re.compile(r"^[a-z]{2,6}-\d{2,6}$")
PENDING_KEY = "kb_search_pending"
FUZZY_ALTERNATIVES = 3
FUZZY_WEIGHT = 0.6
PREFIX_WEIGHT = 0.5
COMMON_WORD_SHARE = 0.3


def language_analyzer(language: str):
    return (
        RegexTokenizer(TOKEN_PATTERN)
        | LowercaseFilter()
        | StopFilter(stoplist=stopwords_for_language(language), minsize=1)
        | StemFilter(lang=language)
        | CharsetFilter(accent_map)
    )


def word_analyzer():
    """Words as typed, lower-cased and accent-folded, not stemmed."""
    return RegexTokenizer(TOKEN_PATTERN) | LowercaseFilter() | CharsetFilter(accent_map)


def build_schema() -> Schema:
    fields = {
        "article_id": ID(stored=True, unique=True),
        "slug": ID(stored=True),
        "language": ID(stored=True),
        "visibility": ID(stored=True),
        "category": ID(stored=True),
        "tags": KEYWORD(commas=True, lowercase=True, scorable=True),
        "title": STORED(),
    }
    for language in LANGUAGES:
        fields[f"text_{language}"] = TEXT(analyzer=language_analyzer(language), phrase=False)
        fields[f"body_{language}"] = STORED()
    return Schema(**fields)


# BM25F weights fields by adding their term frequencies with a weight before saturation;
# repeating a field's text in the one scored field does exactly that, and searching one
# posting list per word instead of three keeps queries fast.
TITLE_WEIGHT = 3
TAGS_WEIGHT = 2


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
        tags = " ".join(self.tags)
        weighted = " ".join([self.title] * TITLE_WEIGHT + [tags] * TAGS_WEIGHT + [self.text])
        return {
            "article_id": str(self.article_id),
            "slug": self.slug,
            "language": self.language,
            "visibility": self.visibility,
            "category": self.category,
            "title": self.title,
            "tags": ",".join(self.tags),
            f"text_{self.language}": weighted,
            f"body_{self.language}": self.text,
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
            schema = build_schema()
            existing = index.open_dir(directory) if index.exists_in(directory) else None
            if existing is not None and existing.schema.names() == schema.names():
                _indexes[key] = existing
            else:
                # A new portal version changed the fields: start empty (`flask kb reindex` refills it).
                if existing is not None:
                    current_app.logger.warning("search index schema changed; run `flask kb reindex`")
                _indexes[key] = index.create_in(directory, schema)
        return _indexes[key]


def forget_open_indexes() -> None:
    """Drop cached index handles (tests that delete index folders call this)."""
    with _open_lock:
        _indexes.clear()
    _local.__dict__.clear()


@dataclass
class _OpenSearcher:
    searcher: object
    allowed: dict = field(default_factory=dict)


def _searcher(ix: index.Index) -> _OpenSearcher:
    """A searcher per thread, reused across searches and reopened when the index changed,
    with the document sets of its filters cached for its lifetime."""
    searchers = _local.__dict__.setdefault("searchers", {})
    current = searchers.get(id(ix))
    if current is None or not current.searcher.up_to_date():
        if current is not None:
            # Not Searcher.refresh(): reusing segment readers across a full rebuild (mergetype
            # CLEAR) keeps the dropped segments visible, doubling every hit.
            current.searcher.close()
        current = searchers[id(ix)] = _OpenSearcher(ix.searcher())
    return current


def _allowed_documents(opened: _OpenSearcher, visibilities, languages, category) -> set[int]:
    """Document numbers a reader may see, computed once per searcher and filter."""
    key = (tuple(sorted(visibilities)), tuple(sorted(languages)), category)
    if key not in opened.allowed:
        clauses = [Or([Term("visibility", v) for v in key[0]]), Or([Term("language", lang) for lang in key[1]])]
        if category:
            clauses.append(Term("category", category))
        opened.allowed[key] = set(opened.searcher.docs_for_query(And(clauses)))
    return opened.allowed[key]


# Writing ----------------------------------------------------------------------------


def _write(ix: index.Index, documents: dict[int, IndexDocument | None]) -> None:
    writer = ix.writer(timeout=60.0)
    try:
        for article_id, document in documents.items():
            if document is None:
                writer.delete_by_term("article_id", str(article_id))
            else:
                writer.update_document(**document.fields())
        writer.commit()
    except BaseException:
        # A failed commit would otherwise keep the write lock, and every later write would wait for it.
        if not writer.is_closed:
            writer.cancel()
        raise


def schedule(session: Session, article_id: int, document: IndexDocument | None) -> None:
    """Update the index for this article once `session` commits (None removes it);
    a rollback forgets the change."""
    session.info.setdefault(PENDING_KEY, {})[article_id] = document


@event.listens_for(Session, "after_commit")
def _apply_pending(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    if pending:
        try:
            _write(open_index(), pending)
        except Exception:
            # The database change is committed: the request succeeded, and the index catches up with
            # `flask kb reindex`; failing the request would invite a retry of what is already done.
            log.exception("search index update failed for articles %s; run `flask kb reindex`", sorted(pending))


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
    found: int  # hits up to and including this page
    more: bool  # further pages exist
    page: int
    per_page: int
    suggestion: str | None = None
    corrected_words: dict[str, str] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return self.page + 1 if self.more else max(1, self.page)

    @property
    def number(self) -> int:
        return self.page

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


_analyzers = {language: language_analyzer(language) for language in LANGUAGES}
_words = word_analyzer()


def _stem(language: str, word: str) -> str | None:
    tokens = [token.text for token in _analyzers[language](word)]
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


SNIPPET_CHARS = 240
_ACCENTED = {"a": "áàâä", "e": "éèêë", "i": "íìîï", "o": "óòôö", "u": "úùûü", "n": "ñ", "c": "ç"}


def _accent_insensitive(stem: str) -> str:
    """A regular expression for `stem` that also matches its accented spellings."""
    return "".join(f"[{ch}{_ACCENTED[ch]}]" if ch in _ACCENTED else re.escape(ch) for ch in stem)


def _snippet(text: str, stems: frozenset[str]) -> str:
    """Up to two passages of `text` around the searched words, the words in <mark>, all else escaped.

    A word matches when it starts with a searched stem, which spares stemming the whole text."""
    usable = sorted((stem for stem in stems if len(stem) >= 2), key=len, reverse=True)
    matches = []
    if usable:
        pattern = re.compile(r"\b(?:" + "|".join(map(_accent_insensitive, usable)) + r")[\w-]*", re.IGNORECASE)
        matches = [match.span() for match in pattern.finditer(text)]
    if not matches:
        return html.escape(text[:SNIPPET_CHARS]) + ("…" if len(text) > SNIPPET_CHARS else "")
    passages, used_until = [], -1
    for start, _end in matches:
        if start < used_until or len(passages) == 2:
            continue
        begin = max(0, text.rfind(" ", 0, max(0, start - 60)) + 1)
        finish = min(len(text), begin + SNIPPET_CHARS // 2 + 60)
        passages.append((begin, finish))
        used_until = finish
    pieces = []
    for begin, finish in passages:
        cursor, piece = begin, []
        for start, end in matches:
            if start >= begin and end <= finish:
                piece.append(html.escape(text[cursor:start]))
                piece.append(f"<mark>{html.escape(text[start:end])}</mark>")
                cursor = end
        piece.append(html.escape(text[cursor:finish]))
        pieces.append("".join(piece).strip())
    return " … ".join(pieces)


def _surface_word(hits, language: str, stem: str) -> str:
    """A real word of the results whose stem is `stem` (for "did you mean"); the stem otherwise."""
    analyzer = _analyzers[language]
    for hit in hits:
        text = hit.get(f"body_{language}", "") or ""
        for token in analyzer(text, chars=True, removestops=False):
            if token.text == stem:
                return text[token.startchar : token.endchar].lower()
    return stem


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
    opened = _searcher(open_index())
    searcher = opened.searcher
    reader = searcher.reader()
    spelling = Spelling()
    per_language = [clauses for language in languages if (clauses := word_queries(reader, language, text, spelling))]
    if not per_language:
        return empty
    allowed = _allowed_documents(opened, visibilities, languages, category)
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
            snippet=_snippet(hit.get(f"body_{hit['language']}", ""), stems[hit["language"]]) if with_snippets else "",
        )
        for hit in page_hits
    ]
    corrections = {
        word: _surface_word(page_hits[:3], language, stem) for word, (language, stem) in spelling.corrected().items()
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
    opened = _searcher(open_index())
    clauses = [Term("tags", tag.lower(), boost=2.0) for tag in tags] + [Term("category", category)]
    allowed = _allowed_documents(opened, visibilities, [language], None)
    if not allowed:
        return []
    results = opened.searcher.search(
        DefaultOr(clauses), limit=limit, filter=allowed, mask=Term("article_id", str(article_id))
    )
    return [
        SearchHit(int(hit["article_id"]), hit["slug"], hit["language"], hit["category"], hit["title"], hit.score, "")
        for hit in results
    ]
