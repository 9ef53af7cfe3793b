"""Hybrid search: lexical and semantic candidates, fused by a weight the user moves.

A query runs once: `HybridSearcher.search` gathers the top candidates of each side
(filtered on both sides before the cut) into a `SearchSession`. `SearchSession.results`
fuses them for any `alpha` without querying again; that is what the slider calls on
every move.

The weight reads the query: a name (``urlsplit``, ``HTTPConnection.request``,
``read_file_contents``) or a few keywords (``make archive``) is looked up, not described,
so for such queries the slider's weight is bent towards the lexical side (see
`query_weight`). A sentence uses the slider's weight as it is, unless the default's two
models agree on its first results: then it leans towards meaning (agreement.py).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from codanna_desktop.core.errors import (
    CodannaError,
    LexicalIndexDamagedError,
    PathFilterTooBigError,
)
from codanna_desktop.core.files.filters import SearchFilters
from codanna_desktop.core.ranking.agreement import (
    AGREEMENT_MIN_CANDIDATES,
    AGREEMENT_ODDS,
    models_agree,
)
from codanna_desktop.core.ranking.fusion import Fused, fuse
from codanna_desktop.core.ranking.lexical_query import build_query
from codanna_desktop.core.ranking.matching import Match, is_lookup, match_of, spells_a_name
from codanna_desktop.core.ranking.ordering import ranked
from codanna_desktop.core.ranking.priors import Priors
from codanna_desktop.core.ranking.query_shape import is_identifier_query
from codanna_desktop.core.ranking.scope import Scope, read_scope
from codanna_desktop.core.ranking.snippets import first_highlight, highlight_ranges
from codanna_desktop.core.storage.catalog import ChunkRow
from codanna_desktop.core.storage.vectors.store import VectorFilter

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    import tantivy

    from codanna_desktop.core.semantic.side import SemanticSide
    from codanna_desktop.core.storage.catalog import Catalog
    from codanna_desktop.core.storage.lexical.index import LexicalIndex

log = logging.getLogger(__name__)

SNIPPET_LINES = 6

# For identifier-shaped queries the slider's odds semantic:lexical are multiplied by this
# factor: at the default weight 0.8 such a query is fused at 0.1 (0.9: 0.2), while 0 and 1
# stay lexical only and semantic only. Measured on the identifier and CoSQA benchmarks
# (BENCHMARKS.md): a fixed weight cannot serve both; 1.0 turns the bend off.
IDENTIFIER_ODDS = 1 / 36


def query_weight(query: str, alpha: float, *, bend: bool = True) -> float:
    """The weight a query is fused with when the slider is at `alpha`; `bend=False` (the
    person's choice) takes the slider's weight as it is for lookups too."""
    if bend and is_identifier_query(query):
        return bent(alpha, IDENTIFIER_ODDS)
    return min(1.0, max(0.0, alpha))


def bent(alpha: float, odds_factor: float) -> float:
    """The weight whose semantic:lexical odds are `alpha`'s times `odds_factor` (0 and 1,
    one side only, stay as they are)."""
    alpha = min(1.0, max(0.0, alpha))
    if alpha in (0.0, 1.0):
        return alpha
    odds = alpha / (1.0 - alpha) * odds_factor
    return odds / (1.0 + odds)


@dataclass(frozen=True, kw_only=True)
class SearchResult(ChunkRow):
    """A chunk found: the catalog's row, the lines to show of it, and how it scored."""

    snippet: str
    snippet_start_line: int
    highlights: list[tuple[int, int]]  # character ranges in `snippet`
    match: Match  # what the chunk has of the query (the name, the text, every word)
    score: float  # fused, in [0, 1]
    lexical_part: float  # the share of `score` that comes from each side
    semantic_part: float
    # Raw BM25; None when the chunk holds none of the words (or the word index is unreadable).
    lexical_score: float | None
    semantic_score: float | None  # raw cosine similarity, None when not a semantic candidate

    @property
    def chunk_id(self) -> int:
        return self.id

    @property
    def root(self) -> Path:
        return self.root_path

    def to_json(self) -> dict[str, object]:
        return {
            "path": str(self.abs_path),
            "root": str(self.root),
            "rel_path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "symbol": self.symbol,
            "kind": self.kind,
            "language": self.language,
            "match": self.match.value,
            "snippet": self.snippet,
            "snippet_start_line": self.snippet_start_line,
            "highlights": self.highlights,
            "score": round(self.score, 6),
            "lexical_part": round(self.lexical_part, 6),
            "semantic_part": round(self.semantic_part, 6),
            "lexical_score": self.lexical_score,
            "semantic_score": self.semantic_score,
        }


