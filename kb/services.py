"""Knowledge-base operations: articles and revisions, visibility, feedback, search log.

Every function takes plain arguments and owns its commit; index updates are scheduled
to run after that commit (never for a rolled-back change).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import timedelta

from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import case, func, select
from sqlalchemy.orm import joinedload, selectinload

from auth.models import Role, User
from kb import search
from kb.models import (
    CATEGORY_LABELS,
    Article,
    ArticleFeedback,
    ArticleRevision,
    ArticleStatus,
    RevisionState,
    SearchLogEntry,
    Visibility,
)
from kb.rendering import plain_text, render_markdown
from portal import audit
from portal.errors import InvalidInput
from portal.extensions import db
from portal.types import utcnow

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_TAGS = 12
SEARCH_LOG_MERGE_SECONDS = 60


class EditConflict(Exception):
    """Someone saved the article after the editor opened it."""

    def __init__(self, current: ArticleRevision):
        super().__init__(f"article changed: revision {current.number} is newer")
        self.current = current


# Who sees what ------------------------------------------------------------------


def visibilities_for(user: User | None) -> tuple[str, ...]:
    """Anonymous visitors read public articles, partners also partner ones, staff everything."""
    if user is None or not user.is_authenticated:
        return (Visibility.PUBLIC.value,)
    if user.role_enum is Role.PARTNER:
        return (Visibility.PUBLIC.value, Visibility.PARTNERS.value)
    return tuple(v.value for v in Visibility)


def can_edit(user: User | None) -> bool:
    return user is not None and user.is_authenticated and user.is_staff


def readable_article(user: User | None, language: str, slug: str) -> Article | None:
    """The article at (language, slug) if this user may read it, else None."""
    article = db.session.scalar(
        select(Article)
        .options(joinedload(Article.published_revision), joinedload(Article.translation))
        .where(Article.language == language, Article.slug == slug)
    )
    return article if article is not None and can_read(user, article) else None


def _live_articles(visibilities, language: str | None = None):
    statement = (
        select(Article)
        .options(joinedload(Article.published_revision))
        .where(Article.status == ArticleStatus.PUBLISHED.value, Article.visibility.in_(visibilities))
    )
    if language:
        statement = statement.where(Article.language == language)
    return statement


def category_counts(user: User | None, language: str) -> list[tuple[str, str, int]]:
    """(category id, label, live article count) for the categories this user can see."""
    rows = db.session.execute(
        select(Article.category, func.count(Article.id))
        .where(
            Article.status == ArticleStatus.PUBLISHED.value,
            Article.visibility.in_(visibilities_for(user)),
            Article.language == language,
        )
        .group_by(Article.category)
    ).all()
    counts = dict(rows)
    return [(key, str(label), counts[key]) for key, label in CATEGORY_LABELS.items() if counts.get(key)]


def articles_in_category(user: User | None, language: str, category: str) -> list[Article]:
    statement = _live_articles(visibilities_for(user), language).where(Article.category == category)
    articles = list(db.session.scalars(statement))
    return sorted(articles, key=lambda article: article.title.lower())


def recently_updated(user: User | None, language: str, limit: int = 6) -> list[Article]:
    statement = _live_articles(visibilities_for(user), language).order_by(Article.published_at.desc())
    return list(db.session.scalars(statement.limit(limit)))


def related_articles(user: User | None, article: Article, limit: int = 5) -> list[search.SearchHit]:
    """Live articles of the same language sharing tags (first) or the category."""
    return search.related(
        article.id, article.language, article.category, article.tags or [], visibilities_for(user), limit
    )


def can_read(user: User | None, article: Article) -> bool:
    """Whether this user may open `article` (visibility, and live unless staff)."""
    return article.visibility in visibilities_for(user) and (article.is_live or can_edit(user))


@lru_cache(maxsize=512)
def _rendered(revision_id: int, body: str) -> Markup:
    return render_markdown(body)


def rendered_body(revision: ArticleRevision) -> Markup:
    """The revision's sanitized HTML; revisions never change, so it is rendered once per process."""
    return _rendered(revision.id, revision.body)


