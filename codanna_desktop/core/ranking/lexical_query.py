"""The lexical side's query: user text into a tantivy query, with every field's boost.

A query is read with ``tantivy.parse_query_lenient`` (so ``+must``, ``-not``, ``"a phrase"``,
``AND``/``OR`` and ``^boost`` work), but every word is searched literally: field prefixes are
not honoured (``a:b`` searches a and b), and a query the parser complains about is searched
as its plain words. Terms are OR-ed; BM25 ranks chunks with more of them higher. Each word
is searched in the fields of both analyses (core/storage/lexical/analysis.py), boosted per
field; a lookup (query_shape) also scores the names a chunk defines.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import tantivy

from codanna_desktop.core.ranking.query_shape import is_identifier_query
from codanna_desktop.core.storage.lexical.analysis import (
    IDENT_RE,
    has_terms,
    ident_tokens,
    split_tokens,
)
from codanna_desktop.core.storage.lexical.schema import SCHEMA

if TYPE_CHECKING:
    from collections.abc import Iterator

# Boost per field for a query word; tuned by the benchmarks. The *_phrase entries reward
# chunks where the words of a compound query word (``read_file_contents``,
# ``HTTPConnection.request``) or of plain words typed in a row appear in order, adjacent:
# the same identifier in any casing.
# Measured (BENCHMARKS.md, tests/benchmarks/tuning.py): high boosts on single words in the
# short symbol field let one common word (read, get, copy) pull a function named just that
# above the answer of a prose query (CoSQA lexical MRR@10 0.171); with these values it is
# 0.327 and identifier lookup improves too (success@1 0.867 -> 0.877): the symbol phrase
# boost carries names typed in full.
FIELD_BOOSTS: dict[str, float] = {
    "symbol_ident": 0.5,
    "symbol": 0.25,
    "symbol_phrase": 4.0,
    "body_ident": 0.5,
    "body": 1.0,
    "body_phrase": 1.5,
    "path": 1.0,
    # Spaced forms of a name the chunk defines (`https port` for HTTPS_PORT).
    "name_phrase": 8.0,
}
# A lookup (query_shape) adds these scores to a chunk that defines the name typed (its
# Chunk.names), whatever else the chunk holds: defining a name is a fact, not a frequency,
# so a module chunk defining forty constants counts as much as a class named just that.
# name_exact is the same name in the same case: ERROR (a constant), not Error or error.
NAME_SCORES: dict[str, float] = {"name": 8.0, "name_exact": 8.0}


@dataclass(frozen=True)
class _Words:
    """Text the user typed, searched literally (with its identifiers and their words)."""

    text: str
    quoted: bool = False
    slop: int = 0
    prefix: bool = False


@dataclass(frozen=True)
class _Group:
    clauses: tuple[tuple[str, _Node], ...]  # occur is "should", "must" or "must_not"


@dataclass(frozen=True)
class _Boosted:
    node: _Node
    boost: float


_Node = _Words | _Group | _Boosted


def build_query(query: str) -> tantivy.Query | None:
    """The tantivy query for user text; None when there is nothing to search for."""
    plan = _plan(query)
    return _to_query(plan, is_identifier_query(query)) if plan is not None else None


def query_terms(query: str) -> list[str]:
    """The normalised terms the query searches for (identifiers and their words), in order."""
    return list(query_term_set(query))


@functools.lru_cache(maxsize=256)
def query_term_set(query: str) -> dict[str, None]:
    """query_terms as an ordered set, cached and shared: highlighting asks for every line
    of every result. Not to be changed by the caller."""
    plan = _plan(query)
    return dict.fromkeys(_positive_terms(plan)) if plan is not None else {}


def _plan(query: str) -> _Node | None:
    try:
        ast, errors = tantivy.parse_query_lenient(query)
        parsed = not errors and isinstance(ast, dict)
    except Exception:  # the parser is lenient, but a query must never be an error
        parsed = False
    if not parsed:
        words = tuple(("should", _Words(w)) for w in query.split() if has_terms(w))
        return _Group(words) if words else None
    return _from_ast(ast)


def _from_ast(node: dict[str, Any]) -> _Node | None:
    kind = node.get("type")
    if kind == "literal":
        phrase = str(node.get("phrase") or "")
        quoted = node.get("delimiter") == "double_quotes"
        prefix = bool(node.get("prefix")) or (not quoted and phrase.endswith("*"))
        words = _Words(phrase, quoted, int(node.get("slop") or 0), prefix)
        field = node.get("field_name")
        if field:  # not a field to us: "a:b" searches a and b
            return _group([("should", _Words(str(field))), ("should", words)])
        return words if has_terms(phrase) else None
    if kind == "bool":
        clauses = []
        for occur, child in node.get("clauses", []):
            sub = _from_ast(child)
            if sub is not None:
                clauses.append((occur or "should", sub))
        return _group(clauses)
    if kind == "boost":
        sub = _from_ast(node.get("underlying") or {})
        return _Boosted(sub, max(0.0, float(node.get("boost") or 1.0))) if sub else None
    if kind == "all":  # "*": punctuation only
        return None
    # set, range, exists and anything newer: search the words they contain.
    return _group([("should", _Words(s)) for s in _strings_in(node)])


def _group(clauses: list[tuple[str, _Node]]) -> _Node | None:
    kept = [(occur, node) for occur, node in clauses if not _empty(node)]
    if not any(occur != "must_not" for occur, _ in kept):
        return None
    return _Group(tuple(kept))


def _empty(node: _Node) -> bool:
    return isinstance(node, _Words) and not has_terms(node.text)


def _strings_in(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key != "type":
                yield from _strings_in(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _strings_in(value)


_OCCUR = {"must": tantivy.Occur.Must, "must_not": tantivy.Occur.MustNot}


def _to_query(node: _Node, lookup: bool) -> tantivy.Query | None:
    """`lookup`: the query is a name (query_shape), so the names chunks define count."""
    if isinstance(node, _Words):
        return _words_query(node, lookup)
    if isinstance(node, _Boosted):
        sub = _to_query(node.node, lookup)
        return tantivy.Query.boost_query(sub, node.boost) if sub is not None else None
    clauses = []
    for occur, child in node.clauses:
        sub = _to_query(child, lookup)
        if sub is not None:
            clauses.append((_OCCUR.get(occur, tantivy.Occur.Should), sub))
    if not any(occur != tantivy.Occur.MustNot for occur, _ in clauses):
        return None
    # Plain words typed in a row ("http connection") may name one identifier
    # (HTTPConnection, http_connection): reward chunks that have them in that order.
    plain = [
        child.text
        for occur, child in node.clauses
        if occur == "should" and isinstance(child, _Words) and not child.quoted
    ]
    if len(plain) > 1:
        clauses += [(tantivy.Occur.Should, q) for q in _phrase_bonus(" ".join(plain))]
    return tantivy.Query.boolean_query(clauses)


def _words_query(words: _Words, lookup: bool) -> tantivy.Query | None:
    Q = tantivy.Query
    idents = list(dict.fromkeys(t for t, _, _ in ident_tokens(words.text)))
    parts = [t for t, _, _ in split_tokens(words.text)]
    if not parts and not idents:
        return None
    phrase: list[str | tuple[int, str]] = list(parts)
    clauses: list[tantivy.Query] = []

    def add(query: tantivy.Query, boost_key: str) -> None:
        clauses.append(Q.boost_query(query, FIELD_BOOSTS[boost_key]))

    if words.quoted and len(parts) > 1:  # "a phrase": the words in order, nothing less
        for field in ("symbol", "body"):
            if words.prefix:
                add(Q.phrase_prefix_query(SCHEMA, field, phrase), field)
            else:
                add(Q.phrase_query(SCHEMA, field, phrase, slop=words.slop), field)
        return Q.boolean_query([(tantivy.Occur.Should, q) for q in clauses])

    for i, ident in enumerate(idents):
        prefix = words.prefix and i == len(idents) - 1
        for field in ("symbol_ident", "body_ident"):
            add(_term_or_prefix(field, ident, prefix), field)
        # A word of a sentence ("read", "copy") would pull every function named just
        # that above the answer: defined names count for lookups only.
        if lookup:
            name = _term_or_prefix("name", ident, prefix)
            clauses.append(Q.const_score_query(name, NAME_SCORES["name"]))
    if lookup and not words.prefix:
        # The words as typed, case kept: name_exact is a raw field.
        for name in dict.fromkeys(IDENT_RE.findall(words.text)):
            exact = Q.term_query(SCHEMA, "name_exact", name)
            clauses.append(Q.const_score_query(exact, NAME_SCORES["name_exact"]))
    unique_parts = list(dict.fromkeys(parts))
    for i, part in enumerate(unique_parts):
        prefix = words.prefix and i == len(unique_parts) - 1
        for field in ("symbol", "body", "path"):
            add(_term_or_prefix(field, part, prefix), field)
    clauses += _phrase_bonus(words.text)
    return Q.boolean_query([(tantivy.Occur.Should, q) for q in clauses])


def _phrase_bonus(text: str) -> list[tantivy.Query]:
    """Queries rewarding chunks where the words of `text` appear in order, adjacent."""
    phrase: list[str | tuple[int, str]] = [t for t, _, _ in split_tokens(text)]
    if len(phrase) < 2:
        return []
    return [
        tantivy.Query.boost_query(
            tantivy.Query.phrase_query(SCHEMA, field, phrase),
            FIELD_BOOSTS[f"{field.removesuffix('_split')}_phrase"],
        )
        for field in ("symbol", "body", "name_split")
    ]


def _term_or_prefix(field: str, term: str, prefix: bool) -> tantivy.Query:
    if prefix:  # terms are word characters only: nothing to escape
        return tantivy.Query.regex_query(SCHEMA, field, term + ".*")
    return tantivy.Query.term_query(SCHEMA, field, term)


def _positive_terms(node: _Node) -> Iterator[str]:
    if isinstance(node, _Words):
        yield from (t for t, _, _ in ident_tokens(node.text))
        yield from (t for t, _, _ in split_tokens(node.text))
    elif isinstance(node, _Boosted):
        yield from _positive_terms(node.node)
    else:
        for occur, child in node.clauses:
            if occur != "must_not":
                yield from _positive_terms(child)
