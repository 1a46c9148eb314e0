"""A fake Monday.com GraphQL API: checks the token, answers `data` or `errors` (HTTP 200), and can
inject complexity-budget errors."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field

from tests.fakes.server import FakeService, json_body

OPERATION = re.compile(r"\b(create_item|create_update|change_multiple_column_values)\s*\(")


@dataclass
class FakeMonday(FakeService):
    path_prefix = "/v2"
    token: str = "monday-token"
    faults: list[str] = field(default_factory=list)  # "complexity", "invalid_column", "500"
    calls: list[tuple[str, dict]] = field(default_factory=list)

    def __post_init__(self):
        self.start_server()
        self._ids = itertools.count(900001)

    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]

    def handle(self, method, path, headers, body):
        if headers.get("Authorization") != self.token:
            return json_body(
                {"errors": [{"message": "Not Authenticated", "extensions": {"code": "UNAUTHENTICATED"}}]}, 401
            )
        fault = self.next_fault()
        if fault == "500":
            return 500, {"Content-Type": "text/plain"}, b"oops"
        if fault == "complexity":
            return json_body(
                {
                    "errors": [
                        {
                            "message": "Complexity budget exhausted",
                            "extensions": {"code": "COMPLEXITY_BUDGET_EXHAUSTED", "retry_in_seconds": 7},
                        }
                    ],
                    "account_id": 1,
                }
            )
        if fault == "invalid_column":
            return json_body(
                {
                    "errors": [
                        {
                            "message": "This column ID doesn't exist for the board",
                            "extensions": {"code": "InvalidColumnIdException"},
                        }
                    ],
                    "account_id": 1,
                }
            )
        request = json.loads(body)
        match = OPERATION.search(request.get("query", ""))
        if match is None or not isinstance(request.get("variables"), dict):
            return json_body({"errors": [{"message": "Parse error on query"}]})
        name, variables = match.group(1), request["variables"]
        with self._lock:
            self.calls.append((name, variables))
            new_id = str(next(self._ids))
        key = {"change_multiple_column_values": "change_multiple_column_values"}.get(name, name)
        return json_body(
            {"data": {key: {"id": variables.get("item", new_id) if name != "create_item" else new_id}}, "account_id": 1}
        )
