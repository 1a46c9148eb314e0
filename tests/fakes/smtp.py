"""A real SMTP server on 127.0.0.1 (aiosmtpd's threaded Controller) that keeps what it receives and
answers with injected failures.

How the pieces behave, from their documentation:
- aiosmtpd's handler hooks (https://github.com/aio-libs/aiosmtpd/blob/master/aiosmtpd/docs/handlers.rst):
  `handle_RCPT` must append the address to `envelope.rcpt_tos` itself when it accepts it and may
  instead return a reply such as "550 …"; `handle_DATA` returns the reply to the message's data.
- RFC 5321 §4.2.1 and §4.2.3 (https://www.rfc-editor.org/rfc/rfc5321#section-4.2): 4yz replies are
  transient failures ("421 Service not available, closing transmission channel"), 5yz permanent
  ("550 Requested action not taken: mailbox unavailable").
- Python's smtplib (https://docs.python.org/3/library/smtplib.html): a refused RCPT raises
  SMTPRecipientsRefused, a refused DATA SMTPDataError, a dropped connection SMTPServerDisconnected.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


class Fault:
    """What the next message meets instead of a "250 OK"."""

    TEMPORARY = "421"  # at DATA: "421 4.3.2 service not available", the message is not kept
    REFUSED = "550"  # at RCPT: "550 5.1.1 mailbox unavailable"
    DROP_AFTER_DATA = "drop"  # the message is kept, then the connection closes before the reply


REFUSAL = "550 5.1.1 <{address}>: mailbox unavailable (unknown user)"
TEMPORARY_FAILURE = "421 4.3.2 Service not available, try again later"


def free_port() -> int:
    """A port nobody listens on now (a server down, or one about to start)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass
class FakeSmtp:
    faults: list[str] = field(default_factory=list)  # Fault values, one per message, in order
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)  # (MAIL FROM, RCPT TOs)
    port: int = 0  # 0: a free port

    def __post_init__(self):
        self._lock = threading.Lock()
        self.port = self.port or free_port()
        self.controller = Controller(self, hostname=HOST, port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    def next_fault(self) -> str | None:
        with self._lock:
            return self.faults.pop(0) if self.faults else None

    def to(self, address: str) -> list[EmailMessage]:
        return [message for message in self.messages if message["To"] == address]

    # aiosmtpd's handler hooks -------------------------------------------------------------

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        envelope.fault = self.next_fault()
        if envelope.fault == Fault.REFUSED:
            return REFUSAL.format(address=address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        fault = getattr(envelope, "fault", None)
        if fault == Fault.TEMPORARY:
            return TEMPORARY_FAILURE
        with self._lock:
            self.messages.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if fault == Fault.DROP_AFTER_DATA:
            server.transport.close()  # kept, but the client never hears "250"
        return "250 OK"
