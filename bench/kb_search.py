"""Knowledge-base search benchmark: two independently generated corpora at 1,000 and 10,000 articles.

For each corpus and size: full reindex time (the `flask kb reindex` path: database read, Whoosh
build), index size and terms, and query latency p50/p95 over 240+ queries asked one at a time in a
warm process, each timed `--passes` times: in-process through `kb.search.search` as the web calls
it (with and without snippets), through the HTTP search fragment served by gunicorn, and with
`--via-cli` through `flask kb search - --json` reading one query per line. Corpora: "shipped"
(shipped-derived: mostly the shipped articles' sentences, below) and "varied" (`kb_corpus.py`:
written from its own large vocabulary, a fifth of its queries mistyped). Prints a Markdown table,
the corpora side by side, or `--json`.
Run: `.venv/bin/python bench/kb_search.py [--corpus shipped|varied|both] [--sizes 1000 10000]
[--queries 240] [--passes 3] [--via-cli] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb_corpus import misspell, profile, varied_corpus  # noqa: E402
from serving import portal_environment, served  # noqa: E402

from portal import create_app  # noqa: E402
from portal.core.extensions import db  # noqa: E402
from portal.core.i18n import LANGUAGES  # noqa: E402

SEED = 20261127
VARIED_SEED = 20261215
CORPORA = {"shipped": "shipped-derived", "varied": "varied"}
BACKENDS = ("whoosh",)
PARTNER_VISIBILITIES = ["public", "partners"]
WARM_UP_QUERIES = 10
# The targets, at this many articles.
TARGET_ARTICLES = 10000
TARGET_P95_MS = 25
TARGET_HTTP_P95_MS = 60
TARGET_REINDEX_SECONDS = 20
DEVICES = ["Roku", "Fire TV", "Android TV", "Apple TV", "Chromecast", "Tizen", "webOS", "iPhone", "iPad", "Xbox"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def shipped_corpus():
    """The shipped articles, their sentences per article, and their titles per language."""
    from kb.content import parse
    from portal.core.markdown import plain_text

    articles = [parse(path) for path in sorted((ROOT / "content" / "kb").rglob("*.md"))]
    topics = {language: [] for language in LANGUAGES}
    titles = {language: [] for language in LANGUAGES}
    for article in articles:
        titles[article.language].append(article.title)
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", plain_text(article.body)) if len(s.split()) >= 5]
        topics[article.language].append((article.title, article.category, sentences))
    return articles, topics, titles


SYLLABLES = ["ka", "lo", "mi", "ter", "vo", "san", "ri", "del", "pa", "nu", "gor", "te", "sil", "ba", "quen", "dra"]


def long_tail_lexicon(rng: random.Random, size: int = 40000) -> list[str]:
    """Made-up product, model and feature names: the long tail a real catalogue of articles has."""
    words = set()
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        words.add(word + (f"-{rng.randint(10, 999)}" if rng.random() < 0.15 else ""))
    return sorted(words)


def synthetic_articles(count: int, rng: random.Random):
    """Articles on one topic each, written with the shipped articles' sentences (real vocabulary,
    realistic length: 250-600 words), three quarters from their topic and the rest from others,
    plus long-tail names drawn by a Zipf law, as a support knowledge base grows."""
    _articles, topics, _titles = shipped_corpus()
    lexicon = long_tail_lexicon(rng)
    weights = [1 / (rank + 1) for rank in range(len(lexicon))]
    for number in range(count):
        language = LANGUAGES[number % len(LANGUAGES)]
        topic_title, category, topic_sentences = rng.choice(topics[language])
        others = [sentence for _t, _c, sentences in topics[language] for sentence in sentences]
        names = rng.choices(lexicon, weights=weights, k=rng.randint(6, 16))
        paragraphs, words, target = [], 0, rng.randint(250, 600)
        while words < target:
            chosen = [rng.choice(topic_sentences) if rng.random() < 0.75 else rng.choice(others) for _ in range(4)]
            paragraph = " ".join(chosen)
            if names and rng.random() < 0.6:
                paragraph += f" ({names.pop()}, {rng.choice(DEVICES)})"
            if rng.random() < 0.3:
                paragraph += f" EDY-{rng.choice([1, 2, 3, 4])}{rng.randint(0, 99):03d}."
            paragraphs.append(paragraph)
            words += len(paragraph.split())
        device = rng.choice(DEVICES)
        title = f"{topic_title} — {device} {number}"
        body = "\n\n".join(f"## {device}\n\n{p}" if i % 3 == 0 else p for i, p in enumerate(paragraphs))
        yield {
            "slug": f"synthetic-{number}",
            "language": language,
            "category": category,
            "visibility": "public" if rng.random() < 0.8 else "partners",
            "tags": [device.lower(), category],
            "title": title,
            "body": body + "\n",
        }


def benchmark_queries(rng: random.Random, total: int) -> list[tuple[str, str]]:
    relevance = yaml.safe_load((ROOT / "tests/data/kb_relevance_queries.yaml").read_text(encoding="utf-8"))
    queries = [(item["query"], item["lang"]) for item in relevance]
    _articles, _topics, titles = shipped_corpus()
    while len(queries) < total:
        language = rng.choice(LANGUAGES)
        words = [w for w in re.findall(r"\w+", rng.choice(titles[language])) if len(w) > 3]
        picked = rng.sample(words, k=min(len(words), rng.randint(1, 3)))
        if rng.random() < 0.35:
            picked = [misspell(w, rng) if rng.random() < 0.6 else w for w in picked]
        if rng.random() < 0.1:
            picked = [f"EDY-{rng.choice([1, 2, 3, 4])}{rng.randint(0, 40):03d}"]
        queries.append((" ".join(picked).lower(), language))
    return queries


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
    with app.app_context():
        db.create_all()
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


def time_reindex(app) -> float:
    runner = app.test_cli_runner()
    with app.app_context():
        started = time.perf_counter()
        result = runner.invoke(args=["kb", "reindex"])
        elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    return elapsed


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def index_terms(app) -> dict[str, int]:
    """Distinct terms of each language's scored field: what fuzzy and prefix expansion walk."""
    from kb import index

    with app.app_context(), index.open_index().reader() as reader:
        return {language: sum(1 for _ in reader.lexicon(f"text_{language}")) for language in LANGUAGES}


