"""The interface both vector stores implement: embedded hnswlib and PostgreSQL + pgvector.

Vectors are keyed by chunk id (the catalog's integer id). Scores are cosine similarity
(higher is better) on L2-normalised vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np


@dataclass(frozen=True)
class VectorMeta:
    """What a store may keep beside a vector so it can filter without the catalog."""

    root_key: str  # stable, globally unique id of the root (catalog uuid + root id)
    path: str  # path relative to the root
    language: str


@dataclass(frozen=True)
class VectorFilter:
    """Restricts a search. `allowed_ids` is the exact set (computed from the catalog);
    stores that can filter natively (pgvector) use the other fields instead."""

    root_keys: Sequence[str] | None = None
    languages: Sequence[str] | None = None
    path_regex: str | None = None  # POSIX/Rust-compatible regex over the relative path
    path_exclude_regex: str | None = None  # paths matching it are left out
    allowed_ids: frozenset[int] | None = None


class VectorStore(Protocol):
    dim: int
    # Set when the store found its saved data damaged or missing on opening and started
    # empty instead ("damaged (...)", "missing"): the caller refills it from the catalog.
    rebuild_reason: str | None

    def upsert(self, ids: Sequence[int], vectors: np.ndarray, meta: Sequence[VectorMeta]) -> None:
        """Add or replace vectors. `vectors` is float32 of shape (len(ids), dim)."""

    def delete(self, ids: Sequence[int]) -> None:
        """Remove vectors; unknown ids are ignored."""

    def search(
        self, vector: np.ndarray, k: int, flt: VectorFilter | None = None
    ) -> list[tuple[int, float]]:
        """The k nearest (id, cosine similarity), best first, honouring the filter."""

    def vectors_of(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of `ids`, in order, shape (len(ids), dim). Every id must be
        one the store holds (a search's answer); an unknown one raises KeyError."""

    def ids(self) -> set[int]:
        """Every id the store holds (used to reconcile with the catalog)."""

    def count(self) -> int: ...

    def flush(self) -> None:
        """Make every change so far durable."""

    def close(self) -> None: ...
