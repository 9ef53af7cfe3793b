"""What the indexer and the searcher need of an embedding model, without loading one.

`Embedder` (embedder.py) is the fastembed-backed implementation of one model and
`FusedEmbedder` of several models giving one vector. Importing fastembed takes most of a
second; the parts that only pass a model around import this protocol instead, so a
lexical search from the command line never pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence


class EmbeddingModel(Protocol):
    # Part of the embedding cache's key: two models (or two variants of one) never share it.
    model_id: str
    dim: int

    @property
    def parts(self) -> Sequence[EmbeddingModel]:
        """The single models whose vectors `fuse_parts` joins into this model's vector
        (a single model: itself). The embedding cache keeps each part's vector."""
        ...

    @property
    def cache_ids(self) -> Sequence[str]:
        """Model ids whose cached vectors this model takes as its own, its own id first
        (an earlier file of the same model whose vectors agree within noise)."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors of shape (len(texts), dim), in order."""
        ...

    def embed_parts(self, texts_per_part: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Each part's vectors for its own texts (the embedding cache asks each part for
        what it lacks), computed together so that the parts share the cores."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """An L2-normalised float32 vector of shape (dim,)."""
        ...


def fuse_parts(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """One vector from each model's L2-normalised vector (the last axis joined): their
    concatenation divided by sqrt(n). Its norm is 1 and its dot product with another fused
    vector is exactly the mean of the models' cosines. One part is returned as it is."""
    if len(vectors) == 1:
        return np.asarray(vectors[0], dtype=np.float32)
    joined = np.concatenate([np.asarray(v, dtype=np.float32) for v in vectors], axis=-1)
    return (joined / np.float32(np.sqrt(len(vectors)))).astype(np.float32)


def fuse_query(vectors: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """A query's vector against `fuse_parts` document vectors, each model's cosine weighted:
    the models' L2-normalised vectors scaled by their weights, joined, normalised. Its dot
    product with a fused document vector is sum(w_i * cos_i) / (sqrt(n) * |w|), a constant
    of the query's times the weighted mean of the cosines, so the ranking is the weighted
    mean's; with equal weights it is exactly `fuse_parts`' mean. Only the query carries the
    weights, so the stored document vectors never change with them."""
    if len(vectors) == 1:
        return np.asarray(vectors[0], dtype=np.float32)
    pairs = zip(vectors, weights, strict=True)
    joined = np.concatenate([np.float32(w) * np.asarray(v, np.float32) for v, w in pairs], axis=-1)
    return (joined / np.linalg.norm(joined, axis=-1, keepdims=True)).astype(np.float32)
