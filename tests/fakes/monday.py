"""A fake Monday.com GraphQL API that refuses what Monday refuses, as its documentation says:

- Column values in each column type's own format, else `ColumnValueException` (HTTP 200, an
  `errors` array): a status `{"label": …}` (or `{"index": N}`) whose label exists on the board,
  unless the mutation says `create_labels_if_missing: true`; a date `{"date": "YYYY-MM-DD",
  "time": "HH:MM:SS"}` (UTC); people `{"personsAndTeams": [{"id": N, "kind": "person"}]}`; text a
  string; numbers a number (or its string); null clears a column. An unknown column id is an
  `InvalidColumnIdException`.
  https://developer.monday.com/api-reference/docs/change-column-values ·
  https://developer.monday.com/api-reference/docs/status · https://developer.monday.com/api-reference/docs/date ·
  https://developer.monday.com/api-reference/docs/people ·
  https://developer.monday.com/api-reference/changelog/bug-fix-column-value-exception-error-column_type-update
- Errors: https://developer.monday.com/api-reference/docs/error-handling (200 for application
  errors, 429/5xx for transport ones); `COMPLEXITY_BUDGET_EXHAUSTED` with `retry_in_seconds`
  (https://developer.monday.com/api-reference/changelog/breaking-change-updated-complexity-budget-exhausted-error);
  `FIELD_LIMIT_EXCEEDED` with `error_data.retry_in_seconds`
  (https://developer.monday.com/api-reference/changelog/new-descriptive-field-limit-exceeded-error);
  `DAILY_LIMIT_EXCEEDED` (resets at midnight UTC) and `maxConcurrencyExceeded`
  (https://support.monday.com/hc/en-us/articles/26471164460690-API-Rate-Limits,
  https://developer.monday.com/api-reference/docs/rate-limits).
- `API-Version`: https://developer.monday.com/api-reference/docs/api-versioning and
  https://developer.monday.com/api-reference/changelog/2026-10-is-now-the-current-api-version.
  Monday serves its current version to a call without the header; this fake refuses it, so a
  client that forgets to pin its version fails its tests instead of changing with Monday's quarter.
- Items found by a column's value (`items_page_by_column_values`,
  https://developer.monday.com/api-reference/docs/items-page-by-column-values), users by e-mail
  (`users(emails: …)`), notifications (`create_notification`, target_type Project: an item).

Faults, taken one per request from `faults`: "complexity", "daily_limit", "concurrency",
"field_limit", "429", "500", "invalid_column", and "drop-answer" (the request is carried out, then
the connection closes without an answer: a lost answer).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import date, time

from tests.fakes.server import FakeService, json_body

OPERATION = re.compile(
    r"\b(create_item|create_update|change_multiple_column_values|create_notification"
    r"|items_page_by_column_values|users)\s*\("
)
CREATES_LABELS = re.compile(r"create_labels_if_missing\s*:\s*true")
VERSION = re.compile(r"\d{4}-\d{2}")
# The fake board: the column ids of tests.conftest.MONDAY_BOARD and their types.
BOARD_COLUMNS = {
    "text_ref": "text",
    "text_type": "text",
    "status": "status",
    "numbers_tier": "numbers",
    "people_assignee": "people",
    "date_sla_due": "date",
}
DEFAULT_LABELS = {"Working on it", "Done", "Stuck"}
FIRST_ITEM_ID = 9_000_000_001  # Monday ids are past 2**32 too
FAULTS = {
    "complexity": (
        200,
        {
            "errors": [
                {
                    "message": "Complexity budget exhausted",
                    "extensions": {"code": "COMPLEXITY_BUDGET_EXHAUSTED", "retry_in_seconds": 7},
                }
            ]
        },
    ),
    "daily_limit": (
        429,
        {"errors": [{"message": "Daily limit exceeded", "extensions": {"code": "DAILY_LIMIT_EXCEEDED"}}]},
    ),
    "concurrency": (
        429,
        {
            "errors": [
                {
                    "message": "Max concurrency exceeded",
                    "extensions": {"code": "maxConcurrencyExceeded", "retry_in_seconds": 3},
                }
            ]
        },
    ),
    "field_limit": (
        429,
        {
            "error_message": "Concurrency limit exceeded for the field",
            "error_code": "FIELD_LIMIT_EXCEEDED",
            "error_data": {"retry_in_seconds": 15, "entity": "boards"},
            "status_code": 429,
        },
    ),
    "invalid_column": (
        200,
        {
            "errors": [
                {
                    "message": "This column ID doesn't exist for the board",
                    "extensions": {"code": "InvalidColumnIdException"},
                }
            ]
        },
    ),
}


class ColumnValueError(ValueError):
    """A value Monday refuses; the message is Monday's and `column_type` the column's."""

    def __init__(self, message: str, column_type: str, code: str = "ColumnValueException"):
        super().__init__(message)
        self.column_type, self.code = column_type, code


@dataclass
class FakeMonday(FakeService):
    path_prefix = "/v2"
    token: str = "monday-token"
    board: str = "4242"
    faults: list[str] = field(default_factory=list)
    calls: list[tuple[str, dict]] = field(default_factory=list)  # the operations carried out
    refused: list[tuple[str, str]] = field(default_factory=list)  # (operation, error code)
    versions: list[str] = field(default_factory=list)  # the API-Version of every request
    columns: dict[str, str] = field(default_factory=lambda: dict(BOARD_COLUMNS))
    labels: dict[str, set[str]] = field(default_factory=dict)  # status column → its labels
    users: dict[str, int] = field(default_factory=dict)  # e-mail → Monday user id
    items: dict[str, dict] = field(default_factory=dict)  # id → name, group, values
    updates: list[tuple[str, str]] = field(default_factory=list)  # (item id, body)
    notifications: list[tuple[int, str, str]] = field(default_factory=list)  # (user, item, text)

    def __post_init__(self):
        self.start_server()
        self._ids = itertools.count(FIRST_ITEM_ID)
        for column, kind in self.columns.items():
            if kind == "status":
                self.labels.setdefault(column, set(DEFAULT_LABELS))

    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]

    def handle(self, method, path, headers, body):
        if headers.get("Authorization") != self.token:
            return json_body(
                {"errors": [{"message": "Not Authenticated", "extensions": {"code": "UNAUTHENTICATED"}}]}, 401
            )
        version = headers.get("API-Version") or ""
        self.versions.append(version)
        if not VERSION.fullmatch(version):
            return json_body(
                {
                    "errors": [
                        {"message": "Send API-Version: YYYY-MM", "extensions": {"code": "InvalidVersionException"}}
                    ]
                },
                400,
            )
        fault = self.next_fault()
        if fault == "500":
            return 500, {"Content-Type": "text/plain"}, b"oops"
        if fault == "429":
            error = {"message": "Rate Limit Exceeded", "extensions": {"code": "RATE_LIMIT_EXCEEDED"}}
            return json_body({"errors": [error]}, 429, **{"Retry-After": "5"})
        if fault in FAULTS:
            status, answer = FAULTS[fault]
            return json_body({**answer, "account_id": 1}, status)
        request = json.loads(body)
        query = request.get("query", "")
        match = OPERATION.search(query)
        if match is None or not isinstance(request.get("variables"), dict):
            return json_body({"errors": [{"message": "Parse error on query"}]})
        name, variables = match.group(1), request["variables"]
        with self._lock:
            try:
                data = self._apply(name, variables, bool(CREATES_LABELS.search(query)))
            except ColumnValueError as error:
                self.refused.append((name, error.code))
                extensions = {"code": error.code, "status_code": 200, "error_data": {"column_type": error.column_type}}
                return json_body({"errors": [{"message": str(error), "path": [name], "extensions": extensions}]})
            self.calls.append((name, variables))
        if fault == "drop-answer":
            return 200, {}, None
        return json_body({"data": data, "account_id": 1})

    # Operations -------------------------------------------------------------------------------

    def _apply(self, name: str, variables: dict, creates_labels: bool) -> dict:
        if name == "create_item":
            values = self._checked(variables.get("values"), creates_labels)
            item = str(next(self._ids))
            self.items[item] = {"name": variables["name"], "group": variables.get("group"), "values": values}
            return {name: {"id": item}}
        if name == "change_multiple_column_values":
            values = self._checked(variables.get("values"), creates_labels)
            self.items.setdefault(variables["item"], {"name": "", "group": None, "values": {}})["values"].update(values)
            return {name: {"id": variables["item"]}}
        if name == "create_update":
            self.updates.append((variables["item"], variables["body"]))
            return {name: {"id": str(next(self._ids))}}
        if name == "create_notification":
            self.notifications.append((int(variables["user"]), variables["target"], variables["text"]))
            return {name: {"text": variables["text"]}}
        if name == "items_page_by_column_values":
            found = [
                {"id": item}
                for item, content in self.items.items()
                if content["values"].get(variables["column"]) == variables["value"]
            ]
            return {name: {"items": found[:1]}}
        emails = {email.lower() for email in variables.get("emails") or []}
        return {"users": [{"id": str(uid), "email": email} for email, uid in self.users.items() if email in emails]}

    def _checked(self, raw, creates_labels: bool) -> dict:
        values = json.loads(raw) if isinstance(raw, str) else (raw or {})
        if not isinstance(values, dict):
            raise ColumnValueError("column_values must be a JSON object", "")
        for column, value in values.items():
            if column not in self.columns:
                raise ColumnValueError(
                    f"This column ID doesn't exist for the board: {column}", "", "InvalidColumnIdException"
                )
            if value is not None:
                self._check(column, self.columns[column], value, creates_labels)
        return values

    def _check(self, column: str, kind: str, value, creates_labels: bool) -> None:
        refuse = ColumnValueError
        if kind == "text" and not isinstance(value, str):
            raise refuse("invalid value for a text column", kind)
        if kind == "numbers":
            try:
                float(value)
            except (TypeError, ValueError):
                raise refuse("invalid value for a numbers column", kind) from None
        if kind == "status":
            label = value.get("label") if isinstance(value, dict) else None
            if not isinstance(label, str):
                raise refuse('invalid value, expected {"label": …}', kind)
            if label not in self.labels[column]:
                if not creates_labels:
                    raise refuse("invalid value - label does not exist in column", kind)
                self.labels[column].add(label)
        if kind == "date" and not _is_date(value):
            raise refuse('invalid value for a date column, expected {"date": "YYYY-MM-DD"}', kind)
        if kind == "people":
            entries = value.get("personsAndTeams") if isinstance(value, dict) else None
            if not isinstance(entries, list) or not all(
                isinstance(entry, dict)
                and isinstance(entry.get("id"), int)
                and not isinstance(entry.get("id"), bool)
                and entry.get("kind") in ("person", "team")
                for entry in entries
            ):
                raise refuse('invalid value, expected {"personsAndTeams": [{"id": N, "kind": "person"}]}', kind)


DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
TIME = re.compile(r"\d{2}:\d{2}:\d{2}")


def _is_date(value) -> bool:
    """A date column's value: {"date": "YYYY-MM-DD"} and an optional "time": "HH:MM:SS"."""
    if not isinstance(value, dict) or not isinstance(value.get("date"), str) or not DATE.fullmatch(value["date"]):
        return False
    moment = value.get("time")
    if moment is not None and (not isinstance(moment, str) or not TIME.fullmatch(moment)):
        return False
    try:
        date.fromisoformat(value["date"])
        if moment is not None:
            time.fromisoformat(moment)
    except ValueError:
        return False
    return True
