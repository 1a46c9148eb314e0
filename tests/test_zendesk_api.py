"""The Zendesk Support API as it really behaves, through the outbox against the fake over HTTP:
comment authorship, the assignee a solve needs, closed tickets continued by follow-ups, idempotency
keys that expire, 409s, updates recognised in their audits, headers, priority and type, and the
description as sanitized HTML."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations import zendesk as zendesk_client
from portal.integrations.http import Rejected
from portal.integrations.models import OutboxMessage
from portal.integrations.outbox import Deliverer
from portal.integrations.zendesk import ZendeskClient
from portal.tickets import conversation, level_three, workflow
from portal.tickets.models import Comment, EventKind, Ticket, TicketEvent
from tests.conftest import TECHNICAL, file_report, login

LATER = timedelta(minutes=30)  # past every back-off of QUICK_OUTBOX


def deliver(now=None) -> int:
    return Deliverer().run_pass(now=now)


@pytest.fixture(autouse=True)
def forget_own_ids(monkeypatch):
    """Every test starts a process of its own: the API user's id is not known yet."""
    monkeypatch.setattr(zendesk_client, "_own_ids", {})


@pytest.fixture
def partner_client(client, partner):
    assert login(client, partner.email).status_code == 302
    return client


def comment_through_http(client, ticket, body: str) -> None:
    assert client.post(f"/tickets/{ticket.id}/comments", data={"body": body}).status_code in (200, 302)


def messages() -> list[OutboxMessage]:
    """The messages for Zendesk, oldest first."""
    return list(
        db.session.scalars(select(OutboxMessage).where(OutboxMessage.target == "zendesk").order_by(OutboxMessage.id))
    )


class TestCommentAuthorship:
    def test_a_partner_comment_is_the_requester_and_a_staff_reply_the_api_user(
        self, fake_zendesk, open_ticket, partner_client, staff
    ):
        ticket = open_ticket()
        deliver()
        requester_id = fake_zendesk.tickets[ticket.zendesk_id]["requester_id"]
        assert ticket.zendesk_requester_id == requester_id > 2**31
        comment_through_http(partner_client, ticket, "It also fails on Fire TV.")
        workflow.classify_and_assign(staff["admin"], ticket, "technical", "normal", staff["l1"])
        conversation.add_comment(staff["l1"], ticket, "We are on it.")
        deliver()
        partner_said, staff_said = fake_zendesk.comments[ticket.zendesk_id][1:]
        assert "It also fails on Fire TV." in partner_said["body"] and partner_said["author_id"] == requester_id
        assert "We are on it." in staff_said["body"] and staff_said["author_id"] == fake_zendesk.api_user_id
        assert fake_zendesk.paths().count("/api/v2/users/search.json") == 0  # the create answer named them

    def test_a_requester_unknown_to_the_portal_is_looked_up_by_e_mail_once(
        self, fake_zendesk, open_ticket, partner_client
    ):
        ticket = open_ticket()
        deliver()
        ticket.zendesk_requester_id = None  # a ticket created before the portal remembered requesters
        db.session.commit()
        comment_through_http(partner_client, ticket, "First.")
        comment_through_http(partner_client, ticket, "Second.")
        deliver()
        requester_id = fake_zendesk.users["pablo@andes.test"]
        assert [event["author_id"] for event in fake_zendesk.comments[ticket.zendesk_id][1:]] == [requester_id] * 2
        assert fake_zendesk.paths().count("/api/v2/users/search.json") == 1
        assert ticket.zendesk_requester_id == requester_id


