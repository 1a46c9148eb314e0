"""Knowledge-base operations: articles and revisions, who may read them, and editing.

Every function takes plain arguments and owns its commit; index updates go with that commit
(`kb.backends`: in its transaction or right after it), never with a rolled-back change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from auth.models import Role, User
from kb import backends, categories, index
from kb.categories import check_article_category
from kb.models import (
    Article,
    ArticleRevision,
    ArticleStatus,
    Category,
    RevisionState,
    Visibility,
)
from kb.search_rules import SearchHit
from portal.core import audit
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.i18n import LANGUAGES
from portal.core.markdown import plain_text, render_markdown
from portal.core.text import clean_block, clean_line
from portal.core.types import utcnow

SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_SLUG_LENGTH = 200
MAX_TITLE_LENGTH = 300
MAX_BODY_LENGTH = 200_000
MAX_NOTE_LENGTH = 500
MAX_TAGS = 12
MAX_TAG_LENGTH = 40


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


def category_counts(user: User | None, language: str) -> list[tuple[Category, int]]:
    """The categories holding live articles this user can see in `language`, in order,
    with how many (one query). Archived categories count too: their articles stay reachable."""
    rows = db.session.execute(
        select(Category, func.count(Article.id))
        .join(Article, Article.category == Category.key)
        .where(
            Article.status == ArticleStatus.PUBLISHED.value,
            Article.visibility.in_(visibilities_for(user)),
            Article.language == language,
        )
        .group_by(Category.id)
        .order_by(Category.position, Category.id)
    ).all()
    return [(category, count) for category, count in rows]


def articles_in_category(user: User | None, language: str, category: str) -> list[Article]:
    statement = _live_articles(visibilities_for(user), language).where(Article.category == category)
    articles = list(db.session.scalars(statement))
    return sorted(articles, key=lambda article: article.title.lower())


def recently_updated(user: User | None, language: str, limit: int = 6) -> list[Article]:
    statement = _live_articles(visibilities_for(user), language).order_by(Article.published_at.desc())
    return list(db.session.scalars(statement.limit(limit)))


def related_articles(user: User | None, article: Article, limit: int = 5) -> list[SearchHit]:
    """Live articles of the same language sharing tags (first) or the category."""
    return backends.related(
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
    statement = select(Article).options(joinedload(Article.published_revision)).order_by(Article.language, Article.slug)
    if language:
        statement = statement.where(Article.language == language)
    if status:
        statement = statement.where(Article.status == status)
    query = clean_line(query)[:MAX_SLUG_LENGTH].lower()
    if query:
        statement = statement.where(Article.slug.contains(query, autoescape=True))
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


def index_document(article: Article, labels: dict[str, dict[str, str]] | None = None) -> index.IndexDocument | None:
    """What the search index should hold for `article` (None: nothing, it is not live). `labels`:
    each language's category names, read once by whoever indexes many articles."""
    if not article.is_live or article.published_revision is None:
        return None
    published = article.published_revision
    names = labels[article.language] if labels else categories.category_labels(article.language)
    return index.IndexDocument(
        article_id=article.id,
        slug=article.slug,
        language=article.language,
        visibility=article.visibility,
        category=article.category,
        title=published.title,
        tags=tuple(article.tags or ()),
        text=published.search_text,
        category_label=names.get(article.category, article.category),
        translation_id=article.translation_id,
    )


def _schedule_index(article: Article) -> None:
    backends.schedule(db.session(), article.id, index_document(article))


def is_slug(text: str) -> bool:
    """Whether `text` can be an article's address: lowercase words of letters and digits joined
    by hyphens, at most MAX_SLUG_LENGTH characters."""
    return len(text) <= MAX_SLUG_LENGTH and SLUG_PATTERN.fullmatch(text) is not None


