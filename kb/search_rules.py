"""What the two search backends (Whoosh: `kb.search`; PostgreSQL: `kb.search_pg`) share: the shape
of results, how a query is cleaned and split into words, error codes however they are typed, and
the weights of what was not typed as such (typos, completions, synonyms, the other language)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from kb import index
from portal.core.text import clean_line

SPACED_ERROR_CODE = re.compile(r"\b([A-Za-z]{2,6})[\s_]+(\d{3,6})\b")
ERROR_CODE = re.compile(r"^[a-z]{2,6}-\d{2,6}$")
JOINED_ERROR_CODE = re.compile(r"^([a-z]{2,6})(\d{3,6})$")  # "edy4031", as partners often type it
QUERY_MAX = 200  # characters of a query searched
FUZZY_ALTERNATIVES = 3  # near words tried for a word the index does not know
FUZZY_WEIGHT = 0.6
PREFIX_WEIGHT = 0.5
SYNONYM_WEIGHT = 0.7  # a synonym of what was typed counts less than the words typed
PROXIMITY_WEIGHT = 1.0  # the words typed standing together in an article
CROSS_LANGUAGE_FEW = 3  # fewer articles than this in the query's language: ask the other language too
CROSS_LANGUAGE_WEIGHT = 0.8  # an article found through its translation counts less than a direct match
COMMON_WORD_SHARE = 0.3  # a word in more than this share of articles does not widen a search at first


class Breadth(StrEnum):
    """What an article must have of a query. A search starts with every word and widens, in this
    order, while it does not fill a page."""

    EVERY_WORD = "every_word"
    DISTINCTIVE_WORD = "distinctive_word"  # any word not in most articles: cheap, and usually enough
    ANY_WORD = "any_word"


@dataclass
class SearchHit:
    article_id: int
    slug: str
    language: str
    category: str
    title: str
    score: float
    snippet: str


@dataclass
class SearchResults:
    query: str
    hits: list[SearchHit]
    found: int  # hits up to and including this page
    more: bool  # further pages exist
    page: int
    per_page: int
    suggestion: str | None = None
    corrected_words: dict[str, str] = field(default_factory=dict)

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.more


def normalize_query(text: str) -> str:
    """Clean (see `clean_line`), collapse spaces and join spaced error codes ("EDY 4031" → "EDY-4031")."""
    text = " ".join(clean_line(text).split())[:QUERY_MAX]
    return SPACED_ERROR_CODE.sub(r"\1-\2", text)


_words = index.word_analyzer()


def words_of(text: str) -> list[str]:
    """The words of `text` as typed, lower-cased and accent-folded, stop words included."""
    return [token.text for token in _words(text)]
