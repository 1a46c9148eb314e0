"""The knowledge-base search evaluation that nobody tunes on: questions written the way partners
write (typos, missing accents, other-language words, error codes spelled any way, symptoms, one or
two words...), in a tuning split on the shipped articles and a held-out split that also covers
eval-only articles (`tests/data/kb_eval/articles`) no search was ever tuned on.

Backend-agnostic: `evaluate` ranks through any `search_fn(query, lang) -> [slug, ...]`, so the
same questions measure every search backend. Run it with `bench/kb_relevance.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml

from kb.content import ArticleFile, ImportReport, import_folder, parse
from kb.models import Visibility

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_ARTICLES = ROOT / "content" / "kb"
EVAL_DIR = Path(__file__).resolve().parent / "data" / "kb_eval"
EVAL_ARTICLES = EVAL_DIR / "articles"
# Partners' view of the knowledge base: what every question is evaluated against.
PARTNER_VISIBILITIES = (Visibility.PUBLIC.value, Visibility.PARTNERS.value)
# A question is answered well when its article ranks first, and acceptably within the top three.
TOP_RESULTS = 3
ITEM_KEYS = ("query", "lang", "expect", "kind")

SearchFn = Callable[[str, str], list[str]]


class Split(StrEnum):
    TUNING = "tuning"  # shipped articles only; tune here
    HELDOUT = "heldout"  # shipped and eval-only articles; report, never tune


class Kind(StrEnum):
    TYPO = "typo"
    NO_ACCENTS = "no_accents"
    INFLECTION = "inflection"
    PARAPHRASE = "paraphrase"
    OTHER_LANGUAGE = "other_language"
    CODE_FORMAT = "code_format"
    CATEGORY = "category"
    SHORT = "short"
    SYMPTOM = "symptom"


def load_split(name: str) -> list[dict]:
    """The questions of one split: dicts with query, lang, expect (a slug in lang) and kind."""
    return yaml.safe_load((EVAL_DIR / f"{Split(name)}.yaml").read_text(encoding="utf-8"))


def corpus_files() -> dict[str, list[ArticleFile]]:
    """The articles searched, as files: "shipped" (content/kb) and "eval" (eval-only)."""
    return {
        "shipped": [parse(path) for path in sorted(SHIPPED_ARTICLES.rglob("*.md"))],
        "eval": [parse(path) for path in sorted(EVAL_ARTICLES.rglob("*.md"))],
    }


def import_eval_corpus() -> list[ImportReport]:
    """Import the shipped and the eval-only articles into the current app's database and search
    index (inside an app context); a file that does not import makes the evaluation meaningless."""
    reports = [import_folder(SHIPPED_ARTICLES), import_folder(EVAL_ARTICLES)]
    errors = [error for report in reports for error in report.errors]
    if errors:
        raise ValueError(f"the evaluation corpus did not import: {errors}")
    return reports


def problems(split: Split, items: list[dict], corpus: dict[str, list[ArticleFile]]) -> list[str]:
    """What makes a split unfit to measure with: malformed items, expected articles that do not
    exist in that language or that partners cannot see, and tuning items on eval-only articles."""
    visible = {
        group: {(article.language, article.slug) for article in articles if article.visibility in PARTNER_VISIBILITIES}
        for group, articles in corpus.items()
    }
    allowed = visible["shipped"] if split is Split.TUNING else visible["shipped"] | visible["eval"]
    found = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict) or sorted(item) != sorted(ITEM_KEYS):
            found.append(f"item {number}: needs exactly the keys {', '.join(ITEM_KEYS)}: {item!r}")
        elif item["kind"] not in set(Kind):
            found.append(f"item {number}: unknown kind {item['kind']!r}")
        elif (item["lang"], item["expect"]) not in allowed:
            found.append(f"item {number}: {item['expect']!r} is not a {item['lang']} article partners see in {split}")
    return found


@dataclass(frozen=True)
class Outcome:
    item: dict
    results: tuple[str, ...]  # the first TOP_RESULTS slugs

    @property
    def rank(self) -> int | None:
        """1-based position of the expected article in the top results, None when absent."""
        return self.results.index(self.item["expect"]) + 1 if self.item["expect"] in self.results else None

    @property
    def first(self) -> bool:
        return self.rank == 1

    @property
    def in_top(self) -> bool:
        return self.rank is not None


@dataclass(frozen=True)
class Tally:
    count: int
    first: int
    in_top: int

    @property
    def first_rate(self) -> float:
        return self.first / self.count if self.count else 0.0

    @property
    def top_rate(self) -> float:
        return self.in_top / self.count if self.count else 0.0

    def as_dict(self) -> dict:
        return {
            "n": self.count,
            "top1": self.first,
            "top3": self.in_top,
            "top1_rate": round(self.first_rate, 4),
            "top3_rate": round(self.top_rate, 4),
        }


def tally(outcomes: Iterable[Outcome]) -> Tally:
    outcomes = list(outcomes)
    return Tally(len(outcomes), sum(o.first for o in outcomes), sum(o.in_top for o in outcomes))


@dataclass(frozen=True)
class Report:
    outcomes: tuple[Outcome, ...]

    @property
    def overall(self) -> Tally:
        return tally(self.outcomes)

    def groups(self, key: Callable[[dict], str]) -> dict[str, Tally]:
        """Tallies per value of `key(item)`, in sorted order (e.g. per language, per kind)."""
        values = sorted({key(outcome.item) for outcome in self.outcomes})
        return {value: tally(o for o in self.outcomes if key(o.item) == value) for value in values}

    @property
    def by_language(self) -> dict[str, Tally]:
        return self.groups(lambda item: item["lang"])

    @property
    def by_kind(self) -> dict[str, Tally]:
        return self.groups(lambda item: item["kind"])

    @property
    def misses(self) -> list[Outcome]:
        """Every question whose expected article did not rank first."""
        return [outcome for outcome in self.outcomes if not outcome.first]

    def as_dict(self) -> dict:
        return {
            "overall": self.overall.as_dict(),
            "by_language": {lang: t.as_dict() for lang, t in self.by_language.items()},
            "by_kind": {kind: t.as_dict() for kind, t in self.by_kind.items()},
            "misses": [
                {**outcome.item, "rank": outcome.rank, "results": list(outcome.results)} for outcome in self.misses
            ],
        }


def evaluate(items: list[dict], search_fn: SearchFn) -> Report:
    """Rank every question through `search_fn(query, lang)` and keep its top results."""
    return Report(tuple(Outcome(item, tuple(search_fn(item["query"], item["lang"])[:TOP_RESULTS])) for item in items))
