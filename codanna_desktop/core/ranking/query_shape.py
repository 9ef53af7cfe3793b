"""What a query looks like: a name to look up, or a sentence describing code.

Both sides of the search read it. A lookup (``urlsplit``, ``HTTPConnection.request``,
``read_file_contents``, or a few keywords such as ``make archive``) wants the definition
of that name first, so the lexical side rewards the names chunks define and the fusion
bends towards the lexical side. A sentence is left to the words and the model. The rule
is measured on both relevance benchmarks (BENCHMARKS.md).
"""

from __future__ import annotations

import re

# Queries of at most this many words are keyword lookups ("make archive", "retry upload").
KEYWORD_QUERY_WORDS = 3
# A word shaped like code: snake_case, dotted.path, camelCase, Class::member or call(.
# (A dot between digits is a number or a version, not a path.)
_CODE_WORD = re.compile(r"\w_|_\w|[A-Za-z_]\.[A-Za-z_]|[a-z][A-Z]|::|\w\(")


# Words of a sentence that say nothing about the code it describes ("how to read a file
# in python"). Search keeps them (BM25 already weighs them down, and removing them lost on
# CoSQA, BENCHMARKS.md section 3); highlighting leaves them out of a sentence's matches.
FUNCTION_WORDS = frozenset(
    {
        "how", "to", "a", "an", "the", "in", "of", "do", "does", "i", "is", "are", "can",
        "for", "with", "on", "from", "by", "and", "or", "what", "which", "way", "my", "it",
        "its", "be", "this", "that", "if", "when", "at", "as", "into", "there",
    }
)  # fmt: skip


def is_identifier_query(query: str) -> bool:
    """A name or a few keywords, rather than a sentence describing what the code does."""
    words = query.split()
    if not words:
        return False
    return len(words) <= KEYWORD_QUERY_WORDS or any(_CODE_WORD.search(w) for w in words)