def staff_article_list(language: str | None = None, status: str | None = None, query: str = ""):
    """A select of every article with its latest revision, for the staff list."""
    statement = select(Article).options(joinedload(Article.published_revision)).order_by(
        Article.language, Article.slug
    )
    if language:
        statement = statement.where(Article.language == language)
    if status:
        statement = statement.where(Article.status == status)
    if query.strip():
        statement = statement.where(Article.slug.ilike(f"%{query.strip()}%"))
    return statement


def latest_revision(article: Article) -> ArticleRevision | None:
    return db.session.scalar(
        select(ArticleRevision).where(
            ArticleRevision.article_id == article.id, ArticleRevision.number == article.latest_revision_number
        )
    )


def revision(article: Article, number: int) -> ArticleRevision | None:
    return db.session.scalar(
        select(ArticleRevision)
        .options(joinedload(ArticleRevision.author))
        .where(ArticleRevision.article_id == article.id, ArticleRevision.number == number)
    )


def revisions(article: Article) -> list[ArticleRevision]:
    return list(
        db.session.scalars(
            select(ArticleRevision)
            .options(joinedload(ArticleRevision.author))
            .where(ArticleRevision.article_id == article.id)
            .order_by(ArticleRevision.number.desc())
        )
    )


# Writing -------------------------------------------------------------------------------


def index_document(article: Article) -> search.IndexDocument | None:
    """What the search index should hold for `article` (None: nothing, it is not live)."""
    if not article.is_live or article.published_revision is None:
        return None
    published = article.published_revision
    return search.IndexDocument(
        article_id=article.id,
        slug=article.slug,
        language=article.language,
        visibility=article.visibility,
        category=article.category,
        title=published.title,
        tags=tuple(article.tags or ()),
        text=published.search_text,
    )


def _schedule_index(article: Article) -> None:
    search.schedule(db.session(), article.id, index_document(article))


def clean_tags(tags) -> list[str]:
    if isinstance(tags, str):
        tags = tags.split(",")
    cleaned = list(dict.fromkeys(tag.strip() for tag in tags or [] if str(tag).strip()))
    if len(cleaned) > MAX_TAGS:
        raise InvalidInput(_("Use at most %(count)d tags.", count=MAX_TAGS), "tags")
    if any(len(tag) > 40 for tag in cleaned):
        raise InvalidInput(_("Tags are at most 40 characters long."), "tags")
    return cleaned


def _check_metadata(category: str, visibility: str) -> None:
    if category not in CATEGORY_LABELS:
        raise InvalidInput(_("Unknown category."), "category")
    if visibility not in {v.value for v in Visibility}:
        raise InvalidInput(_("Unknown visibility."), "visibility")


def _check_text(title: str, body: str) -> tuple[str, str]:
    title = (title or "").strip()
    if not title:
        raise InvalidInput(_("A title is required."), "title")
    if len(title) > 300:
        raise InvalidInput(_("The title is at most 300 characters long."), "title")
    body = (body or "").replace("\r\n", "\n").strip() + "\n"
    if not body.strip():
        raise InvalidInput(_("The article needs a text."), "body")
    return title, body


@dataclass(frozen=True)
class Metadata:
    """What readers see around an article's text: applied to the article only when published."""

    category: str
    tags: list[str]
    visibility: str


def add_revision(
    actor: User | None, article: Article, title: str, body: str, note: str, publish: bool, metadata: Metadata
):
    """Append the next revision to `article` (in the caller's transaction). Only publishing makes
    it live and applies its metadata to the article; a draft changes nothing readers see."""
    article.latest_revision_number += 1
    new = ArticleRevision(
        article=article,
        number=article.latest_revision_number,
        title=title,
        body=body,
        search_text=plain_text(body),
        author=actor,
        note=(note or "").strip()[:500],
        state=RevisionState.PUBLISHED.value if publish else RevisionState.DRAFT.value,
        category=metadata.category,
        tags=list(metadata.tags),
        visibility=metadata.visibility,
    )
    db.session.add(new)
    if publish:
        db.session.flush()
        article.published_revision = new
        article.status = ArticleStatus.PUBLISHED.value
        article.published_at = utcnow()
        article.category, article.tags, article.visibility = new.category, list(new.tags), new.visibility
    return new


