"""KB on close means the partners' KB (§9.6, §13): the rule is met by a published article partners
can read with the resolving agent's change; a linked draft or staff-only article lets the ticket be
resolved and waits in the KB follow-up list until it reaches partners or is archived; the dashboard's
share of resolved technical tickets that updated the partners' KB."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from kb import services as kb_services
from kb.models import Article
from portal.core.errors import InvalidInput
from portal.core.extensions import db
from portal.core.types import utcnow
from portal.tickets import kb_on_close, workflow
from portal.tickets.kb_on_close import FollowUpReason
from tests.conftest import login

FOLLOW_UP = "/staff/kb-follow-up"


def assigned_ticket(open_ticket, staff, agent="l1", request_type="technical"):
    """A new ticket assigned to `agent`, with the status report resolving needs."""
    ticket = open_ticket()
    workflow.classify_and_assign(staff["admin"], ticket, request_type, "normal", staff[agent])
    workflow.file_status_report(staff[agent], ticket, "Reproduced it", 15, "The player logs EDY-4031")
    return ticket


def article_by(author, slug, visibility="partners", publish=True):
    text = kb_services.ArticleText(
        f"Title of {slug}", "Steps that solve it.", "playback", [], visibility, note="First version", publish=publish
    )
    return kb_services.create_article(author, "es", slug, text)


def publish(editor, article, visibility="partners"):
    text = kb_services.ArticleText(
        "Published title", "Steps that solve it, checked.", "playback", [], visibility, note="Ready", publish=True
    )
    return kb_services.save_revision(editor, article, article.latest_revision_number, text)


def listed():
    return [(entry.ticket.id, entry.article.id, entry.reason) for entry in kb_on_close.follow_up_page(1).items]


def resolve(agent, ticket, article, now=None):
    return workflow.resolve(agent, ticket, "Documented the fix.", kb_article_id=article.id, now=now)


# The rule, as services ------------------------------------------------------------------------


def test_a_published_partner_article_meets_the_rule(staff, open_ticket):
    ticket = assigned_ticket(open_ticket, staff)
    article = article_by(staff["l1"], "roku-playback")
    resolve(staff["l1"], ticket, article)
    assert ticket.status == "resolved_by_agent"
    assert listed() == [] and kb_on_close.follow_up_for(ticket) is None
    assert kb_on_close.kb_update_share(30) == (1, 1)


def test_a_draft_resolves_but_waits_in_follow_up_until_published_for_partners(staff, open_ticket):
    ticket = assigned_ticket(open_ticket, staff)
    draft = kb_on_close.kb_draft_for(staff["l1"], ticket)
    assert draft.status == "draft" and draft.visibility == "internal"
    resolve(staff["l1"], ticket, draft)
    assert ticket.status == "resolved_by_agent"
    assert listed() == [(ticket.id, draft.id, FollowUpReason.UNPUBLISHED)]
    entry = kb_on_close.follow_up_for(ticket)
    assert entry.title == ticket.subject and entry.agent.id == staff["l1"].id
    assert kb_on_close.kb_update_share(30) == (0, 1)
    # Published, but still for staff only: partners cannot read it yet.
    publish(staff["l1"], draft, visibility="internal")
    assert listed() == [(ticket.id, draft.id, FollowUpReason.STAFF_ONLY)]
    assert kb_on_close.kb_update_share(30) == (0, 1)
    publish(staff["l1"], draft, visibility="partners")
    assert listed() == [] and kb_on_close.follow_up_for(ticket) is None
    assert kb_on_close.kb_update_share(30) == (1, 1)


def test_an_internal_published_article_is_followed_up_like_a_draft(staff, open_ticket):
    ticket = assigned_ticket(open_ticket, staff)
    article = article_by(staff["l1"], "internal-runbook", visibility="internal")
    resolve(staff["l1"], ticket, article)
    assert listed() == [(ticket.id, article.id, FollowUpReason.STAFF_ONLY)]
    assert "solo para el personal" in kb_on_close.follow_up_for(ticket).message


def test_an_editor_publishing_the_agents_draft_meets_the_rule(staff, open_ticket):
    ticket = assigned_ticket(open_ticket, staff)
    draft = kb_on_close.kb_draft_for(staff["l1"], ticket)
    resolve(staff["l1"], ticket, draft)
    publish(staff["admin"], draft)
    assert listed() == [] and kb_on_close.kb_update_share(30) == (1, 1)


def test_a_draft_revision_of_a_live_article_is_not_yet_a_kb_update(staff, open_ticket):
    live = article_by(staff["l2"], "drm-errors")
    ticket = assigned_ticket(open_ticket, staff)
    kb_services.save_revision(
        staff["l1"],
        live,
        live.latest_revision_number,
        kb_services.ArticleText("DRM errors", "New step for Roku.", "playback", [], "partners", note="Roku"),
    )
    resolve(staff["l1"], ticket, live)
    assert listed() == [(ticket.id, live.id, FollowUpReason.UNPUBLISHED)]
    publish(staff["l1"], live)
    assert listed() == []


def test_archiving_the_draft_discards_it_from_follow_up(staff, open_ticket):
    ticket = assigned_ticket(open_ticket, staff)
    draft = kb_on_close.kb_draft_for(staff["l1"], ticket)
    resolve(staff["l1"], ticket, draft)
    kb_services.set_archived(staff["l1"], draft, True)
    assert listed() == [] and kb_on_close.follow_up_for(ticket) is None
    assert kb_on_close.kb_update_share(30) == (0, 1)


def test_another_agents_article_or_an_archived_one_does_not_meet_the_rule(staff, open_ticket):
    ticket = assigned_ticket(open_ticket, staff)
    foreign = article_by(staff["l2"], "someone-elses")
    with pytest.raises(InvalidInput) as refused:
        resolve(staff["l1"], ticket, foreign)
    assert refused.value.field == "kb_article_id"
    archived = article_by(staff["l1"], "gone")
    kb_services.set_archived(staff["l1"], archived, True)
    with pytest.raises(InvalidInput) as refused:
        resolve(staff["l1"], ticket, archived)
    assert refused.value.field == "kb_article_id"
    assert ticket.status == "assigned_l1" and listed() == []


def test_the_list_is_oldest_first_one_entry_per_ticket(staff, open_ticket):
    first, second = assigned_ticket(open_ticket, staff), assigned_ticket(open_ticket, staff)
    second_draft = kb_on_close.kb_draft_for(staff["l1"], second)
    resolve(staff["l1"], second, second_draft, now=utcnow() - timedelta(days=2))
    first_draft = kb_on_close.kb_draft_for(staff["l1"], first)
    resolve(staff["l1"], first, first_draft)
    assert [ticket_id for ticket_id, _, _ in listed()] == [second.id, first.id]


# The dashboard's share -------------------------------------------------------------------------


def test_kb_update_share_counts_technical_tickets_resolved_in_the_period(staff, open_ticket):
    now = utcnow()
    earlier = assigned_ticket(open_ticket, staff)
    resolve(staff["l1"], earlier, article_by(staff["l1"], "earlier"), now=now - timedelta(days=31))
    documented = assigned_ticket(open_ticket, staff)
    resolve(staff["l1"], documented, article_by(staff["l1"], "documented"))
    drafted = assigned_ticket(open_ticket, staff)
    draft = kb_on_close.kb_draft_for(staff["l1"], drafted)
    resolve(staff["l1"], drafted, draft)
    reasoned = assigned_ticket(open_ticket, staff)
    workflow.resolve(staff["l1"], reasoned, "Known issue.", no_kb_reason="Already documented")
    day_to_day = assigned_ticket(open_ticket, staff, request_type="day_to_day")
    resolve(staff["l1"], day_to_day, article_by(staff["l1"], "question"))

    later = utcnow() + timedelta(minutes=1)
    assert kb_on_close.kb_update_share(30, now=later) == (1, 3)
    assert kb_on_close.kb_update_share(30, now=now - timedelta(days=20)) == (1, 1)
    assert kb_on_close.kb_update_share(60, now=later) == (2, 4)
    publish(staff["l1"], draft)
    assert kb_on_close.kb_update_share(30, now=later) == (2, 3)
    assert kb_on_close.kb_update_share(30, now=now - timedelta(days=40)) == (0, 0)


# Through HTTP ----------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False])
def test_resolving_with_a_draft_through_the_workspace_says_it_goes_to_follow_up(clients, staff, open_ticket, htmx):
    ticket = assigned_ticket(open_ticket, staff)
    assert clients["l1"].post(f"/staff/tickets/{ticket.id}/kb-draft").status_code == 302
    draft = db.session.scalar(select(Article).where(Article.slug == ticket.reference.lower()))
    headers = {"HX-Request": "true"} if htmx else {}
    response = clients["l1"].post(
        f"/staff/tickets/{ticket.id}/resolve",
        data={"summary": "Reinstalled the player.", "kb_article_id": str(draft.id)},
        headers=headers,
    )
    if not htmx:
        assert response.status_code == 302
        response = clients["l1"].get(response.headers["Location"])
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and ticket.status == "resolved_by_agent"
    assert 'class="toast toast-warning"' in page and f'href="{FOLLOW_UP}"' in page and ticket.subject in page


def test_the_follow_up_page_lists_ticket_draft_age_and_author(clients, staff, open_ticket):
    ticket = assigned_ticket(open_ticket, staff)
    draft = kb_on_close.kb_draft_for(staff["l1"], ticket)
    resolve(staff["l1"], ticket, draft, now=utcnow() - timedelta(days=3))
    done = assigned_ticket(open_ticket, staff)
    resolve(staff["l1"], done, article_by(staff["l1"], "already-live"))
    for headers in ({}, {"HX-Request": "true"}):
        response = clients["vp"].get(FOLLOW_UP, headers=headers)
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert ticket.reference in page and f"/staff/tickets/{ticket.id}" in page
        assert f"/kb/es/{draft.slug}" in page and ticket.subject in page
        assert "3 días" in page and "Luis Uno" in page
        assert done.reference not in page
    assert ("<html" in clients["vp"].get(FOLLOW_UP, headers={"HX-Request": "true"}).get_data(as_text=True)) is False


ROLE_EXPECTATIONS = {
    "anonymous": 302,
    "partner": 403,
    "ticket_admin": 200,
    "agent_l1": 200,
    "agent_l2": 200,
    "vp": 200,
}


@pytest.mark.parametrize(("role", "expected"), ROLE_EXPECTATIONS.items())
def test_the_follow_up_page_by_role(app, make_user, staff, open_ticket, role, expected):
    ticket = assigned_ticket(open_ticket, staff)
    resolve(staff["l1"], ticket, kb_on_close.kb_draft_for(staff["l1"], ticket))
    client = app.test_client()
    if role != "anonymous":
        assert login(client, make_user(role).email).status_code == 302
    response = client.get(FOLLOW_UP)
    assert response.status_code == expected
    assert (ticket.reference in response.get_data(as_text=True)) is (expected == 200)


@pytest.mark.parametrize(
    "query",
    ["page=abc", "page=-3", "page=0", f"page={10**40}", "page=99", "page=1&page=x", "sort=%27%3B--", "page=%EF%BF%BF"],
)
def test_query_string_junk_never_breaks_the_page(clients, staff, open_ticket, query):
    ticket = assigned_ticket(open_ticket, staff)
    resolve(staff["l1"], ticket, kb_on_close.kb_draft_for(staff["l1"], ticket))
    response = clients["admin"].get(f"{FOLLOW_UP}?{query}")
    assert response.status_code == 200 and ticket.reference in response.get_data(as_text=True)


def test_titles_are_shown_as_text(clients, staff, open_ticket):
    ticket = open_ticket(subject="<img src=x onerror=alert(1)> Roku")
    workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
    workflow.file_status_report(staff["l1"], ticket, "Reproduced it", 15, "The player logs EDY-4031")
    resolve(staff["l1"], ticket, kb_on_close.kb_draft_for(staff["l1"], ticket))
    for url in (FOLLOW_UP, f"/staff/tickets/{ticket.id}"):
        page = clients["l1"].get(url).get_data(as_text=True)
        assert "&lt;img src=x onerror=alert(1)&gt; Roku" in page and "<img src=x" not in page


def test_the_dashboard_shows_the_share_of_resolved_technical_tickets_that_updated_the_kb(clients, staff, open_ticket):
    resolve(staff["l1"], assigned_ticket(open_ticket, staff), article_by(staff["l1"], "roku-playback"))
    resolve(staff["l1"], assigned_ticket(open_ticket, staff), article_by(staff["l1"], "a-draft", publish=False))
    page = clients["admin"].get("/staff/metrics").get_data(as_text=True)
    assert "1 de 2 tickets técnicos resueltos actualizaron la base de conocimiento de los partners (50 %)" in page
    assert FOLLOW_UP in page


def test_a_draft_from_a_ticket_starts_in_an_offered_category_when_its_own_is_archived(staff, open_ticket):
    from kb import categories

    categories.set_category_archived(staff["admin"], categories.category_by_key("playback"), True)
    draft = kb_on_close.kb_draft_for(staff["l1"], assigned_ticket(open_ticket, staff))
    first_offered = next(category for category in categories.all_categories() if not category.archived)
    assert draft.category == first_offered.key != "playback"
