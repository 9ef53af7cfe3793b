"""How the lexical index reads text into words, in tantivy and in Python.

Code is analysed two ways and each way gets its own fields (schema.py), because tantivy's
regex tokenizer has no look-around and emits one token stream per field:

- split words (``body``, ``symbol``, ``path``) are the words of identifiers:
  ``readFileContents`` → read, file, contents; ``HTTP_TIMEOUT`` → http, timeout;
  ``HTTPConnection`` → http, connection; ``sha256`` → sha, 256;
- identifiers (``body_ident``, ``symbol_ident``) are whole identifiers, lowercased
  (``readfilecontents``, ``http_timeout``), so an exact identifier ranks the chunk that has
  it above chunks that only share its words.

The same analysis exists twice: as tantivy analyzers (indexing) and in Python (query terms,
highlighting). Their agreement is pinned by a test.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import tantivy

if TYPE_CHECKING:
    from collections.abc import Iterator

# A letter that does not start a new word: anything but an ASCII capital.
_LOWER = r"[^\W\d_A-Z]"
# Tantivy side (no look-around): runs on text where each acronym's end is marked by a
# space (HTTPConnection → "HTTP Connection"), see mark_acronym_ends.
_SPLIT_PATTERN = rf"[A-Z]?{_LOWER}+|[A-Z]+|\d+"
_IDENT_PATTERN = r"\w+"
# Python side, same tokens on the unmarked text, so offsets stay the text's own.
_SPLIT_RE = re.compile(rf"[A-Z]+(?=[A-Z]{_LOWER})|[A-Z]?{_LOWER}+|[A-Z]+|\d+")
IDENT_RE = re.compile(_IDENT_PATTERN)
_ACRONYM_END_RE = re.compile(rf"(?<=[A-Z])(?=[A-Z]{_LOWER})")
# Tokens this long (in UTF-8 bytes) or longer are dropped: hashes, base64, minified code.
_MAX_PART_BYTES = 40
_MAX_IDENT_BYTES = 80


def mark_acronym_ends(text: str) -> str:
    """`text` as the split analyzer must see it (tantivy's regex has no look-around)."""
    return _ACRONYM_END_RE.sub(" ", text)


def _analyzer(pattern: str, max_bytes: int) -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(pattern))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.remove_long(max_bytes))
        .build()
    )


SPLIT_ANALYZER = _analyzer(_SPLIT_PATTERN, _MAX_PART_BYTES)
IDENT_ANALYZER = _analyzer(_IDENT_PATTERN, _MAX_IDENT_BYTES)


def _tokens(regex: re.Pattern[str], max_bytes: int, text: str) -> Iterator[tuple[str, int, int]]:
    short = max_bytes // 4  # a character is at most 4 bytes: shorter tokens need no encoding
    for m in regex.finditer(text):
        token = m.group().lower()
        if len(token) < short or len(token.encode("utf-8", "surrogatepass")) < max_bytes:
            yield token, m.start(), m.end()


def split_tokens(text: str) -> Iterator[tuple[str, int, int]]:
    """The split words of `text` with their character offsets, as SPLIT_ANALYZER reads them."""
    return _tokens(_SPLIT_RE, _MAX_PART_BYTES, text)


def ident_tokens(text: str) -> Iterator[tuple[str, int, int]]:
    """The identifiers of `text` with their character offsets, as IDENT_ANALYZER reads them."""
    return _tokens(IDENT_RE, _MAX_IDENT_BYTES, text)


def has_terms(text: str) -> bool:
    return next(ident_tokens(text), None) is not None


def split_words(text: str) -> set[str]:
    """The words of `text` as the index splits them (``readFileContents`` → read, file,
    contents), lowercased."""
    return {token for token, _, _ in split_tokens(text)}
