"""Files between the portal and Zendesk, against the fake Zendesk over HTTP: each file uploaded in
the delivery of its comment (or of the new ticket) and carried by that comment's `uploads` tokens,
each token used once on its own ticket; lost answers retried without a second comment or ticket;
files of comments made in Zendesk brought once, by the worker, and shown like any other."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.core.extensions import db
from portal.core.types import utcnow
from portal.integrations.models import MessageState, OutboxMessage
from portal.integrations.outbox import Deliverer
from portal.integrations.zendesk import ZendeskClient
from portal.tickets import conversation, intake
from portal.tickets.attachments import Attachment, Upload
from portal.tickets.models import TECHNICAL_DETAILS, Comment, Ticket, TicketEvent
from tests import sample_files
from tests.conftest import QUICK_OUTBOX, TECHNICAL, login, serving_fake
from tests.fakes.zendesk_events import FakeZendeskWithUsers, created_event, signed_post

LOG = ("player.log", sample_files.LOG)
SCREENSHOT = ("captura.png", sample_files.png())


def deliver(passes: int = 1) -> None:
    """The worker's passes, each past the back-off of the one before."""
    deliverer, moment = Deliverer(), utcnow()
    for _ in range(passes):
        deliverer.run_pass(now=moment)
        moment += timedelta(minutes=10)


def uploads(*named) -> list[Upload]:
    return [Upload(name, io.BytesIO(data)) for name, data in named]


def new_ticket(partner, *named) -> Ticket:
    details = {key: TECHNICAL[key] for key in TECHNICAL_DETAILS}
    return intake.create_ticket(
        partner, "technical", TECHNICAL["subject"], TECHNICAL["description"], details, files=uploads(*named)
    )


def files_on(fake, zendesk_id: int) -> list[list[tuple[str, bytes]]]:
    """Each Zendesk comment's files, as (name, bytes) read back from the fake's store."""
    stored = {file.attachment["id"]: file.data for upload in fake.uploads.values() for file in upload.files}
    return [
        [(item["file_name"], stored[item["id"]]) for item in comment.get("attachments", [])]
        for comment in fake.comments[zendesk_id]
    ]


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_new_ticket_carries_its_files_in_its_first_comment(fake_zendesk, partner, matrix):
    ticket = new_ticket(partner, SCREENSHOT, LOG)
    deliver()
    assert ticket.zendesk_id is not None
    assert files_on(fake_zendesk, ticket.zendesk_id) == [[SCREENSHOT, LOG]]
    assert sorted(fake_zendesk.upload_uses.values()) == [ticket.zendesk_id, ticket.zendesk_id]
    assert fake_zendesk.orphans() == set()
    # Each upload sent its own type, not the API's JSON.
    upload_types = [
        headers["Content-Type"]
        for (method, path, _data), headers in zip(fake_zendesk.requests, fake_zendesk.headers_seen, strict=True)
        if path == "/api/v2/uploads.json"
    ]
    assert upload_types == ["image/png", "text/plain"]


def test_a_comment_is_posted_once_with_its_files(fake_zendesk, partner, matrix):
    ticket = new_ticket(partner)
    deliver()
    conversation.add_comment(partner, ticket, "Adjunto el registro del reproductor.", files=uploads(LOG))
    deliver()
    assert files_on(fake_zendesk, ticket.zendesk_id) == [[], [LOG]]
    assert list(fake_zendesk.upload_uses.values()) == [ticket.zendesk_id]


def test_a_lost_upload_answer_is_uploaded_again_and_the_comment_posted_once(fake_zendesk, partner, matrix):
    ticket = new_ticket(partner)
    deliver()
    conversation.add_comment(partner, ticket, "Adjunto el registro.", files=uploads(LOG))
    fake_zendesk.faults = ["drop-answer"]  # the upload is stored, its answer lost
    deliver(passes=2)
    assert fake_zendesk.injected["POST", "drop-answer"] == 1
    assert files_on(fake_zendesk, ticket.zendesk_id) == [[], [LOG]]
    assert fake_zendesk.orphans() == fake_zendesk.answers_lost and len(fake_zendesk.answers_lost) == 1
    assert db.session.scalar(select(OutboxMessage.state).where(OutboxMessage.kind == "update_ticket")) == "delivered"


