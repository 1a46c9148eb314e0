"""Knowledge-base search benchmark: both backends on two independently generated corpora at 1,000
and 10,000 articles.

For each corpus, size and backend (Whoosh in a SQLite portal; PostgreSQL in a database made on
`--postgres` for the run and dropped after it): full reindex time (`flask kb reindex` in a
process of its own, start-up included: database read, index build), index size and distinct words, and query latency p50/p95 over 240+
queries asked one at a time in a warm process, each timed `--passes` times: in-process through
`kb.backends.search` as the web calls it (with and without snippets), through the HTTP search
fragment served by gunicorn, and with `--via-cli` through `flask kb search - --json` reading one
query per line. Corpora: "shipped" (`kb_shipped.py`: mostly the shipped articles' sentences) and
"varied" (`kb_corpus.py`: written from its own large vocabulary, a fifth of its queries mistyped);
both backends answer the same generated articles and queries. Each column also gives the speed of
the machine while it was measured (a fixed loop): on a shared host it changes from minute to
minute, so compare figures of one run. Prints a Markdown table or `--json`.
Run: `.venv/bin/python bench/kb_search.py [--corpus shipped|varied|both] [--backend
whoosh|postgres|both] [--sizes 1000 10000] [--queries 240] [--passes 3] [--via-cli] [--json]`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from databases import POSTGRES_SERVER, bench_database, create_schema  # noqa: E402
from kb_corpus import profile, varied_corpus  # noqa: E402
from kb_shipped import benchmark_queries, synthetic_articles  # noqa: E402
from serving import portal_environment, served  # noqa: E402

from portal import create_app  # noqa: E402
from portal.core.extensions import db  # noqa: E402
from portal.core.i18n import LANGUAGES  # noqa: E402

SEED = 20261127
VARIED_SEED = 20261215
CORPORA = {"shipped": "shipped-derived", "varied": "varied"}
BACKENDS = ("whoosh", "postgres")
PARTNER_VISIBILITIES = ["public", "partners"]
WARM_UP_QUERIES = 10
CALIBRATION_LOOP = 2_000_000
# The targets, at this many articles.
TARGET_ARTICLES = 10000
TARGET_P95_MS = 25
TARGET_HTTP_P95_MS = 60
TARGET_REINDEX_SECONDS = 20


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def build_corpus(corpus: str, size: int, query_count: int):
    """The articles and queries of `corpus` at `size` articles: the same ones on every run."""
    if corpus == "shipped":
        rng = random.Random(SEED + size)
        articles = list(synthetic_articles(size, rng))
        return articles, benchmark_queries(rng, query_count)
    from kb.category_file import CATEGORIES_FILE, read_categories

    keys = [entry.key for entry in read_categories(ROOT / "content" / "kb" / CATEGORIES_FILE)]
    return varied_corpus(size, query_count, VARIED_SEED + size, keys)


def load_database(app, articles) -> None:
    from kb.category_file import CATEGORIES_FILE, import_categories
    from kb.models import Article, ArticleRevision
    from portal.core.markdown import plain_text
    from portal.core.types import utcnow

    now = utcnow()
    create_schema(app)
    with app.app_context():
        import_categories(ROOT / "content" / "kb" / CATEGORIES_FILE)
        article_rows, revision_rows = [], []
        for number, item in enumerate(articles, start=1):
            # Revisions carry the metadata too (it is versioned with the text).
            metadata = {"category": item["category"], "tags": item["tags"], "visibility": item["visibility"]}
            article_rows.append(
                {
                    "id": number,
                    "slug": item["slug"],
                    "language": item["language"],
                    **metadata,
                    "status": "published",
                    "latest_revision_number": 1,
                    "created_at": now,
                    "published_at": now,
                }
            )
            revision_rows.append(
                {
                    "id": number,
                    "article_id": number,
                    "number": 1,
                    "title": item["title"],
                    "body": item["body"],
                    "search_text": plain_text(item["body"]),
                    "created_at": now,
                    "note": "benchmark",
                    "state": "published",
                    **metadata,
                }
            )
        db.session.execute(db.insert(Article), article_rows)
        db.session.execute(db.insert(ArticleRevision), revision_rows)
        db.session.execute(db.update(Article).values(published_revision_id=Article.id))
        db.session.commit()


def time_reindex(env: dict) -> float:
    """Seconds of `flask kb reindex` as an operator runs it: a process of its own, start-up included."""
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "kb", "reindex"]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"flask kb reindex failed:\n{result.stderr}")
    return elapsed


def index_size(app) -> int:
    """Bytes of the index: Whoosh's folder, or the search tables with their indexes."""
    from kb import backends, index, index_pg

    with app.app_context():
        if backends.on_postgres():
            sizes = [f"pg_total_relation_size('{table}')" for table in index_pg.TABLES]
            return db.session.scalar(sa.text("SELECT " + " + ".join(sizes)))
        return sum(p.stat().st_size for p in index.index_dir().rglob("*") if p.is_file())


