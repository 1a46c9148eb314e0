"""The "varied" knowledge base of the search benchmark and its queries, independent of the shipped
articles; typos as partners make them; a corpus's profile (how often sentences repeat, how many
words each language uses).

Varied articles are written from `kb_vocabulary.yaml` alone: Markdown of 200-600 words (symptoms,
causes, steps, sometimes a table of codes or a note) whose sentences are templates with many slots,
so very few repeat; each article has a focus (a device model, an error code of its category's
families, an operator, a programme) that half of its slots use. Queries are asked about random
articles the way partners write them: questions, error codes spelled any way, one or two words;
a fifth of them with a typo or missing accents. Seeded: every run builds the same corpus.
"""

from __future__ import annotations

import random
import re
import string
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from statistics import mean

from kb_writing import CODE_FAMILIES, WORDS, Tense, Vocabulary

LANGUAGES = ("es", "en")
WORDS_PER_ARTICLE = (200, 600)
FOCUS_SHARE = 0.5  # slots about the article's own device, code, operator…
TOPIC_SHARE = 0.65  # nouns from the article's category rather than the general pool
PLURAL_SHARE = 0.25
ADJECTIVE_SHARE = 0.2
TABLE_SHARE = 0.4
NOTE_SHARE = 0.3
BOILERPLATE_SHARE = 0.5
VISIBILITIES = {"public": 65, "partners": 30, "internal": 5}
QUERY_KINDS = {"question": 50, "code": 20, "short": 30}
SHORT_QUERIES = ("{noun}", "{noun} {adj}", "{dev}", "{op}", "{noun} {dev}", "{noun} {plat}")
CODE_QUERIES = ("{code}", "{code}", "{code} {dev}")
QUERY_FOCUS_SHARE = 0.8
LOWER_CASE_SHARE = 0.85
MISTYPED_SHARE = 0.2
ACCENTS_SHARE = 0.5  # of the mistyped queries that have an accented word
NUMBERS = (2, 3, 5, 10, 15, 20, 30, 45, 60, 90, 120)


class Misspelling(StrEnum):
    SWAP = "swap"
    DROP = "drop"
    DOUBLE = "double"
    ACCENTS = "accents"


def misspell(word: str, rng: random.Random, kind: Misspelling = Misspelling.SWAP) -> str:
    """`word` as a hurried partner types it (words under five letters stay as they are)."""
    if len(word) < 5:
        return word
    if kind is Misspelling.ACCENTS:
        return "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))
    i = rng.randrange(1, len(word) - 2)
    if kind is Misspelling.SWAP:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind is Misspelling.DROP:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


@dataclass(frozen=True)
class Focus:
    """What one article is about."""

    language: str
    category: str
    device: str
    platform: str
    code: str
    operator: str
    show: str


@cache
def slots(template: str) -> tuple[str, ...]:
    return tuple(name for _text, name, _spec, _conversion in string.Formatter().parse(template) if name)


