"""Sending e-mail over SMTP (the standard library's `smtplib`), with the outbox's outcomes.

The settings are Flask-Mail's names (`MAIL_SERVER`, `MAIL_PORT`, `MAIL_USE_TLS` for STARTTLS,
`MAIL_USE_SSL` for SMTP over TLS from the first byte, `MAIL_USERNAME`, `MAIL_PASSWORD`,
`MAIL_DEFAULT_SENDER`). SMTP replies are read as RFC 5321 §4.2.1 defines them: 4yz is a transient
failure (`RetryLater`), 5yz a permanent one (`Rejected`, with the server's own words); a refused
connection, a timeout or a connection dropped mid-dialogue is `RetryLater` too.

SMTP has no idempotency: a server that took the message and then lost the connection before its
"250" reached us gets the message again on the retry. Each message's `Message-ID` is therefore
derived from its outbox idempotency key, so every copy of one message carries the same id and mail
systems and readers can recognise the duplicate.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from dataclasses import dataclass
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from portal.integrations.http import EXCERPT_MAX, Rejected, RetryLater

DEFAULT_PORT = 25
MESSAGE_ID_DIGEST_CHARS = 32  # hex characters of the idempotency key's SHA-256 in the Message-ID
MESSAGE_ID_SUFFIX = "edye-portal"
PERMANENT_FAILURE = 500  # RFC 5321 §4.2.1: 5yz replies are permanent, 4yz transient


def sender_address(sender: str) -> str:
    """The bare address of a sender written as `Name <address>` or `address` (checked at start)."""
    return parseaddr(sender)[1]


def message_id(idempotency_key: str, sender: str) -> str:
    """The same `Message-ID` for every attempt to send one outbox message (see the module's note)."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:MESSAGE_ID_DIGEST_CHARS]
    return f"<{digest}.{MESSAGE_ID_SUFFIX}@{sender_address(sender).rpartition('@')[2]}>"


@dataclass(frozen=True)
class MailSettings:
    server: str
    port: int
    use_tls: bool
    use_ssl: bool
    username: str
    password: str
    sender: str
    connect_timeout: float
    read_timeout: float

    @classmethod
    def from_config(cls, config) -> MailSettings:
        """The settings of an application's configuration (checked when the configuration loads)."""
        return cls(
            config["MAIL_SERVER"],
            config["MAIL_PORT"],
            config["MAIL_USE_TLS"],
            config["MAIL_USE_SSL"],
            config["MAIL_USERNAME"],
            config["MAIL_PASSWORD"],
            config["MAIL_DEFAULT_SENDER"],
            config["OUTBOX_CONNECT_TIMEOUT"],
            config["OUTBOX_READ_TIMEOUT"],
        )


class MailClient:
    """One SMTP session per message: connect, (STARTTLS,) (log in,) send, quit."""

    def __init__(self, settings: MailSettings):
        self.settings = settings

    def compose(self, to: str, subject: str, text: str, html: str, idempotency_key: str) -> EmailMessage:
        """A multipart/alternative message: the plain text first, the HTML as the preferred part."""
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = Address(addr_spec=to)
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id(idempotency_key, self.settings.sender)
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        return message

    def send(self, to: str, subject: str, text: str, html: str, idempotency_key: str) -> None:
        try:
            message = self.compose(to, subject, text, html, idempotency_key)
        except (ValueError, MessageError) as error:
            raise Rejected(f"smtp: cannot write to {to!r}: {error}"[:EXCERPT_MAX]) from None
        try:
            self._deliver(message)
        except smtplib.SMTPRecipientsRefused as error:
            replies = list(error.recipients.values())
            raise _failure(min(code for code, _ in replies), replies[0][1], "recipient refused") from None
        except smtplib.SMTPSenderRefused as error:
            raise _failure(error.smtp_code, error.smtp_error, "sender refused") from None
        except smtplib.SMTPDataError as error:
            raise _failure(error.smtp_code, error.smtp_error, "message refused") from None
        except smtplib.SMTPNotSupportedError as error:
            raise Rejected(f"smtp: {error}") from None
        except smtplib.SMTPResponseException as error:
            raise _failure(error.smtp_code, error.smtp_error, "refused") from None
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            # Refused connections, timeouts, TLS failures and drops: the server may come back.
            raise RetryLater(f"smtp: {type(error).__name__}: {error}"[:EXCERPT_MAX]) from None

    def _deliver(self, message: EmailMessage) -> None:
        settings = self.settings
        if settings.use_ssl:
            connection = smtplib.SMTP_SSL(
                settings.server, settings.port, timeout=settings.connect_timeout, context=ssl.create_default_context()
            )
        else:
            connection = smtplib.SMTP(settings.server, settings.port, timeout=settings.connect_timeout)
        try:
            connection.sock.settimeout(settings.read_timeout)
            if settings.use_tls:
                connection.starttls(context=ssl.create_default_context())
            if settings.username:
                connection.login(settings.username, settings.password)
            connection.send_message(message, from_addr=sender_address(settings.sender))
        finally:
            _close(connection)


def _close(connection: smtplib.SMTP) -> None:
    """End the session; the message's fate is already decided, so a failing QUIT changes nothing."""
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()


def _failure(code: int, reply: bytes | str, what: str) -> RetryLater | Rejected:
    words = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    text = f"smtp: {what}: {code} {words}"[:EXCERPT_MAX]
    return Rejected(text) if code >= PERMANENT_FAILURE else RetryLater(text)