def index_terms(app) -> dict[str, int]:
    """Distinct words of each language: what typo and prefix expansion walk (Whoosh's terms of the
    scored field, or the rows of kb_search_words)."""
    from kb import backends, index

    with app.app_context():
        if backends.on_postgres():
            query = sa.text("SELECT language, count(*) FROM kb_search_words GROUP BY language")
            counts = dict(db.session.execute(query).all())
            return {language: counts.get(language, 0) for language in LANGUAGES}
        with index.open_index().reader() as reader:
            return {language: sum(1 for _ in reader.lexicon(f"text_{language}")) for language in LANGUAGES}


def in_process_latency(app, queries, passes: int, with_snippets: bool) -> list[float]:
    from kb import backends as search

    timings = []
    with app.test_request_context():
        for text, language in queries[:WARM_UP_QUERIES]:
            search.search(text, [language], PARTNER_VISIBILITIES, with_snippets=with_snippets)
        for text, language in queries * passes:
            started = time.perf_counter()
            search.search(text, [language], PARTNER_VISIBILITIES, with_snippets=with_snippets)
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def http_latency(env: dict, queries, passes: int) -> list[float]:
    with served("wsgi:app", env, probe="/healthz") as base:
        session = requests.Session()
        headers = {"HX-Request": "true"}
        for text, language in queries[: 2 * WARM_UP_QUERIES]:
            session.get(f"{base}/kb/search", params={"q": text, "lang": language}, headers=headers)
        timings = []
        for text, language in queries * passes:
            started = time.perf_counter()
            response = session.get(f"{base}/kb/search", params={"q": text, "lang": language}, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        return timings


def cli_latency(env: dict, queries, passes: int) -> list[float]:
    """Queries written one at a time to `flask kb search - --json` (a warm process per language),
    each timed until its line of results comes back."""
    timings = []
    for language in LANGUAGES:
        texts = [text for text, lang in queries if lang == language]
        command = [sys.executable, "-m", "flask", "--app", "wsgi", "kb", "search", "-", "--json", "--lang", language]
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True, "bufsize": 1}
        with subprocess.Popen(command, cwd=ROOT, env=env, **pipes) as process:
            for position, text in enumerate(texts[:WARM_UP_QUERIES] + texts * passes):
                started = time.perf_counter()
                process.stdin.write(text + "\n")
                process.stdin.flush()
                json.loads(process.stdout.readline())
                if position >= WARM_UP_QUERIES:
                    timings.append((time.perf_counter() - started) * 1000)
            process.stdin.close()
    return timings


def machine_speed() -> float:
    """Milliseconds of a fixed pure-Python loop (median of five): this machine's speed changes
    from minute to minute (a shared host), so each column says how fast it was while measured."""
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for number in range(CALIBRATION_LOOP):
            total += number
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 1)


def summary(timings: list[float]) -> dict:
    return {"p50": round(statistics.median(timings), 2), "p95": round(percentile(timings, 0.95), 2)}


def measure(backend: str, articles, queries, passes: int, via_cli: bool, server: str, label: str) -> dict:
    """One backend on one corpus: load it, reindex, then time the queries."""
    progress = f"[{label} {len(articles):,} {backend}]"
    workdir = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    index_dir = workdir / "index"
    try:
        with bench_database(backend, workdir, server, f"kb_bench_{os.getpid()}") as database_url:
            overrides = {
                "SECRET_KEY": "bench",
                "SQLALCHEMY_DATABASE_URI": database_url,
                "SEARCH_INDEX_DIR": str(index_dir),
                "SEARCH_BACKEND": backend,
                "LOG_LEVEL": "WARNING",
            }
            app = create_app(overrides)
            print(f"{progress} loading", file=sys.stderr, flush=True)
            load_database(app, articles)
            env = portal_environment(database_url, index_dir) | {"SEARCH_BACKEND": backend}
            print(f"{progress} reindexing", file=sys.stderr, flush=True)
            reindex_seconds = time_reindex(env)
            print(f"{progress} querying ({reindex_seconds:.1f} s reindex)", file=sys.stderr, flush=True)
            # The generated corpus lives on in this process, as it would in no web server: kept out
            # of the garbage collector's rounds, it does not slow the searches timed here.
            gc.freeze()
            result = {
                "backend": backend,
                "calibration_ms": machine_speed(),
                "reindex_seconds": round(reindex_seconds, 2),
                "index_megabytes": round(index_size(app) / 1e6, 1),
                "index_terms": index_terms(app),
                "in_process_ms": summary(in_process_latency(app, queries, passes, with_snippets=True)),
                "in_process_no_snippets_ms": summary(in_process_latency(app, queries, passes, with_snippets=False)),
                "http_fragment_ms": summary(http_latency(env, queries, passes)),
            }
            if via_cli:
                result["cli_ms"] = summary(cli_latency(env, queries, passes))
            with app.app_context():
                db.engine.dispose()
            return result
    finally:
        gc.unfreeze()
        shutil.rmtree(workdir, ignore_errors=True)