class TestSolving:
    def test_a_solve_carries_the_api_user_as_assignee_asked_once(self, fake_zendesk, open_ticket, send_solution):
        tickets = [open_ticket(subject=f"Problem {n}") for n in range(2)]
        for ticket in tickets:
            send_solution(ticket)
        deliver()
        solves = [body["ticket"] for method, _path, body in fake_zendesk.requests if method == "PUT"]
        solves = [update for update in solves if update.get("status") == "solved"]
        assert [update["assignee_id"] for update in solves] == [fake_zendesk.api_user_id] * 2
        assert all(fake_zendesk.tickets[ticket.zendesk_id]["status"] == "solved" for ticket in tickets)
        assert fake_zendesk.paths().count("/api/v2/users/me.json") == 1

    def test_a_configured_assignee_is_sent_and_users_me_never_asked(
        self, app, fake_zendesk, open_ticket, send_solution
    ):
        agent_id = 2**45 + 3
        fake_zendesk.agents.add(agent_id)
        app.config["ZENDESK_ASSIGNEE_ID"] = agent_id
        ticket = open_ticket()
        send_solution(ticket)
        deliver()
        assert fake_zendesk.tickets[ticket.zendesk_id]["assignee_id"] == agent_id
        assert fake_zendesk.tickets[ticket.zendesk_id]["status"] == "solved"
        assert "/api/v2/users/me.json" not in fake_zendesk.paths()

    def test_a_refused_solve_keeps_the_solution_comment(
        self, app, fake_zendesk, open_ticket, send_solution, client, staff
    ):
        app.config["ZENDESK_ASSIGNEE_ID"] = 2**45 + 9  # not an agent in Zendesk: 422
        ticket = open_ticket()
        send_solution(ticket, "Reinstall the app from the store.")
        deliver()
        comment, status = messages()[-2:]
        assert comment.state == "delivered" and status.state == "dead"
        assert "Assignee is not an agent" in status.last_error
        bodies = [event["body"] for event in fake_zendesk.comments[ticket.zendesk_id]]
        assert bodies[-1] == "Reinstall the app from the store."
        assert fake_zendesk.tickets[ticket.zendesk_id]["status"] != "solved"
        fake_zendesk.agents.add(app.config["ZENDESK_ASSIGNEE_ID"])  # the administrator fixes Zendesk
        assert login(client, staff["admin"].email).status_code == 302
        assert client.post(f"/admin/integrations/messages/{status.id}/retry").status_code == 302
        deliver()
        assert status.state == "delivered" and fake_zendesk.tickets[ticket.zendesk_id]["status"] == "solved"
        assert [event["body"] for event in fake_zendesk.comments[ticket.zendesk_id]] == bodies  # posted once


