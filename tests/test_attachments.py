"""Files on tickets through HTTP: partners attach them to both intake forms and to comments, staff to
replies and internal notes; types are decided by content, limits hold, nothing of a refused message
is stored, and files are read back only by those who may see them, as downloads."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from auth import services as auth_services
from portal.core.extensions import db
from portal.integrations.models import OutboxMessage
from portal.tickets.attachments import Attachment
from portal.tickets.models import Comment, Ticket
from tests import sample_files
from tests.conftest import TECHNICAL, login
from tests.fakes.s3 import s3_bucket, s3_endpoint, s3_settings  # noqa: F401 (fixtures)

FILES_FIELD = "attachments"


def files(*named: tuple[str, bytes]) -> list[tuple[io.BytesIO, str]]:
    return [(io.BytesIO(data), name) for name, data in named]


def send_ticket(client, *named, form_kind="technical", **fields):
    data = {**TECHNICAL, **fields, FILES_FIELD: files(*named)}
    if form_kind == "marketing_business":
        data = {
            "subject": "Campaign assets",
            "description": "We need the new season's artwork for a campaign.",
            "topic": "Artwork",
            FILES_FIELD: files(*named),
        }
    return client.post(f"/tickets/new/{form_kind}", data=data, content_type="multipart/form-data")


def stored_files(app) -> list[Path]:
    root = Path(app.config["ATTACHMENTS_DIR"])
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def partner_client(client, partner):
    assert login(client, partner.email).status_code == 302
    return client


class TestIntake:
    @pytest.mark.parametrize("form_kind", ["technical", "marketing_business"])
    def test_both_forms_take_files_kept_with_the_description(self, app, partner_client, matrix, form_kind):
        screenshot, log = sample_files.png(), sample_files.LOG
        response = send_ticket(partner_client, ("captura.png", screenshot), ("player.log", log), form_kind=form_kind)
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        ticket = db.session.scalar(select(Ticket))
        kept = list(db.session.scalars(select(Attachment).order_by(Attachment.id)))
        assert [(a.filename, a.content_type, a.size, a.comment_id, a.public) for a in kept] == [
            ("captura.png", "image/png", len(screenshot), None, True),
            ("player.log", "text/plain", len(log), None, True),
        ]
        assert kept[0].sha256 == hashlib.sha256(screenshot).hexdigest()
        assert kept[0].has_thumbnail and not kept[1].has_thumbnail
        # Three files in the storage: both, and the picture's thumbnail.
        assert len(stored_files(app)) == 3
        page = partner_client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
        assert "captura.png" in page and "player.log" in page
        assert f'href="/tickets/{ticket.id}/files/{kept[0].id}"' in page
        assert f'src="/tickets/{ticket.id}/files/{kept[0].id}/thumbnail"' in page
        assert 'hx-boost="false"' in page
        message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "create_ticket"))
        assert message.payload["attachment_ids"] == [kept[0].id, kept[1].id]

    def test_a_ticket_without_files_sends_the_message_it_always_sent(self, partner_client, matrix):
        assert send_ticket(partner_client).status_code == 302
        message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "create_ticket"))
        assert "attachment_ids" not in message.payload

    @pytest.mark.parametrize(
        ("name", "data"),
        [
            ("captura.png", sample_files.WINDOWS_PROGRAM),  # a program named as a picture
            ("herramienta", sample_files.LINUX_PROGRAM),
            ("notas.txt", sample_files.WEB_PAGE),  # a web page named as text
            ("logo.svg", sample_files.SVG),
        ],
    )
    def test_programs_and_web_pages_are_refused_by_content_and_nothing_is_stored(
        self, app, partner_client, matrix, name, data
    ):
        response = send_ticket(partner_client, ("ok.log", sample_files.LOG), (name, data))
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert name in page and 'class="field-error"' in page
        assert 'id="attachments-error"' in page
        assert (count(Ticket), count(Attachment), count(OutboxMessage)) == (0, 0, 0)
        assert stored_files(app) == []
        # What was typed stays in the form.
        assert TECHNICAL["subject"] in page

    def test_too_many_files_are_refused(self, app, partner_client, matrix):
        app.config["ATTACHMENTS_MAX_FILES"] = 2
        response = send_ticket(partner_client, *[(f"log{n}.txt", sample_files.LOG) for n in range(3)])
        assert response.status_code == 422
        assert "2" in response.get_data(as_text=True)
        assert (count(Ticket), count(Attachment)) == (0, 0)
        assert stored_files(app) == []

    def test_a_file_over_the_size_limit_is_refused(self, app, partner_client, matrix):
        app.config["ATTACHMENTS_MAX_BYTES"] = 1024 * 1024
        big = b"log line of a very chatty player\n" * 40_000  # about 1.3 MB
        response = send_ticket(partner_client, ("big.log", big))
        assert response.status_code == 422
        assert "big.log" in response.get_data(as_text=True)
        assert (count(Ticket), count(Attachment)) == (0, 0)

    def test_a_request_larger_than_the_portal_accepts_is_a_clear_413(self, app, partner_client, matrix):
        app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
        response = send_ticket(partner_client, ("big.log", b"x" * 100 * 1024))
        assert response.status_code == 413
        assert count(Ticket) == 0

    def test_a_huge_picture_is_kept_without_a_thumbnail(self, app, partner_client, matrix):
        response = send_ticket(partner_client, ("bomb.png", sample_files.huge_png()))
        assert response.status_code == 302
        kept = db.session.scalar(select(Attachment))
        assert kept.content_type == "image/png" and not kept.has_thumbnail
        ticket_id = db.session.scalar(select(Ticket.id))
        assert partner_client.get(f"/tickets/{ticket_id}/files/{kept.id}/thumbnail").status_code == 404
        assert partner_client.get(f"/tickets/{ticket_id}/files/{kept.id}").status_code == 200

    def test_a_har_file_is_json(self, partner_client, matrix):
        assert send_ticket(partner_client, ("session.har", sample_files.HAR)).status_code == 302
        assert db.session.scalar(select(Attachment.content_type)) == "application/json"


class TestDownloads:
    def test_a_download_is_the_same_bytes_served_as_a_download_nothing_can_run(self, partner_client, matrix):
        screenshot = sample_files.png()
        send_ticket(partner_client, ("captura de pantalla.png", screenshot))
        ticket_id, file_id = db.session.execute(select(Attachment.ticket_id, Attachment.id)).one()
        response = partner_client.get(f"/tickets/{ticket_id}/files/{file_id}")
        assert response.status_code == 200
        assert response.data == screenshot
        assert response.mimetype == "image/png"
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert "captura" in response.headers["Content-Disposition"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"
        thumbnail = partner_client.get(f"/tickets/{ticket_id}/files/{file_id}/thumbnail")
        assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/png"
        assert thumbnail.data.startswith(b"\x89PNG") and thumbnail.data != screenshot
        assert "Content-Disposition" not in thumbnail.headers

    def test_another_organization_gets_404(self, app, partner_client, make_user, matrix):
        send_ticket(partner_client, ("player.log", sample_files.LOG))
        ticket_id, file_id = db.session.execute(select(Attachment.ticket_id, Attachment.id)).one()
        other = make_user(
            "partner", email="otro@competidor.test", organization=auth_services.create_organization(None, "Otra")
        )
        stranger = app.test_client()
        login(stranger, other.email)
        assert stranger.get(f"/tickets/{ticket_id}/files/{file_id}").status_code == 404
        assert stranger.get(f"/tickets/{ticket_id}/files/{file_id}/thumbnail").status_code == 404

    def test_a_file_is_read_only_through_its_own_ticket(self, partner_client, open_ticket, matrix):
        send_ticket(partner_client, ("player.log", sample_files.LOG))
        file_id = db.session.scalar(select(Attachment.id))
        other_ticket = open_ticket(subject="Another ticket of the same partner")
        assert partner_client.get(f"/tickets/{other_ticket.id}/files/{file_id}").status_code == 404
        assert partner_client.get(f"/tickets/{other_ticket.id}/files/999999").status_code == 404

    def test_signed_out_visitors_are_sent_to_sign_in(self, app, partner_client, matrix):
        send_ticket(partner_client, ("player.log", sample_files.LOG))
        ticket_id, file_id = db.session.execute(select(Attachment.ticket_id, Attachment.id)).one()
        response = app.test_client().get(f"/tickets/{ticket_id}/files/{file_id}")
        assert response.status_code == 302 and "/login" in response.headers["Location"]

    def test_a_file_lost_from_the_storage_is_a_404_with_a_message(self, app, partner_client, matrix):
        send_ticket(partner_client, ("player.log", sample_files.LOG))
        ticket_id, file_id = db.session.execute(select(Attachment.ticket_id, Attachment.id)).one()
        for path in stored_files(app):
            path.unlink()
        response = partner_client.get(f"/tickets/{ticket_id}/files/{file_id}")
        assert response.status_code == 404


class TestConversation:
    def test_a_partner_comment_carries_files_to_zendesk(self, partner_client, open_ticket, matrix):
        ticket = open_ticket()
        response = partner_client.post(
            f"/tickets/{ticket.id}/comments",
            data={"body": "Adjunto el registro.", FILES_FIELD: files(("player.log", sample_files.LOG))},
            content_type="multipart/form-data",
        )
        assert response.status_code == 302
        comment = db.session.scalar(select(Comment))
        kept = db.session.scalar(select(Attachment))
        assert (kept.comment_id, kept.public, kept.filename) == (comment.id, True, "player.log")
        message = db.session.scalar(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == f"zendesk:comment:{comment.id}")
        )
        assert message.payload["attachment_ids"] == [kept.id]
        assert "player.log" in partner_client.get(f"/tickets/{ticket.id}").get_data(as_text=True)

    def test_a_refused_file_keeps_the_comment_unsent(self, app, partner_client, open_ticket, matrix):
        ticket = open_ticket()
        before = count(OutboxMessage)
        response = partner_client.post(
            f"/tickets/{ticket.id}/comments",
            data={"body": "Mira esto.", FILES_FIELD: files(("foto.png", sample_files.WINDOWS_PROGRAM))},
            content_type="multipart/form-data",
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 422
        assert "foto.png" in response.get_data(as_text=True)
        assert "Mira esto." in response.get_data(as_text=True)
        assert (count(Comment), count(Attachment), count(OutboxMessage)) == (0, 0, before)
        assert stored_files(app) == []

    def test_staff_reply_files_reach_the_partner_and_note_files_never_do(self, app, clients, open_ticket, matrix):
        ticket = open_ticket()
        admin, partner = clients["admin"], clients["partner"]
        reply = admin.post(
            f"/staff/tickets/{ticket.id}/reply",
            data={"body": "Prueba con esta configuración.", FILES_FIELD: files(("config.json", b'{"bitrate": 3000}'))},
            content_type="multipart/form-data",
        )
        assert reply.status_code == 302
        note = admin.post(
            f"/staff/tickets/{ticket.id}/note",
            data={"body": "Captura interna del panel.", FILES_FIELD: files(("panel.png", sample_files.png()))},
            content_type="multipart/form-data",
        )
        assert note.status_code == 302
        public, internal = db.session.scalars(select(Attachment).order_by(Attachment.id))
        assert (public.public, internal.public) == (True, False)
        partner_page = partner.get(f"/tickets/{ticket.id}").get_data(as_text=True)
        assert "config.json" in partner_page and "panel.png" not in partner_page
        assert partner.get(f"/tickets/{ticket.id}/files/{public.id}").data == b'{"bitrate": 3000}'
        assert partner.get(f"/tickets/{ticket.id}/files/{internal.id}").status_code == 404
        assert partner.get(f"/tickets/{ticket.id}/files/{internal.id}/thumbnail").status_code == 404
        staff_page = admin.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
        assert "config.json" in staff_page and "panel.png" in staff_page
        assert admin.get(f"/tickets/{ticket.id}/files/{internal.id}").status_code == 200
        # The note is never sent to Zendesk; the reply is, with its file.
        keys = set(db.session.scalars(select(OutboxMessage.idempotency_key)))
        assert not any(str(internal.comment_id) in key for key in keys if key.startswith("zendesk:comment:"))

    def test_a_refused_staff_file_keeps_the_reply_as_typed(self, clients, open_ticket, matrix):
        ticket = open_ticket()
        response = clients["admin"].post(
            f"/staff/tickets/{ticket.id}/reply",
            data={"body": "Texto que no se pierde.", FILES_FIELD: files(("pagina.txt", sample_files.WEB_PAGE))},
            content_type="multipart/form-data",
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert "Texto que no se pierde." in page and "pagina.txt" in page
        assert (count(Comment), count(Attachment)) == (0, 0)


def test_files_written_in_a_failed_transaction_are_deleted(app, partner, open_ticket, matrix, monkeypatch):
    """A failure after the files are written (here: the Zendesk message) leaves neither records nor files."""
    from portal.tickets import conversation
    from portal.tickets.attachments import Upload

    ticket = open_ticket()

    def broken(*args, **kwargs):
        raise RuntimeError("the outbox is unreachable")

    monkeypatch.setattr(conversation, "zendesk_comment", broken)
    with pytest.raises(RuntimeError):
        conversation.add_comment(partner, ticket, "Con archivo.", files=[Upload("a.log", io.BytesIO(sample_files.LOG))])
    assert len(stored_files(app)) == 1  # written, not yet committed
    db.session.rollback()
    assert stored_files(app) == []
    assert (count(Comment), count(Attachment)) == (0, 0)


class TestOnS3:
    """The same journeys with the files in an S3 bucket (moto's server on 127.0.0.1), as a portal
    with several web servers keeps them."""

    @pytest.fixture
    def bucket(self, app, s3_endpoint, s3_bucket):
        client, name = s3_bucket
        app.config.update(s3_settings(s3_endpoint, name, prefix="portal"))
        app.extensions.pop("attachments_storage", None)  # built again from these settings
        return client, name

    @staticmethod
    def keys(bucket) -> list[str]:
        client, name = bucket
        return sorted(item["Key"] for item in client.list_objects_v2(Bucket=name).get("Contents", []))

    def test_files_go_to_the_bucket_and_come_back_through_the_portal(self, app, bucket, partner_client, matrix):
        screenshot = sample_files.png()
        assert send_ticket(partner_client, ("captura.png", screenshot)).status_code == 302
        kept = db.session.scalar(select(Attachment))
        assert self.keys(bucket) == [f"portal/{kept.storage_key}", f"portal/{kept.thumbnail_key}"]
        assert stored_files(app) == []
        response = partner_client.get(f"/tickets/{kept.ticket_id}/files/{kept.id}")
        assert response.status_code == 200 and response.data == screenshot
        assert partner_client.get(f"/tickets/{kept.ticket_id}/files/{kept.id}/thumbnail").data.startswith(b"\x89PNG")

    def test_a_failed_transaction_leaves_nothing_in_the_bucket(self, bucket, partner, open_ticket, matrix, monkeypatch):
        from portal.tickets import conversation
        from portal.tickets.attachments import Upload

        ticket = open_ticket()
        monkeypatch.setattr(conversation, "zendesk_comment", lambda *args: (_ for _ in ()).throw(RuntimeError("down")))
        with pytest.raises(RuntimeError):
            conversation.add_comment(
                partner, ticket, "Con foto.", files=[Upload("a.png", io.BytesIO(sample_files.png()))]
            )
        assert len(self.keys(bucket)) == 2  # the picture and its thumbnail, not committed
        db.session.rollback()
        assert self.keys(bucket) == []


class TestNames:
    @pytest.mark.parametrize(
        ("sent", "kept"),
        [
            ("../../etc/passwd.log", "passwd.log"),
            ("\u202egol.exe.log", "gol.exe.log"),  # a right-to-left override hiding the real extension
            ("informe\u200b final.log", "informe final.log"),
            ("a" * 300 + ".log", "a" * 196 + ".log"),
        ],
    )
    def test_a_file_keeps_only_a_safe_name(self, partner_client, matrix, sent, kept):
        assert send_ticket(partner_client, (sent, sample_files.LOG)).status_code == 302
        attachment = db.session.scalar(select(Attachment))
        assert attachment.filename == kept
        response = partner_client.get(f"/tickets/{attachment.ticket_id}/files/{attachment.id}")
        assert response.status_code == 200 and "/" not in response.headers["Content-Disposition"]

    def test_an_empty_file_is_refused(self, partner_client, matrix):
        response = send_ticket(partner_client, ("vacio.log", b""))
        assert response.status_code == 422 and "vacio.log" in response.get_data(as_text=True)
        assert count(Ticket) == 0


def test_the_ticket_page_reads_its_files_in_one_query_however_many(clients, open_ticket, matrix, count_queries):
    ticket = open_ticket()
    partner = clients["partner"]

    def comment_with_a_file(number: int) -> None:
        response = partner.post(
            f"/tickets/{ticket.id}/comments",
            data={"body": f"Registro {number}.", FILES_FIELD: files((f"log{number}.txt", sample_files.LOG))},
            content_type="multipart/form-data",
        )
        assert response.status_code == 302

    comment_with_a_file(0)
    with count_queries() as few:
        assert "log0.txt" in partner.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    for number in range(1, 6):
        comment_with_a_file(number)
    with count_queries() as many:
        assert "log5.txt" in partner.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert many.count == few.count


def test_only_the_forms_that_carry_files_read_large_bodies(app, partner_client, open_ticket, matrix):
    big_log = b"2026-12-01 player buffering at segment 812\n" * 70_000  # about 3 MB
    ticket = open_ticket()
    # Where files belong, a 3 MB file is well within the limits...
    assert send_ticket(partner_client, ("player.log", big_log)).status_code == 302
    comment = partner_client.post(
        f"/tickets/{ticket.id}/comments",
        data={"body": "Otro registro.", FILES_FIELD: files(("player.log", big_log))},
        content_type="multipart/form-data",
    )
    assert comment.status_code == 302
    # ...and anywhere else the same body is refused before it is read.
    elsewhere = partner_client.post(
        f"/tickets/{ticket.id}/confirm",
        data={"answer": "no", "reason": "x", FILES_FIELD: files(("player.log", big_log))},
        content_type="multipart/form-data",
    )
    assert elsewhere.status_code == 413
    assert app.test_client().post("/login", data={"email": "a" * 3_000_000}).status_code == 413


class TestBodyLimitWithCsrf:
    """As in production: the CSRF check reads the form first, and still no large body is read."""

    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_a_large_body_is_refused_before_the_csrf_check_reads_it(self, app):
        response = app.test_client().post("/login", data={"email": "a" * 3_000_000})
        assert response.status_code == 413


def test_a_savepoint_neither_keeps_nor_loses_the_files_of_its_transaction(app, partner, open_ticket, matrix):
    from portal.files.checks import check_file
    from portal.tickets import attachments

    ticket = open_ticket()
    log = check_file("a.log", sample_files.LOG, 1024 * 1024)
    attachments.store(ticket, [log], partner)
    db.session.begin_nested().rollback()  # a savepoint rolled back: the outer transaction's file stays
    assert len(stored_files(app)) == 1
    db.session.commit()
    assert len(stored_files(app)) == 1 and count(Attachment) == 1

    attachments.store(ticket, [log], partner)
    db.session.begin_nested().commit()  # a savepoint released, then the whole transaction rolled back
    db.session.rollback()
    assert len(stored_files(app)) == 1 and count(Attachment) == 1

    db.session.begin_nested()
    with pytest.raises(RuntimeError, match="outermost transaction"):
        attachments.store(ticket, [log], partner)
    db.session.rollback()
    assert len(stored_files(app)) == 1


def test_the_workspace_forms_that_carry_files_send_them(clients, open_ticket, matrix):
    ticket = open_ticket()
    page = clients["admin"].get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    for action in ("reply", "note"):
        form = page[page.index(f'data-action="{action}"') - 400 : page.index(f'data-action="{action}"') + 200]
        assert 'enctype="multipart/form-data"' in form
        assert f'id="{action}-attachments"' in page and 'type="file"' in page
    assert page.count('enctype="multipart/form-data"') == 2, "only the forms with a file field"


def test_a_name_in_any_script_downloads_under_that_name(partner_client, matrix):
    send_ticket(partner_client, ("registro del reproductor ñandú 播放器.log", sample_files.LOG))
    attachment = db.session.scalar(select(Attachment))
    response = partner_client.get(f"/tickets/{attachment.ticket_id}/files/{attachment.id}")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert attachment.filename == "registro del reproductor ñandú 播放器.log"
    assert "filename*=UTF-8''" in disposition and "%E6%92%AD%E6%94%BE%E5%99%A8" in disposition
