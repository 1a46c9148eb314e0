"""A client for the Monday.com GraphQL API: items (created with their column values, found by a
column's value), updates, column changes, notifications, users by e-mail; Monday's errors mapped
onto the shared outcomes (`portal.integrations.http`).

Monday answers most errors with HTTP 200 and an `errors` array (some, older, with one top-level
`error_code`); limits and budgets pass, and their wait is in `retry_in_seconds` when Monday gives
it. The daily call limit resets at midnight UTC, so it pauses every Monday message until then.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import requests

from portal.integrations.http import (
    RateLimited,
    Rejected,
    RetryLater,
    check_status,
    excerpt,
    retry_after_seconds,
    send,
)

CREATE_ITEM = """
mutation ($board: ID!, $group: String, $name: String!, $values: JSON) {
  create_item(board_id: $board, group_id: $group, item_name: $name, column_values: $values,
              create_labels_if_missing: true) { id }
}"""
CREATE_UPDATE = """
mutation ($item: ID!, $body: String!) {
  create_update(item_id: $item, body: $body) { id }
}"""
CHANGE_COLUMNS = """
mutation ($board: ID!, $item: ID!, $values: JSON!) {
  change_multiple_column_values(board_id: $board, item_id: $item, column_values: $values,
                                create_labels_if_missing: true) { id }
}"""
CREATE_NOTIFICATION = """
mutation ($user: ID!, $target: ID!, $text: String!) {
  create_notification(user_id: $user, target_id: $target, text: $text, target_type: Project) { text }
}"""
FIND_ITEM = """
query ($board: ID!, $column: String!, $value: String!) {
  items_page_by_column_values(limit: 1, board_id: $board,
                              columns: [{column_id: $column, column_values: [$value]}]) { items { id } }
}"""
FIND_USERS = """
query ($emails: [String]) {
  users(emails: $emails) { id email }
}"""

# Errors that pass, and the seconds to wait when Monday names no wait. Those that limit the whole
# account (calls per minute, per address) pause every Monday message; the others retry the one.
PASSING_ERRORS = {
    "COMPLEXITY_BUDGET_EXHAUSTED": 60.0,
    "ComplexityException": 60.0,
    "maxConcurrencyExceeded": 10.0,
    "FIELD_LIMIT_EXCEEDED": 15.0,
    "INTERNAL_SERVER_ERROR": 30.0,
}
ACCOUNT_LIMITS = {"RATE_LIMIT_EXCEEDED": 60.0, "Rate Limit Exceeded": 60.0, "IP_RATE_LIMIT_EXCEEDED": 10.0}
DAILY_LIMIT = "DAILY_LIMIT_EXCEEDED"  # waits until the limit resets, at midnight UTC
RATE_LIMIT_WAIT = 60.0  # seconds to wait after a 429 that names no wait
RESET_IN = re.compile(r"reset in (\d+) seconds")
ERRORS_TEXT_MAX = 1000


class MondayClient:
    def __init__(self, url: str, token: str, api_version: str, timeout=(3.05, 15.0), session=None):
        self.url = url
        self.session = session or requests.Session()
        self.session.headers.update(
            {"Authorization": token, "API-Version": api_version, "Content-Type": "application/json"}
        )
        self.timeout = timeout

    def call(self, query: str, variables: dict) -> dict:
        """Run one GraphQL operation with variables; returns `data`."""
        response = send(self.session, "POST", self.url, self.timeout, json={"query": query, "variables": variables})
        try:
            body = response.json()
        except ValueError:
            body = None
        errors = _errors(body)
        _raise_if_passing(errors, response)
        check_status(response, RATE_LIMIT_WAIT, _refusal)
        if not isinstance(body, dict):
            raise RetryLater(f"{response.status_code} with a body that is not a JSON object")
        if errors:
            raise Rejected(f"monday: {_errors_text(errors)}")
        return body.get("data") or {}

    def create_item(self, board: str, group: str | None, name: str, values: dict) -> str:
        data = self.call(CREATE_ITEM, {"board": board, "group": group, "name": name, "values": json.dumps(values)})
        return str(data["create_item"]["id"])

    def find_item(self, board: str, column: str, value: str) -> str | None:
        """The id of the board's first item whose `column` holds `value`, or None."""
        data = self.call(FIND_ITEM, {"board": board, "column": column, "value": value})
        items = (data.get("items_page_by_column_values") or {}).get("items") or []
        return str(items[0]["id"]) if items else None

    def create_update(self, item: str, body: str) -> str:
        return str(self.call(CREATE_UPDATE, {"item": item, "body": body})["create_update"]["id"])

    def change_columns(self, board: str, item: str, values: dict) -> None:
        self.call(CHANGE_COLUMNS, {"board": board, "item": item, "values": json.dumps(values)})

    def notify(self, user: int, item: str, text: str) -> None:
        """A Monday notification (the bell) for `user`, pointing at the item."""
        self.call(CREATE_NOTIFICATION, {"user": str(user), "target": item, "text": text})

    def find_user(self, email: str) -> int | None:
        """The Monday id of the account with this e-mail, or None."""
        users = self.call(FIND_USERS, {"emails": [email]}).get("users") or []
        matching = [user for user in users if str(user.get("email", "")).lower() == email.lower()]
        return int(matching[0]["id"]) if matching else None


def _errors(body) -> list:
    """The errors of a GraphQL answer (Monday also answers some with one `error_code` object)."""
    if not isinstance(body, dict):
        return []
    errors = body.get("errors") or ([body] if "error_code" in body else [])
    return [error if isinstance(error, dict) else {"message": str(error)} for error in errors]


def _code(error: dict) -> str:
    extensions = error.get("extensions") if isinstance(error.get("extensions"), dict) else {}
    return str(extensions.get("code") or error.get("error_code") or error.get("message") or "")


def _named_wait(error: dict) -> float | None:
    """The seconds the error says to wait (`retry_in_seconds`, or "reset in N seconds")."""
    extensions = error.get("extensions") if isinstance(error.get("extensions"), dict) else {}
    for holder in (extensions, error.get("error_data"), extensions.get("error_data")):
        if isinstance(holder, dict) and isinstance(holder.get("retry_in_seconds"), int | float):
            return max(0.0, float(holder["retry_in_seconds"]))
    found = RESET_IN.search(str(error.get("error_message") or error.get("message") or ""))
    return float(found.group(1)) if found else None


def seconds_to_midnight_utc(now: datetime | None = None) -> float:
    now = now or datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return (midnight - now).total_seconds()


def _raise_if_passing(errors: list, response: requests.Response) -> None:
    """RateLimited or RetryLater for Monday's limits and budgets, waiting what Monday says."""
    for error in errors:
        code = _code(error)
        wait = _named_wait(error) or retry_after_seconds(response)
        text = f"monday: {_errors_text(errors)}"
        if code == DAILY_LIMIT:
            raise RateLimited(wait or seconds_to_midnight_utc())
        if code in ACCOUNT_LIMITS:
            raise RateLimited(wait or ACCOUNT_LIMITS[code])
        if code in PASSING_ERRORS:
            raise RetryLater(text, wait or PASSING_ERRORS[code])


def _errors_text(errors: list) -> str:
    return "; ".join(str(e.get("message") or e.get("error_message") or e) for e in errors)[:ERRORS_TEXT_MAX]


def _refusal(response: requests.Response) -> str:
    """Monday's own words for a refused call: its errors, else the body."""
    try:
        errors = _errors(response.json())
    except ValueError:
        errors = []
    return f"monday: {_errors_text(errors)}" if errors else excerpt(response)
