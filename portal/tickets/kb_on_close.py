"""The procedure's KB-on-close rule (§9.6, §13: the agent updates the partners' knowledge base as
part of closing): resolving links an article the agent created or updated for the ticket, or says
why no KB change is needed; a draft can be started from the ticket.

The rule is met only when partners can read the agent's change: the article is published, visible
to partners (public or partners), and its published revision is the agent's change or a later one.
A linked draft, or an article published for staff only, still lets the ticket be resolved, but it
stays in the KB follow-up list until it reaches partners or is archived (discarded). The linked
article is remembered by the resolve event (`kb_article_id`), so the list is a query, not a table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from flask_babel import gettext as _
from sqlalchemy import and_, exists, func, not_, or_, select
from sqlalchemy.orm import aliased, joinedload

from auth.models import User
from kb import services as kb_services
from kb.categories import offered_category
from kb.models import Article, ArticleRevision, ArticleStatus, Visibility
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.i18n import LANGUAGES, Language
from portal.core.types import utcnow
from portal.core.web import Page, paginate
from portal.sla.models import RequestType
from portal.tickets import policy
from portal.tickets.models import EventKind, Ticket, TicketEvent, TicketForm
from portal.tickets.policy import Action
from portal.tickets.sla_clock import FORM_REQUEST_TYPES

PARTNER_VISIBILITIES = (Visibility.PUBLIC.value, Visibility.PARTNERS.value)
FOLLOW_UP_PAGE_SIZE = 25


def linked_article(agent: User, ticket: Ticket, article_id: int | None, no_kb_reason: str):
    """Resolving needs a KB article the agent created or updated for this ticket, or a reason why
    not. A draft or staff-only article is accepted here and lands in the KB follow-up list."""
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
        article = db.session.get(Article, article_id)
        if article.status == ArticleStatus.ARCHIVED:
            raise InvalidInput(
                _("This article is archived: link a current article, or say why no KB change is needed."),
                "kb_article_id",
            )
        return article
    if not no_kb_reason:
        raise InvalidInput(_("Link the KB article you updated, or say why no KB change is needed."), "no_kb_reason")
    return None


# The category a draft from a ticket starts in (the editor changes it; archived: the first offered).
DRAFT_CATEGORIES = {TicketForm.TECHNICAL: "playback", TicketForm.MARKETING_BUSINESS: "support-process"}


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
        category=offered_category(DRAFT_CATEGORIES[TicketForm(ticket.form)]),
        tags=[ticket.reference],
        visibility="internal",
        note=f"Draft from {ticket.reference}",
        publish=False,
    )
    return kb_services.create_article(agent, language, slug, text)


# What meets the rule, in SQL ----------------------------------------------------------------


def _linked_article_id():
    """The article a resolve event linked (NULL when it gave a reason instead)."""
    return TicketEvent.data["kb_article_id"].as_integer()


def _reaches_partners(agent_id, since):
    """SQL: `Article` is live for partners with a revision `agent_id` saved since `since` included
    in what they read (that revision, or a later one, is the published one)."""
    change, published = aliased(ArticleRevision), aliased(ArticleRevision)
    return and_(
        Article.status == ArticleStatus.PUBLISHED.value,
        Article.visibility.in_(PARTNER_VISIBILITIES),
        exists().where(
            change.article_id == Article.id,
            change.author_id == agent_id,
            change.created_at >= since,
            published.id == Article.published_revision_id,
            change.number <= published.number,
        ),
    )


def _with_linked_article(statement):
    """`statement` (over ticket events) joined to each event's ticket and the article it linked."""
    return statement.join(Ticket, Ticket.id == TicketEvent.ticket_id).join(Article, Article.id == _linked_article_id())


# The KB follow-up list -------------------------------------------------------------------------


class FollowUpReason(StrEnum):
    """Why a linked article does not meet the rule yet."""

    UNPUBLISHED = "unpublished"  # the agent's change is a draft partners cannot read
    STAFF_ONLY = "staff_only"  # published, but visible to staff only


@dataclass(frozen=True)
class FollowUp:
    """A resolved ticket whose linked article has not reached partners yet."""

    ticket: Ticket
    article: Article
    title: str  # the article's newest revision's: a draft has no published title
    agent: User | None  # who resolved the ticket (and wrote the change)
    resolved_at: datetime
    reason: FollowUpReason

    @property
    def message(self) -> str:
        """What the resolving agent reads on the ticket."""
        if self.reason is FollowUpReason.STAFF_ONLY:
            return _(
                "The linked article “%(title)s” is published for staff only, so partners cannot read it: it "
                "stays in KB follow-up until it is visible to partners or archived.",
                title=self.title,
            )
        return _(
            "The linked article “%(title)s” is not published yet: it stays in KB follow-up until it is "
            "published for partners or archived.",
            title=self.title,
        )


