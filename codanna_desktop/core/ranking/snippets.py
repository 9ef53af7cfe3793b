"""Where a result shows the query: the character ranges of its words in a snippet.

A word is marked when the index would match it: the same word analysis
(core/storage/lexical/analysis.py) and the same terms as the lexical query.
"""

from __future__ import annotations

from codanna_desktop.core.ranking.lexical_query import query_term_set
from codanna_desktop.core.ranking.query_shape import FUNCTION_WORDS, is_identifier_query
from codanna_desktop.core.storage.lexical.analysis import IDENT_RE, split_tokens


def highlight_ranges(query: str, text: str) -> list[tuple[int, int]]:
    """Character ranges of `text` whose words match the query's terms, after the same
    normalisation as the index: merged, sorted, not overlapping."""
    terms = query_term_set(query)
    if not is_identifier_query(query):
        # In a sentence, "the", "to" and "it" match everywhere and hide the words that
        # matter; they are marked only when the sentence has nothing else.
        terms = {t: None for t in terms if t not in FUNCTION_WORDS} or terms
    if not terms:
        return []
    hits: list[tuple[int, int]] = []
    for m in IDENT_RE.finditer(text):
        word = m.group().lower()
        if word in terms:
            hits.append(m.span())
            continue
        if not any(term in word for term in terms):  # cheap test before splitting
            continue
        start = m.start()
        parts = list(split_tokens(m.group()))
        if parts and all(p in terms for p, _, _ in parts):
            hits.append(m.span())  # read_file for readFile, read_file or "read file"
        else:
            hits += [(start + a, start + b) for p, a, b in parts if p in terms]
    merged: list[tuple[int, int]] = []
    for start, end in hits:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged
