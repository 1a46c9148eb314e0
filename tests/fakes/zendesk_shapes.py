"""Zendesk's answer shapes shared by the fake's endpoints: its refusals and its cursor pages.

- A validation refusal is 422 `{"error": "RecordInvalid", "description": "Record validation errors",
  "details": {field: [{"description", "error"}]}}` (as seen from the real service in
  Speedygeek/ZendeskApi_v2 issue 351 and zendesk/zendesk_api_client_rb issue 41); an unknown record
  is 404 `RecordNotFound`.
- Cursor pagination ("Paginating through lists using cursor pagination", developer.zendesk.com/
  api-reference/introduction/pagination; the List Audits and List Comments pages): `page[size]` up to
  100, `page[after]` taking the previous page's `meta.after_cursor`; the answer carries
  `meta.has_more`, `meta.after_cursor` and `links.next`. Cursors are opaque to clients; here they
  are an offset in base64.
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode

from tests.fakes.server import json_body

PAGE_SIZE_MAX = 100  # the most records Zendesk answers per cursor page


def record_invalid(field_name: str, description: str, error: str = "InvalidValue"):
    details = {field_name: [{"description": description, "error": error}]}
    return json_body({"error": "RecordInvalid", "description": "Record validation errors", "details": details}, 422)


def not_found():
    return json_body({"error": "RecordNotFound", "description": "Not found"}, 404)


def cursor_page(records: list, query: dict, key: str, url: str, headers: dict):
    """One page of `records` (under `key`) for the request's `query`, its next page at `url`."""
    try:
        size = int(query.get("page[size]", PAGE_SIZE_MAX))
        start = int(base64.urlsafe_b64decode(query["page[after]"]).decode()) if "page[after]" in query else 0
    except ValueError:
        return json_body({"error": "InvalidPaginationParameter", "description": "Invalid page"}, 400)
    if not 0 < size <= PAGE_SIZE_MAX or start < 0:
        return json_body({"error": "InvalidPaginationParameter", "description": "page[size] is 1 to 100"}, 400)
    end = start + size
    has_more = end < len(records)
    after = base64.urlsafe_b64encode(str(end).encode()).decode() if has_more else None
    next_url = f"{url}?" + urlencode({**query, "page[after]": after}) if has_more else None
    return json_body(
        {
            key: records[start:end],
            "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": None},
            "links": {"next": next_url, "prev": None},
        },
        200,
        **headers,
    )
