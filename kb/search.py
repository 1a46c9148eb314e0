"""Knowledge-base search: queries over the index (`kb.index`), ranked and filtered results.

Query words found in the index are searched as they are; only unknown words are expanded to the
nearest known stems (typo tolerance) and completions (typing), with a lower weight, so exact
matches rank first. Articles with every word are found first; only when they do not fill a page
does the search widen to any of the words.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from whoosh.query import And, Term
from whoosh.query.compound import DefaultOr, PreloadedOr

from kb import index, snippets, synonyms
from kb.search_rules import (
    COMMON_WORD_SHARE,
    CROSS_LANGUAGE_FEW,
    CROSS_LANGUAGE_WEIGHT,
    ERROR_CODE,
    FUZZY_ALTERNATIVES,
    FUZZY_WEIGHT,
    JOINED_ERROR_CODE,
    PREFIX_WEIGHT,
    SYNONYM_WEIGHT,
    Breadth,
    SearchHit,
    SearchResults,
    normalize_query,
    words_of,
)
from portal.core.i18n import LANGUAGES

STEM_PREFIX_MIN, STEM_SUFFIX_MAX = 4, 4  # a stem that begins a misspelled word: its length, what may follow


def _stem(language: str, word: str) -> str | None:
    tokens = [token.text for token in index.ANALYZERS[language](word)]
    return tokens[0] if tokens else None


@dataclass
class Spelling:
    """Words found as typed, and the nearest known stem for the others."""

    exact: set[str] = field(default_factory=set)
    corrections: dict[str, tuple[str, str]] = field(default_factory=dict)  # word -> (language, stem)

    def corrected(self) -> dict[str, tuple[str, str]]:
        return {word: near for word, near in self.corrections.items() if word not in self.exact}


def _most_frequent(reader, fieldname: str, terms, limit: int) -> list[str]:
    return sorted(terms, key=lambda term: -reader.doc_frequency(fieldname, term))[:limit]


def _stems_the_word_begins_with(reader, fieldname: str, word: str) -> set[str]:
    """Known stems that begin an unknown word: a typo after the stem ("operdor") stems to a word far
    from every known stem, yet begins with the right one ("oper", the stem of "operador")."""
    if len(word) < STEM_PREFIX_MIN + 1:
        return set()
    terms = (
        term.decode("utf-8") if isinstance(term, bytes) else term
        for term in reader.expand_prefix(fieldname, word[:STEM_PREFIX_MIN])
    )
    return {term for term in terms if word.startswith(term) and len(word) - len(term) <= STEM_SUFFIX_MAX}


def _word_query(reader, language: str, word: str, is_last: bool, spelling: Spelling):
    fieldname = f"text_{language}"
    stem = _stem(language, word)
    if stem is None:
        return None
    if reader.doc_frequency(fieldname, stem):
        spelling.exact.add(word)
        return Term(fieldname, stem)
    joined = JOINED_ERROR_CODE.match(word)
    if joined and reader.doc_frequency(fieldname, code := f"{joined[1]}-{joined[2]}"):
        spelling.exact.add(word)
        return Term(fieldname, code)
    alternatives: dict[str, float] = {}
    if is_last and len(word) >= 4:
        # The word may still be being typed: let "subti" find "subtítulos".
        for term in _most_frequent(reader, fieldname, reader.expand_prefix(fieldname, stem), FUZZY_ALTERNATIVES):
            alternatives[term] = PREFIX_WEIGHT
    # An unknown error code is not a typo of another code; other words of 4+ letters may be.
    if len(word) >= 4 and not ERROR_CODE.match(word):
        long_word = len(stem) >= 6
        candidates = set(reader.terms_within(fieldname, stem, 2 if long_word else 1, prefix=2 if long_word else 1))
        candidates |= _stems_the_word_begins_with(reader, fieldname, word)
        near = _most_frequent(reader, fieldname, candidates, FUZZY_ALTERNATIVES)
        if near:
            spelling.corrections.setdefault(word, (language, near[0]))
        for term in near:
            alternatives[term] = max(alternatives.get(term, 0), FUZZY_WEIGHT)
    clauses = [Term(fieldname, term, boost=weight) for term, weight in alternatives.items()]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else DefaultOr(clauses)


def _phrase_query(reader, language: str, member: tuple[str, ...], boost: float = 1.0):
    """A synonym's words, all required, or None when the index does not know one of them."""
    fieldname = f"text_{language}"
    stems = [stem for word in member if (stem := _stem(language, word)) is not None]
    if not stems or not all(reader.doc_frequency(fieldname, stem) for stem in stems):
        return None
    terms = [Term(fieldname, stem, boost=boost) for stem in dict.fromkeys(stems)]
    return terms[0] if len(terms) == 1 else And(terms)


