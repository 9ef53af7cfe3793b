"""Fusing lexical and semantic candidate lists into one ranking.

Each side's raw scores live on their own scale (BM25 is unbounded, cosine is in
[-1, 1]), so each side is normalised per query before mixing with the weight `alpha`
(0 = lexical only, 1 = semantic only). The default rule, min-max, maps each side's range
onto [0, 1] up to the query's best score, and the two sides start from different places:

- BM25 starts from its own zero, the score of a chunk with none of the query's words. A
  chunk's lexical part is then its share of the best match's score, whatever the weakest
  candidate fetched happened to score: the number does not depend on how many candidates
  were fetched, and the weakest real match is never scored as if it had none of the words.
- A cosine has no zero that means "unrelated" (between random chunks the models' cosines
  sit around 0.2 and 0.57), so the semantic side starts from its lowest candidate.

A candidate missing from one side gets 0 there: the searcher gives every semantic candidate
its lexical score (ranking/search.py), so on the lexical side that means a chunk with none
of the words, and on the semantic side a chunk below the side's lowest candidate. Which
rule is the default is measured, not chosen by taste (BENCHMARKS.md).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Sequence

RRF_K = 60.0


class Fused(NamedTuple):
    """A candidate's fused score and its parts. A tuple, not a frozen dataclass: a search
    makes one per candidate of each side, and a tuple is built in a third of the time."""

    chunk_id: int
    score: float
    lexical_part: float  # contribution of the lexical side to `score`
    semantic_part: float
    lexical_norm: float  # the side's normalised score in [0, 1] (0 when absent)
    semantic_norm: float


def _minmax(scores: Sequence[float]) -> list[float]:
    if not scores:
        return []
    lo, hi = min(scores), max(scores)
    if hi - lo < 1e-12:
        return [1.0] * len(scores)
    return [(s - lo) / (hi - lo) for s in scores]


def _from_zero(scores: Sequence[float]) -> list[float]:
    """Scores over the best one: min-max from a zero that means none of the query's words."""
    if not scores:
        return []
    best = max(scores)
    if best < 1e-12:
        return [1.0] * len(scores)
    return [s / best for s in scores]


def _zscore(scores: Sequence[float]) -> list[float]:
    """z-scores squashed into (0, 1) with the logistic function, so parts stay comparable."""
    if not scores:
        return []
    mean = sum(scores) / len(scores)
    var = sum((s - mean) ** 2 for s in scores) / len(scores)
    std = math.sqrt(var)
    if std < 1e-12:
        return [1.0] * len(scores)
    return [1.0 / (1.0 + math.exp(-(s - mean) / std)) for s in scores]


def _rrf(scores: Sequence[float]) -> list[float]:
    """Reciprocal rank, scaled so rank 1 is 1.0 (scores arrive best first)."""
    return [(RRF_K + 1.0) / (RRF_K + 1.0 + rank) for rank in range(len(scores))]


# Per rule, how each side is normalised (z-scores and reciprocal ranks never reach 0).
LEXICAL_NORMALISERS = {"minmax": _from_zero, "zscore": _zscore, "rrf": _rrf}
SEMANTIC_NORMALISERS = {"minmax": _minmax, "zscore": _zscore, "rrf": _rrf}


def fuse(
    lexical: Sequence[tuple[int, float]],
    semantic: Sequence[tuple[int, float]],
    alpha: float,
    rule: str = "minmax",
) -> list[Fused]:
    """All candidates of both sides, best first. Inputs are (chunk id, raw score), best first."""
    alpha = min(1.0, max(0.0, alpha))
    lexical_norms = LEXICAL_NORMALISERS[rule]([s for _, s in lexical])
    semantic_norms = SEMANTIC_NORMALISERS[rule]([s for _, s in semantic])
    lex = dict(zip((i for i, _ in lexical), lexical_norms, strict=True))
    sem = dict(zip((i for i, _ in semantic), semantic_norms, strict=True))
    fused = []
    for chunk_id in lex.keys() | sem.keys():
        ln, sn = lex.get(chunk_id, 0.0), sem.get(chunk_id, 0.0)
        lp, sp = (1.0 - alpha) * ln, alpha * sn
        fused.append(Fused(chunk_id, lp + sp, lp, sp, ln, sn))
    # Ties (common at alpha 0 or 1 for candidates from only the other side) are broken by
    # the other side's score, then by id, so the order is stable.
    fused.sort(key=lambda f: (-f.score, -(f.lexical_norm + f.semantic_norm), f.chunk_id))
    return fused