@dataclass
class SearchSession:
    """The candidates of one query; results() re-fuses them for any weight."""

    query: str
    lexical: list[tuple[int, float]]
    semantic: list[tuple[int, float]]
    rows: dict[int, ChunkRow]
    fusion: str
    semantic_available: bool
    # What the person should know about this search: why the semantic side is missing,
    # what the query's own words limited it to (scope_note).
    notes: list[str] = field(default_factory=list)
    # How much of the index the semantic side covered when the query ran, if not all of
    # it. Kept apart from `notes`: the window shows the live share instead.
    coverage_note: str | None = None
    # False when the query ran at exact words only (the slider at 0): the semantic side
    # was not asked, and a weight above 0 needs the query run again with it.
    semantic_asked: bool = True
    # The folders and languages the query names, and the text searched without the words
    # that only name a folder (scope.py).
    scope: Scope | None = None

    @property
    def searched(self) -> str:
        """The text both sides searched; what results match and highlight."""
        return self.scope.text if self.scope is not None else self.query

    # The names of the folders the query named (the search was limited to them).
    scope_folders: tuple[str, ...] = ()
    # The default's two models put the same chunks first (agreement.py): a sentence then
    # leans towards meaning. Never set for a lookup, which leans towards the words.
    models_agree: bool = False

    @property
    def scope_note(self) -> str | None:
        """Says that the query's own words limited the search to folders, if they did. (A
        language named only ranks first, as docs and tests rank lower: not announced.)"""
        if not self.scope_folders:
            return None
        return f"Searched only in {', '.join(self.scope_folders)}: the query names it."

    def weight(self, alpha: float, *, bend: bool = True) -> float:
        """The weight results(alpha) fuses with: a lookup bends the slider's towards the
        words, a sentence both models agree on towards meaning, unless `bend` is off."""
        if not self.semantic_available:
            return 0.0
        if bend and self.models_agree:
            return bent(alpha, AGREEMENT_ODDS)
        return query_weight(self.searched, alpha, bend=bend)

    def weight_label(self, alpha: float, *, bend: bool = True) -> str:
        """The weight as the person should read it: "lookup: 90% words" when bent."""
        used = self.weight(alpha, bend=bend)
        words = round((1.0 - used) * 100)
        if not self.semantic_asked:
            return "exact words only"
        if not self.semantic_available:
            return "exact words only (no search by meaning)"
        if abs(used - min(1.0, max(0.0, alpha))) > 1e-9:
            # The rest is meaning: said by the slider.
            why = "models agree" if self.models_agree else "lookup"
            return f"{why}: {words}% words"
        if used <= 0.0:
            return "exact words only"
        if used >= 1.0:
            return "meaning only"
        return f"{words}% words · {100 - words}% meaning"

    @property
    def lookup(self) -> bool:
        return is_lookup(self.searched)

    @functools.cached_property
    def found_exactly(self) -> bool:
        """Some candidate has the query: for a name, the name itself (defined or as
        typed); for keywords, every word. Meaningful for lookups."""
        wanted = {Match.NAME, Match.EXACT}
        query = self.searched
        if len(query.split()) > 1:
            wanted.add(Match.WORDS)
        return any(match_of(query, r.text, r.symbol) in wanted for r in self.rows.values())

    @property
    def not_found_note(self) -> str | None:
        """What to say first when a lookup has no real match: the rest is only similar."""
        if not self.searched.strip() or not self.lookup or self.found_exactly:
            return None
        return f"No code contains “{self.searched.strip()}”; the results are only similar."

    def results(self, alpha: float, k: int = 20, *, bend: bool = True) -> list[SearchResult]:
        lexical_raw = dict(self.lexical)
        semantic_raw = dict(self.semantic)
        semantic = self.semantic if self.semantic_available else []
        alpha = self.weight(alpha, bend=bend)

        def keep(f: Fused) -> bool:
            # At the ends of the slider only that side's candidates are results.
            return not (
                (alpha <= 0.0 and f.chunk_id not in lexical_raw)
                or (alpha >= 1.0 and f.chunk_id not in semantic_raw)
            )

        query = self.searched
        out: list[SearchResult] = []
        fused = fuse(self.lexical, semantic, alpha, self.fusion)
        for r in ranked(fused, self.rows, self._prior_of, keep):
            row, f = r.row, r.fused
            snippet, first_line = _snippet(row.text, query, row.start_line)
            out.append(
                SearchResult(
                    **row.field_values(),
                    snippet=snippet,
                    snippet_start_line=first_line,
                    highlights=highlight_ranges(query, snippet),
                    match=match_of(query, row.text, row.symbol),
                    score=r.score,
                    lexical_part=f.lexical_part * r.prior,
                    semantic_part=f.semantic_part * r.prior,
                    lexical_score=lexical_raw.get(f.chunk_id),
                    semantic_score=semantic_raw.get(f.chunk_id),
                )
            )
            if len(out) >= k:
                break
        return out

    @functools.cached_property
    def priors(self) -> Priors:
        return Priors.for_query(self.searched, self.scope)

    @functools.cached_property
    def _row_priors(self) -> dict[int, float]:
        # A row's prior does not depend on the weight: read once, not on every slider move.
        return {chunk_id: self.priors.of(row) for chunk_id, row in self.rows.items()}

    def _prior_of(self, row: ChunkRow) -> float:
        return self._row_priors[row.id]