def _concept(reader, language: str, match: synonyms.Match, typed: list, spelling: Spelling):
    """The member as typed or any of its synonyms. As typed: the phrase when the index knows all its
    words; otherwise its words (`typed`: their queries) as any words count, unless a synonym stands
    in: "se queda cargando" with "queda" unknown is not the word "cargando", it is "buffering"."""
    alternatives = [
        clause
        for other in match.others
        if (clause := _phrase_query(reader, language, other, SYNONYM_WEIGHT)) is not None
    ]
    if alternatives:
        spelling.exact.update(match.member)  # not a typo: a phrase the synonyms know
    own = _phrase_query(reader, language, match.member)
    if own is None and not alternatives and typed:
        own = _combine([typed], Breadth.EVERY_WORD)
    clauses = ([own] if own is not None else []) + alternatives
    if not clauses:
        return None
    # An article using several of them scores their sum: hence groups of true synonyms only.
    return clauses[0] if len(clauses) == 1 else DefaultOr(clauses)


def word_queries(reader, language: str, text: str, spelling: Spelling) -> list:
    """One query per searchable word of `text` in `language` (stop words drop out); the words of
    a phrase the synonyms know are one query: the phrase or any of its synonyms."""
    vocabulary = synonyms.vocabulary(language, words_of)
    words = words_of(text)
    if any(word not in vocabulary.vague for word in words):
        words = [word for word in words if word not in vocabulary.vague]
    matched = {match.start: match for match in synonyms.matches(words, vocabulary)}
    clauses, position = [], 0
    while position < len(words):
        match = matched.get(position)
        size = len(match.member) if match else 1
        typed = [
            clause
            for offset, word in enumerate(words[position : position + size])
            if (clause := _word_query(reader, language, word, position + offset == len(words) - 1, spelling))
            is not None
        ]
        if match is not None:
            clause = _concept(reader, language, match, typed, spelling)
            clauses += [clause] if clause is not None else []
        else:
            clauses += typed
        position += size
    return clauses


def _distinctive(reader, clauses: list) -> list:
    """The clauses without words found in most articles: they barely change the ranking of an
    "any of the words" search, yet scoring them costs the most."""
    limit = COMMON_WORD_SHARE * max(1, reader.doc_count())
    kept = [clause for clause in clauses if clause.estimate_size(reader) <= limit]
    return kept or clauses


def _combine(per_language: list[list], breadth: Breadth, reader=None):
    """Each language's clauses as `breadth` asks (`reader` tells the distinctive ones)."""
    combined = []
    for clauses in per_language:
        if len(clauses) == 1:
            combined.append(clauses[0])
        elif breadth is Breadth.EVERY_WORD:
            combined.append(And(clauses))
        else:
            kept = _distinctive(reader, clauses) if breadth is Breadth.DISTINCTIVE_WORD else clauses
            # Scored one posting list at a time into an array: at 10,000 articles a tree of union
            # matchers spends more on stepping through each other than on scoring (bench/kb_search.py).
            combined.append(PreloadedOr(kept) if len(kept) > 1 else kept[0])
    return combined[0] if len(combined) == 1 else DefaultOr(combined)


def _ranked(searcher, reader, per_language: list[list], allowed: set[int], limit: int, per_page: int):
    """(score, stored fields) of the best `limit` articles. Articles containing every word come
    first and are cheap to find (an intersection); only when they do not fill a page does the
    search widen (`Breadth`)."""
    searched = _combine(per_language, Breadth.EVERY_WORD)
    results = searcher.search(searched, limit=limit, filter=allowed)
    if any(len(clauses) > 1 for clauses in per_language):
        for breadth in (Breadth.DISTINCTIVE_WORD, Breadth.ANY_WORD):
            if results.scored_length() >= per_page:
                break
            wider = _combine(per_language, breadth, reader)
            if wider != searched:
                searched, results = wider, searcher.search(wider, limit=limit, filter=allowed)
    # Ties in article order, whatever order the index happens to keep them in.
    return sorted(((hit.score, hit.fields()) for hit in results), key=_rank)


def _rank(found: tuple[float, dict]) -> tuple[float, int]:
    return -found[0], int(found[1]["article_id"])


def _other_language(language: str) -> str:
    return next(other for other in LANGUAGES if other != language)


def _content_words(language: str, text: str) -> list[str]:
    """The words of `text` that are not stop words in `language` ("de" and "la" are no English
    stop words, and would find English articles for any Spanish query)."""
    return [word for word in words_of(text) if _stem(language, word) is not None]


def _has_foreign_words(reader, language: str, text: str) -> bool:
    """Whether a word of `text` is unknown in `language`'s articles but known in the other's
    ("clear cache de la app")."""
    other = _other_language(language)
    for word in _content_words(language, text):
        foreign = _stem(other, word)
        known_here = reader.doc_frequency(f"text_{language}", _stem(language, word))
        if foreign and not known_here and reader.doc_frequency(f"text_{other}", foreign):
            return True
    return False


