"""Outcomes of a delivery attempt to another system, shared by every client: the typed errors, and
the one reading of an HTTP response that every client applies before its own quirks."""

from __future__ import annotations

from collections.abc import Callable

import requests

EXCERPT_MAX = 300  # characters of another system's answer kept in an error message


class DeliveryError(Exception):
    """A delivery did not happen."""


class RetryLater(DeliveryError):
    """A passing failure (server error, timeout, refused connection): try again, after
    `retry_after` seconds when the other system said so, else after the outbox's back-off."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(RetryLater):
    """The other system asks to slow down (429): nothing goes to it for `retry_after` seconds."""

    def __init__(self, retry_after: float):
        super().__init__("429 rate limited", retry_after)


class Rejected(DeliveryError):
    """The other system refused the message itself: retrying would fail the same way."""


class NotFound(Rejected):
    """A 404: what the message is about does not exist there (any more)."""


def retry_after_seconds(response: requests.Response) -> float | None:
    """The Retry-After header in seconds, when it is a number."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def excerpt(response: requests.Response) -> str:
    return response.text[:EXCERPT_MAX]


def send(session: requests.Session, method: str, url: str, timeout, **kwargs) -> requests.Response:
    """Send a request; network trouble becomes RetryLater."""
    try:
        return session.request(method, url, timeout=timeout, **kwargs)
    except (requests.ConnectionError, requests.Timeout) as error:
        raise RetryLater(f"{type(error).__name__}: {error}") from None


def check_status(
    response: requests.Response,
    rate_limit_wait: float,
    refusal: Callable[[requests.Response], str] = excerpt,
) -> requests.Response:
    """The response when its status is no failure; otherwise the typed error: 429 is RateLimited
    (Retry-After, or `rate_limit_wait` seconds when the header gives none), 5xx RetryLater (after
    its Retry-After, if any), any other 4xx Rejected (404: NotFound), described by `refusal` (the
    other system's own words)."""
    status = response.status_code
    if status == 429:
        raise RateLimited(retry_after_seconds(response) or rate_limit_wait)
    if status >= 500:
        raise RetryLater(f"{status} {excerpt(response)}", retry_after_seconds(response))
    if status == 404:
        raise NotFound(f"{status} {refusal(response)}")
    if status >= 400:
        raise Rejected(f"{status} {refusal(response)}")
    return response


def json_object(response: requests.Response) -> dict:
    """The response's JSON object; a body that is not one is a passing failure (a proxy's page)."""
    try:
        data = response.json()
    except ValueError:
        raise RetryLater(f"{response.status_code} with a body that is not JSON") from None
    if not isinstance(data, dict):
        raise RetryLater(f"{response.status_code} with a body that is not a JSON object")
    return data