def clean_tags(tags) -> list[str]:
    """Tags (a list, or one comma-separated text) cleaned, without blanks and repeats."""
    if isinstance(tags, str):
        tags = tags.split(",")
    cleaned = list(dict.fromkeys(tag for tag in (clean_line(str(tag)) for tag in tags or []) if tag))
    if len(cleaned) > MAX_TAGS:
        raise InvalidInput(_("Use at most %(count)d tags.", count=MAX_TAGS), "tags")
    if any(len(tag) > MAX_TAG_LENGTH for tag in cleaned):
        raise InvalidInput(_("Tags are at most 40 characters long."), "tags")
    return cleaned


def _check_metadata(category: str, visibility: str, kept_categories: tuple[str, ...]) -> None:
    check_article_category(category, kept_categories)
    if visibility not in {v.value for v in Visibility}:
        raise InvalidInput(_("Unknown visibility."), "visibility")


def check_title(title: str | None) -> str:
    """The title cleaned (see `clean_line`), or InvalidInput when nothing or too much is left."""
    title = clean_line(title)
    if not title:
        raise InvalidInput(_("A title is required."), "title")
    if len(title) > MAX_TITLE_LENGTH:
        raise InvalidInput(_("The title is at most 300 characters long."), "title")
    return title


def check_body(body: str | None) -> str:
    """The Markdown text cleaned (see `clean_block`) and ending in one newline, or InvalidInput."""
    body = clean_block(body)
    if not body:
        raise InvalidInput(_("The article needs a text."), "body")
    if len(body) > MAX_BODY_LENGTH:
        raise InvalidInput(_("The text is at most %(count)d characters long.", count=MAX_BODY_LENGTH), "body")
    return body + "\n"


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
        note=clean_line(note)[:MAX_NOTE_LENGTH],
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
    previous = article.translation
    if previous is not None and previous is not translation:
        previous.translation = None
    article.translation = translation
    translation.translation = article
    db.session.flush()
    # The index keeps each article's translation: searches in one language find the other's.
    for linked in {article, translation, previous} - {None}:
        _schedule_index(linked)


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


def _checked(text: ArticleText, kept_categories: tuple[str, ...] = ()) -> ArticleText:
    """The submitted text checked and cleaned; an archived category only for an article already
    in it (`kept_categories`)."""
    title, body, note = check_title(text.title), check_body(text.body), clean_line(text.note)
    _check_metadata(text.category, text.visibility, kept_categories)
    if text.publish and not note:
        raise InvalidInput(_("Say what changed before publishing."), "note")
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidInput(_("The change note is at most 500 characters long."), "note")
    return ArticleText(title, body, text.category, clean_tags(text.tags), text.visibility, note, text.publish)


def create_article(
    actor: User | None, language: str, slug: str, text: ArticleText, translation: Article | None = None
) -> Article:
    """A new article with its first revision (a draft, or published at once)."""
    if language not in LANGUAGES:
        raise InvalidInput(_("Unknown language."), "language")
    slug = clean_line(slug).lower()
    if not is_slug(slug):
        raise InvalidInput(_("Use lowercase letters, digits and hyphens only."), "slug")
    if db.session.scalar(select(Article.id).where(Article.language == language, Article.slug == slug)):
        raise InvalidInput(_("Another article in this language already uses this address."), "slug")
    text = _checked(text)
    article = Article(slug=slug, language=language, category=text.category, tags=text.tags, visibility=text.visibility)
    db.session.add(article)
    db.session.flush()
    link_translation(article, translation)
    add_revision(actor, article, text.title, text.body, text.note, text.publish, text.metadata)
    _schedule_index(article)
    db.session.commit()
    return article


def _categories_of(article: Article) -> tuple[str, ...]:
    """The categories an article is in: its readers' and its latest revision's."""
    latest = latest_revision(article)
    return (article.category, latest.category) if latest else (article.category,)


def save_revision(actor: User, article: Article, base_number: int, text: ArticleText) -> ArticleRevision:
    """Save an edit as a new revision. Refused with EditConflict when someone saved after
    revision `base_number` (the one the editor started from)."""
    text = _checked(text, _categories_of(article))
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
    note = clean_line(note) or _("Restored revision %(number)d", number=number)
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
