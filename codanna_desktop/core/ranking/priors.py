"""What a result is, besides how well it matches: the project's code, prose, or code that
supports the project (tests, examples, benchmarks); in the language the query names, or
in another (scope.py).

A developer with several projects asks about what code does ("set a cookie on the
response"), and the docs, changelogs and tests of every project use the same words as the
definition, often more of them: with Flask, Express and ripgrep indexed together they held
a quarter of the top three (BENCHMARKS.md section 12). Unless the query asks for them,
such results keep only a share of their score (a prior), so they rank below code that
matches about as well and still above code that matches much worse. A query that names
docs ("readme", "changelog") or tests ("test", "example") turns its prior off. When the
query names a language, results in other languages keep a share of their score too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codanna_desktop.core.storage.lexical.analysis import split_words

if TYPE_CHECKING:
    from codanna_desktop.core.ranking.scope import Scope
    from codanna_desktop.core.storage.catalog import ChunkRow

# Languages of text written for people rather than run (what the chunker calls them).
PROSE_LANGUAGES = frozenset({"markdown", "rst", "asciidoc", "text"})
# The share of its score a prose result keeps when the query is not about docs, and a test,
# example or benchmark when the query is not about those. Tuned on BENCHMARKS.md section 12
# (success@3 with both at the same factor, every other rule on: 1.0: 0.587, 0.8: 0.696,
# 0.7: 0.717, 0.6: 0.739, 0.5: 0.761, 0.4 and 0.3: 0.761): 0.5, the mildest value of the
# plateau. CoSQA and the identifier lookups (sections 1 and 2) were run again with it.
PROSE_PRIOR = 0.5
SUPPORT_PRIOR = 0.5
# The share a result in another language than the one the query names keeps: the same
# value, not tuned (one question of section 12 names a language).
OTHER_LANGUAGE_PRIOR = 0.5

# Words of a query that ask for prose or for supporting code (as split_words gives them,
# so `test_parse_url` asks for tests too).
DOC_WORDS = frozenset(
    {"doc", "docs", "documentation", "documented", "readme", "changelog", "guide",
     "tutorial", "manual", "faq", "howto", "prose"}
)  # fmt: skip
SUPPORT_WORDS = frozenset(
    {"test", "tests", "testing", "tested", "unittest", "pytest", "spec", "specs", "example",
     "examples", "demo", "bench", "benches", "benchmark", "benchmarks", "fixture",
     "fixtures", "mock", "mocks"}
)  # fmt: skip

# Folders that hold a project's tests, examples and benchmarks, by their usual names.
SUPPORT_FOLDERS = frozenset(
    {"test", "tests", "testing", "__tests__", "spec", "specs", "testdata", "fixtures",
     "example", "examples", "bench", "benches", "benchmarks"}
)  # fmt: skip
# File stems of tests: test_x.py, x_test.go, x.test.js, x.spec.ts, x_tests.rs.
_TEST_STEM = re.compile(r"^test_|_tests?$|[._-](test|spec)$")
# A test by its name (Python's test_x and TestX classes, Go's TestX), in any part of the
# symbol (`TestParser.test_empty`).
_TEST_SYMBOL = re.compile(r"(^|\.)(test_|Test[A-Z_])")
# A test by its attribute, above the definition (Rust #[test], #[tokio::test],
# #[cfg(test)]): Rust keeps unit tests inside the file they test.
_TEST_ATTRIBUTE = re.compile(r"^\s*#\[(?:(?:\w+::)*test\b|cfg\(test\))", re.MULTILINE)
_ATTRIBUTE_LINES = 6  # where a definition's attributes can be, at the top of its chunk


def is_prose(row: ChunkRow) -> bool:
    return row.language.lower() in PROSE_LANGUAGES


def is_supporting_code(row: ChunkRow) -> bool:
    """A test, an example or a benchmark: by its folder, its file name, its name or its
    test attribute."""
    if _is_supporting_path(row.rel_path):
        return True
    # `in` first: each regex needs that text, and a search asks for a few hundred rows.
    symbol = row.symbol
    if symbol and ("test_" in symbol or "Test" in symbol) and _TEST_SYMBOL.search(symbol):
        return True
    return "#[" in row.text and bool(_TEST_ATTRIBUTE.search(_head(row.text)))


@functools.lru_cache(maxsize=8192)
def _is_supporting_path(rel_path: str) -> bool:
    """By its folder or its file name; the windows of a file and the files a folder's
    searches keep finding ask for the same path again."""
    parts = rel_path.lower().split("/")
    if any(p in SUPPORT_FOLDERS for p in parts[:-1]):
        return True
    return bool(_TEST_STEM.search(parts[-1].rsplit(".", 1)[0]))


def _head(text: str) -> str:
    """The first lines of `text`, without splitting all of it (chunks run to 4,000 chars)."""
    end = -1
    for _ in range(_ATTRIBUTE_LINES):
        end = text.find("\n", end + 1)
        if end < 0:
            return text
    return text[:end]


@dataclass(frozen=True)
class Priors:
    """The priors one query applies (read from its words once)."""

    prose: float = 1.0
    support: float = 1.0
    languages: tuple[str, ...] = ()  # the languages the query names, if any

    @staticmethod
    def for_query(query: str, scope: Scope | None = None) -> Priors:
        words = split_words(query)
        return Priors(
            prose=1.0 if words & DOC_WORDS else PROSE_PRIOR,
            support=1.0 if words & SUPPORT_WORDS else SUPPORT_PRIOR,
            languages=scope.languages if scope is not None else (),
        )

    def of(self, row: ChunkRow) -> float:
        """The share of its fused score `row` keeps."""
        share = 1.0
        language = row.language.lower()
        if language in PROSE_LANGUAGES:  # is_prose(row)
            share = self.prose
        elif is_supporting_code(row):
            share = self.support
        if self.languages and language not in self.languages:
            share *= OTHER_LANGUAGE_PRIOR
        return share