class Draft:
    """The slots of one article's sentences; a noun phrase sets the agreement of the adjective
    that follows it."""

    focus_share = FOCUS_SHARE

    def __init__(self, vocabulary: Vocabulary, rng: random.Random, focus: Focus):
        self.v, self.writer, self.rng, self.focus = vocabulary, vocabulary.writer, rng, focus
        self.agreement = (False, False)  # feminine, plural

    def fill(self, template: str, sentence: bool = True) -> str:
        """`template` with its slots filled; a sentence starts with a capital."""
        self.agreement = (False, False)
        text = template.format(**{name: getattr(self, name)() for name in slots(template)})
        return text[0].upper() + text[1:] if sentence else text

    def _noun(self):
        pool = self.v.nouns[self.focus.category] if self.rng.random() < TOPIC_SHARE else self.v.nouns["general"]
        return pool(self.rng)

    def _phrase(self, adjective_share: float = ADJECTIVE_SHARE) -> str:
        noun, plural = self._noun(), self.rng.random() < PLURAL_SHARE
        self.agreement = (noun.feminine, plural)
        adjective = self.v.adjectives(self.rng) if self.rng.random() < adjective_share else None
        return self.writer.phrase(noun, plural, adjective)

    def _focused(self, own: str, pool) -> str:
        return own if self.rng.random() < self.focus_share else pool(self.rng)

    def obj(self) -> str:
        return self._phrase()

    obj2 = obj

    def noun(self) -> str:
        noun, plural = self._noun(), self.rng.random() < PLURAL_SHARE / 2
        self.agreement = (noun.feminine, plural)
        return noun.plural if plural else noun.singular

    def sv(self, tense: Tense = Tense.PRESENT, negative: bool = False) -> str:
        subject = self._phrase()
        return f"{subject} {self.writer.happens(self.v.happenings(self.rng), self.agreement[1], tense, negative)}"

    def sv_neg(self) -> str:
        return self.sv(negative=True)

    def sv_past(self) -> str:
        return self.sv(Tense.PAST)

    def sv_was(self) -> str:
        return self.sv(Tense.WAS)

    def sv_will(self) -> str:
        return self.sv(Tense.WILL)

    def sv_subj(self) -> str:
        return self.sv(Tense.SUBJUNCTIVE)

    def cause(self) -> str:
        subject = self._phrase(adjective_share=0)
        plural = self.agreement[1]
        if self.rng.random() < 0.6:
            return f"{subject} {self.writer.has_happened(self.v.happenings(self.rng), plural)}"
        return f"{subject} {self.writer.not_done(self.v.actions(self.rng), plural)}"

    def _action(self, form: str) -> str:
        return self.v.actions(self.rng).forms[form]

    def act(self) -> str:
        return self._action("infinitive")

    act2 = act

    def imp(self) -> str:
        return self.writer.imperative(self.v.actions(self.rng))

    def first(self) -> str:
        return self._action("first")

    def acting(self) -> str:
        return self._action("gerund")

    def done(self) -> str:
        return self._action("participle")

    def did(self) -> str:
        return self._action(Tense.PAST)

    def happens(self) -> str:
        return self.writer.happens(self.v.happenings(self.rng), self.agreement[1])

    def happening(self) -> str:
        return self.v.happenings(self.rng).forms["gerund"]

    def adj(self) -> str:
        return self.writer.agree(self.v.adjectives(self.rng), *self.agreement)

    def adv(self) -> str:
        return self.v.adverbs(self.rng)

    def when(self) -> str:
        return self.v.moments(self.rng)

    def dev(self) -> str:
        return self._focused(self.focus.device, self.v.devices)

    def dev2(self) -> str:
        return self.v.devices(self.rng)

    def plat(self) -> str:
        return self._focused(self.focus.platform, self.v.platforms)

    def code(self) -> str:
        return self.focus.code if self.rng.random() < self.focus_share else self.code2()

    def code2(self) -> str:
        return self.v.code(self.rng, self.rng.choice(CODE_FAMILIES[self.focus.category]))

    def op(self) -> str:
        return self._focused(self.focus.operator, self.v.operators)

    def show(self) -> str:
        return self._focused(self.focus.show, self.v.shows)

    def ver(self) -> str:
        return f"{self.rng.randint(4, 6)}.{self.rng.randint(0, 30)}.{self.rng.randint(0, 9)}"

    def path(self) -> str:
        menus = [self.v.menus(self.rng) for _ in range(self.rng.randint(1, 2))]
        return " > ".join([self.writer.settings, *menus])

    def num(self) -> str:
        return str(self.rng.choice(NUMBERS) if self.rng.random() < 0.5 else self.rng.randint(2, 99))

    def city(self) -> str:
        return self.v.cities(self.rng)

    def person(self) -> str:
        return self.v.people(self.rng)

    def ticket(self) -> str:
        return f"#{self.rng.randint(10000, 99999)}"