def _limited_to(
    filters: SearchFilters, scope: Scope, folders: Sequence[tuple[int, str]]
) -> tuple[SearchFilters, Scope, tuple[str, ...]]:
    """The filters with the folders the query names, as if picked in the panel, and the
    names of those folders. Folders already picked are not widened: when the query names
    none of them, it is searched inside them as typed."""
    if not scope.root_ids:
        return filters, scope, ()
    named = tuple(r for r in scope.root_ids if not filters.root_ids or r in filters.root_ids)
    if not named:
        return filters, Scope(scope.text_as_typed, languages=scope.languages), ()
    names = dict(folders)
    return replace(filters, root_ids=named), scope, tuple(names[r] for r in named)


def _names_or_quotes(query: str, rows: Iterable[ChunkRow]) -> bool:
    """Some candidate is named by the query written out as words, or holds it as typed:
    the words then say which chunk it is, whatever the models agree it means (without
    this the identifier benchmark's "spaced" form lost 2 of 100 at the default; no CoSQA
    or projects query names or quotes a candidate)."""
    typed = query.strip().lower()
    return any(spells_a_name(query, r.symbol) or typed in r.text.lower() for r in rows)


def _snippet(text: str, query: str, start_line: int) -> tuple[str, int]:
    """A few lines of the chunk, around the first line that matches the query."""
    lines = text.splitlines()
    marked = first_highlight(query, text)
    best = 0 if marked is None else _line_at(text, marked)
    first = max(0, min(best - 1, len(lines) - SNIPPET_LINES))
    return "\n".join(lines[first : first + SNIPPET_LINES]), start_line + first


def _line_at(text: str, offset: int) -> int:
    """The index in text.splitlines() of the line that holds character `offset`."""
    end = 0
    for number, line in enumerate(text.splitlines(keepends=True)):
        end += len(line)
        if offset < end:
            return number
    return 0


