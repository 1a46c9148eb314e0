"""Hostile inputs as they reach the server: bytes that a browser, a script or an attacker puts in a
query string, a form body or a JSON document (percent-encoding happens when the request is built)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

# Over every length limit of the portal (the largest is the 200,000-character article body; this
# is per value, and a request carries one of these, so the body stays under the 2 MB limit).
OVER_EVERY_LIMIT = 100_001

CONTROLS = [
    "\x00",
    "\x01",
    "\x07",
    "\x08",
    "\x0b",
    "\x0c",
    "\x1b",
    "\x7f",
    "\x85",
    "\x9b",
    "\r",
    "\r\n",
    "\t",
    "\u2028",
    "\u2029",
]
BIDI = [
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u180e", "\u00ad", "\u034f"]
NUMBERS = [
    "99999999999999999999",
    "-99999999999999999999",
    "-1",
    "0",
    "-0",
    "2147483648",
    "9223372036854775808",
    "1e309",
    "-1e309",
    "1e-400",
    "NaN",
    "nan",
    "inf",
    "-Infinity",
    "0x10",
    "0o7",
    "1_000",
    " 7 ",
    "1.5",
    "+5",
    "\uff11\uff12",
    "\u0663",
    "\u00b2",
    "0" * 40 + "1",
]
INVALID_UTF8 = [
    b"\xff",
    b"\xfe\xff",
    b"\xc0\x80",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xe2\x82",
    b"\xf4\x90\x80\x80",
    b"\x80\x81",
    b"\xf8\x88\x80\x80\x80",
    b"%",
    b"%zz",
    b"%00",
]

# Keys that no form sends but that reach `url_for(**request.args)` and friends.
UNKNOWN_KEYS = [
    (b"_method", b"POST"),
    (b"_external", b"1"),
    (b"_scheme", b"javascript"),
    (b"_anchor", b'x"><b>'),
    (b"page", b"99999999999999999999"),
    (b"__class__", b"x"),
]

# One request per value and parameter, for every route (the cases most likely to break); the first
# three are also sent in every parameter at once as every other role.
BATTERY = [
    b"nul\x00byte",
    b"99999999999999999999",
    b"bad \xff\xfe\xed\xa0\x80 utf8",
    ("\u202e\u200bevil\x1b[31m\u2066").encode(),
    b"y" * OVER_EVERY_LIMIT,
]

# Where a number is expected, one request per value too.
NUMBER_BATTERY = [
    value.encode()
    for value in ("-1", "0", "1e309", "NaN", "0x10", "2147483648", "9223372036854775808", "\uff11\uff12", "\u0663")
]

PROFILE = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=6,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
FEWER = settings(PROFILE, max_examples=2)


def as_sent(text: str, browser: bool) -> bytes:
    """`text` encoded for the wire: a browser replaces lone surrogates by U+FFFD; a script may send
    their raw (invalid UTF-8) bytes."""
    if browser:
        return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text).encode()
    return text.encode("utf-8", "surrogatepass")


def _text_pieces():
    return st.one_of(
        st.text(max_size=12),
        st.sampled_from(CONTROLS + BIDI + ZERO_WIDTH),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
        st.sampled_from(["<", ">", '"', "'", "&", "%", "{{7*7}}", "\\", "../", "EDY-000001", "Roku"]),
    )


texts = st.builds(as_sent, st.lists(_text_pieces(), max_size=8).map("".join), st.booleans())
numbers = st.one_of(st.sampled_from(NUMBERS), st.integers().map(str), st.floats().map(repr)).map(str.encode)
# Over the limits of the fields (40, 200, 1,000, 5,000, 20,000 characters...) and over every limit;
# the battery already sends the largest in every parameter, so examples mostly stay smaller.
long_values = st.builds(
    lambda unit, length: (unit * length).encode(),
    st.sampled_from(["a", "\u00e9", "\u202e", "\x00", "9", "\U0001d54f", "<", " "]),
    st.sampled_from([41, 201, 1_001, 5_001, 20_001, OVER_EVERY_LIMIT]),
)
raw_bytes = st.lists(
    st.one_of(st.sampled_from(INVALID_UTF8), st.text(max_size=5).map(str.encode)), min_size=1, max_size=5
).map(b"".join)
hostile_values = st.one_of(texts, numbers, raw_bytes, st.just(b""), long_values, st.sampled_from(BATTERY))


# JSON ---------------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**30, -(10**30), 2**63, 2**31, -1, 0]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["\x00", "a\x00b", "\ud800", "99999999999999999999", "", "x" * 5000]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def deep_nesting(depth: int = 100_000) -> bytes:
    """A JSON document nested far deeper than any parser's recursion limit."""
    return b"[" * depth + b"]" * depth


# Raw JSON texts that are not what a webhook sends.
RAW_JSON_BODIES = [
    deep_nesting(),
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b"",
    b"null",
    b"1",
    b'"text"',
    b"[]",
    b"true",
    b'{"type": "\xff\xfe"}',
    b'{"type": "zen:event-type:ticket.comment_added", "id": "\x00"}',
    b"\xef\xbb\xbf{}",
    b'{"id": 1e999}',
    b'{"id": NaN}',
    b'{"id": Infinity}',
    json.dumps({"id": "x" * 500_000}).encode(),
    b'{"type": 1, "type": "zen:event-type:ticket.status_changed"}',
]
