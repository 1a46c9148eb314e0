"""Knowledge-base search relevance on the evaluation nobody tunes on (`tests/kb_eval.py`).

Builds a throwaway app on the chosen search backend (Whoosh: a temporary SQLite database and index
folder; PostgreSQL: a database made on `--postgres` for the run and dropped after it), imports the
shipped and the eval-only articles, asks the portal's search every question of the tuning and/or
held-out split as a partner (public + partners articles) and prints, per split, top-1 and top-3
rates per language and overall, then per kind and per article set, then every question not
answered first.
Run: `.venv/bin/python bench/kb_relevance.py [--backend whoosh|postgres] [--split tuning|heldout|both] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from databases import POSTGRES_SERVER, bench_database, create_schema  # noqa: E402

from portal import create_app  # noqa: E402
from portal.core.extensions import db  # noqa: E402
from tests.kb_eval import (  # noqa: E402
    PARTNER_VISIBILITIES,
    TOP_RESULTS,
    Report,
    Split,
    Tally,
    corpus_files,
    evaluate,
    import_eval_corpus,
    load_split,
    problems,
)

SPLIT_CHOICES = {"tuning": [Split.TUNING], "heldout": [Split.HELDOUT], "both": [Split.TUNING, Split.HELDOUT]}


BACKENDS = ("whoosh", "postgres")


def portal_search(query: str, lang: str) -> list[str]:
    from kb import backends

    # The portal's own call (its page size decides when a search widens to any of the words).
    return [hit.slug for hit in backends.search(query, [lang], PARTNER_VISIBILITIES).hits[:TOP_RESULTS]]


def row(label: str, tally: Tally) -> str:
    return f"  {label:<28} {tally.count:>4} {tally.first_rate:>8.1%} {tally.top_rate:>8.1%}"


def print_report(split: Split, report: Report, article_set: dict[str, str]) -> None:
    header = f"  {'':<28} {'n':>4} {'top-1':>8} {'top-3':>8}"
    print(f"\n=== {split} ===\n{header}")
    for lang, tally in report.by_language.items():
        print(row(lang, tally))
    print(row("all", report.overall))
    print(f"\n  per kind\n{header}")
    for kind, tally in report.by_kind.items():
        print(row(kind, tally))
    print(f"\n  per article set\n{header}")
    for name, tally in report.groups(lambda item: f"{article_set[item['expect']]} {item['lang']}").items():
        print(row(name, tally))
    print(f"\n  not first ({len(report.misses)})")
    for outcome in report.misses:
        item = outcome.item
        where = f"rank {outcome.rank}" if outcome.rank else f"not in top {TOP_RESULTS}"
        print(f"  [{item['lang']} {item['kind']}] {item['query']!r} → {', '.join(outcome.results) or '(nothing)'}")
        print(f"      expected {item['expect']} ({where})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=sorted(SPLIT_CHOICES), default="both")
    parser.add_argument("--backend", choices=BACKENDS, default=BACKENDS[0])
    parser.add_argument("--postgres", default=POSTGRES_SERVER, help="server on which a database is made for the run")
    parser.add_argument("--json", action="store_true", help="print the reports as JSON")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="kb-relevance-"))
    try:
        with bench_database(args.backend, workdir, args.postgres, f"kb_relevance_{os.getpid()}") as database_url:
            app = create_app(
                {
                    "SECRET_KEY": "bench",
                    "SQLALCHEMY_DATABASE_URI": database_url,
                    "SEARCH_INDEX_DIR": str(workdir / "index"),
                    "SEARCH_BACKEND": args.backend,
                    "LOG_LEVEL": "WARNING",
                }
            )
            create_schema(app)
            with app.test_request_context():
                corpus = corpus_files()
                article_set = {article.slug: group for group, articles in corpus.items() for article in articles}
                splits = {split: load_split(split) for split in SPLIT_CHOICES[args.split]}
                found = [
                    f"{split}: {problem}"
                    for split, items in splits.items()
                    for problem in problems(split, items, corpus)
                ]
                if found:
                    sys.exit("the questions are not fit to measure with:\n" + "\n".join(found))
                import_eval_corpus()
                # As a switch does: on PostgreSQL a rebuild counts how many articles use each word.
                result = app.test_cli_runner().invoke(args=["kb", "reindex"])
                assert result.exit_code == 0, result.output
                reports = {split: evaluate(items, portal_search) for split, items in splits.items()}
                db.engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(
            json.dumps(
                {str(split): report.as_dict() for split, report in reports.items()}, indent=2, ensure_ascii=False
            )
        )
        return
    for split, report in reports.items():
        print_report(split, report, article_set)


if __name__ == "__main__":
    main()
