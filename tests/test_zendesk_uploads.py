"""Files to and from Zendesk, client against the fake over HTTP (no database): an upload's token
attaches its file once, on one ticket; tokens reused, expired or unknown are refused; an upload
whose answer is lost is retried and leaves an orphan that is never attached; comments are read page
by page; attachments are downloaded with the API token only from the configured Zendesk, within a
size limit, and a redirect to Zendesk's file host does not carry the token."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from portal.integrations import zendesk as zendesk_client
from portal.integrations.http import RateLimited, Rejected, RetryLater
from portal.integrations.zendesk import ZendeskClient, sign_webhook
from tests.fakes.server import FakeServer, json_body
from tests.fakes.zendesk import FakeZendesk
from tests.fakes.zendesk_events import FakeZendeskWithWebhook
from tests.fakes.zendesk_uploads import UPLOAD_TTL

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
LOG = b"2026-12-01 channel 5: no signal\n" * 40
QUICK = (1.0, 1.0)  # connect and read timeouts shorter than the fake's "slow" answers
FAULTS = ["500", "429", "drop", "slow", "drop-answer", "500-after"]
SHUTDOWN_POLL = 0.05  # seconds: how soon a test's file host notices it is shut down


@pytest.fixture
def zendesk():
    with FakeZendesk() as fake:
        yield fake


@pytest.fixture
def api(zendesk):
    return ZendeskClient(zendesk.url, zendesk.email, zendesk.token, timeout=QUICK)


def new_ticket(api: ZendeskClient, key: str = "key-1") -> int:
    ticket = {
        "subject": "No video",
        "comment": {"body": "Black screen."},
        "requester": {"name": "P", "email": "p@x.test"},
    }
    return api.create_ticket(ticket, key).data["ticket"]["id"]


def comment_with(tokens: list[str], body: str = "See the files.") -> dict:
    return {"comment": {"body": body, "public": True, "uploads": tokens}}


class FileHost:
    """Zendesk's file host as a second server on 127.0.0.1, reached as `localhost`: it records the
    headers it receives and answers `body` (without Content-Length when `declare_length` is off,
    the body then ending with the connection), or redirects to itself when `loop`."""

    def __init__(self, body: bytes = b"from the file host", declare_length: bool = True, loop: bool = False):
        self.seen: list[dict] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):
                host.seen.append(dict(self.headers.items()))
                self.send_response(302 if loop else 200)
                if loop:
                    self.send_header("Location", f"{host.url}/again")
                elif declare_length:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not loop:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://localhost:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, args=(SHUTDOWN_POLL,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def file_host():
    hosts = []

    def start(**options) -> FileHost:
        hosts.append(FileHost(**options))
        return hosts[-1]

    yield start
    for host in hosts:
        host.close()


@pytest.fixture
def localhost_is_a_file_host(monkeypatch):
    """The test's file host stands for `*.zdusercontent.com`, which only https reaches."""
    monkeypatch.setattr(zendesk_client, "FILE_SCHEME", "http")
    monkeypatch.setattr(zendesk_client, "FILE_HOSTS", ("localhost",))


class TestUploadThenComment:
    def test_each_token_attaches_its_file_once_on_its_ticket(self, zendesk, api):
        first, second = new_ticket(api, "key-1"), new_ticket(api, "key-2")
        screenshot = api.upload("screen.png", PNG, "image/png")
        log = api.upload("player.log", LOG, "text/plain")
        api.update_ticket(first, comment_with([screenshot]))
        api.update_ticket(second, comment_with([log]))
        assert zendesk.upload_uses == {screenshot: first, log: second}
        assert [file.data for file in zendesk.uploads[screenshot].files] == [PNG]
        assert [file.data for file in zendesk.uploads[log].files] == [LOG]
        upload_headers = [
            h
            for (verb, path, _), h in zip(zendesk.requests, zendesk.headers_seen, strict=True)
            if verb == "POST" and path == "/api/v2/uploads.json"
        ]
        assert [headers["Content-Type"] for headers in upload_headers] == ["image/png", "text/plain"]
        attachment = zendesk.comments[first][-1]["attachments"][0]
        assert attachment["file_name"] == "screen.png" and attachment["size"] == len(PNG) and attachment["id"] > 2**32
        audit_comment = zendesk.audits[first][-1]["events"][-1]
        assert audit_comment["type"] == "Comment" and audit_comment["attachments"] == [attachment]

    def test_a_new_ticket_carries_its_first_comment_s_files(self, zendesk, api):
        token = api.upload("screen.png", PNG, "image/png")
        ticket = {"subject": "A", "comment": {"body": "a", "uploads": [token]}, "requester": {"email": "p@x.test"}}
        zendesk_id = api.create_ticket(ticket, "key-3").data["ticket"]["id"]
        assert zendesk.upload_uses == {token: zendesk_id}
        assert zendesk.comments[zendesk_id][0]["attachments"][0]["content_type"] == "image/png"

    def test_a_file_without_a_type_goes_as_bytes(self, zendesk, api):
        token = api.upload("firmware", b"\x00\x01", "")
        assert zendesk.uploads[token].files[0].content_type == "application/octet-stream"


