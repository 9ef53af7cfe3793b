"""Where a result shows the query: the character ranges of its words in a snippet.

A word is marked when the index would match it: the same word analysis
(core/storage/lexical/analysis.py) and the same terms as the lexical query.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codanna_desktop.core.ranking.lexical_query import query_term_set
from codanna_desktop.core.ranking.query_shape import FUNCTION_WORDS, is_identifier_query
from codanna_desktop.core.storage.lexical.analysis import IDENT_RE, split_tokens

if TYPE_CHECKING:
    from collections.abc import Iterator


def highlight_ranges(query: str, text: str) -> list[tuple[int, int]]:
    """Character ranges of `text` whose words match the query's terms, after the same
    normalisation as the index: merged, sorted, not overlapping."""
    merged: list[tuple[int, int]] = []
    for start, end in _hits(_marked_terms(query), text):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def first_highlight(query: str, text: str) -> int | None:
    """Where highlight_ranges(query, text) would mark first, without reading further. A
    word never spans a line, so this is also in the first line that has a mark."""
    return next((start for start, _ in _hits(_marked_terms(query), text)), None)


@dataclass(frozen=True)
class _Terms:
    """The terms to mark, and a search for any of them inside a text."""

    terms: dict[str, None]  # not to be changed by the caller
    # Finds any term as a substring: one regex call where a word asked each term in turn.
    find: re.Pattern[str] | None


@functools.lru_cache(maxsize=256)
def _marked_terms(query: str) -> _Terms:
    """The terms to mark, once per query: highlighting asks for every line of every
    result."""
    terms = query_term_set(query)
    if not is_identifier_query(query):
        # In a sentence, "the", "to" and "it" match everywhere and hide the words that
        # matter; they are marked only when the sentence has nothing else.
        terms = {t: None for t in terms if t not in FUNCTION_WORDS} or terms
    find = re.compile("|".join(map(re.escape, terms))) if terms else None
    return _Terms(terms, find)


def _hits(marked: _Terms, text: str) -> Iterator[tuple[int, int]]:
    """The ranges to mark in order of their start, not yet merged."""
    terms, find = marked.terms, marked.find
    if find is None:
        return
    # Every word marked has a term in it, lowercased. In ASCII text a word lowercased is
    # that piece of the text lowercased, so the words before the first term anywhere in
    # the text are skipped unread (most of a 4,000-character chunk, often all of it).
    begin = 0
    if text.isascii():
        first = find.search(text.lower())
        if first is None:
            return
        begin = _word_start(text, first.start())
    for m in IDENT_RE.finditer(text, begin):
        word = m.group().lower()
        if word in terms:
            yield m.span()
            continue
        if find.search(word) is None:  # cheap test before splitting
            continue
        start = m.start()
        parts = list(split_tokens(m.group()))
        if parts and all(p in terms for p, _, _ in parts):
            yield m.span()  # read_file for readFile, read_file or "read file"
        else:
            yield from ((start + a, start + b) for p, a, b in parts if p in terms)


def _word_start(text: str, offset: int) -> int:
    """The start of the word (IDENT_RE's, in ASCII text) that holds `offset`, or `offset`
    itself between words."""
    while offset > 0 and (text[offset - 1].isalnum() or text[offset - 1] == "_"):
        offset -= 1
    return offset
