"""The knowledge-base search index in PostgreSQL (SEARCH_BACKEND=postgres): one row per live
article in `kb_search_documents`, the words the articles use in `kb_search_words` (for typo
tolerance), both created by migration 0018 and written in the transaction that changes the article.

Each language has its text search configuration (`edye_es`, `edye_en`: accents folded, then Spanish
or English stemming). The weighted text is title (A), tags (B), the category's name (C) and body (D);
error codes such as EDY-4031 are joined into one word ("edy4031"), which PostgreSQL's parser would
otherwise split. Queries live in `kb.search_pg`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session
from whoosh.analysis import LowercaseFilter, RegexTokenizer
from whoosh.support.charset import accent_map

from kb.index import TOKEN_PATTERN, IndexDocument

CONFIGURATIONS = {"es": "edye_es", "en": "edye_en"}
TABLES = ("kb_search_documents", "kb_search_words")
REBUILD_BATCH = 200  # documents per round trip of a rebuild
TOTALS_SECONDS = 60.0  # how long a count of the articles per language serves
_HYPHENATED_CODE = re.compile(r"\b([A-Za-z]{2,6})-(\d{2,6})\b")
_spellings = RegexTokenizer(TOKEN_PATTERN) | LowercaseFilter()


def joined_codes(value: str) -> str:
    """`value` with its error codes as one word ("EDY-4031" → "EDY4031")."""
    return _HYPHENATED_CODE.sub(r"\1\2", value)


def fold(word: str) -> str:
    """A word lower-cased, without accents and with its code joined: how kb_search_words keys it."""
    return joined_codes(word.lower().translate(accent_map))


_UPSERT = text(
    """
    INSERT INTO kb_search_documents
        (article_id, language, visibility, category, slug, title, tags, translation_id, body, document)
    VALUES (:article_id, :language, :visibility, :category, :slug, :title, :tags, :translation_id, :body,
        setweight(to_tsvector(CAST(:configuration AS regconfig), :title_words), 'A')
        || setweight(to_tsvector(CAST(:configuration AS regconfig), :tag_words), 'B')
        || setweight(to_tsvector(CAST(:configuration AS regconfig), :category_words), 'C')
        || setweight(to_tsvector(CAST(:configuration AS regconfig), :body_words), 'D'))
    ON CONFLICT (article_id) DO UPDATE SET
        language = EXCLUDED.language, visibility = EXCLUDED.visibility, category = EXCLUDED.category,
        slug = EXCLUDED.slug, title = EXCLUDED.title, tags = EXCLUDED.tags,
        translation_id = EXCLUDED.translation_id, body = EXCLUDED.body, document = EXCLUDED.document
    """
)

# A word's lexeme is what its language's configuration makes of it; stop words have none.
_ADD_WORDS = text(
    """
    INSERT INTO kb_search_words (language, word, lexeme, spelling)
    SELECT :language, typed.word, analysed.lexeme, typed.spelling
    FROM unnest(CAST(:words AS text[]), CAST(:spellings AS text[])) AS typed(word, spelling)
    CROSS JOIN LATERAL (
        SELECT array_to_string(tsvector_to_array(to_tsvector(CAST(:configuration AS regconfig), typed.word)), ' ')
            AS lexeme
    ) AS analysed
    WHERE analysed.lexeme <> ''
    ON CONFLICT (language, word) DO NOTHING
    """
)


# How many articles use each word's lexeme: the search weighs rare words more. Counted by a
# rebuild; a word new since then counts one article, which is close enough for a weight.
_COUNT_DOCUMENTS = text(
    """
    UPDATE kb_search_words AS words SET documents = counted.ndoc
    FROM ts_stat(format('SELECT document FROM kb_search_documents WHERE language = %L', CAST(:language AS text)))
        AS counted
    WHERE words.language = :language AND words.lexeme = counted.word
    """
)


_totals_lock = threading.Lock()
_counted: list = [0.0, {}]  # when, articles per language


def totals(session: Session) -> dict[str, int]:
    """Articles per language, counted again after TOTALS_SECONDS or a write of this process:
    counting costs more than a search, and the words' weights need no exact count."""
    with _totals_lock:
        if time.monotonic() - _counted[0] > TOTALS_SECONDS:
            rows = session.execute(text("SELECT language, count(*) FROM kb_search_documents GROUP BY language"))
            _counted[:] = [time.monotonic(), dict(rows.all())]
        return _counted[1]


def _forget_totals() -> None:
    with _totals_lock:
        _counted[0] = 0.0


def _row(document: IndexDocument) -> dict:
    return {
        "article_id": document.article_id,
        "language": document.language,
        "visibility": document.visibility,
        "category": document.category,
        "slug": document.slug,
        "title": document.title,
        "tags": [tag.lower() for tag in document.tags],
        "translation_id": document.translation_id,
        "body": document.text,
        "configuration": CONFIGURATIONS[document.language],
        "title_words": joined_codes(document.title),
        "tag_words": joined_codes(" ".join(document.tags)),
        "category_words": document.category_label,
        "body_words": joined_codes(document.text),
    }


def _words(document: IndexDocument) -> dict[str, str]:
    """The document's words, folded → as written (the spelling "did you mean" shows)."""
    written = " ".join([document.title, *document.tags, document.category_label, document.text])
    return {fold(token.text): token.text for token in _spellings(written)}


def _add_words(session: Session, language: str, words: dict[str, str]) -> None:
    # Sorted: two transactions adding the same words lock them in one order and cannot deadlock.
    ordered = sorted(words)
    session.execute(
        _ADD_WORDS,
        {
            "language": language,
            "configuration": CONFIGURATIONS[language],
            "words": ordered,
            "spellings": [words[word] for word in ordered],
        },
    )


def write(session: Session, article_id: int, document: IndexDocument | None) -> None:
    """Index `document` (None: remove the article) in the session's transaction: it is searchable
    when the change commits, and a rollback takes it back with the change."""
    session.flush()  # the article's row must exist before the index row that points at it
    _forget_totals()
    if document is None:
        session.execute(text("DELETE FROM kb_search_documents WHERE article_id = :id"), {"id": article_id})
        return
    session.execute(_UPSERT, _row(document))
    _add_words(session, document.language, _words(document))


def rebuild(session: Session, documents: Iterable[IndexDocument], progress: Callable[[int], None] | None = None) -> int:
    """Replace every index row with `documents` in the session's transaction (the caller commits);
    readers see the old rows until then."""
    _forget_totals()
    session.execute(text("DELETE FROM kb_search_documents"))
    session.execute(text("DELETE FROM kb_search_words"))
    words: dict[str, dict[str, str]] = {language: {} for language in CONFIGURATIONS}
    batch: list[dict] = []
    count = 0
    for document in documents:
        batch.append(_row(document))
        words[document.language].update(_words(document))
        if len(batch) == REBUILD_BATCH:
            session.execute(_UPSERT, batch)
            count, batch = count + len(batch), []
            if progress:
                progress(REBUILD_BATCH)
    if batch:
        session.execute(_UPSERT, batch)
        count += len(batch)
        if progress:
            progress(len(batch))
    for language, known in words.items():
        _add_words(session, language, known)
        session.execute(_COUNT_DOCUMENTS, {"language": language})
    # Fresh statistics, or the planner keeps those of the tables before the rebuild (empty, after a
    # switch) and filters every article's text instead of using the text index. Rows this
    # transaction wrote count as live to ANALYZE.
    session.execute(text("ANALYZE kb_search_documents, kb_search_words"))
    return count
