"""A small threaded HTTP server on 127.0.0.1 for fakes of other systems' APIs."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeServer:
    """Runs `handle(method, path, headers, body) -> (status, headers, body bytes | None)`;
    None as the body closes the connection without answering (a dropped connection)."""

    def __init__(self, handle):

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = handle(self.command, self.path, self.headers, body)
                if payload is None:
                    self.close_connection = True
                    return
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def json_body(data, status=200, **headers):
    return status, {"Content-Type": "application/json; charset=utf-8", **headers}, json.dumps(data).encode()


class FakeService:
    """Base of the fakes: serves `self.handle` on 127.0.0.1 while used as a context manager."""

    path_prefix = ""

    def start_server(self) -> None:
        self._lock = threading.Lock()
        self._server = FakeServer(self.handle)

    def __enter__(self):
        self._server.__enter__()
        return self

    def __exit__(self, *exc):
        self._server.__exit__(*exc)

    @property
    def url(self) -> str:
        return self._server.url + self.path_prefix

    def next_fault(self) -> str | None:
        with self._lock:
            return self.faults.pop(0) if self.faults else None
