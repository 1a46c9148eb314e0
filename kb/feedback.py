"""Readers' "was this helpful?" votes on articles, and their summary for staff."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from auth.models import User
from kb.models import Article, ArticleFeedback
from portal.core.extensions import db
from portal.core.text import clean_block
from portal.core.types import utcnow

MAX_COMMENT_LENGTH = 1000


def record_feedback(user: User, article: Article, helpful: bool, comment: str = "") -> ArticleFeedback:
    """Store the user's vote on the article, replacing an earlier one."""
    feedback = vote_of(user, article)
    if feedback is None:
        feedback = ArticleFeedback(article_id=article.id, user_id=user.id, helpful=helpful)
        db.session.add(feedback)
    feedback.helpful = helpful
    feedback.comment = clean_block(comment)[:MAX_COMMENT_LENGTH]
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
