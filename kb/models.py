"""Categories, articles, their immutable revisions, reader feedback and the search log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from auth.models import User
from portal.core.extensions import db
from portal.core.i18n import LANGUAGES, Language
from portal.core.types import UTCDateTime, utcnow


class Visibility(StrEnum):
    PUBLIC = "public"
    PARTNERS = "partners"
    INTERNAL = "internal"


class ArticleStatus(StrEnum):
    DRAFT = "draft"  # never published
    PUBLISHED = "published"
    ARCHIVED = "archived"


class RevisionState(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


VISIBILITY_LABELS = {
    Visibility.PUBLIC: _l("Public"),
    Visibility.PARTNERS: _l("Partners"),
    Visibility.INTERNAL: _l("Internal (staff only)"),
}


class RevisionIsImmutable(RuntimeError):
    pass


class Category(db.Model):
    """What articles are filed under, named in both languages. Its key never changes (addresses
    and files use it); an archived category keeps its articles but takes no new ones."""

    __tablename__ = "kb_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    label_es: Mapped[str] = mapped_column(String(100))
    label_en: Mapped[str] = mapped_column(String(100))
    description_es: Mapped[str] = mapped_column(String(500), default="")
    description_en: Mapped[str] = mapped_column(String(500), default="")
    position: Mapped[int]
    archived: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def label(self, language: str) -> str:
        return self.label_en if language == Language.EN else self.label_es

    def description(self, language: str) -> str:
        return self.description_en if language == Language.EN else self.description_es


class Article(db.Model):
    """One article in one language; its text lives in revisions."""

    __tablename__ = "kb_articles"
    __table_args__ = (
        UniqueConstraint("language", "slug", name="uq_kb_articles_language_slug"),
        CheckConstraint("language IN (" + ", ".join(f"'{code}'" for code in LANGUAGES) + ")", name="language_known"),
        CheckConstraint("visibility IN ('public', 'partners', 'internal')", name="visibility_known"),
        CheckConstraint("status IN ('draft', 'published', 'archived')", name="status_known"),
        Index("ix_kb_articles_listing", "language", "status", "category"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2))
    category: Mapped[str] = mapped_column(String(60), ForeignKey("kb_categories.key"))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    visibility: Mapped[str] = mapped_column(String(10), default=Visibility.PARTNERS.value)
    status: Mapped[str] = mapped_column(String(10), default=ArticleStatus.DRAFT.value)
    translation_id: Mapped[int | None] = mapped_column(ForeignKey("kb_articles.id", ondelete="SET NULL"))
    published_revision_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_article_revisions.id", use_alter=True, name="fk_kb_articles_published_revision")
    )
    latest_revision_number: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # post_update: both rows point at each other, so the second pointer is written by an UPDATE.
    translation: Mapped[Article | None] = relationship(
        remote_side=[id], foreign_keys=[translation_id], post_update=True
    )
    published_revision: Mapped[ArticleRevision | None] = relationship(
        foreign_keys=[published_revision_id], post_update=True
    )
    revisions: Mapped[list[ArticleRevision]] = relationship(
        back_populates="article",
        foreign_keys="ArticleRevision.article_id",
        order_by="ArticleRevision.number",
    )

    @property
    def title(self) -> str:
        return self.published_revision.title if self.published_revision else ""

    @property
    def has_newer_draft(self) -> bool:
        published = self.published_revision.number if self.published_revision else 0
        return self.latest_revision_number > published

    @property
    def is_live(self) -> bool:
        return self.status == ArticleStatus.PUBLISHED


class ArticleRevision(db.Model):
    """An immutable snapshot of an article's title and body."""

    __tablename__ = "kb_article_revisions"
    __table_args__ = (
        UniqueConstraint("article_id", "number", name="uq_kb_article_revisions_article_number"),
        CheckConstraint("state IN ('draft', 'published')", name="state_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # The body's readable words, derived once (revisions never change) for the search index.
    search_text: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(String(500), default="")
    state: Mapped[str] = mapped_column(String(10))
    # What readers would see with this revision: applied to the article only when it is published,
    # so a draft never changes a live article's visibility, category or tags.
    category: Mapped[str] = mapped_column(String(60), ForeignKey("kb_categories.key"))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    visibility: Mapped[str] = mapped_column(String(10))

    article: Mapped[Article] = relationship(back_populates="revisions", foreign_keys=[article_id])
    author: Mapped[User | None] = relationship()


@event.listens_for(ArticleRevision, "before_update")
def _refuse_revision_changes(mapper, connection, revision):
    raise RevisionIsImmutable("revisions are never changed; save a new one")


class ArticleFeedback(db.Model):
    """One reader's "was this helpful?" vote on an article (changeable)."""

    __tablename__ = "kb_article_feedback"
    __table_args__ = (UniqueConstraint("article_id", "user_id", name="uq_kb_article_feedback_article_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    helpful: Mapped[bool]
    comment: Mapped[str] = mapped_column(String(1000), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()


class SearchLogEntry(db.Model):
    """One search as a person typed it, for the content-gap report."""

    __tablename__ = "kb_search_log"
    __table_args__ = (
        Index("ix_kb_search_log_created_at_query", "created_at", "normalized_query"),
        Index("ix_kb_search_log_client_query", "client_key", "normalized_query", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    query: Mapped[str] = mapped_column(String(200))
    normalized_query: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(5))
    result_count: Mapped[int]
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # A keyed hash of the client (user id, or address and browser for anonymous visitors): repeats
    # from one client merge, and the report counts distinct clients, without storing addresses.
    client_key: Mapped[str] = mapped_column(String(64), default="", server_default="")
