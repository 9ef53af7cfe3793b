"""Which texts share a model call, and how the calls of several models share the cores.

- A call pads every text to its longest, so texts are sorted by token count and cut into
  batches of at most ``max_texts`` texts and at most `TOKEN_BUDGET` padded tokens. The
  budget also bounds what one call allocates (attention grows with batch x length²):
  the memory peak no longer depends on how many long texts happen to meet in a batch.
  The default models take one text per call (``DEFAULT_TEXTS_PER_CALL`` in embedder.py):
  their activations are quantised per call, so a batch-mate would move a text's vector.
- The default models' sessions each run on one thread, and `BatchRunner` runs the calls
  of all models on a pool of ``workers`` threads (one per core), longest first: both
  cores stay busy until the last batch, instead of two intra-op threads per call
  spinning while they wait on each other between operators. onnxruntime sessions may be
  run from several threads at once. Measured with both default models on 150
  standard-library chunks (BENCHMARKS.md §15): the same batches took half the time this
  way (20.2 s against 40.6 s) as one call after the other on two intra-op threads each.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

# Padded tokens per call: four texts at the 256 tokens most chunks stay under, or two
# windows at 512. Two calls in flight (two workers) allocate about what one call of the
# previous pipeline did at its worst (four texts of 512 tokens).
TOKEN_BUDGET = 1024
T = TypeVar("T")


class BatchedModel(Protocol):
    dim: int
    batch_size: int

    def token_counts(self, texts: Sequence[str]) -> list[int]: ...

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray: ...


def plan_batches(
    token_counts: Sequence[int], max_texts: int, budget: int = TOKEN_BUDGET
) -> list[list[int]]:
    """Indices of the texts, in batches: shortest first, each batch within both limits
    (a text longer than the budget goes alone)."""
    batches: list[list[int]] = []
    current: list[int] = []
    for i in sorted(range(len(token_counts)), key=lambda i: token_counts[i]):
        # Sorted ascending, so the text added is the batch's longest and sets its padding.
        if current and (len(current) >= max_texts or (len(current) + 1) * token_counts[i] > budget):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


class BatchRunner:
    """Runs model calls on ``workers`` threads (1: in the caller's thread)."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool = (
            ThreadPoolExecutor(self.workers, thread_name_prefix="embed")
            if self.workers > 1
            else None
        )

    def run(self, jobs: Sequence[tuple[BatchedModel, Sequence[str]]]) -> list[np.ndarray]:
        """Each job's vectors: its model's, for its texts, in their order."""
        outputs = [np.zeros((len(texts), model.dim), dtype=np.float32) for model, texts in jobs]
        calls: list[tuple[int, int, list[int]]] = []  # (padded tokens, job, text indices)
        for job, (model, texts) in enumerate(jobs):
            counts = model.token_counts(texts)
            for batch in plan_batches(counts, model.batch_size):
                calls.append((len(batch) * max(counts[i] for i in batch), job, batch))
        # Longest first: the worker left alone at the end has only a short call to finish.
        calls.sort(key=lambda call: call[0], reverse=True)

        def call(item: tuple[int, int, list[int]]) -> None:
            _, job, batch = item
            model, texts = jobs[job]
            outputs[job][batch] = model.embed_batch([texts[i] for i in batch])

        if self._pool is None or len(calls) < 2:
            for item in calls:
                call(item)
        else:
            for future in [self._pool.submit(call, item) for item in calls]:
                future.result()  # raises what a call raised
        return outputs

    def each(self, functions: Sequence[Callable[[], T]]) -> list[T]:
        """The results of `functions`, run at once when there are workers for it."""
        if self._pool is None or len(functions) < 2:
            return [f() for f in functions]
        return [future.result() for future in [self._pool.submit(f) for f in functions]]