class TestTokensZendeskRefuses:
    def test_a_used_token_is_refused_on_any_ticket(self, zendesk, api):
        first, second = new_ticket(api, "key-1"), new_ticket(api, "key-2")
        token = api.upload("screen.png", PNG, "image/png")
        api.update_ticket(first, comment_with([token]))
        for ticket in (first, second):
            with pytest.raises(Rejected, match=f"^422 RecordInvalid.*uploads: Uploads: token {token} was already used"):
                api.update_ticket(ticket, comment_with([token], "Again."))
        assert zendesk.upload_uses == {token: first}
        assert [len(zendesk.comments[ticket]) for ticket in (first, second)] == [2, 1]

    def test_a_comment_retried_with_its_token_after_a_lost_answer_is_not_posted_twice(self, zendesk, api):
        zendesk_id = new_ticket(api)
        token = api.upload("screen.png", PNG, "image/png")
        zendesk.faults = ["drop-answer"]
        with pytest.raises(RetryLater):
            api.update_ticket(zendesk_id, comment_with([token]))
        with pytest.raises(Rejected, match="already used"):
            api.update_ticket(zendesk_id, comment_with([token]))
        assert len(zendesk.comments[zendesk_id]) == 2 and zendesk.upload_uses == {token: zendesk_id}

    def test_an_expired_token_is_refused_and_its_file_deleted(self, zendesk, api):
        zendesk_id = new_ticket(api)
        in_time, late = api.upload("a.png", PNG, "image/png"), api.upload("b.png", PNG, "image/png")
        zendesk.advance(UPLOAD_TTL - 60)
        api.update_ticket(zendesk_id, comment_with([in_time]))
        zendesk.advance(61)
        with pytest.raises(Rejected, match=f"token {late} has expired"):
            api.update_ticket(zendesk_id, comment_with([late]))
        with pytest.raises(Rejected, match=r"^404"):
            api.download(zendesk.uploads[late].files[0].attachment["content_url"], len(PNG))
        kept = zendesk.uploads[in_time].files[0].attachment["content_url"]
        assert api.download(kept, len(PNG)) == PNG  # attached files stay
        assert zendesk.upload_uses == {in_time: zendesk_id}

    def test_an_unknown_token_refuses_the_whole_update(self, zendesk, api):
        zendesk_id = new_ticket(api)
        token = api.upload("a.png", PNG, "image/png")
        with pytest.raises(Rejected, match="unknown token made-up"):
            api.update_ticket(zendesk_id, {**comment_with([token, "made-up"]), "status": "open"})
        assert len(zendesk.comments[zendesk_id]) == 1 and len(zendesk.audits[zendesk_id]) == 1
        assert zendesk.tickets[zendesk_id]["status"] == "new" and zendesk.upload_uses == {}

    def test_a_file_over_the_limit_is_refused(self, zendesk, api):
        zendesk.upload_max_bytes = len(PNG) - 1
        with pytest.raises(Rejected, match=r"^413"):
            api.upload("a.png", PNG, "image/png")
        assert zendesk.uploads == {}

    def test_an_answer_without_a_token_is_refused(self):
        answer = json_body({"upload": {"attachments": []}}, 201)
        with FakeServer(lambda *request: answer) as server, pytest.raises(Rejected, match="without a valid token"):
            ZendeskClient(server.url, "api@edye.test", "t").upload("a.png", PNG, "image/png")


