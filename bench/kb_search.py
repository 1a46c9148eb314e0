"""Knowledge-base search benchmark: synthetic corpora of 1,000 and 10,000 articles.

Reports, for each corpus size: full reindex time (the `flask kb reindex` path: database read,
Markdown to text, Whoosh build), index size, and query latency p50/p95 over 200+ realistic
queries (typos included) in-process and through the HTTP search fragment endpoint served by
gunicorn. Run: `.venv/bin/python bench/kb_search.py [--sizes 1000 10000] [--queries 240]`.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serving import portal_environment, served  # noqa: E402

from portal import create_app  # noqa: E402
from portal.core.extensions import db  # noqa: E402
from portal.core.i18n import LANGUAGES  # noqa: E402

SEED = 20261127
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


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def benchmark_queries(rng: random.Random, total: int) -> list[tuple[str, str]]:
    relevance = yaml.safe_load((ROOT / "tests/data/kb_relevance_queries.yaml").read_text(encoding="utf-8"))
    queries = [(item["query"], item["lang"]) for item in relevance]
    _articles, _topics, titles = shipped_corpus()
    while len(queries) < total:
        language = rng.choice(LANGUAGES)
        words = [w for w in re.findall(r"\w+", rng.choice(titles[language])) if len(w) > 3]
        picked = rng.sample(words, k=min(len(words), rng.randint(1, 3)))
        if rng.random() < 0.35:
            picked = [typo(w, rng) if rng.random() < 0.6 else w for w in picked]
        if rng.random() < 0.1:
            picked = [f"EDY-{rng.choice([1, 2, 3, 4])}{rng.randint(0, 40):03d}"]
        queries.append((" ".join(picked).lower(), language))
    return queries


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


def in_process_latency(app, queries, with_snippets: bool) -> list[float]:
    from kb import search

    timings = []
    with app.test_request_context():
        for text, language in queries[:10]:
            search.search(text, [language], ["public", "partners"], with_snippets=with_snippets)
        for text, language in queries:
            started = time.perf_counter()
            search.search(text, [language], ["public", "partners"], with_snippets=with_snippets)
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def http_latency(env: dict, queries) -> list[float]:
    with served("wsgi:app", env, probe="/healthz") as base:
        session = requests.Session()
        headers = {"HX-Request": "true"}
        for text, language in queries[:20]:
            session.get(f"{base}/kb/search", params={"q": text, "lang": language}, headers=headers)
        timings = []
        for text, language in queries:
            started = time.perf_counter()
            response = session.get(f"{base}/kb/search", params={"q": text, "lang": language}, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        return timings


def run(size: int, query_count: int) -> dict:
    rng = random.Random(SEED + size)
    workdir = Path(tempfile.mkdtemp(prefix=f"kb-bench-{size}-"))
    database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    index_dir = workdir / "index"
    overrides = {
        "SECRET_KEY": "bench",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SEARCH_INDEX_DIR": str(index_dir),
        "LOG_LEVEL": "WARNING",
    }
    app = create_app(overrides)
    load_database(app, synthetic_articles(size, rng))
    reindex_seconds = time_reindex(app)
    queries = benchmark_queries(rng, query_count)
    in_process = in_process_latency(app, queries, with_snippets=True)
    in_process_plain = in_process_latency(app, queries, with_snippets=False)
    over_http = http_latency(portal_environment(database_url, index_dir), queries)
    result = {
        "articles": size,
        "queries": len(queries),
        "reindex_seconds": round(reindex_seconds, 2),
        "index_megabytes": round(folder_size(index_dir) / 1e6, 1),
        "in_process_ms": {
            "p50": round(statistics.median(in_process), 2),
            "p95": round(percentile(in_process, 0.95), 2),
        },
        "in_process_no_snippets_ms": {
            "p50": round(statistics.median(in_process_plain), 2),
            "p95": round(percentile(in_process_plain, 0.95), 2),
        },
        "http_fragment_ms": {
            "p50": round(statistics.median(over_http), 2),
            "p95": round(percentile(over_http, 0.95), 2),
        },
    }
    shutil.rmtree(workdir, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--queries", type=int, default=240)
    args = parser.parse_args()
    results = [run(size, args.queries) for size in args.sizes]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