class HybridSearcher:
    def __init__(
        self,
        catalog: Catalog,
        lexical: LexicalIndex,
        semantic: SemanticSide,
        *,
        fusion: str = "minmax",
        candidates_per_side: int = 200,
    ) -> None:
        self.catalog = catalog
        self.lexical = lexical
        self.semantic = semantic
        self.fusion = fusion
        self.candidates_per_side = candidates_per_side

    def search(
        self, query: str, filters: SearchFilters | None = None, *, semantic: bool = True
    ) -> SearchSession:
        """`semantic=False` queries the lexical side only: no model, no vector store."""
        folders = [(r.id, r.path.name) for r in self.catalog.roots()]
        filters = (filters or SearchFilters()).read_folder_names(folders)
        filters, scope, scope_folders = _limited_to(filters, read_scope(query, folders), folders)
        typed, query = query, scope.text
        depth = self.candidates_per_side
        notes: list[str] = []
        words = build_query(query)
        lexical_readable = True
        try:
            try:
                hits = self.lexical.search(words, depth, filters)
            except PathFilterTooBigError:
                # tantivy cannot hold this glob's regex: the catalog matches it in Python,
                # as it does for the semantic side, and the words are scored among those.
                allowed = self.catalog.chunk_ids_matching(
                    filters.languages,
                    filters.root_ids,
                    filters.path_regex,
                    filters.path_exclude_regex,
                )
                hits = self.lexical.scores_of(words, allowed)[:depth]
            lexical = [(h.chunk_id, h.score) for h in hits]
        except LexicalIndexDamagedError as exc:  # semantic results, if any, still come
            lexical = []
            lexical_readable = False
            notes.append(str(exc))
        nearest: list[tuple[int, float]] = []
        semantic_available = agree = False
        coverage: str | None = None
        if semantic and query.strip():
            try:
                nearest, semantic_available, agree = self._semantic(query, filters, depth, notes)
            except CodannaError as exc:
                notes.append(f"Semantic search unavailable: {exc}")
        if semantic_available:
            coverage = self._coverage_note()
            if lexical_readable:
                lexical += self._lexical_scores_of_the_rest(words, lexical, nearest, notes)
        rows = self.catalog.chunk_rows(
            list(dict.fromkeys([i for i, _ in lexical] + [i for i, _ in nearest]))
        )
        if agree and _names_or_quotes(query, rows.values()):
            agree = False
        session = SearchSession(
            query=typed,
            lexical=[(i, s) for i, s in lexical if i in rows],
            semantic=[(i, s) for i, s in nearest if i in rows],
            rows=rows,
            fusion=self.fusion,
            semantic_available=semantic_available,
            notes=notes,
            coverage_note=coverage,
            semantic_asked=semantic,
            scope=scope,
            scope_folders=scope_folders,
            models_agree=agree,
        )
        if session.scope_note:
            session.notes.insert(0, session.scope_note)
        return session

    def _lexical_scores_of_the_rest(
        self,
        words: tantivy.Query | None,
        lexical: list[tuple[int, float]],
        nearest: list[tuple[int, float]],
        notes: list[str],
    ) -> list[tuple[int, float]]:
        """The words' score of each semantic candidate the lexical side's top did not hold.

        Without it such a candidate counts as matching none of the words (0 on that side,
        fusion.py) even when it holds most of them. Scored, every candidate is weighed on
        both sides: on CoSQA the hybrid at the default rose from 0.5566 to 0.5615 MRR@10
        (BENCHMARKS.md section 15). The semantic side needs no such step: a candidate
        outside its top is below its lowest cosine, where min-max puts it at 0 anyway."""
        found = {i for i, _ in lexical}
        rest = [i for i, _ in nearest if i not in found]
        try:
            return [(h.chunk_id, h.score) for h in self.lexical.scores_of(words, rest)]
        except LexicalIndexDamagedError as exc:  # damaged since its top was read
            notes.append(str(exc))
            return []

    def _coverage_note(self) -> str | None:
        embedded, chunks = self.catalog.coverage()
        if not chunks or embedded >= chunks:
            return None
        return (
            f"Semantic ranking covers {embedded:,} of {chunks:,} chunks"
            " so far; the running indexer (or the next `codanna-desktop index`) embeds"
            " the rest."
        )

    def _semantic(
        self, query: str, filters: SearchFilters, depth: int, notes: list[str]
    ) -> tuple[list[tuple[int, float]], bool, bool]:
        """The nearest chunks, whether there was a semantic side to ask, and whether its
        models agree on the first of them (a sentence only: a lookup is never bent so)."""
        embedder = self.semantic.model()
        store = self.semantic.store() if embedder is not None else None
        if embedder is None or store is None:
            problem = self.semantic.problem
            notes.append(f"Lexical results only: {problem or 'no embedding model is loaded'}.")
            return [], False, False
        root_keys: Sequence[str] = [
            self.catalog.root_key(r.id)
            for r in self.catalog.roots()  # kept by the catalog until it changes
            if not filters.root_ids or r.id in filters.root_ids
        ]
        allowed = None
        if filters.active:
            allowed = self.catalog.chunk_ids_matching(
                filters.languages,
                filters.root_ids,
                filters.path_regex,
                filters.path_exclude_regex,
            )
        flt = VectorFilter(
            root_keys=root_keys,
            languages=filters.languages or None,
            path_regex=filters.path_regex,
            path_exclude_regex=filters.path_exclude_regex,
            allowed_ids=allowed,
        )
        vector = embedder.embed_query(query)
        nearest = store.search(vector, depth, flt)
        parts = [part.dim for part in embedder.parts]
        if len(parts) < 2 or len(nearest) < AGREEMENT_MIN_CANDIDATES or is_identifier_query(query):
            return nearest, True, False
        try:
            candidates = store.vectors_of([i for i, _ in nearest[:AGREEMENT_MIN_CANDIDATES]])
        except KeyError:  # a writer dropped one since: no agreement to read, no harm
            return nearest, True, False
        return nearest, True, models_agree(vector, candidates, parts)
