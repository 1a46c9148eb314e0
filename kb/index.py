"""The knowledge-base search index (Whoosh): its fields and analysis, opening it, and writing that
follows the database.

One index in SEARCH_INDEX_DIR holds both languages in separate fields, each with its own analysis:
lower-casing, Spanish or English stemming, accent folding, and error codes such as EDY-4031 kept
whole. Services schedule index changes on the SQLAlchemy session; they are written after the commit
and forgotten on a rollback. Queries live in `kb.search`, snippets in `kb.snippets`.
"""

from __future__ import annotations

import logging
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
from whoosh.support.charset import accent_map

from portal.core.i18n import LANGUAGES

log = logging.getLogger(__name__)

TOKEN_PATTERN = r"[A-Za-z]{2,6}-\d{2,6}|[^\W_]+"
PENDING_KEY = "kb_search_pending"


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


# One analyzer per language for queries and snippets, built once.
ANALYZERS = {language: language_analyzer(language) for language in LANGUAGES}


def build_schema() -> Schema:
    fields = {
        "article_id": ID(stored=True, unique=True),
        "slug": ID(stored=True),
        "language": ID(stored=True),
        "visibility": ID(stored=True),
        "category": ID(stored=True),
        "tags": KEYWORD(commas=True, lowercase=True, scorable=True),
        "title": STORED(),
        "translation_id": STORED(),
    }
    for language in LANGUAGES:
        # No word positions: phrase queries over them cost several times a search and double a
        # reindex at 10,000 articles (bench/kb_search.py, 2026-12-01).
        fields[f"text_{language}"] = TEXT(analyzer=language_analyzer(language), phrase=False)
        fields[f"body_{language}"] = STORED()
    return Schema(**fields)


# BM25F weights fields by adding their term frequencies with a weight before saturation;
# repeating a field's text in the one scored field does exactly that, and searching one
# posting list per word instead of three keeps queries fast.
TITLE_WEIGHT = 3
TAGS_WEIGHT = 2
CATEGORY_WEIGHT = 1  # "problemas de DRM" finds the DRM category's articles


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
    category_label: str = ""  # its category's name, in the article's language
    translation_id: int | None = None  # the same article in the other language

    def fields(self) -> dict:
        tags = " ".join(self.tags)
        labelled = [self.category_label] * CATEGORY_WEIGHT
        weighted = " ".join([self.title] * TITLE_WEIGHT + [tags] * TAGS_WEIGHT + labelled + [self.text])
        return {
            "article_id": str(self.article_id),
            "slug": self.slug,
            "language": self.language,
            "visibility": self.visibility,
            "category": self.category,
            "title": self.title,
            "tags": ",".join(self.tags),
            "translation_id": str(self.translation_id or ""),
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
class OpenSearcher:
    searcher: object
    allowed: dict = field(default_factory=dict)


def open_searcher(ix: index.Index) -> OpenSearcher:
    """A searcher per thread, reused across searches and reopened when the index changed,
    with the document sets of its filters cached for its lifetime."""
    searchers = _local.__dict__.setdefault("searchers", {})
    current = searchers.get(id(ix))
    if current is None or not current.searcher.up_to_date():
        if current is not None:
            # Not Searcher.refresh(): reusing segment readers across a full rebuild (mergetype
            # CLEAR) keeps the dropped segments visible, doubling every hit.
            current.searcher.close()
        current = searchers[id(ix)] = OpenSearcher(ix.searcher())
    return current


def allowed_documents(opened: OpenSearcher, visibilities, languages, category) -> set[int]:
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