@pytest.mark.parametrize("fault", ["500", "429", "drop", "slow"])
def test_a_failed_upload_holds_its_comment_back_until_it_succeeds(fake_zendesk, partner, matrix, fault):
    ticket = new_ticket(partner)
    deliver()
    conversation.add_comment(partner, ticket, "Adjunto el registro.", files=uploads(LOG))
    fake_zendesk.faults = [fault]
    Deliverer().run_pass(now=utcnow())
    assert len(fake_zendesk.comments[ticket.zendesk_id]) == 1, "never posted without its file"
    deliver(passes=2)
    assert files_on(fake_zendesk, ticket.zendesk_id) == [[], [LOG]]


def test_a_lost_answer_to_the_comment_is_adopted_not_posted_again(fake_zendesk, partner, matrix):
    ticket = new_ticket(partner)
    deliver()
    comment = conversation.add_comment(partner, ticket, "Adjunto el registro.", files=uploads(LOG))
    fake_zendesk.faults = ["none", "drop-answer"]  # the upload answers; the comment's answer is lost
    deliver(passes=2)
    assert files_on(fake_zendesk, ticket.zendesk_id) == [[], [LOG]]
    assert len(fake_zendesk.upload_uses) == 1 and len(fake_zendesk.orphans()) == 0
    assert db.session.get(Comment, comment.id).zendesk_comment_id == fake_zendesk.comments[ticket.zendesk_id][1]["id"]


def test_a_lost_answer_to_the_creation_with_files_is_adopted_not_created_again(fake_zendesk, partner, matrix):
    ticket = new_ticket(partner, LOG)
    fake_zendesk.faults = ["none", "drop-answer"]  # the upload answers; the creation's answer is lost
    deliver(passes=2)
    assert len(fake_zendesk.tickets) == 1
    assert ticket.zendesk_id == next(iter(fake_zendesk.tickets))
    assert files_on(fake_zendesk, ticket.zendesk_id) == [[LOG]]


# From Zendesk -------------------------------------------------------------------------------------

AGENT_EMAIL = "zoe@edye.zendesk.test"


@pytest.fixture
def agent_id(fake_zendesk_with_webhook) -> int:
    agent = fake_zendesk_with_webhook.user_for(AGENT_EMAIL)
    fake_zendesk_with_webhook.agents.add(agent)
    return agent


@pytest.fixture
def ticket_in_zendesk(fake_zendesk_with_webhook, partner, matrix) -> Ticket:
    ticket = new_ticket(partner)
    Deliverer().run_pass()
    fake_zendesk_with_webhook.deliver_webhooks()
    db.session.expire_all()
    assert ticket.zendesk_id is not None
    return ticket


def fix_files():
    return [
        ("ajustes.txt", b"bitrate=3000\n", "text/plain"),
        ("captura-agente.png", sample_files.png(320, 200), "image/png"),
        ("instalador.exe", sample_files.WINDOWS_PROGRAM, "application/octet-stream"),
    ]


