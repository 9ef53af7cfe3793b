"""What the indexer and the searcher need of an embedding model, without loading one.

`Embedder` (embedder.py) is the fastembed-backed implementation. Importing fastembed takes
most of a second; the parts that only pass a model around import this protocol instead,
so a lexical search from the command line never pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np


class EmbeddingModel(Protocol):
    # Part of the embedding cache's key: two models (or two variants of one) never share it.
    model_id: str
    dim: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors of shape (len(texts), dim), in order."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """An L2-normalised float32 vector of shape (dim,)."""
        ...