class TestClosedTickets:
    def test_a_comment_on_a_closed_ticket_goes_to_a_follow_up(
        self, fake_zendesk, open_ticket, send_solution, partner_client
    ):
        ticket = open_ticket()
        send_solution(ticket)
        deliver()
        closed_id = ticket.zendesk_id
        fake_zendesk.tickets[closed_id]["status"] = "closed"  # Zendesk's solved→closed automation ran
        comment_through_http(partner_client, ticket, "It fails again since this morning.")
        assert ticket.status == "reopened"
        deliver()
        assert all(message.state == "delivered" for message in messages())
        follow_up = fake_zendesk.tickets[ticket.zendesk_id]
        assert ticket.zendesk_id != closed_id and follow_up["via_followup_source_id"] == closed_id
        assert follow_up["external_id"] == ticket.reference and follow_up["requester_id"] == ticket.zendesk_requester_id
        landed = fake_zendesk.comments[ticket.zendesk_id][0]
        assert "It fails again since this morning." in landed["body"]
        assert landed["author_id"] == ticket.zendesk_requester_id
        comment = db.session.scalar(select(Comment).where(Comment.body == "It fails again since this morning."))
        assert comment.zendesk_comment_id == landed["id"]
        assert follow_up["status"] == "open"  # the reopen followed the comment there
        assert len(fake_zendesk.tickets) == 2 and fake_zendesk.tickets[closed_id]["status"] == "closed"
        noted = db.session.scalars(select(TicketEvent.data).where(TicketEvent.kind == EventKind.ZENDESK_STATUS))
        assert {"zendesk_status": "closed", "follow_up_of": closed_id, "zendesk_id": ticket.zendesk_id} in list(noted)

    def test_a_follow_up_whose_answer_is_lost_is_created_and_commented_once(
        self, fake_zendesk, open_ticket, send_solution, partner_client
    ):
        ticket = open_ticket()
        send_solution(ticket)
        deliver()
        closed_id = ticket.zendesk_id
        fake_zendesk.tickets[closed_id]["status"] = "closed"
        comment_through_http(partner_client, ticket, "It fails again since this morning.")
        fake_zendesk.faults = [None, "drop-answer"]  # the PUT is refused as closed; the follow-up's answer is lost
        now = utcnow()
        deliver(now=now)
        assert ticket.zendesk_id == closed_id and len(fake_zendesk.tickets) == 2
        deliver(now=now + LATER)
        assert len(fake_zendesk.tickets) == 2 and all(message.state == "delivered" for message in messages())
        landed = fake_zendesk.comments[ticket.zendesk_id]
        assert ticket.zendesk_id != closed_id and [event["body"] for event in landed].count(landed[0]["body"]) == 1
        comment = db.session.scalar(select(Comment).where(Comment.body == "It fails again since this morning."))
        assert comment.zendesk_comment_id == landed[0]["id"]

    def test_a_reopen_alone_on_a_closed_ticket_opens_a_follow_up_that_says_so(
        self, fake_zendesk, open_ticket, send_solution, partner_client
    ):
        ticket = open_ticket()
        send_solution(ticket)
        deliver()
        closed_id = ticket.zendesk_id
        fake_zendesk.faults = ["", "500"]  # the comment goes; the reopen fails and waits
        comment_through_http(partner_client, ticket, "Still broken.")
        deliver()
        fake_zendesk.tickets[closed_id]["status"] = "closed"  # closed in between
        deliver(now=utcnow() + LATER)
        assert all(message.state == "delivered" for message in messages())
        follow_up = fake_zendesk.tickets[ticket.zendesk_id]
        assert follow_up["via_followup_source_id"] == closed_id and follow_up["status"] == "open"
        said = fake_zendesk.comments[ticket.zendesk_id][0]
        assert ticket.reference in said["body"] and said["author_id"] == fake_zendesk.api_user_id

    def test_closing_a_ticket_zendesk_closed_already_sends_nothing_more(
        self, fake_zendesk, open_ticket, send_solution, partner_client
    ):
        ticket = open_ticket()
        send_solution(ticket)
        deliver()
        fake_zendesk.tickets[ticket.zendesk_id]["status"] = "closed"
        assert partner_client.post(f"/tickets/{ticket.id}/confirm", data={"answer": "yes"}).status_code == 302
        deliver()
        assert messages()[-1].state == "delivered" and len(fake_zendesk.tickets) == 1


class TestIdempotency:
    def _answer_lost_hours_ago(self, fake_zendesk, open_ticket, fault: str) -> tuple[Ticket, OutboxMessage]:
        fake_zendesk.faults = [fault]
        ticket = open_ticket()
        deliver()
        message = messages()[0]
        assert message.state == "pending" and ticket.zendesk_id is None
        fake_zendesk.advance(3 * 3600)  # the worker was down: Zendesk forgot the key
        message.created_at -= timedelta(hours=3)
        db.session.commit()
        return ticket, message

    def test_an_expired_key_adopts_the_ticket_created_before(self, fake_zendesk, open_ticket, caplog):
        ticket, message = self._answer_lost_hours_ago(fake_zendesk, open_ticket, "500-after")
        created_id = next(iter(fake_zendesk.tickets))
        with caplog.at_level(logging.INFO, logger="portal.zendesk"):
            deliver(now=utcnow() + LATER)
        assert message.state == "delivered" and ticket.zendesk_id == created_id
        assert len(fake_zendesk.tickets) == 1 and fake_zendesk.paths("POST") == ["/api/v2/tickets.json"]
        assert ticket.zendesk_requester_id == fake_zendesk.tickets[created_id]["requester_id"]
        assert f"found ticket {created_id}, adopted" in caplog.text

    def test_an_expired_key_with_nothing_created_creates(self, fake_zendesk, open_ticket, caplog):
        ticket, message = self._answer_lost_hours_ago(fake_zendesk, open_ticket, "drop")
        with caplog.at_level(logging.INFO, logger="portal.zendesk"):
            deliver(now=utcnow() + LATER)
        assert message.state == "delivered" and list(fake_zendesk.tickets) == [ticket.zendesk_id]
        assert "/api/v2/tickets.json" in fake_zendesk.paths("GET")  # looked up first
        assert "none, creating it" in caplog.text and "x-idempotency-lookup: miss" in caplog.text

    def test_a_replay_within_the_key_lifetime_is_a_hit(self, fake_zendesk, open_ticket):
        fake_zendesk.faults = ["500-after"]
        ticket = open_ticket()
        deliver()
        deliver(now=utcnow() + LATER)
        assert len(fake_zendesk.tickets) == 1 and ticket.zendesk_id in fake_zendesk.tickets
        assert len(fake_zendesk.replayed) == 1, "the retry reused the key, and Zendesk replayed its answer"
        assert "/api/v2/tickets.json" not in fake_zendesk.paths("GET")  # the key is trusted: no lookup

    def test_a_409_is_retried_not_dead_lettered(self, fake_zendesk, open_ticket):
        fake_zendesk.faults = ["409"]
        ticket = open_ticket()
        deliver()
        message = messages()[0]
        assert message.state == "pending" and message.last_error.startswith("409")
        deliver(now=utcnow() + LATER)
        assert message.state == "delivered" and ticket.zendesk_id in fake_zendesk.tickets


