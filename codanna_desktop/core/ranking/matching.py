"""What a result has of the query: the name, the text as typed, every word, or none.

A search tool that shows a merely similar chunk as if it were the answer is confidently
wrong. Each result says how it matches, and a lookup (a name, a few keywords) that no
chunk matches says so before anything merely similar.
"""

from __future__ import annotations

import functools
from enum import StrEnum

from codanna_desktop.core.ranking.query_shape import FUNCTION_WORDS, is_identifier_query
from codanna_desktop.core.storage.lexical.analysis import split_tokens, split_words


class Match(StrEnum):
    NAME = "name"  # the chunk defines the name typed
    EXACT = "exact"  # the chunk contains the query as typed (case aside)
    WORDS = "words"  # the chunk contains every word of the query
    SIMILAR = "similar"  # none of those: found by meaning, or by some of the words

    @property
    def contains_query(self) -> bool:
        return self is not Match.SIMILAR

    def label(self) -> str:
        """How a result shows it."""
        return {
            Match.NAME: "defines it",
            Match.EXACT: "exact match",
            Match.WORDS: "all words",
            Match.SIMILAR: "similar",
        }[self]


def match_of(query: str, text: str, symbol: str | None) -> Match:
    typed = query.strip()
    if not typed:
        return Match.SIMILAR
    lowered = typed.lower()
    if symbol and (symbol.lower() == lowered or symbol.lower().endswith("." + lowered)):
        return Match.NAME
    text_lowered = text.lower()
    if lowered in text_lowered:
        return Match.EXACT
    words = split_words(typed)
    if len(typed.split()) > 1 or not is_identifier_query(typed):
        words = {w for w in words if w not in FUNCTION_WORDS} or words
    if not words or (text.isascii() and any(w not in text_lowered for w in words)):
        # Each of the text's words is a piece of it lowercased, so a word missing from the
        # lowercased text is none of them: no need to split a chunk of up to 4,000
        # characters. (ASCII only: Unicode lowercases some letters by their context.)
        return Match.SIMILAR
    missing = set(words)
    for token, _, _ in split_tokens(text):  # until every word is found, not the whole chunk
        missing.discard(token)
        if not missing:
            return Match.WORDS
    return Match.SIMILAR


def spells_a_name(query: str, symbol: str | None) -> bool:
    """The query is the definition's name written out as words, in order ("zone info not
    found error" for ``ZoneInfoNotFoundError``, "ordered dict items view" for
    ``OrderedDict._ItemsView``'s last part): a lookup, though it reads like a sentence."""
    if not symbol:
        return False
    wanted = _word_list(query)
    return bool(wanted) and wanted == _word_list(symbol.rsplit(".", 1)[-1])


@functools.lru_cache(maxsize=1024)
def _word_list(text: str) -> tuple[str, ...]:
    """The split words of `text`, in order. Cached: a search asks it of one query and of
    each of some hundred candidates' names, which the next searches mostly share."""
    return tuple(token for token, _, _ in split_tokens(text))


def is_lookup(query: str) -> bool:
    """A name or a few keywords: something a chunk either contains or does not."""
    return is_identifier_query(query.strip())
