"""A thin client for the Monday.com GraphQL API (items, updates, column values)."""

from __future__ import annotations

import json

import requests

from portal.integrations.http import Rejected, RetryLater, check_status, excerpt, json_object, send

CREATE_ITEM = """
mutation ($board: ID!, $group: String, $name: String!, $values: JSON) {
  create_item(board_id: $board, group_id: $group, item_name: $name, column_values: $values) { id }
}"""
CREATE_UPDATE = """
mutation ($item: ID!, $body: String!) {
  create_update(item_id: $item, body: $body) { id }
}"""
CHANGE_COLUMNS = """
mutation ($board: ID!, $item: ID!, $values: JSON!) {
  change_multiple_column_values(board_id: $board, item_id: $item, column_values: $values) { id }
}"""
# Monday answers these with HTTP 200 and an `errors` array; they pass, so the call is retried.
PASSING_ERROR_CODES = ("COMPLEXITY", "RATE_LIMIT", "ComplexityException", "INTERNAL_SERVER_ERROR")
RATE_LIMIT_WAIT = 60.0  # seconds to wait after a 429 without Retry-After
PASSING_ERROR_WAIT = 30.0  # seconds to wait after a passing error that names no wait
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
        check_status(response, RATE_LIMIT_WAIT, _refusal)
        body = json_object(response)
        errors = _errors(body)
        if errors:
            codes = " ".join(
                str((e.get("extensions") or {}).get("code", "")) + " " + str(e.get("error_code", "")) for e in errors
            )
            if any(code in codes for code in PASSING_ERROR_CODES):
                wait = max([float((e.get("extensions") or {}).get("retry_in_seconds") or 0) for e in errors] or [0])
                raise RetryLater(f"monday: {_errors_text(errors)}", wait or PASSING_ERROR_WAIT)
            raise Rejected(f"monday: {_errors_text(errors)}")
        return body.get("data") or {}

    def create_item(self, board: str, group: str | None, name: str, values: dict) -> str:
        data = self.call(CREATE_ITEM, {"board": board, "group": group, "name": name, "values": json.dumps(values)})
        return str(data["create_item"]["id"])

    def create_update(self, item: str, body: str) -> str:
        return str(self.call(CREATE_UPDATE, {"item": item, "body": body})["create_update"]["id"])

    def change_columns(self, board: str, item: str, values: dict) -> None:
        self.call(CHANGE_COLUMNS, {"board": board, "item": item, "values": json.dumps(values)})


def _errors(body) -> list:
    """The errors of a GraphQL answer (Monday also answers some with one `error_code` object)."""
    if not isinstance(body, dict):
        return []
    return body.get("errors") or ([body] if "error_code" in body else [])


def _errors_text(errors: list) -> str:
    return "; ".join(str(e.get("message") or e.get("error_message") or e) for e in errors)[:ERRORS_TEXT_MAX]


def _refusal(response: requests.Response) -> str:
    """Monday's own words for a refused call: its errors, else the body."""
    try:
        errors = _errors(response.json())
    except ValueError:
        errors = []
    return f"monday: {_errors_text(errors)}" if errors else excerpt(response)