class TestWhatIsSent:
    def test_every_request_accepts_json(self, fake_zendesk, open_ticket, send_solution):
        ticket = open_ticket()
        send_solution(ticket)
        deliver()
        assert len(fake_zendesk.headers_seen) >= 4
        assert all(headers.get("Accept") == "application/json" for headers in fake_zendesk.headers_seen)

    def test_priority_and_type_follow_the_classification_and_the_decision(self, fake_zendesk, open_ticket, staff):
        admin, l1, l2, vp = staff["admin"], staff["l1"], staff["l2"], staff["vp"]
        ticket = open_ticket()
        deliver()
        remote = fake_zendesk.tickets[ticket.zendesk_id]
        assert remote["priority"] == "normal" and remote["type"] is None  # not classified yet
        workflow.classify_and_assign(admin, ticket, "technical", "high", l1)
        deliver()
        assert (remote["priority"], remote["type"]) == ("high", "incident")
        file_report(l1, ticket)
        workflow.cannot_resolve(l1, ticket, "Needs level 2.")
        workflow.reassign_to_level_two(admin, ticket, l2, ["monday"])
        file_report(l2, ticket)
        workflow.cannot_resolve(l2, ticket, "Needs the tech team.")
        workflow.escalate_to_level_three(admin, ticket, "Player regression.")
        level_three.decide(
            vp, ticket, "urgent", "All partners", "Two engineers", "alternative_measure", measure="revert_version"
        )
        deliver()
        assert remote["priority"] == "urgent"
        sent = [body["ticket"] for method, _path, body in fake_zendesk.requests if method == "PUT"]
        # Only the changes are sent: reports, level 2 and level 3 steps change neither.
        assert sent == [{"priority": "high", "type": "incident"}, {"priority": "urgent", "type": "incident"}]

    def test_the_description_is_sanitized_html(self, fake_zendesk, partner_client, matrix):
        description = (
            "Steps:\n\n1. Open **Roku**\n2. Play `ep-1234`\n\n<script>alert('x')</script><img src=x onerror=y>"
        )
        response = partner_client.post("/tickets/new/technical", data={**TECHNICAL, "description": description})
        assert response.status_code == 302
        deliver()
        ticket = db.session.scalar(select(Ticket))
        html = fake_zendesk.comments[ticket.zendesk_id][0]["html_body"]
        assert "<strong>Roku</strong>" in html and "<ol>" in html and "<code>ep-1234</code>" in html
        assert "</strong> EDY-4031</li>" in html  # the form's details, as a list
        sent = json.dumps(fake_zendesk.requests)
        assert "<script" not in sent and "onerror" not in sent


