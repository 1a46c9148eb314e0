"""What a search result shows of an article: passages around the searched words, and real words
for "did you mean" instead of stems."""

from __future__ import annotations

import html
import re

from kb.index import ANALYZERS

SNIPPET_CHARS = 240
_ACCENTED = {"a": "áàâä", "e": "éèêë", "i": "íìîï", "o": "óòôö", "u": "úùûü", "n": "ñ", "c": "ç"}


def _accent_insensitive(stem: str) -> str:
    """A regular expression for `stem` that also matches its accented spellings."""
    return "".join(f"[{ch}{_ACCENTED[ch]}]" if ch in _ACCENTED else re.escape(ch) for ch in stem)


def snippet(text: str, stems: frozenset[str]) -> str:
    """Up to two passages of `text` around the searched words, the words in <mark>, all else escaped.

    A word matches when it starts with a searched stem, which spares stemming the whole text."""
    usable = sorted((stem for stem in stems if len(stem) >= 2), key=len, reverse=True)
    matches = []
    if usable:
        pattern = re.compile(r"\b(?:" + "|".join(map(_accent_insensitive, usable)) + r")[\w-]*", re.IGNORECASE)
        matches = [match.span() for match in pattern.finditer(text)]
    if not matches:
        return html.escape(text[:SNIPPET_CHARS]) + ("…" if len(text) > SNIPPET_CHARS else "")
    passages, used_until = [], -1
    for start, _end in matches:
        if start < used_until or len(passages) == 2:
            continue
        begin = max(0, text.rfind(" ", 0, max(0, start - 60)) + 1)
        finish = min(len(text), begin + SNIPPET_CHARS // 2 + 60)
        passages.append((begin, finish))
        used_until = finish
    pieces = []
    for begin, finish in passages:
        cursor, piece = begin, []
        for start, end in matches:
            if start >= begin and end <= finish:
                piece.append(html.escape(text[cursor:start]))
                piece.append(f"<mark>{html.escape(text[start:end])}</mark>")
                cursor = end
        piece.append(html.escape(text[cursor:finish]))
        pieces.append("".join(piece).strip())
    return " … ".join(pieces)


def surface_word(hits, language: str, stem: str) -> str:
    """A real word of the results whose stem is `stem` (for "did you mean"); the stem otherwise."""
    analyzer = ANALYZERS[language]
    for hit in hits:
        if hit.get("language") != language:
            continue
        text = f"{hit.get('title', '')}\n{hit.get(f'body_{language}', '')}"
        for token in analyzer(text, chars=True, removestops=False):
            if token.text == stem:
                return text[token.startchar : token.endchar].lower()
    return stem
