"""Search quality on questions nobody tuned for (tests/data/kb_eval: a tuning split and a held-out
split written apart from the search, with articles of their own) and the mechanisms behind it:
the editors' vocabulary (synonyms, vague words), words near each other, the other language's
articles through their translations, and error codes however they are typed."""

from __future__ import annotations

import pytest

from kb import backends, search, synonyms
from kb.search_rules import words_of
from portal.core.config import SearchBackend
from tests.kb_eval import PARTNER_VISIBILITIES, Split, corpus_files, evaluate, import_eval_corpus, load_split, problems
from tests.kb_fixtures import count_the_words, expect_whoosh_to_miss_words_apart

# The levels measured on 2026-12-02 per backend, held so that they do not slip back.
# The goal for the held-out split is 95 % first and 100 % in the top 3 in each language.
FLOORS = {
    SearchBackend.WHOOSH: {
        Split.TUNING: {"top1": 0.94, "top3": 0.99},  # measured 0.951 / 1.000
        Split.HELDOUT: {"top1": 0.86, "top3": 0.97},  # measured 0.865 / 0.976
    },
    SearchBackend.POSTGRES: {
        Split.TUNING: {"top1": 0.94, "top3": 0.99},  # measured 0.951 / 0.993
        Split.HELDOUT: {"top1": 0.86, "top3": 0.95},  # measured 0.865 / 0.959
    },
}


# Symptoms whose words other articles use apart: found first only where proximity counts (the
# PostgreSQL backend's cover-density rank); word positions in Whoosh cost too much (bench/kb_search.py).
SYMPTOMS_OF_WORDS_APART = {"pantalla negra", "black screen"}


@pytest.fixture
def eval_corpus(search_backend, app):
    import_eval_corpus()
    count_the_words(app, search_backend)


@pytest.fixture
def app_config(request):
    # Only the tests that search run on both backends.
    searching = "search_backend" in request.fixturenames
    return {"SEARCH_BACKEND": request.getfixturevalue("search_backend") if searching else SearchBackend.WHOOSH}


def top_slugs(query: str, language: str, limit: int = 3) -> list[str]:
    return [hit.slug for hit in backends.search(query, [language], PARTNER_VISIBILITIES).hits[:limit]]


@pytest.mark.parametrize("split", list(Split))
def test_the_splits_are_large_bilingual_and_well_formed(split):
    items = load_split(split)
    assert problems(split, items, corpus_files()) == []
    assert len(items) >= 120 and {item["lang"] for item in items} == {"es", "en"}
    assert len(load_split(Split.TUNING)) + len(load_split(Split.HELDOUT)) >= 200


@pytest.mark.parametrize("split", list(Split))
def test_search_holds_its_measured_level(search_backend, eval_corpus, split):
    report = evaluate(load_split(split), top_slugs)
    overall = report.overall
    assert overall.first_rate >= FLOORS[search_backend][split]["top1"], report.misses
    assert overall.top_rate >= FLOORS[search_backend][split]["top3"], report.misses


@pytest.mark.parametrize(
    ("query", "language", "expected"),
    [
        ("pantalla negra", "es", "error-edy-4031-licencia-drm"),  # the symptom the article describes
        ("black screen", "en", "error-edy-4031-drm-license"),
        ("edy4031", "es", "error-edy-4031-licencia-drm"),  # a code typed without its hyphen
        ("EDY 4031", "en", "error-edy-4031-drm-license"),
        ("EDY-4031 (403)", "es", "error-edy-4031-licencia-drm"),
        ("supported devices", "es", "dispositivos-compatibles"),  # English words, Spanish articles
        ("la app se queda pensando", "es", "video-con-buffering-o-baja-calidad"),  # a synonym phrase
    ],
)
def test_symptoms_codes_and_the_other_languages_words_find_their_article_first(
    request, search_backend, eval_corpus, query, language, expected
):
    if query in SYMPTOMS_OF_WORDS_APART:
        expect_whoosh_to_miss_words_apart(request, search_backend)
    assert top_slugs(query, language)[0] == expected


def test_vague_words_are_left_out_unless_nothing_else_is_asked(eval_corpus):
    assert top_slugs("problemas de subtitulos", "es") == top_slugs("subtitulos", "es")
    assert search.search("problemas", ["es"], PARTNER_VISIBILITIES).hits is not None


def test_a_synonyms_file_is_read_again_when_it_changes_and_a_broken_one_is_ignored(app, tmp_path, caplog):
    vocabulary_file = tmp_path / "synonyms.yaml"
    app.config["KB_SYNONYMS_FILE"] = str(vocabulary_file)
    words = words_of
    assert synonyms.vocabulary("es", words).by_first_word == {}  # no file: no synonyms
    vocabulary_file.write_text('es:\n  synonyms:\n    - [buffering, "se queda cargando"]\n', encoding="utf-8")
    found = synonyms.matches(words("la app se queda cargando"), synonyms.vocabulary("es", words))
    assert [(match.start, match.member, match.others) for match in found] == [
        (2, ("se", "queda", "cargando"), (("buffering",),))
    ]
    vocabulary_file.write_text("es: [not, a, mapping]\n", encoding="utf-8")
    import os

    os.utime(vocabulary_file, (1, 1))  # a new modification time, whatever the clock's resolution
    assert synonyms.vocabulary("es", words).by_first_word == {}
    assert "ignored" in caplog.text


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("fr:\n  synonyms: []\n", "mapping of es/en"),
        ("es:\n  synonyms:\n    - [solo]\n", "2 to 30 members"),
        ("es:\n  synonyms:\n    - [a, b c d e f g h]\n", "1 to 6 words"),
        ("es:\n  other: []\n", "synonyms and/or vague"),
        ("es:\n  vague: palabra\n", "list of words"),
    ],
)
def test_a_malformed_vocabulary_says_what_is_wrong(document, message):
    with pytest.raises(synonyms.MalformedVocabulary, match=message):
        synonyms.parse(document, words_of)


def test_the_shipped_vocabulary_parses():
    from pathlib import Path

    shipped = Path(__file__).resolve().parent.parent / "content" / "kb" / "synonyms.yaml"
    parsed = synonyms.parse(shipped.read_text(encoding="utf-8"), words_of)
    assert parsed["es"].by_first_word and parsed["en"].by_first_word
    assert "problemas" in parsed["es"].vague and "questions" in parsed["en"].vague