def in_process_latency(app, queries, passes: int, with_snippets: bool) -> list[float]:
    from kb import search

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


def summary(timings: list[float]) -> dict:
    return {"p50": round(statistics.median(timings), 2), "p95": round(percentile(timings, 0.95), 2)}


def run(corpus: str, size: int, query_count: int, passes: int, backend: str, via_cli: bool) -> dict:
    progress = f"[{CORPORA[corpus]} {size:,}]"
    print(f"{progress} generating", file=sys.stderr, flush=True)
    articles, queries = build_corpus(corpus, size, query_count)
    workdir = Path(tempfile.mkdtemp(prefix=f"kb-bench-{corpus}-{size}-"))
    database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    index_dir = workdir / "index"
    overrides = {
        "SECRET_KEY": "bench",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SEARCH_INDEX_DIR": str(index_dir),
        "LOG_LEVEL": "WARNING",
    }
    try:
        app = create_app(overrides)
        load_database(app, articles)
        print(f"{progress} reindexing", file=sys.stderr, flush=True)
        reindex_seconds = time_reindex(app)
        print(f"{progress} querying ({reindex_seconds:.1f} s reindex)", file=sys.stderr, flush=True)
        env = portal_environment(database_url, index_dir)
        result = {
            "corpus": CORPORA[corpus],
            "backend": backend,
            "articles": size,
            "queries": len(queries),
            "passes": passes,
            "corpus_profile": profile(articles),
            "reindex_seconds": round(reindex_seconds, 2),
            "index_megabytes": round(folder_size(index_dir) / 1e6, 1),
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
        shutil.rmtree(workdir, ignore_errors=True)


MEASURES = {
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
    """Measures down, corpus × size across: at each size the corpora stand side by side."""
    columns = sorted(results, key=lambda r: (r["articles"], list(CORPORA.values()).index(r["corpus"])))
    lines = [
        "| backend: "
        + columns[0]["backend"]
        + " | "
        + " | ".join(f"{r['corpus']} {r['articles']:,}" for r in columns)
        + " |",
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
            lines.append(f"\n{r['corpus']} at {TARGET_ARTICLES:,}: " + "; ".join(verdicts))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=[*CORPORA, "both"], default="both")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, TARGET_ARTICLES])
    parser.add_argument("--queries", type=int, default=240)
    parser.add_argument("--passes", type=int, default=3, help="times each query is timed (p50/p95 over all)")
    parser.add_argument("--backend", choices=BACKENDS, default=BACKENDS[0])
    parser.add_argument("--via-cli", action="store_true", help="also time `flask kb search - --json`, one query a line")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args()
    corpora = list(CORPORA) if args.corpus == "both" else [args.corpus]
    results = [
        run(corpus, size, args.queries, args.passes, args.backend, args.via_cli)
        for size in args.sizes
        for corpus in corpora
    ]
    print(json.dumps(results, indent=2, ensure_ascii=False) if args.json else table(results))


if __name__ == "__main__":
    main()
