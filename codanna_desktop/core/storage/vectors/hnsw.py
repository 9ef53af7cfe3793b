"""The embedded vector store: one hnswlib index in one file, saved atomically.

Chunk ids are used directly as hnswlib labels. Deleted vectors are only marked deleted;
their slots are reused by later inserts (`replace_deleted`), and the index is rebuilt
from its live vectors when too many slots are dead. A save writes a temporary file,
checks its size against what hnswlib meant to write (hnswlib does not report a full disk),
fsyncs it, records its size and checksum (see verified_file.py) and renames it over the
old one, so a crash or a full disk at any point leaves either the old or the new index
on disk, never half of one. A file is verified before hnswlib reads it: a writer that
finds its file damaged or missing starts empty and says why in `rebuild_reason`, so the
caller refills it (the embedding cache holds every vector).

One lock guards the index: the indexer writes from a worker thread while the UI searches.
Another process may open the same file read-only (a CLI search while the app indexes)
and pick up new saves with `reload_if_changed()`.
"""

from __future__ import annotations

import logging
import math
import os
import struct
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import hnswlib
import numpy as np

from codanna_desktop.core.errors import IndexLockedError, VectorStoreUnavailableError
from codanna_desktop.core.storage import verified_file
from codanna_desktop.core.storage.verified_file import FileDigest, UnverifiedFileError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from codanna_desktop.core.storage.vectors.store import VectorFilter, VectorMeta

log = logging.getLogger(__name__)

# A filtered search over at most this many allowed vectors is answered exactly with numpy:
# it is as fast as the graph search and never comes back short.
EXACT_SEARCH_LIMIT = 4096
# Rebuild when more than this share of the slots hold deleted vectors (and enough do).
COMPACT_RATIO = 0.3
COMPACT_MIN_DELETED = 1000
# Vectors fetched from the index per get_items call (bounds memory for big indexes).
FETCH_BATCH = 8192

_HEADER = struct.Struct("<6Q")  # hnswlib's file header starts with six size_t fields


def dim_in_file(path: Path | str) -> int:
    """The vector dimension an hnswlib index file was written with (from its header)."""
    with open(path, "rb") as fh:
        header = fh.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise UnverifiedFileError("truncated")
    _offset0, _max, _count, _per_element, label_offset, offset_data = _HEADER.unpack(header)
    return (label_offset - offset_data) // 4  # float32 components


def file_problem(path: Path) -> str | None:
    """Why the index file at `path` cannot be used as saved (missing, damaged, without a
    checksum); None if it is intact or was never saved. Reads the file, not the model."""
    return verified_file.problem(path)


