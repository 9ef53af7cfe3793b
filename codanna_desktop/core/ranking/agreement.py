"""Whether the default's two embedding models agree on a sentence's first results.

The default embeds every chunk with two models and stores their vectors side by side
(embedding_model.fuse_parts); a query's vector holds each model's query vector in the same
places (fuse_query). Each model's own ranking of the semantic candidates is therefore
the dot product of the query's part with the candidates' part. When both models put the
same chunks first, the ranking by meaning is as sure as it gets: on CoSQA the semantic
side's MRR@10 is 0.673 over the 67 of 500 queries whose first three the models share,
against 0.552 over all, and there the words only pulled the right answer down (0.645
fused at the default). Such a query's weight leans further towards meaning
(SearchSession.weight); BENCHMARKS.md section 15 has the measurements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

# How many first results both models must share, as a set (order within it free).
AGREEMENT_TOP = 3
# The models' rankings are compared among the first this many semantic candidates, and
# only when there are as many. Fewer and agreement says little: two rankings of 6 chunks
# share their first three by chance 1 time in 20, of 30 chunks 1 in 4,060 (a small
# folder's sentences use the slider as it is). More costs time and changes nothing: on
# every CoSQA and projects query the first 15 already gave the answer all 100 give, and
# hnswlib hands back a stored vector in about 65 µs.
AGREEMENT_MIN_CANDIDATES = 30
# A sentence the models agree on has its semantic:lexical odds multiplied by this: the
# slider's 0.8 is fused at 0.993, 0.5 at 0.973; 0 and 1 stay as they are. The mirror of
# search.IDENTIFIER_ODDS, which leans a lookup as far towards the words.
AGREEMENT_ODDS = 36.0


def models_agree(
    query: np.ndarray,
    candidates: np.ndarray,
    part_dims: Sequence[int],
    top: int = AGREEMENT_TOP,
) -> bool:
    """True when every model ranks the same `top` candidates first.

    `query` is a fused query vector (dim,), `candidates` the stored vectors of the semantic
    candidates (n, dim), `part_dims` each model's share of the dimensions, in order. One
    model, or fewer than AGREEMENT_MIN_CANDIDATES candidates, is never agreement: there
    is nothing to compare, or agreement could well be chance."""
    if len(part_dims) < 2 or candidates.ndim != 2:
        return False
    if len(candidates) < max(AGREEMENT_MIN_CANDIDATES, top + 1):
        return False
    import numpy as np  # here: a lexical search from the command line never loads it

    firsts: list[frozenset[int]] = []
    start = 0
    for dim in part_dims:
        scores = candidates[:, start : start + dim] @ query[start : start + dim]
        firsts.append(frozenset(np.argsort(-scores, kind="stable")[:top].tolist()))
        start += dim
    return all(first == firsts[0] for first in firsts[1:])