def link_translation(article: Article, translation: Article | None) -> None:
    """Make `article` and `translation` point at each other, unlinking a previous partner."""
    if translation is None:
        return
    if translation.language == article.language:
        raise InvalidInput(_("A translation must be in the other language."), "translation_id")
    if article.translation is not None and article.translation is not translation:
        article.translation.translation = None
    article.translation = translation
    translation.translation = article


@dataclass(frozen=True)
class ArticleText:
    """What an editor submits: the text of a revision and the article's metadata."""

    title: str
    body: str
    category: str
    tags: list[str] | str
    visibility: str
    note: str = ""
    publish: bool = False

    @property
    def metadata(self) -> Metadata:
        return Metadata(self.category, list(self.tags), self.visibility)


def _checked(text: ArticleText) -> ArticleText:
    title, body = _check_text(text.title, text.body)
    _check_metadata(text.category, text.visibility)
    if text.publish and not (text.note or "").strip():
        raise InvalidInput(_("Say what changed before publishing."), "note")
    return ArticleText(title, body, text.category, clean_tags(text.tags), text.visibility, text.note, text.publish)


def create_article(
    actor: User | None, language: str, slug: str, text: ArticleText, translation: Article | None = None
) -> Article:
    """A new article with its first revision (a draft, or published at once)."""
    if language not in search.LANGUAGES:
        raise InvalidInput(_("Unknown language."), "language")
    slug = (slug or "").strip().lower()
    if not SLUG_PATTERN.match(slug) or len(slug) > 200:
        raise InvalidInput(_("Use lowercase letters, digits and hyphens only."), "slug")
    if db.session.scalar(select(Article.id).where(Article.language == language, Article.slug == slug)):
        raise InvalidInput(_("Another article in this language already uses this address."), "slug")
    text = _checked(text)
    article = Article(
        slug=slug, language=language, category=text.category, tags=text.tags, visibility=text.visibility
    )
    db.session.add(article)
    db.session.flush()
    link_translation(article, translation)
    add_revision(actor, article, text.title, text.body, text.note, text.publish, text.metadata)
    _schedule_index(article)
    db.session.commit()
    return article


def save_revision(actor: User, article: Article, base_number: int, text: ArticleText) -> ArticleRevision:
    """Save an edit as a new revision. Refused with EditConflict when someone saved after
    revision `base_number` (the one the editor started from)."""
    text = _checked(text)
    # Lock the article row so two saves from the same base cannot both pass the check.
    db.session.refresh(article, with_for_update=True)
    if article.latest_revision_number != base_number:
        current = latest_revision(article)
        db.session.rollback()
        raise EditConflict(current)
    new = add_revision(actor, article, text.title, text.body, text.note, text.publish, text.metadata)
    _schedule_index(article)
    db.session.commit()
    return new


def restore_revision(actor: User, article: Article, number: int, note: str = "") -> ArticleRevision:
    """Publish a copy of an old revision as the newest one (history is never rewritten)."""
    old = revision(article, number)
    if old is None:
        raise InvalidInput(_("That revision does not exist."), "number")
    note = (note or "").strip() or _("Restored revision %(number)d", number=number)
    db.session.refresh(article, with_for_update=True)
    metadata = Metadata(old.category, list(old.tags), old.visibility)
    new = add_revision(actor, article, old.title, old.body, note, True, metadata)
    _schedule_index(article)
    db.session.commit()
    return new


def set_archived(actor: User, article: Article, archived: bool) -> Article:
    """Take an article off the portal (archive) or put its published revision back online."""
    before = {"status": article.status}
    if archived:
        article.status = ArticleStatus.ARCHIVED.value
    elif article.published_revision is not None:
        article.status = ArticleStatus.PUBLISHED.value
    else:
        raise InvalidInput(_("This article has never been published."), "status")
    action = "kb.archived" if archived else "kb.unarchived"
    audit.record(actor, action, article, before, {"status": article.status}, label=f"{article.language}/{article.slug}")
    _schedule_index(article)
    db.session.commit()
    return article


# Feedback ---------------------------------------------------------------------------


