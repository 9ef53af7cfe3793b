"""Batches by token count, and the default models' calls on a pool of workers."""

from __future__ import annotations

import numpy as np

from codanna_desktop.core.semantic.batch_runner import TOKEN_BUDGET, BatchRunner, plan_batches
from codanna_desktop.core.semantic.embedder import FusedEmbedder


def test_batches_hold_similar_lengths_within_the_count_and_the_token_budget() -> None:
    counts = [500, 12, 300, 40, 38, 900, 41, 260, 12, 39, 600, 13]

    batches = plan_batches(counts, max_texts=4, budget=1024)

    assert sorted(i for b in batches for i in b) == list(range(len(counts)))
    for batch in batches:
        assert len(batch) <= 4
        lengths = [counts[i] for i in batch]
        # A text over the budget goes alone; any other batch pads within the budget.
        assert len(batch) == 1 or len(batch) * max(lengths) <= 1024
    # Shortest first, so the short texts share batches and the long ones pad no short one.
    assert [counts[i] for i in batches[0]] == [12, 12, 13, 38]
    assert [counts[i] for i in batches[-1]] == [900]


def test_the_default_budget_keeps_two_texts_at_the_token_limit_together() -> None:
    assert plan_batches([512, 512, 512], max_texts=4) == [[0, 1], [2]]
    assert TOKEN_BUDGET == 1024


def test_vectors_do_not_depend_on_how_many_workers_run_the_batches(
    embedder: FusedEmbedder,
) -> None:
    texts = [f"def handler_{i}(request):\n    return respond(request, {i})\n" for i in range(9)]
    texts.append("where do we retry failed uploads " * 40)  # a long one, batched alone
    one, two = BatchRunner(1), BatchRunner(2)
    parts = embedder.parts

    serial = one.run([(p, texts) for p in parts])
    parallel = two.run([(p, texts) for p in parts])

    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