def spelled(code: str, rng: random.Random) -> str:
    """An error code the way partners type it: "EDY-4031", "edy 4031", "edy4031", "error 4031"…"""
    if match := re.fullmatch(r"([A-Z]+)-(\d+)", code):
        prefix, number = match.groups()
        return rng.choice([code, code.lower(), f"{prefix} {number}", f"{prefix}{number}".lower(), f"error {number}"])
    if code.startswith("HTTP "):
        status = code.removeprefix("HTTP ")
        return rng.choice([code, f"http {status}", f"error {status}", f"http{status}"])
    if code.startswith("DRM-"):
        return rng.choice([code, code.removeprefix("DRM-"), f"drm {code.removeprefix('DRM-').lower()}"])
    return rng.choice([code, code.lower()])


class QueryDraft(Draft):
    """A partner's query about an article: mostly its own device (in short) and code (spelled any way)."""

    focus_share = QUERY_FOCUS_SHARE

    def dev(self) -> str:
        words = self._focused(self.focus.device, self.v.devices).split()
        return " ".join(self.rng.choice([words, words[1:] if len(words) > 2 else words, words[:2]]))

    def code(self) -> str:
        return spelled(super().code(), self.rng)


def compose(draft: Draft) -> tuple[str, str]:
    """A title and a Markdown body of about 200-600 words."""
    rng, language = draft.rng, draft.focus.language
    headings, templates = WORDS["section_headings"][language], WORDS["sentences"][language]
    symptom_templates, step_templates = WORDS["symptoms"][language], WORDS["steps"][language]

    def sentences(low: int, high: int) -> str:
        return " ".join(draft.fill(rng.choice(templates)) for _ in range(rng.randint(low, high)))

    def section(kind: str, text: str) -> str:
        return f"## {rng.choice(headings[kind])}\n\n{text}"

    symptoms = "\n".join(f"- {draft.fill(rng.choice(symptom_templates))}" for _ in range(rng.randint(2, 5)))
    steps = "\n".join(f"{n}. {draft.fill(rng.choice(step_templates))}" for n in range(1, rng.randint(4, 8)))
    parts = [sentences(2, 3), section("symptoms", symptoms), section("causes", sentences(2, 4))]
    parts.append(section("steps", steps))
    if rng.random() < TABLE_SHARE:
        code, meaning = headings["codes"]
        rows = "\n".join(f"| {draft.code2()} | {draft.fill('{sv}')} |" for _ in range(rng.randint(3, 6)))
        parts.append(f"| {code} | {meaning} |\n|---|---|\n{rows}")
    if rng.random() < NOTE_SHARE:
        parts.append(f"> **{draft.focus.device}:** {draft.fill(rng.choice(templates))}")
    target = rng.randint(*WORDS_PER_ARTICLE) - 40  # the closing section's share
    if sum(len(part.split()) for part in parts) < target:
        parts.append(section("details", sentences(2, 4)))
    while sum(len(part.split()) for part in parts) < target:
        parts.append(sentences(2, 4))
    closing = sentences(1, 2)
    if rng.random() < BOILERPLATE_SHARE:
        closing += " " + rng.choice(WORDS["boilerplate"][language])
    parts.append(section("escalate", closing))
    return draft.fill(rng.choice(WORDS["titles"][language])), "\n\n".join(parts) + "\n"