class TestUploadFaults:
    @pytest.mark.parametrize("fault", FAULTS)
    def test_a_failed_upload_is_retried_and_only_the_retry_is_attached(self, zendesk, api, fault):
        zendesk_id = new_ticket(api)
        zendesk.faults = [fault]
        with pytest.raises(RetryLater) as failure:
            api.upload("screen.png", PNG, "image/png")
        assert isinstance(failure.value, RateLimited) == (fault == "429")
        token = api.upload("screen.png", PNG, "image/png")
        api.update_ticket(zendesk_id, comment_with([token]))
        orphans = zendesk.orphans()
        assert len(orphans) == (1 if fault in ("slow", "drop-answer", "500-after") else 0)
        assert zendesk.answers_lost == (orphans if fault != "slow" else set())
        assert token not in orphans and zendesk.upload_uses == {token: zendesk_id}
        assert [a["file_name"] for a in zendesk.comments[zendesk_id][-1]["attachments"]] == ["screen.png"]


class TestComments:
    def test_comments_are_read_page_by_page_oldest_first_with_their_files(self, zendesk, api):
        zendesk_id = new_ticket(api)
        for number in range(zendesk_client.COMMENTS_PAGE_SIZE):
            api.update_ticket(zendesk_id, {"comment": {"body": f"note {number}", "public": False}})
        agent = zendesk.api_user_id
        zendesk.add_comment_with_files(zendesk_id, agent, "Here is the log.", [("player.log", LOG, "text/plain")])
        comments = list(api.ticket_comments(zendesk_id))
        assert [comment["body"] for comment in comments[:2]] == ["Black screen.", "note 0"]
        assert len(comments) == 102 and len({comment["id"] for comment in comments}) == 102
        assert zendesk.paths().count(f"/api/v2/tickets/{zendesk_id}/comments.json") == 2
        last = comments[-1]
        assert (last["author_id"], last["public"], last["body"]) == (agent, True, "Here is the log.")
        assert [(a["file_name"], a["size"]) for a in last["attachments"]] == [("player.log", len(LOG))]
        assert all(comment["attachments"] == [] for comment in comments[:-1])

    def test_a_comment_made_in_zendesk_sends_its_event_without_attachments(self):
        received = []

        def portal(method, path, headers, body):
            received.append((headers, body))
            return json_body({"status": "ok"})

        hook = FakeServer(portal)
        zendesk = FakeZendeskWithWebhook(webhook_url=hook.url + "/hook", webhook_secret="s")
        with hook, zendesk:
            zendesk_id = new_ticket(ZendeskClient(zendesk.url, zendesk.email, zendesk.token))
            requester = zendesk.tickets[zendesk_id]["requester_id"]
            answers = zendesk.comment_with_files(zendesk_id, requester, "Photo.", [("tv.png", PNG, "image/png")])
            comment = zendesk.comments[zendesk_id][-1]
        assert [(kind, status) for kind, status, _ in answers] == [("zen:event-type:ticket.comment_added", 200)]
        headers, body = received[0]
        stamp = headers["X-Zendesk-Webhook-Signature-Timestamp"]
        assert headers["X-Zendesk-Webhook-Signature"] == sign_webhook("s", stamp, body)
        event = json.loads(body)["event"]["comment"]
        assert event["id"] == comment["id"] and event["author"]["id"] == str(requester)
        assert "attachments" not in event and comment["attachments"][0]["file_name"] == "tv.png"


