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


def is_identifier_query(query: str) -> bool:
    """A name or a few keywords, rather than a sentence describing what the code does."""
    words = query.split()
    if not words:
        return False
    return len(words) <= KEYWORD_QUERY_WORDS or any(_CODE_WORD.search(w) for w in words)