def test_files_of_a_public_comment_made_in_zendesk_reach_the_partner_once(
    app, fake_zendesk_with_webhook, ticket_in_zendesk, agent_id, partner
):
    fake = fake_zendesk_with_webhook
    answers = fake.comment_with_files(ticket_in_zendesk.zendesk_id, agent_id, "Aplica estos ajustes.", fix_files())
    assert [answer.get("outcome") for _kind, status, answer in answers] == ["comment:public"]
    assert count(Attachment) == 0, "brought by the worker, not inside the webhook's request"
    Deliverer().run_pass()
    kept = list(db.session.scalars(select(Attachment).order_by(Attachment.id)))
    # The program stays in Zendesk: the portal refuses it as it refuses an upload.
    assert [(a.filename, a.content_type, a.public, a.uploader_id) for a in kept] == [
        ("ajustes.txt", "text/plain", True, None),
        ("captura-agente.png", "image/png", True, None),
    ]
    assert all(a.zendesk_attachment_id for a in kept) and kept[1].has_thumbnail
    comment = db.session.scalar(select(Comment).where(Comment.source == "zendesk"))
    assert {a.comment_id for a in kept} == {comment.id}
    # Each fetched through the API with its credentials (the program too: its name and declared type prove nothing).
    downloads = [
        h for (m, p, _d), h in zip(fake.requests, fake.headers_seen, strict=True) if p.startswith("/attachments/")
    ]
    assert len(downloads) == 3 and all(h.get("Authorization", "").startswith("Basic ") for h in downloads)

    client = app.test_client()
    login(client, partner.email)
    page = client.get(f"/tickets/{ticket_in_zendesk.id}").get_data(as_text=True)
    assert "ajustes.txt" in page and "instalador.exe" not in page
    assert client.get(f"/tickets/{ticket_in_zendesk.id}/files/{kept[0].id}").data == b"bitrate=3000\n"

    # Brought once: the same comment's files asked for again change nothing.
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "fetch_files"))
    message.state, message.next_attempt_at = MessageState.PENDING.value, utcnow()
    db.session.commit()
    Deliverer().run_pass()
    assert count(Attachment) == 2


def test_files_of_a_private_comment_made_in_zendesk_stay_with_staff(
    app, fake_zendesk_with_webhook, ticket_in_zendesk, agent_id, partner, make_user
):
    fake_zendesk_with_webhook.comment_with_files(
        ticket_in_zendesk.zendesk_id, agent_id, "Nota interna con captura.", fix_files()[1:2], public=False
    )
    Deliverer().run_pass()
    kept = db.session.scalar(select(Attachment))
    assert kept is not None and kept.public is False
    client = app.test_client()
    login(client, partner.email)
    assert "captura-agente.png" not in client.get(f"/tickets/{ticket_in_zendesk.id}").get_data(as_text=True)
    assert client.get(f"/tickets/{ticket_in_zendesk.id}/files/{kept.id}").status_code == 404
    admin = app.test_client()
    login(admin, make_user("ticket_admin", email="ana@edye.test").email)
    assert admin.get(f"/tickets/{ticket_in_zendesk.id}/files/{kept.id}").status_code == 200


def test_a_download_that_fails_is_tried_again_and_nothing_half_kept(
    fake_zendesk_with_webhook, ticket_in_zendesk, agent_id
):
    fake = fake_zendesk_with_webhook
    fake.comment_with_files(ticket_in_zendesk.zendesk_id, agent_id, "Dos archivos.", fix_files()[:2])
    fake.faults = ["none", "none", "500"]  # the comments list, the first file, then the second fails
    Deliverer().run_pass(now=utcnow())
    assert count(Attachment) == 0
    deliver(passes=2)
    assert count(Attachment) == 2


# Born in Zendesk ----------------------------------------------------------------------------------

SECRET = "whsec-files"
REQUESTER = 21000000001


@pytest.fixture
def born_zendesk(app):
    fake = FakeZendeskWithUsers()
    settings = {"ZENDESK_BASE_URL": fake.url, "ZENDESK_EMAIL": fake.email, "ZENDESK_API_TOKEN": fake.token}
    app.config["ZENDESK_WEBHOOK_SECRET"] = SECRET
    yield from serving_fake(app, fake, **settings, **QUICK_OUTBOX)


