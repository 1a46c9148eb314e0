"""Search relevance on the shipped articles, on both backends: typos, missing accents, inflections and
error codes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kb import backends
from kb.content import import_folder
from tests.kb_fixtures import count_the_words

ROOT = Path(__file__).resolve().parent.parent
QUERIES = yaml.safe_load((ROOT / "tests" / "data" / "kb_relevance_queries.yaml").read_text(encoding="utf-8"))
PARTNER_VISIBILITIES = ("public", "partners")


@pytest.fixture
def app_config(search_backend):
    return {"SEARCH_BACKEND": search_backend}


@pytest.fixture
def shipped_content(app, search_backend):
    report = import_folder(ROOT / "content" / "kb")
    assert not report.errors
    count_the_words(app, search_backend)
    return report


def test_query_set_is_large_and_bilingual():
    assert len(QUERIES) >= 40
    assert {item["lang"] for item in QUERIES} == {"es", "en"}


def test_expected_article_in_top_three_and_mostly_first(shipped_content):
    misses, not_first = [], []
    for item in QUERIES:
        slugs = [hit.slug for hit in backends.search(item["query"], [item["lang"]], PARTNER_VISIBILITIES).hits[:3]]
        if item["expect"] not in slugs:
            misses.append(f"{item['query']!r} → {slugs} (expected {item['expect']})")
        elif slugs[0] != item["expect"]:
            not_first.append(f"{item['query']!r} → {slugs}")
    assert not misses, "expected article not in the top 3:\n" + "\n".join(misses)
    first_rate = 1 - len(not_first) / len(QUERIES)
    assert first_rate >= 0.9, f"only {first_rate:.0%} first:\n" + "\n".join(not_first)