def record_feedback(user: User, article: Article, helpful: bool, comment: str = "") -> ArticleFeedback:
    """Store the user's vote on the article, replacing an earlier one."""
    feedback = db.session.scalar(
        select(ArticleFeedback).where(ArticleFeedback.article_id == article.id, ArticleFeedback.user_id == user.id)
    )
    if feedback is None:
        feedback = ArticleFeedback(article_id=article.id, user_id=user.id, helpful=helpful)
        db.session.add(feedback)
    feedback.helpful = helpful
    feedback.comment = (comment or "").strip()[:1000]
    feedback.updated_at = utcnow()
    db.session.commit()
    return feedback


def vote_of(user: User | None, article: Article) -> ArticleFeedback | None:
    if user is None or not user.is_authenticated:
        return None
    return db.session.scalar(
        select(ArticleFeedback).where(ArticleFeedback.article_id == article.id, ArticleFeedback.user_id == user.id)
    )


@dataclass(frozen=True)
class FeedbackSummary:
    helpful: int
    not_helpful: int
    recent_comments: list[ArticleFeedback]


def feedback_summary(article: Article, comments: int = 10) -> FeedbackSummary:
    helpful, not_helpful = db.session.execute(
        select(
            func.coalesce(func.sum(case((ArticleFeedback.helpful.is_(True), 1), else_=0)), 0),
            func.coalesce(func.sum(case((ArticleFeedback.helpful.is_(False), 1), else_=0)), 0),
        ).where(ArticleFeedback.article_id == article.id)
    ).one()
    recent = list(
        db.session.scalars(
            select(ArticleFeedback)
            .options(selectinload(ArticleFeedback.user))
            .where(ArticleFeedback.article_id == article.id, ArticleFeedback.comment != "")
            .order_by(ArticleFeedback.updated_at.desc())
            .limit(comments)
        )
    )
    return FeedbackSummary(int(helpful), int(not_helpful), recent)


# Search log ----------------------------------------------------------------------------


def log_search(
    query: str,
    language: str,
    result_count: int,
    user: User | None,
    previous: tuple[int, str] | None = None,
) -> tuple[int, str] | None:
    """Record a search. While someone types, each keystroke's query replaces the previous one
    (given as (entry id, query)) instead of adding a row. Returns what to pass next time."""
    query = search.normalize_query(query)
    if len(query) < 2:
        return previous
    normalized = query.lower()
    entry = None
    if previous is not None:
        candidate = db.session.get(SearchLogEntry, previous[0])
        typing_on = normalized.startswith(previous[1]) or previous[1].startswith(normalized)
        recent = candidate is not None and utcnow() - candidate.created_at < timedelta(
            seconds=SEARCH_LOG_MERGE_SECONDS
        )
        if typing_on and recent and candidate.user_id == getattr(user, "id", None):
            entry = candidate
    if entry is None:
        entry = SearchLogEntry(
            user_id=getattr(user, "id", None),
            organization_id=getattr(user, "organization_id", None),
        )
        db.session.add(entry)
    entry.query, entry.normalized_query = query, normalized
    entry.language, entry.result_count = language, result_count
    entry.created_at = utcnow()
    db.session.commit()
    return entry.id, normalized


@dataclass(frozen=True)
class QueryStat:
    query: str
    searches: int
    average_results: float


def search_report(days: int, limit: int = 25) -> tuple[list[QueryStat], list[QueryStat]]:
    """Top queries and queries that found nothing, over the last `days` days."""
    since = utcnow() - timedelta(days=days)
    base = (
        select(
            SearchLogEntry.normalized_query,
            func.count(SearchLogEntry.id).label("searches"),
            func.avg(SearchLogEntry.result_count),
        )
        .where(SearchLogEntry.created_at >= since)
        .group_by(SearchLogEntry.normalized_query)
        .order_by(func.count(SearchLogEntry.id).desc(), SearchLogEntry.normalized_query)
        .limit(limit)
    )
    top = [QueryStat(q, n, float(avg or 0)) for q, n, avg in db.session.execute(base)]
    zero = [
        QueryStat(q, n, 0.0)
        for q, n, _avg in db.session.execute(base.where(SearchLogEntry.result_count == 0))
    ]
    return top, zero
