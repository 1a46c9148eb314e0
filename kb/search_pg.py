"""Knowledge-base search over PostgreSQL (SEARCH_BACKEND=postgres), with the Whoosh search's
behaviour and results (`kb.search`); what is searched for comes from `kb.query_pg`.

An article's score adds, per concept of the query, how well it matches (`ts_rank_cd` over the
weighted text: title, tags, category, body as 3/2/1/1) times how rare the concept is (BM25's idf),
alternatives (typos, completions, synonyms) counting less than the words typed; the words typed
score more where they stand together (cover density). Articles with every concept come first;
only when they do not fill a page does the search widen to any distinctive concept. In one
language, when it finds few articles or the query has the other language's words, the other
language's articles answer through their translations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text

from kb import index_pg, query_pg, snippets
from kb.query_pg import Analysis, LanguageQuery
from kb.search_rules import (
    COMMON_WORD_SHARE,
    CROSS_LANGUAGE_FEW,
    CROSS_LANGUAGE_WEIGHT,
    PROXIMITY_WEIGHT,
    Breadth,
    SearchHit,
    SearchResults,
    normalize_query,
    words_of,
)
from portal.core.extensions import db
from portal.core.i18n import LANGUAGES

# ts_rank_cd's weights for D (body), C (category), B (tags), A (title): 1 : 1 : 2 : 3, as in Whoosh.
RANK_WEIGHTS = [1 / 3, 1 / 3, 2 / 3, 1.0]
CANDIDATES = 200  # articles scored in full per language (see `_branch`)
RANK_NORMALIZATION = 1 | 32  # by 1 + log(length), then rank / (rank + 1): saturated, as BM25


@dataclass(frozen=True)
class Reader:
    """Which articles a reader may be shown: visibilities, and one category or any."""

    visibilities: list[str]
    category: str | None

    def where(self, alias: str) -> str:
        clause = f"{alias}.visibility = ANY(CAST(:visibilities AS text[]))"
        return clause + (f" AND {alias}.category = :category" if self.category else "")


class Statement:
    """A ranking statement's SQL pieces; every query text goes into `params`, never into the SQL."""

    def __init__(self, reader: Reader, limit: int):
        self.params = {
            "weights": RANK_WEIGHTS,
            "normalization": RANK_NORMALIZATION,
            "cross_weight": CROSS_LANGUAGE_WEIGHT,
            "visibilities": reader.visibilities,
            "category": reader.category,
            "limit": limit,
            "candidates": max(CANDIDATES, limit),
        }

    def bound(self, value) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def rank(self, tsquery: str) -> str:
        query = self.bound(tsquery)
        return f"ts_rank_cd(CAST(:weights AS real[]), found.document, CAST({query} AS tsquery), :normalization)"


def _concepts(query: LanguageQuery, breadth: Breadth):
    """The concepts searched: all of them, or (`Breadth.DISTINCTIVE_WORD`) those not in most
    articles, as the others barely change the ranking of an "any of the words" search yet match the
    most."""
    if breadth is not Breadth.DISTINCTIVE_WORD:
        return query.concepts
    distinctive = [concept for concept in query.concepts if concept.documents <= COMMON_WORD_SHARE * query.total]
    return distinctive or query.concepts


def _branch(statement: Statement, query: LanguageQuery, breadth: Breadth, reader: Reader, translated: bool) -> str:
    """One language's matches, scored: the articles themselves, or (`translated`) their translations."""
    concepts = _concepts(query, breadth)
    terms = []
    for concept in concepts:
        parts = [statement.rank(" | ".join(concept.exact))] if concept.exact else []
        if concept.others:
            parts.append(f"{concept.others_weight} * {statement.rank(' | '.join(concept.others))}")
        terms.append(f"{concept.weight(query.total)} * ({' + '.join(parts)})")
    if len(query.typed) > 1:
        terms.append(f"{PROXIMITY_WEIGHT} * {statement.rank(' & '.join(query.typed))}")
    joint = " & " if breadth is Breadth.EVERY_WORD else " | "
    match = statement.bound(joint.join(concept.alternatives for concept in concepts))
    # Scoring every match of a common word costs the most: the best CANDIDATES by one cheap rank
    # are scored in full.
    candidates = (
        f"(SELECT * FROM kb_search_documents AS found"
        f" WHERE found.language = {statement.bound(query.language)} AND {reader.where('found')}"
        f" AND found.document @@ CAST({match} AS tsquery)"
        f" ORDER BY ts_rank(CAST(:weights AS real[]), found.document, CAST({match} AS tsquery)) DESC, found.article_id"
        f" LIMIT :candidates) AS found"
    )
    score = " + ".join(terms)
    if not translated:
        return (
            f"SELECT found.article_id, found.slug, found.language, found.category, found.title, {score} AS score"
            f" FROM {candidates}"
        )
    return (
        f"SELECT shown.article_id, shown.slug, shown.language, shown.category, shown.title,"
        f" :cross_weight * ({score}) AS score FROM {candidates}"
        f" JOIN kb_search_documents AS shown ON shown.article_id = found.translation_id WHERE {reader.where('shown')}"
    )


def _search(queries: list[LanguageQuery], breadth: Breadth, reader: Reader, limit: int, translated: bool) -> list:
    statement = Statement(reader, limit)
    branches = " UNION ALL ".join(_branch(statement, query, breadth, reader, translated) for query in queries)
    sql = f"SELECT * FROM ({branches}) AS ranked ORDER BY score DESC, article_id LIMIT :limit"
    return list(db.session.execute(text(sql), statement.params))


