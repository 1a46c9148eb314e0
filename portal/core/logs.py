"""Request logging: one line per request, and a request id on every log line."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def printable(text: str) -> str:
    """`text` with control characters escaped, so a decoded %0A in a path cannot forge log lines."""
    return _CONTROL_CHARACTERS.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def init_app(app: Flask) -> None:
    """Configure the log format and the per-request id and access line."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    handler.addFilter(RequestIdFilter())
    app.logger.handlers[:] = [handler]
    app.logger.setLevel(app.config["LOG_LEVEL"])
    app.logger.propagate = False
    access = logging.getLogger("portal.access")
    access.handlers[:] = [handler]
    access.setLevel(app.config["LOG_LEVEL"])
    access.propagate = False

    @app.before_request
    def assign_request_id():
        # A load balancer's id is kept when it looks sane, so lines can be joined across hops.
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _ACCEPTABLE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response):
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "-")
        elapsed_ms = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
        access.info(
            "%s %s %s %.1fms",
            request.method,
            printable(request.full_path.rstrip("?")),
            response.status_code,
            elapsed_ms,
        )
        return response
