"""One vector from two models: documents fused as the plain mean, a query's cosines weighed."""

from __future__ import annotations

import numpy as np
import pytest

from codanna_desktop.core.semantic.embedder import FusedEmbedder
from codanna_desktop.core.semantic.embedding_model import fuse_parts, fuse_query


def _unit_rows(rng: np.random.Generator, rows: int, dim: int = 384) -> np.ndarray:
    matrix = rng.standard_normal((rows, dim)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def test_a_weighted_query_ranks_documents_by_the_weighted_mean_of_the_cosines() -> None:
    rng = np.random.default_rng(3)
    docs_a, docs_b = _unit_rows(rng, 300), _unit_rows(rng, 300)
    query_a, query_b = _unit_rows(rng, 1)[0], _unit_rows(rng, 1)[0]
    documents = fuse_parts([docs_a, docs_b])

    query = fuse_query([query_a, query_b], [1 / 3, 2 / 3])

    weighted_mean = (docs_a @ query_a) / 3 + 2 * (docs_b @ query_b) / 3
    assert np.linalg.norm(query) == pytest.approx(1.0, rel=1e-5)
    constant = np.sqrt(2) * np.hypot(1 / 3, 2 / 3)
    np.testing.assert_allclose(documents @ query, weighted_mean / constant, atol=1e-6)
    assert list(np.argsort(-(documents @ query))[:20]) == list(np.argsort(-weighted_mean)[:20])
    plain_mean = (docs_a @ query_a + docs_b @ query_b) / 2
    assert list(np.argsort(-plain_mean)[:20]) != list(np.argsort(-weighted_mean)[:20])


def test_equal_weights_give_the_plain_mean_and_one_model_its_own_vector() -> None:
    rng = np.random.default_rng(4)
    docs_a, docs_b = _unit_rows(rng, 50), _unit_rows(rng, 50)
    query_a, query_b = _unit_rows(rng, 1)[0], _unit_rows(rng, 1)[0]

    query = fuse_query([query_a, query_b], [5.0, 5.0])

    np.testing.assert_allclose(query, fuse_parts([query_a, query_b]), atol=1e-7)
    plain_mean = (docs_a @ query_a + docs_b @ query_b) / 2
    np.testing.assert_allclose(fuse_parts([docs_a, docs_b]) @ query, plain_mean, atol=1e-6)
    np.testing.assert_array_equal(fuse_query([query_a], [0.3]), query_a)


@pytest.mark.parametrize("weights", [[1.0], [1.0, 0.0], [1.0, -2.0]])
def test_a_fused_model_refuses_weights_that_are_not_one_positive_per_model(
    embedder: FusedEmbedder, weights: list[float]
) -> None:
    with pytest.raises(ValueError, match="one positive weight per model"):
        FusedEmbedder(embedder.parts, query_weights=weights)
