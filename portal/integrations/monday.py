"""A thin client for the Monday.com GraphQL API (items, updates, column values)."""

from __future__ import annotations

import json

import requests

from portal.integrations.http import Rejected, RetryLater, retry_after_seconds, send

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
        if response.status_code == 429:
            raise RetryLater("429 rate limited", retry_after_seconds(response) or 60.0)
        if response.status_code >= 500:
            raise RetryLater(f"{response.status_code} {response.text[:300]}")
        try:
            body = response.json()
        except ValueError:
            raise RetryLater(f"{response.status_code} with a body that is not JSON") from None
        errors = body.get("errors") or ([body] if "error_code" in body else [])
        if errors:
            text = "; ".join(str(e.get("message") or e.get("error_message") or e) for e in errors)[:1000]
            codes = " ".join(
                str((e.get("extensions") or {}).get("code", "")) + " " + str(e.get("error_code", "")) for e in errors
            )
            if any(code in codes for code in PASSING_ERROR_CODES):
                wait = max([float((e.get("extensions") or {}).get("retry_in_seconds") or 0) for e in errors] or [0])
                raise RetryLater(f"monday: {text}", wait or 30.0)
            raise Rejected(f"monday: {text}")
        if response.status_code >= 400:
            raise Rejected(f"{response.status_code} {response.text[:300]}")
        return body.get("data") or {}

    def create_item(self, board: str, group: str | None, name: str, values: dict) -> str:
        data = self.call(CREATE_ITEM, {"board": board, "group": group, "name": name, "values": json.dumps(values)})
        return str(data["create_item"]["id"])

    def create_update(self, item: str, body: str) -> str:
        return str(self.call(CREATE_UPDATE, {"item": item, "body": body})["create_update"]["id"])

    def change_columns(self, board: str, item: str, values: dict) -> None:
        self.call(CHANGE_COLUMNS, {"board": board, "item": item, "values": json.dumps(values)})