def test_the_files_of_a_ticket_born_in_zendesk_come_with_its_description(client, born_zendesk, partner, matrix):
    """Someone writes to support by e-mail with a screenshot: the ticket's first comment carries it."""
    born_zendesk.add_user(REQUESTER, partner.email, "Pablo in Zendesk")
    api = ZendeskClient(born_zendesk.url, born_zendesk.email, born_zendesk.token)
    token = api.upload("pantalla-negra.png", SCREENSHOT[1], "image/png")
    created = api.create_ticket(
        {
            "subject": "Pantalla negra",
            "comment": {"body": "Se ve negro.", "uploads": [token]},
            "requester_id": REQUESTER,
        },
        "born-with-a-file",
    ).data["ticket"]
    event = created_event(zendesk_id=created["id"], requester_id=REQUESTER, description="Se ve negro.")
    assert signed_post(client, event, SECRET).json["outcome"] == "ticket:created"
    Deliverer().run_pass()
    kept = db.session.scalar(select(Attachment))
    ticket = db.session.scalar(select(Ticket))
    assert (kept.filename, kept.comment_id, kept.ticket_id, kept.public) == (
        "pantalla-negra.png",
        None,
        ticket.id,
        True,
    )


def test_a_comment_with_files_on_a_closed_zendesk_ticket_goes_to_one_follow_up(fake_zendesk, partner, matrix):
    """Zendesk closed its ticket: the comment and its files continue in a follow-up, made once even
    when the follow-up's answer is lost and the retry names new upload tokens."""
    ticket = new_ticket(partner)
    deliver()
    closed_id = ticket.zendesk_id
    fake_zendesk.tickets[closed_id]["status"] = "closed"
    conversation.add_comment(partner, ticket, "Sigue fallando, adjunto registro.", files=uploads(LOG))
    # The upload answers, the refused update answers, the follow-up's creation answer is lost.
    fake_zendesk.faults = ["none", "none", "drop-answer"]
    deliver(passes=3)
    follow_ups = [t for t in fake_zendesk.tickets.values() if t["via_followup_source_id"] == closed_id]
    assert len(follow_ups) == 1
    db.session.expire_all()
    assert ticket.zendesk_id == follow_ups[0]["id"]
    assert files_on(fake_zendesk, ticket.zendesk_id) == [[LOG]]
    assert db.session.scalar(select(OutboxMessage.state).where(OutboxMessage.kind == "update_ticket")) == "delivered"


def test_a_file_zendesk_keeps_to_itself_is_named_to_staff_and_the_others_arrive(
    fake_zendesk_with_webhook, ticket_in_zendesk, agent_id
):
    fake = fake_zendesk_with_webhook
    fake.comment_with_files(ticket_in_zendesk.zendesk_id, agent_id, "Tres archivos.", fix_files())
    listed = fake.comments[ticket_in_zendesk.zendesk_id][-1]["attachments"]
    listed[0]["malware_scan_result"] = "malware_found"
    Deliverer().run_pass()
    assert [a.filename for a in db.session.scalars(select(Attachment))] == ["captura-agente.png"]
    event = db.session.scalar(select(TicketEvent).where(TicketEvent.kind == "files_not_brought"))
    assert event.public is False
    assert set(event.data["files"]) == {"ajustes.txt", "instalador.exe"}
    assert "malware" in event.data["files"]["ajustes.txt"]


def test_the_files_of_a_private_first_comment_stay_with_staff(client, born_zendesk, partner, matrix):
    """An agent opens a ticket in Zendesk for the partner with an internal note as its first comment."""
    born_zendesk.add_user(REQUESTER, partner.email, "Pablo in Zendesk")
    api = ZendeskClient(born_zendesk.url, born_zendesk.email, born_zendesk.token)
    token = api.upload("panel-interno.png", SCREENSHOT[1], "image/png")
    comment = {"body": "Abierto por teléfono.", "public": False, "uploads": [token]}
    created = api.create_ticket(
        {"subject": "Llamada del partner", "comment": comment, "requester_id": REQUESTER}, "born-private"
    ).data["ticket"]
    event = created_event(zendesk_id=created["id"], requester_id=REQUESTER, description="Abierto por teléfono.")
    assert signed_post(client, event, SECRET).json["outcome"] == "ticket:created"
    Deliverer().run_pass()
    assert db.session.scalar(select(Attachment.public)) is False
