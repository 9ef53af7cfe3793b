"""Which n-grams a file must contain to hold a match: the candidate query of a pattern.

As in Google Code Search and Zoekt: walk the pattern's tree keeping, for each part, the
set of strings it can match when that set is small (`exact`) and a boolean query over
trigrams that every match satisfies. Concatenation multiplies exact sets; alternation
unites them and ORs the queries; an optional or starred part adds nothing. A set of
strings becomes an OR over its strings of the AND of each string's four-grams (the index
holds the grams of one to four characters; a shorter string is one gram itself).

The content index lowercases its trigrams, so a pattern's literals are lowercased too
(a superset of the case-sensitive answer; the matcher decides). Ignoring case, a few
letters have case variants that lowercase differently (``s``/``ſ``, ``σ``/``ς``, …):
such a trigram becomes an OR of its variants, so no match is lost.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from codanna_desktop.core.exact.pattern import Alt, Cat, Chars, Empty, Lit, Node, Rep

# Exact sets larger than this are turned into a query and forgotten (their strings are
# no longer combined with their neighbours').
MAX_EXACT = 64

# Letters RE2 treats as equal ignoring case whose lowercase forms differ (from RE2 itself
# over every code point): "s" matches "ſ", whose lowercase is "ſ".
_FOLD_GROUPS = (
    "s\u017f",
    "\u00b5\u03bc",
    "\u0345\u03b9\u1fbe",
    "\u03b2\u03d0",
    "\u03b5\u03f5",
    "\u03b8\u03d1",
    "\u03ba\u03f0",
    "\u03c0\u03d6",
    "\u03c1\u03f1",
    "\u03c2\u03c3",
    "\u03c6\u03d5",
    "\u0432\u1c80",
    "\u0434\u1c81",
    "\u043e\u1c82",
    "\u0441\u1c83",
    "\u0442\u1c84\u1c85",
    "\u044a\u1c86",
    "\u0463\u1c87",
    "\u1c88\ua64b",
    "\u1e61\u1e9b",
)
_FOLD_VARIANTS = {c: group for group in _FOLD_GROUPS for c in group}


@dataclass(frozen=True)
class Gram:
    text: str


@dataclass(frozen=True)
class And:
    items: tuple[Query, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Query, ...]


class _All:
    """Every file (no trigram is required)."""

    def __repr__(self) -> str:
        return "ALL"


ALL = _All()
Query = Gram | And | Or | _All


def _and(items: list[Query]) -> Query:
    flat: list[Query] = []
    for q in items:
        if q is ALL:
            continue
        flat.extend(q.items if isinstance(q, And) else (q,))
    unique = list(dict.fromkeys(flat))
    if not unique:
        return ALL
    return unique[0] if len(unique) == 1 else And(tuple(unique))


def _or(items: list[Query]) -> Query:
    flat: list[Query] = []
    for q in items:
        if q is ALL:
            return ALL
        flat.extend(q.items if isinstance(q, Or) else (q,))
    unique = list(dict.fromkeys(flat))
    if not unique:
        return ALL
    return unique[0] if len(unique) == 1 else Or(tuple(unique))


@dataclass(frozen=True)
class _Info:
    exact: frozenset[str] | None
    query: Query
    fold: bool = False


def required_query(tree: Node, *, fold: bool) -> Query:
    """The trigram query every file with a match satisfies; ALL when none can be told."""
    info = _info(tree, fold)
    return _and([info.query, _exact_query(info.exact, fold)])


def _info(node: Node, fold: bool) -> _Info:
    if isinstance(node, Lit):
        return _Info(_lowered({node.char}), ALL)
    if isinstance(node, Chars):
        return _Info(None if node.chars is None else _lowered(node.chars), ALL)
    if isinstance(node, Empty):
        return _Info(frozenset({""}), ALL)
    if isinstance(node, Alt):
        parts = [_info(item, fold) for item in node.items]
        if all(p.exact is not None for p in parts):
            union = frozenset().union(*(p.exact for p in parts if p.exact is not None))
            if len(union) <= MAX_EXACT:
                return _Info(union, _or([p.query for p in parts]))
        return _Info(None, _or([_and([p.query, _exact_query(p.exact, fold)]) for p in parts]))
    if isinstance(node, Rep):
        inner = _info(node.item, fold)
        if node.min == 0:
            if node.max == 1 and inner.exact is not None:
                return _Info(inner.exact | {""}, ALL)
            return _Info(None, ALL)
        if inner.exact is not None and node.max == node.min and node.min <= 4:
            product = _product([inner.exact] * node.min)
            if product is not None:
                return _Info(product, inner.query)
        return _Info(None, _and([inner.query, _exact_query(inner.exact, fold)]))
    return _concat(node, fold)


def _concat(node: Cat, fold: bool) -> _Info:
    queries: list[Query] = []
    run: frozenset[str] | None = frozenset({""})
    whole_exact = True
    for item in node.items:
        info = _info(item, fold)
        queries.append(info.query)
        if info.exact is None:
            whole_exact = False
            queries.append(_exact_query(run, fold))
            run = frozenset({""})
            continue
        product = _product([run or frozenset({""}), info.exact])
        if product is None:
            whole_exact = False
            queries.append(_exact_query(run, fold))
            run = info.exact
        else:
            run = product
    if whole_exact:
        return _Info(run, _and(queries))
    queries.append(_exact_query(run, fold))
    return _Info(None, _and(queries))


def _lowered(chars: frozenset[str] | set[str]) -> frozenset[str] | None:
    """Lowercase characters, or None for one whose lowercase is longer ("İ" is "i̇"):
    the index lowercases three characters at a time, so its trigrams are not this one's."""
    out = frozenset(c.lower() for c in chars)
    return out if all(len(c) == 1 for c in out) else None


