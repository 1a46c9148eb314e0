"""The "shipped-derived" knowledge base of the search benchmark and its queries: articles written
with the shipped articles' sentences (real vocabulary, realistic length), three quarters from their
own topic, plus long-tail product names; queries from the relevance set and the shipped titles,
a third of them mistyped. Seeded by the caller: every run builds the same corpus.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import yaml
from kb_corpus import misspell

from portal.core.i18n import LANGUAGES

ROOT = Path(__file__).resolve().parent.parent
DEVICES = ["Roku", "Fire TV", "Android TV", "Apple TV", "Chromecast", "Tizen", "webOS", "iPhone", "iPad", "Xbox"]


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
