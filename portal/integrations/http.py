"""Outcomes of a delivery attempt to another system, shared by every client."""

from __future__ import annotations

import requests


class DeliveryError(Exception):
    """A delivery did not happen."""


class RetryLater(DeliveryError):
    """A passing failure (rate limit, server error, timeout, refused connection): try again."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Rejected(DeliveryError):
    """The other system refused the message itself: retrying would fail the same way."""


def retry_after_seconds(response: requests.Response) -> float | None:
    """The Retry-After header in seconds, when it is a number."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def send(session: requests.Session, method: str, url: str, timeout, **kwargs) -> requests.Response:
    """Send a request; network trouble becomes RetryLater."""
    try:
        return session.request(method, url, timeout=timeout, **kwargs)
    except (requests.ConnectionError, requests.Timeout) as error:
        raise RetryLater(f"{type(error).__name__}: {error}") from None