class TestDownloads:
    def test_an_attachment_is_fetched_with_the_token_and_refused_without(self, zendesk, api):
        zendesk_id = new_ticket(api)
        zendesk.add_comment_with_files(zendesk_id, zendesk.api_user_id, "Log.", [("player.log", LOG, "text/plain")])
        url = zendesk.comments[zendesk_id][-1]["attachments"][0]["content_url"]
        assert api.download(url, len(LOG)) == LOG
        assert requests.get(url, timeout=5).status_code == 401

    def test_a_file_over_the_limit_is_refused_by_its_length(self, zendesk, api):
        token = api.upload("screen.png", PNG, "image/png")
        with pytest.raises(Rejected, match=f"has {len(PNG)} bytes, over {len(PNG) - 1}"):
            api.download(zendesk.uploads[token].files[0].attachment["content_url"], len(PNG) - 1)

    def test_a_file_over_the_limit_is_refused_while_read(self, zendesk, api, file_host, localhost_is_a_file_host):
        host = file_host(body=b"x" * 300_000, declare_length=False)
        zendesk.files_redirect = host.url
        token = api.upload("screen.png", PNG, "image/png")
        with pytest.raises(Rejected, match="over 100000 bytes"):
            api.download(zendesk.uploads[token].files[0].attachment["content_url"], 100_000)

    @pytest.mark.parametrize(
        "url",
        [
            "https://evil.example/attachments/token/a/?name=x.png",
            "https://zendesk.com.evil.example/a",
            "http://files.zendesk.com/a",  # a Zendesk host, but not over https
            "ftp://edye.zendesk.com/a",
        ],
    )
    def test_a_url_outside_zendesk_is_never_asked(self, url):
        api = ZendeskClient("https://edye.zendesk.com", "api@edye.test", "secret-token")
        with pytest.raises(Rejected, match="outside Zendesk"):
            api.download(url, 1000)

    def test_an_address_read_two_ways_is_never_asked(self, zendesk, api, file_host):
        """urllib would read the configured origin, urllib3 (which requests connects with) the
        other server: the token would reach it."""
        other = file_host()
        origin = zendesk.url.removeprefix("http://")
        for url in (
            f"{other.url}\\@{origin}/attachments/token/x/?name=a.png",
            f"http://user@{origin}/attachments/token/x/?name=a.png",
            f"{zendesk.url}/attachments/token/x/?name=a b.png",
            f"{zendesk.url}/attachments/token/ñ/",
        ):
            with pytest.raises(Rejected, match="read two ways"):
                api.download(url, 1000)
        assert other.seen == []

    def test_a_redirect_to_an_address_read_two_ways_is_not_followed(self, zendesk, api, file_host):
        other = file_host()
        zendesk.files_redirect = f"{other.url}\\@{zendesk.url.removeprefix('http://')}"
        token = api.upload("screen.png", PNG, "image/png")
        with pytest.raises(Rejected, match="read two ways"):
            api.download(zendesk.uploads[token].files[0].attachment["content_url"], 1000)
        assert other.seen == []

    def test_another_port_of_the_zendesk_host_is_another_origin(self, zendesk, api, file_host):
        elsewhere = file_host()
        with pytest.raises(Rejected, match="outside Zendesk"):
            api.download(elsewhere.url.replace("localhost", "127.0.0.1") + "/a", 1000)
        assert elsewhere.seen == []

    def test_a_redirect_to_the_file_host_does_not_carry_the_token(
        self, zendesk, api, file_host, localhost_is_a_file_host
    ):
        host = file_host()
        zendesk.files_redirect = host.url
        token = api.upload("screen.png", PNG, "image/png")
        assert api.download(zendesk.uploads[token].files[0].attachment["content_url"], 1000) == b"from the file host"
        assert "Authorization" in zendesk.headers_seen[-1]
        assert len(host.seen) == 1 and "Authorization" not in host.seen[0]

    def test_a_redirect_outside_zendesk_is_not_followed(self, zendesk, api, file_host):
        host = file_host()
        zendesk.files_redirect = host.url
        token = api.upload("screen.png", PNG, "image/png")
        with pytest.raises(Rejected, match="outside Zendesk"):
            api.download(zendesk.uploads[token].files[0].attachment["content_url"], 1000)
        assert host.seen == []

    def test_redirects_are_followed_a_few_times_only(self, zendesk, api, file_host, localhost_is_a_file_host):
        host = file_host(loop=True)
        zendesk.files_redirect = host.url
        token = api.upload("screen.png", PNG, "image/png")
        with pytest.raises(Rejected, match=f"more than {zendesk_client.REDIRECTS_MAX} redirects"):
            api.download(zendesk.uploads[token].files[0].attachment["content_url"], 1000)
        assert len(host.seen) == zendesk_client.REDIRECTS_MAX