class HnswStore:
    """hnswlib-backed VectorStore (see vector_store.py). `meta` is not kept: this store
    filters only by `VectorFilter.allowed_ids`, which the catalog computes."""

    def __init__(
        self,
        path: Path,
        dim: int,
        *,
        space: str = "cosine",
        ef_construction: int = 200,
        M: int = 16,
        ef_search: int = 100,
        initial_capacity: int = 1024,
        readonly: bool = False,
    ) -> None:
        if space not in ("cosine", "ip", "l2"):
            raise ValueError(f"unknown hnswlib space {space!r}")
        self.path = Path(path)
        self.dim = dim
        self.space = space
        self.ef_construction = ef_construction
        self.M = M
        self.ef_search = ef_search
        self.initial_capacity = max(1, initial_capacity)
        self.readonly = readonly
        self._lock = threading.RLock()
        self._dirty = False
        self._closed = False
        self._file_signature: tuple[int, int, int] | None = None
        self._saved: FileDigest | None = None  # what the file on disk holds, as verified
        # Why a writer found its file unusable and started empty (the caller refills it).
        self.rebuild_reason: str | None = None
        self._live: set[int] = set()
        self._index = self._new_index(self.initial_capacity)
        if not readonly:
            self._remove_stale_temporaries()
        try:
            self._load()
        except FileNotFoundError:
            pass  # never saved: an empty index
        except UnverifiedFileError as exc:
            if readonly:
                raise VectorStoreUnavailableError(_unusable_message(self.path, exc.reason)) from exc
            log.warning("vector index %s is %s; starting it empty", self.path, exc.reason)
            verified_file.remove_with_sidecar(self.path)
            self.rebuild_reason = exc.reason

    @classmethod
    def open_readonly(
        cls, path: Path, dim: int, *, space: str = "cosine", ef_search: int = 100
    ) -> HnswStore:
        """Open for searching only, beside a writer in another process. A missing file
        is an empty index until the writer's first save (see `reload_if_changed`)."""
        return cls(path, dim, space=space, ef_search=ef_search, readonly=True)

    # --- the VectorStore interface -------------------------------------------------------

    def upsert(self, ids: Sequence[int], vectors: np.ndarray, meta: Sequence[VectorMeta]) -> None:
        labels, data = self._validated(ids, vectors)
        if len(labels) == 0:
            return
        with self._lock:
            self._require_writable()
            existing: list[int] = []
            new: list[int] = []
            for row, label in enumerate(labels.tolist()):
                if label in self._live or self._undelete(label):
                    existing.append(row)
                else:
                    new.append(row)
            if existing:
                # A label already in the index is updated in place; with replace_deleted it
                # would take a free slot and leave its old vector live under the same label.
                self._index.add_items(data[existing], labels[existing], replace_deleted=False)
            if new:
                self._reserve(len(new))
                self._index.add_items(data[new], labels[new], replace_deleted=True)
            self._live.update(labels.tolist())
            self._dirty = True

    def delete(self, ids: Sequence[int]) -> None:
        with self._lock:
            self._require_writable()
            for label in {int(i) for i in ids}:
                if label in self._live:
                    self._index.mark_deleted(label)
                    self._live.discard(label)
                    self._dirty = True

    def search(
        self, vector: np.ndarray, k: int, flt: VectorFilter | None = None
    ) -> list[tuple[int, float]]:
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != self.dim:
            raise ValueError(f"query has {query.shape[0]} dimensions, the index {self.dim}")
        with self._lock:
            self._require_open()
            if k <= 0 or not self._live:
                return []
            if flt is None or flt.allowed_ids is None:
                return self._graph_search(query, min(k, len(self._live)), None)
            allowed = self._live & flt.allowed_ids
            if not allowed:
                return []
            k = min(k, len(allowed))
            # A selective filter starves the graph search (it finds fewer than k allowed
            # vectors within ef and fails); a small allowed set is cheaper to scan exactly.
            if len(allowed) <= EXACT_SEARCH_LIMIT or len(allowed) * 10 < len(self._live):
                return self._exact_search(query, k, allowed)
            return self._graph_search(query, k, allowed)

    def vectors_of(self, ids: Sequence[int]) -> np.ndarray:
        labels = [int(i) for i in ids]
        with self._lock:
            self._require_open()
            unknown = [label for label in labels if label not in self._live]
            if unknown:
                raise KeyError(f"no vector for chunk {unknown[0]}")
            if not labels:
                return np.zeros((0, self.dim), dtype=np.float32)
            return np.asarray(self._index.get_items(labels), dtype=np.float32)

    def ids(self) -> set[int]:
        with self._lock:
            return set(self._live)

    def count(self) -> int:
        with self._lock:
            return len(self._live)

    def flush(self) -> None:
        """Save if anything changed (rebuilding first when many slots are dead)."""
        with self._lock:
            if self.readonly or self._closed:
                return
            if self._needs_compaction():
                self._rebuild()
            if self._dirty:
                self._save()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self.flush()
            finally:
                self._closed = True
                self._live = set()
                self._index = self._new_index(1)  # release the memory of the big one

    # --- beyond the interface ------------------------------------------------------------

    @property
    def deleted_count(self) -> int:
        """Slots holding deleted vectors (reused by inserts, dropped by compaction)."""
        with self._lock:
            return int(self._index.element_count) - len(self._live)

    @property
    def capacity(self) -> int:
        with self._lock:
            return int(self._index.max_elements)

    def compact(self) -> None:
        """Rebuild the index from its live vectors now, dropping every deleted slot."""
        with self._lock:
            self._require_writable()
            self._rebuild()

    def reload_if_changed(self) -> bool:
        """Read-only stores: load the file again if a writer saved since; True if reloaded."""
        with self._lock:
            if not self.readonly or self._closed:
                return False
            try:
                signature = self._signature()
            except FileNotFoundError:
                return False
            if signature == self._file_signature:
                return False
            try:
                self._load()
            except (FileNotFoundError, UnverifiedFileError) as exc:
                # Keep searching the last good copy; the writer's next save replaces it.
                log.warning("vector index %s not reloaded: %s", self.path, exc)
                return False
            return True

    # --- internals -------------------------------------------------------------------------

    def _new_index(self, capacity: int) -> hnswlib.Index:
        index = hnswlib.Index(space=self.space, dim=self.dim)
        index.init_index(
            max_elements=capacity,
            ef_construction=self.ef_construction,
            M=self.M,
            allow_replace_deleted=True,
        )
        index.set_ef(self.ef_search)
        return index

    def _load(self) -> None:
        """Load the file as its last save wrote it. FileNotFoundError: never saved;
        UnverifiedFileError: missing, damaged or unreadable (hnswlib never saw it)."""
        with verified_file.verified(self.path) as (name, st, digest):
            found = dim_in_file(name)
            if found != self.dim:
                raise VectorStoreUnavailableError(
                    f"The vector index {self.path} holds {found}-dimensional vectors but the "
                    f"embedding model gives {self.dim}. Delete the file and reindex."
                )
            index = hnswlib.Index(space=self.space, dim=self.dim)
            try:
                index.load_index(name, max_elements=0, allow_replace_deleted=True)
            except RuntimeError as exc:
                raise UnverifiedFileError(f"unreadable ({exc})") from exc
        index.set_ef(self.ef_search)
        self._index = index
        self._live = _live_labels(index)
        self._file_signature = (st.st_ino, st.st_size, st.st_mtime_ns)
        self._saved = digest
        self._dirty = False

    def _remove_stale_temporaries(self) -> None:
        """Temporary files of saves that a crash cut short (the writer lock says no other
        process is saving now)."""
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            stale.unlink(missing_ok=True)

    def _signature(self) -> tuple[int, int, int]:
        # os.replace gives the new file a new inode even if size and mtime collide.
        st = os.stat(self.path)
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _validated(self, ids: Sequence[int], vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        labels = np.asarray(ids, dtype=np.int64).reshape(-1)
        data = np.asarray(vectors, dtype=np.float32)
        if data.ndim != 2 or data.shape != (len(labels), self.dim):
            raise ValueError(
                f"expected vectors of shape ({len(labels)}, {self.dim}), got {data.shape}"
            )
        if len(labels) and labels.min() < 0:
            raise ValueError("chunk ids must not be negative")
        # The last vector given for an id wins, as if the calls had been made one by one.
        _, first_from_end = np.unique(labels[::-1], return_index=True)
        keep = np.sort(len(labels) - 1 - first_from_end)
        return labels[keep].astype(np.uint64), np.ascontiguousarray(data[keep])

    def _undelete(self, label: int) -> bool:
        """Bring back a label marked deleted so it can be updated in place; False if the
        index does not hold it at all (never added, or its slot was reused or compacted)."""
        try:
            self._index.unmark_deleted(label)
        except RuntimeError:
            return False
        self._live.add(label)
        return True

    def _reserve(self, new_labels: int) -> None:
        """Grow the index (doubling) so `new_labels` fit after the free slots are used."""
        used = int(self._index.element_count)
        free_slots = used - len(self._live)
        needed = used + max(0, new_labels - free_slots)
        capacity = int(self._index.max_elements)
        if needed > capacity:
            self._index.resize_index(max(capacity * 2, needed))

    def _graph_search(
        self, query: np.ndarray, k: int, allowed: set[int] | None
    ) -> list[tuple[int, float]]:
        ef = max(self.ef_search, k)
        if allowed is not None:
            # Roughly enough candidates that k of them pass the filter, with headroom.
            ef = max(ef, math.ceil(2 * k * len(self._live) / len(allowed)))
        self._index.set_ef(min(ef, max(len(self._live), k)))
        try:
            found = self._index.knn_query(
                query, k=k, num_threads=1, filter=None if allowed is None else allowed.__contains__
            )
        except RuntimeError:
            # Too many deleted or filtered-out vectors near the query: answer exactly.
            return self._exact_search(query, k, allowed if allowed is not None else self._live)
        finally:
            self._index.set_ef(self.ef_search)
        labels, distances = found
        return [
            (int(label), self._score(float(d)))
            for label, d in zip(labels[0], distances[0], strict=True)
        ]

    def _exact_search(
        self, query: np.ndarray, k: int, labels: Iterable[int]
    ) -> list[tuple[int, float]]:
        norm = float(np.linalg.norm(query))
        unit = query / norm if norm > 0 else query
        best_ids = np.empty(0, dtype=np.int64)
        best_scores = np.empty(0, dtype=np.float32)
        candidates = sorted(labels)
        for start in range(0, len(candidates), FETCH_BATCH):
            batch = np.asarray(candidates[start : start + FETCH_BATCH], dtype=np.int64)
            vectors = np.asarray(self._index.get_items(batch.tolist()), dtype=np.float32)
            if self.space != "cosine":
                vectors = _normalised(vectors)
            scores = vectors @ unit
            best_ids = np.concatenate([best_ids, batch])
            best_scores = np.concatenate([best_scores, scores])
            if len(best_ids) > k:
                top = np.argpartition(-best_scores, k - 1)[:k]
                best_ids, best_scores = best_ids[top], best_scores[top]
        order = np.argsort(-best_scores, kind="stable")
        return [(int(best_ids[i]), float(best_scores[i])) for i in order[:k]]

    def _score(self, distance: float) -> float:
        # hnswlib's cosine/ip distance is 1 - dot; squared L2 of unit vectors is 2 - 2 cos.
        return 1.0 - distance / 2.0 if self.space == "l2" else 1.0 - distance

    def _needs_compaction(self) -> bool:
        deleted = int(self._index.element_count) - len(self._live)
        return deleted > COMPACT_MIN_DELETED and deleted > COMPACT_RATIO * self._index.element_count

    def _rebuild(self) -> None:
        labels = sorted(self._live)
        fresh = self._new_index(max(self.initial_capacity, len(labels)))
        for start in range(0, len(labels), FETCH_BATCH):
            batch = labels[start : start + FETCH_BATCH]
            fresh.add_items(np.asarray(self._index.get_items(batch), dtype=np.float32), batch)
        self._index = fresh
        self._dirty = True

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            self._index.save_index(tmp_name)
            expected = int(self._index.index_file_size())
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
                written = verified_file.digest_of(fh)
            if written.size != expected:
                # hnswlib does not report a failed write (a full disk): the size does.
                raise OSError(f"wrote {written.size:,} of {expected:,} bytes; is the disk full?")
            previous = [self._saved] if self._saved is not None else []
            verified_file.write_digests(self.path, [written, *previous])
            os.replace(tmp, self.path)
        except (OSError, RuntimeError) as exc:
            tmp.unlink(missing_ok=True)
            raise VectorStoreUnavailableError(
                f"Could not save the vector index {self.path} ({exc}). Free some disk space or "
                "check the folder's permissions; the previously saved index is intact."
            ) from exc
        _fsync_directory(self.path.parent)
        self._saved = written
        self._file_signature = self._signature()
        self._dirty = False
        try:
            verified_file.write_digests(self.path, [written])
        except OSError as exc:  # the sidecar written above still lists the new file
            log.warning("checksum of %s not tidied: %s", self.path, exc)

    def _require_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"the vector index {self.path} is closed")

    def _require_writable(self) -> None:
        self._require_open()
        if self.readonly:
            raise IndexLockedError(
                f"The vector index {self.path} was opened read-only (another process is "
                "indexing); close that process to change the index from here."
            )


def _unusable_message(path: Path, reason: str) -> str:
    return (
        f"The vector index {path} is {reason}. The next index run rebuilds it from the"
        " embedding cache."
    )


def _live_labels(index: hnswlib.Index) -> set[int]:
    """Labels not marked deleted. hnswlib does not list deleted labels, but get_items
    refuses them, so each batch is tried whole and only a refused batch one by one."""
    labels = [int(x) for x in index.get_ids_list()]
    live: set[int] = set()
    for start in range(0, len(labels), FETCH_BATCH):
        batch = labels[start : start + FETCH_BATCH]
        try:
            index.get_items(batch)
            live.update(batch)
            continue
        except RuntimeError:
            pass
        for label in batch:
            try:
                index.get_items([label])
                live.add(label)
            except RuntimeError:
                pass
    return live


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); Windows has no directory handles to sync."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