def _pending():
    """The latest resolution of each ticket whose linked article is neither live for partners with
    the agent's change nor archived, longest waiting first."""
    later = aliased(TicketEvent)
    latest = (
        select(func.max(later.id))
        .where(later.ticket_id == TicketEvent.ticket_id, later.kind == EventKind.RESOLVED.value)
        .scalar_subquery()
    )
    return (
        _with_linked_article(select(TicketEvent))
        .options(joinedload(TicketEvent.actor))
        .where(
            TicketEvent.id == latest,
            Article.status != ArticleStatus.ARCHIVED.value,
            not_(_reaches_partners(TicketEvent.actor_id, Ticket.created_at)),
        )
        .order_by(TicketEvent.created_at, TicketEvent.id)
    )


def _follow_ups(events: list[TicketEvent]) -> list[FollowUp]:
    """The follow-up entries of `events`, their tickets, articles and titles read in three queries."""
    if not events:
        return []
    article_ids = {event.data["kb_article_id"] for event in events}
    tickets = {
        ticket.id: ticket
        for ticket in db.session.scalars(select(Ticket).where(Ticket.id.in_({event.ticket_id for event in events})))
    }
    articles = {
        article.id: article for article in db.session.scalars(select(Article).where(Article.id.in_(article_ids)))
    }
    titles = dict(
        db.session.execute(
            select(ArticleRevision.article_id, ArticleRevision.title)
            .join(Article, Article.id == ArticleRevision.article_id)
            .where(Article.id.in_(article_ids), ArticleRevision.number == Article.latest_revision_number)
        ).all()
    )
    entries = []
    for event in events:
        article = articles[event.data["kb_article_id"]]
        staff_only = article.status == ArticleStatus.PUBLISHED and article.visibility not in PARTNER_VISIBILITIES
        entries.append(
            FollowUp(
                ticket=tickets[event.ticket_id],
                article=article,
                title=titles.get(article.id, article.slug),
                agent=event.actor,
                resolved_at=event.created_at,
                reason=FollowUpReason.STAFF_ONLY if staff_only else FollowUpReason.UNPUBLISHED,
            )
        )
    return entries


def follow_up_page(number: int) -> Page:
    """Page `number` of the KB follow-up list (`FollowUp` items)."""
    page = paginate(_pending(), number, FOLLOW_UP_PAGE_SIZE)
    return replace(page, items=_follow_ups(page.items))


def follow_up_for(ticket: Ticket) -> FollowUp | None:
    """The ticket's entry in the KB follow-up list, if it has one."""
    event = db.session.scalar(_pending().where(TicketEvent.ticket_id == ticket.id))
    return _follow_ups([event])[0] if event is not None else None


# For the dashboard -----------------------------------------------------------------------------


def _technical():
    """SQL: the ticket is technical as the SLA classifies it (`sla_clock.request_type_of`)."""
    technical_forms = [form.value for form, kind in FORM_REQUEST_TYPES.items() if kind is RequestType.TECHNICAL]
    return or_(
        Ticket.request_type == RequestType.TECHNICAL.value,
        and_(Ticket.request_type.is_(None), Ticket.form.in_(technical_forms)),
    )


def kb_update_share(days: int, now: datetime | None = None) -> tuple[int, int]:
    """(updated, resolved): technical tickets resolved in the last `days` days (up to `now`), and
    how many of them met the rule with an article partners read now (a reason, a draft or a
    staff-only article does not count)."""
    now = now or utcnow()
    in_period = and_(
        TicketEvent.kind == EventKind.RESOLVED.value,
        TicketEvent.created_at >= now - timedelta(days=days),
        TicketEvent.created_at <= now,
        _technical(),
    )
    tickets = func.count(func.distinct(TicketEvent.ticket_id))
    resolved = db.session.scalar(
        select(tickets).select_from(TicketEvent).join(Ticket, Ticket.id == TicketEvent.ticket_id).where(in_period)
    )
    updated = db.session.scalar(
        _with_linked_article(select(tickets).select_from(TicketEvent)).where(
            in_period, _reaches_partners(TicketEvent.actor_id, Ticket.created_at)
        )
    )
    return int(updated or 0), int(resolved or 0)