def _product(sets: list[frozenset[str]]) -> frozenset[str] | None:
    size = 1
    for s in sets:
        size *= len(s)
    if size > MAX_EXACT:
        return None
    return frozenset("".join(parts) for parts in itertools.product(*sets))


def _exact_query(strings: frozenset[str] | None, fold: bool) -> Query:
    if strings is None:
        return ALL
    return _or([_string_query(s, fold) for s in sorted(strings)])


def _string_query(text: str, fold: bool) -> Query:
    """Every four-gram of the string (which implies its shorter grams), or the string as
    one gram when it is shorter. Not a lone ASCII character: nearly every file holds it,
    and the pattern is then said to need every text searched (a one-gram of a character
    that is not ASCII is rare: `é` is in 28 of the standard library's 2,287 files)."""
    if not text or (len(text) == 1 and text.isascii()):
        return ALL
    n = min(4, len(text))
    grams = [text[i : i + n] for i in range(len(text) - n + 1)]
    return _and([_gram_query(g, fold) for g in grams])


def _gram_query(gram: str, fold: bool) -> Query:
    # An upper-case sigma lowercases to "ς" or "σ" by its neighbours in the index's
    # trigram, so "σ" stands for both even when case matters.
    variants = [_FOLD_VARIANTS.get(c, c) if fold or c == "\u03c3" else c for c in gram]
    options = {"".join(v).lower() for v in itertools.product(*variants)}
    return _or([Gram(g) for g in sorted(options)])


def describe(query: Query) -> str:
    """The query as text, for notes and tests: `abc & (def | ghi)`."""
    if query is ALL:
        return "ALL"
    if isinstance(query, Gram):
        return repr(query.text)
    if isinstance(query, And):
        return " & ".join(_paren(q) for q in query.items)
    assert isinstance(query, Or)
    return " | ".join(_paren(q) for q in query.items)


def _paren(query: Query) -> str:
    text = describe(query)
    return f"({text})" if isinstance(query, And | Or) else text
