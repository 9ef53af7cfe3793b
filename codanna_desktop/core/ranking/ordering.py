"""From fused candidates to the list a person reads: priors, one result per definition,
overlapping windows once.

- Each candidate's fused score is multiplied by its prior (priors.py): prose and
  supporting code rank below the project's code unless the query asks for them.
- A long definition is cut into windows (chunker.py), and several windows of one function
  would take several places of the top three for one answer, each opening somewhere in
  its middle. A definition is one result: at the best score of its windows, shown by its
  first window among the candidates (the one holding the signature, where the editor
  should open, whenever it is a candidate).
- Overlapping windows of any other text (a long section, a file cut into line windows)
  would show the same lines twice: the better-ranked window stands for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from pathlib import Path

    from codanna_desktop.core.ranking.fusion import Fused
    from codanna_desktop.core.storage.catalog import ChunkRow

# Kinds of chunk that are one definition however many windows it was cut into.
DEFINITION_KINDS = frozenset({"function", "method", "class"})


class Ranked(NamedTuple):
    """A result in the order shown: `row` is the chunk shown, `fused` the candidate whose
    score it carries (another window of the same definition, when that one ranked
    higher), `score` that score times the prior. (A tuple, as Fused is: one per candidate.)"""

    row: ChunkRow
    fused: Fused
    score: float
    prior: float


def _definition(row: ChunkRow) -> tuple[Path, str, str, str] | None:
    if row.symbol is None or row.kind not in DEFINITION_KINDS:
        return None
    return (row.root_path, row.rel_path, row.symbol, row.kind)


def ranked(
    fused: Sequence[Fused],
    rows: Mapping[int, ChunkRow],
    prior: Callable[[ChunkRow], float],
    keep: Callable[[Fused], bool] = lambda f: True,
) -> Iterator[Ranked]:
    """Candidates best first after priors, each definition once, overlaps once. `keep`
    says which candidates may be shown at all (at the slider's ends, one side's)."""
    scored: list[Ranked] = []
    for f in fused:
        row = rows.get(f.chunk_id)
        if row is None or not keep(f):
            continue
        p = prior(row)
        scored.append(Ranked(row, f, f.score * p, p))
    # The first window of each definition among the candidates stands for it.
    first: dict[tuple[Path, str, str, str], ChunkRow] = {}
    for r in scored:
        key = _definition(r.row)
        if key is not None and (key not in first or r.row.start_line < first[key].start_line):
            first[key] = r.row
    scored.sort(key=lambda r: (-r.score, -(r.fused.lexical_norm + r.fused.semantic_norm), r.row.id))
    done: set[tuple[Path, str, str, str]] = set()
    shown: dict[tuple[Path, str, str | None], list[tuple[int, int]]] = {}
    for r in scored:
        key = _definition(r.row)
        if key is not None:
            if key in done:
                continue
            done.add(key)
            r = Ranked(first[key], r.fused, r.score, r.prior)
        row = r.row
        spans = shown.setdefault((row.root_path, row.rel_path, row.symbol), [])
        if any(a <= row.end_line and row.start_line <= b for a, b in spans):
            continue
        spans.append((row.start_line, row.end_line))
        yield r
