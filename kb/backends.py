"""The configured search backend (SEARCH_BACKEND): Whoosh (`kb.index`, `kb.search`) or PostgreSQL
(`kb.index_pg`, `kb.search_pg`). Callers search, index and rebuild through here."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import current_app
from sqlalchemy.orm import Session

from kb import index, index_pg, search_pg
from kb import search as search_whoosh
from kb.search_rules import SearchHit, SearchResults
from portal.core.config import SearchBackend


def on_postgres() -> bool:
    return current_app.config.get("SEARCH_BACKEND") == SearchBackend.POSTGRES


def search(*args, **kwargs) -> SearchResults:
    """See `kb.search.search`."""
    return (search_pg.search if on_postgres() else search_whoosh.search)(*args, **kwargs)


def related(*args, **kwargs) -> list[SearchHit]:
    """See `kb.search.related`."""
    return (search_pg.related if on_postgres() else search_whoosh.related)(*args, **kwargs)


def schedule(session: Session, article_id: int, document: index.IndexDocument | None) -> None:
    """Index `document` (None: remove it): in the session's transaction on PostgreSQL, after its
    commit on Whoosh."""
    if on_postgres():
        index_pg.write(session, article_id, document)
    else:
        index.schedule(session, article_id, document)


def rebuild(
    session: Session, documents: Iterable[index.IndexDocument], total: int, progress: Callable[[int], None]
) -> tuple[int, str]:
    """Replace the whole index with `documents`: (how many, where they are)."""
    if on_postgres():
        count = index_pg.rebuild(session, documents, progress)
        session.commit()
        return count, "kb_search_documents"
    return index.rebuild(documents, total, progress=progress), str(index.index_dir())