def run(corpus: str, size: int, query_count: int, passes: int, backends, via_cli: bool, server: str) -> list[dict]:
    """Every backend on the same generated corpus and queries."""
    print(f"[{CORPORA[corpus]} {size:,}] generating", file=sys.stderr, flush=True)
    articles, queries = build_corpus(corpus, size, query_count)
    shared = {
        "corpus": CORPORA[corpus],
        "articles": size,
        "queries": len(queries),
        "passes": passes,
        "corpus_profile": profile(articles),
    }
    return [
        shared | measure(backend, articles, queries, passes, via_cli, server, CORPORA[corpus]) for backend in backends
    ]


MEASURES = {
    "machine speed (fixed loop)": lambda r: f"{r['calibration_ms']} ms",
    "distinct sentences": lambda r: f"{r['corpus_profile']['distinct_sentence_share']:.1%}",
    "distinct words es / en": lambda r: "{es:,} / {en:,}".format(**r["corpus_profile"]["distinct_words"]),
    "words per article": lambda r: f"{r['corpus_profile']['words_per_article']}",
    "reindex": lambda r: f"{r['reindex_seconds']:.2f} s",
    "index size": lambda r: f"{r['index_megabytes']} MB",
    "index terms es / en": lambda r: "{es:,} / {en:,}".format(**r["index_terms"]),
    "in-process p50 / p95": lambda r: "{p50} / {p95} ms".format(**r["in_process_ms"]),
    "without snippets p50 / p95": lambda r: "{p50} / {p95} ms".format(**r["in_process_no_snippets_ms"]),
    "HTTP fragment p50 / p95": lambda r: "{p50} / {p95} ms".format(**r["http_fragment_ms"]),
    "`flask kb search -` p50 / p95": lambda r: "{p50} / {p95} ms".format(**r["cli_ms"]) if "cli_ms" in r else "—",
}


def table(results: list[dict]) -> str:
    """Measures down; across, at each size the corpora side by side, each with the backends side by side."""
    columns = sorted(
        results,
        key=lambda r: (r["articles"], list(CORPORA.values()).index(r["corpus"]), BACKENDS.index(r["backend"])),
    )
    lines = [
        "| measure | " + " | ".join(f"{r['corpus']} {r['articles']:,} {r['backend']}" for r in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    lines += [f"| {name} | " + " | ".join(cell(r) for r in columns) + " |" for name, cell in MEASURES.items()]
    for r in columns:
        if r["articles"] == TARGET_ARTICLES:
            checks = [
                ("in-process p95", r["in_process_ms"]["p95"], TARGET_P95_MS, "ms"),
                ("HTTP p95", r["http_fragment_ms"]["p95"], TARGET_HTTP_P95_MS, "ms"),
                ("reindex", r["reindex_seconds"], TARGET_REINDEX_SECONDS, "s"),
            ]
            verdicts = [
                f"{name} {value} {unit} ({'met' if value <= target else 'NOT met'}: ≤ {target} {unit})"
                for name, value, target, unit in checks
            ]
            lines.append(f"\n{r['corpus']} at {TARGET_ARTICLES:,}, {r['backend']}: " + "; ".join(verdicts))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=[*CORPORA, "both"], default="both")
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument("--postgres", default=POSTGRES_SERVER, help="server on which a database is made for the run")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, TARGET_ARTICLES])
    parser.add_argument("--queries", type=int, default=240)
    parser.add_argument("--passes", type=int, default=3, help="times each query is timed (p50/p95 over all)")
    parser.add_argument("--via-cli", action="store_true", help="also time `flask kb search - --json`, one query a line")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args()
    corpora = list(CORPORA) if args.corpus == "both" else [args.corpus]
    backends = list(BACKENDS) if args.backend == "both" else [args.backend]
    results = [
        result
        for size in args.sizes
        for corpus in corpora
        for result in run(corpus, size, args.queries, args.passes, backends, args.via_cli, args.postgres)
    ]
    print(json.dumps(results, indent=2, ensure_ascii=False) if args.json else table(results))


if __name__ == "__main__":
    main()
