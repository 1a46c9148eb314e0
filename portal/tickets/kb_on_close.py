"""The procedure's KB-on-close rule: resolving links an article the agent created or updated for
the ticket (or says why none is needed), and a draft can be started from the ticket."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from auth.models import User
from kb import services as kb_services
from kb.models import Article, ArticleRevision
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.i18n import LANGUAGES, Language
from portal.tickets import policy
from portal.tickets.models import Ticket, TicketForm
from portal.tickets.policy import Action


def linked_article(agent: User, ticket: Ticket, article_id: int | None, no_kb_reason: str):
    """Resolving needs a KB article the agent created or updated for this ticket, or a reason why not."""
    if article_id:
        touched = db.session.scalar(
            select(ArticleRevision.id).where(
                ArticleRevision.article_id == article_id,
                ArticleRevision.author_id == agent.id,
                ArticleRevision.created_at >= ticket.created_at,
            )
        )
        if not touched:
            raise InvalidInput(
                _("Link an article you created or updated while working on this ticket."), "kb_article_id"
            )
        return db.session.get(Article, article_id)
    if not no_kb_reason:
        raise InvalidInput(_("Link the KB article you updated, or say why no KB change is needed."), "no_kb_reason")
    return None


def kb_draft_for(agent: User, ticket: Ticket):
    """A KB draft prefilled from the ticket, for the agent to complete and link on resolving."""
    policy.check(agent, ticket, Action.RESOLVE)
    language = ticket.requester.language if ticket.requester.language in LANGUAGES else Language.ES.value
    base = slug = ticket.reference.lower()
    number = 1
    while db.session.scalar(select(Article.id).where(Article.language == language, Article.slug == slug)):
        number += 1
        slug = f"{base}-{number}"
    text = kb_services.ArticleText(
        title=ticket.subject,
        body=f"## {_('Problem')}\n\n{ticket.description}\n\n## {_('Solution')}\n\n…\n",
        category="support-process" if ticket.form == TicketForm.MARKETING_BUSINESS else "playback",
        tags=[ticket.reference],
        visibility="internal",
        note=f"Draft from {ticket.reference}",
        publish=False,
    )
    return kb_services.create_article(agent, language, slug, text)