def varied_article(number: int, vocabulary: Vocabulary, rng: random.Random, categories: list[str]) -> dict:
    category = rng.choice(categories)
    families = CODE_FAMILIES[category]
    focus = Focus(
        language=vocabulary.language,
        category=category,
        device=vocabulary.devices(rng),
        platform=vocabulary.platforms(rng),
        code=vocabulary.code(rng, families[0]),
        operator=vocabulary.operators(rng),
        show=vocabulary.shows(rng),
    )
    title, body = compose(Draft(vocabulary, rng, focus))
    tags = [focus.device.split()[0].lower(), f"{families[0].lower()}xxx", Draft(vocabulary, rng, focus).noun().lower()]
    return {
        "slug": f"varied-{number}",
        "language": focus.language,
        "category": category,
        "visibility": rng.choices(list(VISIBILITIES), weights=list(VISIBILITIES.values()))[0],
        "tags": tags[: rng.randint(2, 3)],
        "title": title,
        "body": body,
        "focus": focus,
    }


def mistype(queries: list[tuple[str, str]], rng: random.Random) -> None:
    """Give a fifth of `queries` one typo (swapped, dropped or doubled letter) or missing accents."""
    typable = [
        i for i, (text, _language) in enumerate(queries) if any(len(w) >= 5 and w.isalpha() for w in text.split())
    ]
    for i in rng.sample(typable, round(MISTYPED_SHARE * len(queries))):
        text, language = queries[i]
        words = text.split()
        candidates = [p for p, word in enumerate(words) if len(word) >= 5 and word.isalpha()]
        accented = [p for p in candidates if misspell(words[p], rng, Misspelling.ACCENTS) != words[p]]
        if accented and rng.random() < ACCENTS_SHARE:
            position, kind = rng.choice(accented), Misspelling.ACCENTS
        else:
            position, kind = (
                rng.choice(candidates),
                rng.choice([Misspelling.SWAP, Misspelling.DROP, Misspelling.DOUBLE]),
            )
        typed = misspell(words[position], rng, kind)
        words[position] = typed if typed != words[position] else misspell(typed, rng, Misspelling.DROP)
        queries[i] = (" ".join(words), language)


def varied_corpus(size: int, query_count: int, seed: int, categories: list[str]):
    """`size` varied articles (half in each language) and `query_count` partner queries about them."""
    rng = random.Random(seed)
    vocabularies = {language: Vocabulary(language, rng, categories) for language in LANGUAGES}
    articles = [
        varied_article(number, vocabularies[LANGUAGES[number % len(LANGUAGES)]], rng, categories)
        for number in range(size)
    ]
    queries = []
    for _ in range(query_count):
        focus = rng.choice(articles)["focus"]
        draft = QueryDraft(vocabularies[focus.language], rng, focus)
        kind = rng.choices(list(QUERY_KINDS), weights=list(QUERY_KINDS.values()))[0]
        if kind == "code":
            queries.append((draft.fill(rng.choice(CODE_QUERIES), sentence=False), focus.language))
            continue
        templates = WORDS["questions"][focus.language] if kind == "question" else SHORT_QUERIES
        text = draft.fill(rng.choice(templates), sentence=False)
        queries.append((text.lower() if rng.random() < LOWER_CASE_SHARE else text, focus.language))
    mistype(queries, rng)
    return articles, queries


_MARKUP = re.compile(r"[*`|>#]|^\s*(?:-|\d+\.)\s")


def profile(articles: list[dict]) -> dict:
    """How often sentences repeat (share of distinct ones among those of 5+ words), distinct words
    (letters only) per language, and words per article."""
    sentences, words, lengths = [], {}, []
    for article in articles:
        text = f"{article['title']}\n{article['body']}"
        lengths.append(len(article["body"].split()))
        words.setdefault(article["language"], set()).update(re.findall(r"[^\W\d_]+", text.lower()))
        for line in text.splitlines():
            for sentence in re.split(r"(?<=[.!?])\s+", _MARKUP.sub(" ", line).strip()):
                if len(sentence.split()) >= 5:
                    sentences.append(sentence)
    return {
        "distinct_sentence_share": round(len(set(sentences)) / max(1, len(sentences)), 3),
        "sentences": len(sentences),
        "distinct_words": {language: len(found) for language, found in sorted(words.items())},
        "words_per_article": round(mean(lengths)),
    }