def _through_translations(opened, reader, text: str, language: str, visibilities, category, allowed, limit, per_page):
    """The query searched in the other language's articles, answered with their translations in
    `language` that this reader may see, each weighted below a direct match."""
    other = _other_language(language)
    clauses = word_queries(reader, other, " ".join(_content_words(language, text)), Spelling())
    other_allowed = index.allowed_documents(opened, visibilities, [other], category) if clauses else set()
    if not other_allowed:
        return []
    searcher, found = opened.searcher, []
    for score, fields in _ranked(searcher, reader, [clauses], other_allowed, limit, per_page):
        number = (
            searcher.document_number(article_id=fields.get("translation_id") or "")
            if fields.get("translation_id")
            else None
        )
        if number is not None and number in allowed:
            found.append((score * CROSS_LANGUAGE_WEIGHT, searcher.stored_fields(number)))
    return found


def search(
    text: str,
    languages: Iterable[str],
    visibilities: Iterable[str],
    category: str | None = None,
    page: int = 1,
    per_page: int = 10,
    with_snippets: bool = True,
) -> SearchResults:
    """Ranked, visibility-filtered results for `text` (BM25F over title, tags, category and body);
    in one language, when it finds few articles or the query has the other language's words, the
    other language's articles answer too, through their translations."""
    text = normalize_query(text)
    languages = [language for language in languages if language in LANGUAGES]
    empty = SearchResults(query=text, hits=[], found=0, more=False, page=1, per_page=per_page)
    if not text or not languages:
        return empty
    opened = index.open_searcher(index.open_index())
    searcher = opened.searcher
    reader = searcher.reader()
    spelling = Spelling()
    per_language = [clauses for language in languages if (clauses := word_queries(reader, language, text, spelling))]
    allowed = index.allowed_documents(opened, visibilities, languages, category)
    if not allowed:
        # Whoosh reads an empty filter as "no filter": nothing this reader may see means no hits.
        return empty
    page = max(1, page)
    # One hit beyond the page tells whether more exist: counting every match of a common word
    # would cost more than the search itself.
    limit = page * per_page + 1
    ranked = _ranked(searcher, reader, per_language, allowed, limit, per_page) if per_language else []
    if len(languages) == 1 and (len(ranked) < CROSS_LANGUAGE_FEW or _has_foreign_words(reader, languages[0], text)):
        best: dict[str, tuple[float, dict]] = {}
        translated = _through_translations(
            opened, reader, text, languages[0], visibilities, category, allowed, limit, per_page
        )
        for score, fields in ranked + translated:
            if score > best.get(fields["article_id"], (0.0, None))[0]:
                best[fields["article_id"]] = (score, fields)
        ranked = sorted(best.values(), key=_rank)[:limit]
    if not ranked:
        return empty
    more = len(ranked) > page * per_page
    searched = _combine(per_language, Breadth.EVERY_WORD).existing_terms(reader, expand=True) if per_language else set()
    stems = {
        language: frozenset(
            term.decode("utf-8") if isinstance(term, bytes) else term
            for fieldname, term in searched
            if fieldname == f"text_{language}"
        )
        for language in LANGUAGES
    }
    page_hits = ranked[(page - 1) * per_page : page * per_page]
    hits = [
        SearchHit(
            article_id=int(fields["article_id"]),
            slug=fields["slug"],
            language=fields["language"],
            category=fields["category"],
            title=fields["title"],
            score=float(score),
            snippet=snippets.snippet(fields.get(f"body_{fields['language']}", ""), stems[fields["language"]])
            if with_snippets
            else "",
        )
        for score, fields in page_hits
    ]
    corrections = {
        word: snippets.surface_word([fields for _score, fields in page_hits[:3]], language, stem)
        for word, (language, stem) in spelling.corrected().items()
    }
    suggestion = None
    if corrections:
        suggestion = " ".join(corrections.get(word, word) for word in words_of(text))
    return SearchResults(
        query=text,
        hits=hits,
        found=min(len(ranked), page * per_page),
        more=more,
        page=page,
        per_page=per_page,
        suggestion=suggestion,
        corrected_words=corrections,
    )


def related(article_id: int, language: str, category: str, tags: Iterable[str], visibilities, limit: int = 5):
    """Live articles of the same language sharing tags (first) or the category with an article."""
    opened = index.open_searcher(index.open_index())
    clauses = [Term("tags", tag.lower(), boost=2.0) for tag in tags] + [Term("category", category)]
    allowed = index.allowed_documents(opened, visibilities, [language], None)
    if not allowed:
        return []
    results = opened.searcher.search(
        DefaultOr(clauses), limit=limit, filter=allowed, mask=Term("article_id", str(article_id))
    )
    return [
        SearchHit(int(hit["article_id"]), hit["slug"], hit["language"], hit["category"], hit["title"], hit.score, "")
        for hit in results
    ]