def _ranked(queries: list[LanguageQuery], reader: Reader, limit: int, per_page: int, translated=False) -> list:
    """The best `limit` articles: those with every concept, widened (`Breadth`) while they do not
    fill a page."""
    if not queries:
        return []
    rows = _search(queries, Breadth.EVERY_WORD, reader, limit, translated)
    if any(len(query.concepts) > 1 for query in queries):
        searched = [query.concepts for query in queries]
        for breadth in (Breadth.DISTINCTIVE_WORD, Breadth.ANY_WORD):
            if len(rows) >= per_page:
                break
            wider = [_concepts(query, breadth) for query in queries]
            if breadth is Breadth.DISTINCTIVE_WORD or wider != searched:
                searched, rows = wider, _search(queries, breadth, reader, limit, translated)
    return rows


def _with_translations(ranked: list, text_: str, language: str, analyses, reader: Reader, limit, per_page) -> list:
    """`ranked`, with the other language's answers through their translations when `ranked` has
    few articles or the query has the other language's words."""
    other = query_pg.other_language(language)
    content = [word for word in words_of(text_) if analyses[language].lexemes.get(index_pg.fold(word))]
    if len(ranked) >= CROSS_LANGUAGE_FEW and not query_pg.has_foreign_words(language, content, analyses):
        return ranked
    words, matches = query_pg.plan(other, " ".join(content))
    query_pg.analyse(analyses, query_pg.planned_words(words, matches))
    foreign = query_pg.language_query(other, words, matches, analyses[other])
    translated = _ranked([foreign] if foreign.concepts else [], reader, limit, per_page, translated=True)
    best = {}
    for row in ranked + translated:
        if row.article_id not in best or row.score > best[row.article_id].score:
            best[row.article_id] = row
    return sorted(best.values(), key=lambda row: (-row.score, row.article_id))[:limit]


def search(
    text_: str,
    languages: Iterable[str],
    visibilities: Iterable[str],
    category: str | None = None,
    page: int = 1,
    per_page: int = 10,
    with_snippets: bool = True,
) -> SearchResults:
    """Ranked, visibility-filtered results for `text_`, as `kb.search.search` gives them."""
    text_ = normalize_query(text_)
    languages = [language for language in languages if language in LANGUAGES]
    empty = SearchResults(query=text_, hits=[], found=0, more=False, page=1, per_page=per_page)
    if not text_ or not languages:
        return empty
    page, reader = max(1, page), Reader(list(visibilities), category)
    limit = page * per_page + 1
    asked = languages if len(languages) > 1 else [languages[0], query_pg.other_language(languages[0])]
    analyses = {language: Analysis() for language in asked}
    plans = {language: query_pg.plan(language, text_) for language in languages}
    query_pg.analyse(analyses, set().union(*(query_pg.planned_words(*plan) for plan in plans.values())))
    queries = [
        query
        for language in languages
        if (query := query_pg.language_query(language, *plans[language], analyses[language])).concepts
    ]
    ranked = _ranked(queries, reader, limit, per_page)
    if len(languages) == 1:
        ranked = _with_translations(ranked, text_, languages[0], analyses, reader, limit, per_page)
    if not ranked:
        return empty
    page_rows = ranked[(page - 1) * per_page : page * per_page]
    hits = _hits(page_rows, {query.language: frozenset(query.stems) for query in queries}, with_snippets)
    words = words_of(text_)
    exact = {word for word in words for a in analyses.values() if a.known(a.lexemes.get(index_pg.fold(word)))}
    corrections = {word: near for query in queries for word, near in query.corrections.items() if word not in exact}
    return SearchResults(
        query=text_,
        hits=hits,
        found=min(len(ranked), page * per_page),
        more=len(ranked) > page * per_page,
        page=page,
        per_page=per_page,
        suggestion=" ".join(corrections.get(word, word) for word in words) if corrections else None,
        corrected_words=corrections,
    )


def _hits(rows: list, stems: dict[str, frozenset[str]], with_snippets: bool) -> list[SearchHit]:
    bodies = {}
    if with_snippets and rows:
        bodies = dict(
            db.session.execute(
                text(
                    "SELECT article_id, body FROM kb_search_documents WHERE article_id = ANY(CAST(:ids AS integer[]))"
                ),
                {"ids": [row.article_id for row in rows]},
            ).all()
        )
    return [
        SearchHit(
            article_id=row.article_id,
            slug=row.slug,
            language=row.language,
            category=row.category,
            title=row.title,
            score=float(row.score),
            snippet=snippets.snippet(bodies[row.article_id], stems.get(row.language, frozenset()))
            if with_snippets
            else "",
        )
        for row in rows
    ]


_RELATED = text(
    """
    SELECT article_id, slug, language, category, title,
        2 * cardinality(ARRAY(SELECT unnest(tags) INTERSECT SELECT unnest(CAST(:tags AS text[]))))
        + CASE WHEN category = :category THEN 1 ELSE 0 END AS score
    FROM kb_search_documents
    WHERE language = :language AND visibility = ANY(CAST(:visibilities AS text[])) AND article_id <> :article_id
        AND (category = :category OR tags && CAST(:tags AS text[]))
    ORDER BY score DESC, article_id
    LIMIT :limit
    """
)


def related(article_id: int, language: str, category: str, tags: Iterable[str], visibilities, limit: int = 5):
    """Live articles of the same language sharing tags (first) or the category with an article."""
    params = {
        "article_id": article_id,
        "language": language,
        "category": category,
        "tags": [tag.lower() for tag in tags],
        "visibilities": list(visibilities),
        "limit": limit,
    }
    return [
        SearchHit(row.article_id, row.slug, row.language, row.category, row.title, float(row.score), "")
        for row in db.session.execute(_RELATED, params)
    ]