class TestTheFakeRefusesWhatZendeskRefuses:
    def test_keys_expire_and_refuse_another_body(self, fake_zendesk):
        client = ZendeskClient(fake_zendesk.url, fake_zendesk.email, fake_zendesk.token)
        first = {"subject": "A", "comment": {"body": "a"}, "requester": {"name": "P", "email": "p@x.test"}}
        created = client.create_ticket(first, "key-1")
        assert created.idempotency_lookup == "miss"
        assert client.create_ticket(first, "key-1").data == created.data
        with pytest.raises(Rejected, match=r"^400 IdempotentRequestError"):
            client.create_ticket({**first, "subject": "B"}, "key-1")
        fake_zendesk.advance(2 * 3600 + 1)
        assert client.create_ticket({**first, "subject": "B"}, "key-1").idempotency_lookup == "miss"
        assert len(fake_zendesk.tickets) == 2

    def test_solving_needs_an_assignee_and_closed_is_final(self, fake_zendesk):
        client = ZendeskClient(fake_zendesk.url, fake_zendesk.email, fake_zendesk.token)
        ticket = {"subject": "A", "comment": {"body": "a"}, "requester": {"name": "P", "email": "p@x.test"}}
        zendesk_id = client.create_ticket(ticket, "key-2").data["ticket"]["id"]
        with pytest.raises(Rejected, match="Assignee: is required when solving"):
            client.update_ticket(zendesk_id, {"status": "solved"})
        client.update_ticket(zendesk_id, {"status": "closed", "assignee_id": fake_zendesk.api_user_id})
        with pytest.raises(zendesk_client.TicketClosed, match="closed prevents ticket update"):
            client.update_ticket(zendesk_id, {"comment": {"body": "late", "public": True}})
        assert all(event["id"] > 3 * 10**13 for event in fake_zendesk.comments[zendesk_id])  # 64-bit ids


class TestAudits:
    def test_the_audits_are_read_page_by_page_newest_first(self, fake_zendesk):
        client = ZendeskClient(fake_zendesk.url, fake_zendesk.email, fake_zendesk.token)
        ticket = {"subject": "A", "comment": {"body": "a"}, "requester": {"name": "P", "email": "p@x.test"}}
        zendesk_id = client.create_ticket(ticket, "key-3").data["ticket"]["id"]
        for number in range(zendesk_client.AUDITS_PAGE_SIZE + 20):
            update = {"comment": {"body": f"note {number}", "public": False}, "metadata": {"n": number}}
            client.update_ticket(zendesk_id, update)
        audits = list(client.ticket_audits(zendesk_id))
        assert [audit["metadata"]["custom"].get("n") for audit in audits[:2]] == [119, 118]
        assert len(audits) == 121 and len({audit["id"] for audit in audits}) == 121
        assert fake_zendesk.paths().count(f"/api/v2/tickets/{zendesk_id}/audits.json") == 2
        first_page = [audit for audit in audits if audit["ticket_id"] == zendesk_id]
        assert all({"created_at", "author_id", "events"} <= audit.keys() for audit in first_page)

    def test_a_lost_comment_found_on_a_later_page_is_adopted(self, fake_zendesk, open_ticket, partner):
        """A hundred newer audits push the lost update to the second page: the retry reads on."""
        ticket = open_ticket()
        deliver()
        comment = conversation.add_comment(partner, ticket, "One more detail.")
        fake_zendesk.faults = ["500-after"]
        now = utcnow()
        deliver(now=now)
        for number in range(zendesk_client.AUDITS_PAGE_SIZE):  # Zendesk's agents wrote meanwhile
            fake_zendesk.audits[ticket.zendesk_id].append(
                {"id": number, "ticket_id": ticket.zendesk_id, "metadata": {}}
            )
        deliver(now=now + LATER)
        assert len(fake_zendesk.comments[ticket.zendesk_id]) == 2
        assert comment.zendesk_comment_id == fake_zendesk.comments[ticket.zendesk_id][1]["id"]
        assert fake_zendesk.paths().count(f"/api/v2/tickets/{ticket.zendesk_id}/audits.json") == 2
