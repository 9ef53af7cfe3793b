"""The engine: one object that owns the catalog, the stores, the model and the indexer.

The CLI and the desktop app are two faces on it. A writing engine holds the data
directory's writer lock; a read-only engine (``writer=False``) searches beside a writer
in another process and sees its commits.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from codanna_desktop.core.catalog import Catalog, RootRow
from codanna_desktop.core.chunker import Chunker
from codanna_desktop.core.embedder import load_embedder
from codanna_desktop.core.embedding_model import EmbeddingModel
from codanna_desktop.core.errors import (
    CodannaError,
    IndexLockedError,
    RootNotFoundError,
    VectorStoreUnavailableError,
)
from codanna_desktop.core.filters import SearchFilters
from codanna_desktop.core.hnsw_store import HnswStore
from codanna_desktop.core.indexer import Indexer, IndexReport, Progress, ProgressCallback
from codanna_desktop.core.lexical import LexicalIndex
from codanna_desktop.core.roots import owning_root
from codanna_desktop.core.scanner import Scanner
from codanna_desktop.core.search import HybridSearcher, SearchSession
from codanna_desktop.core.settings import (
    DEFAULT_MODEL,
    DEFAULT_SECOND_MODEL,
    AppPaths,
    Settings,
    load_settings,
    redact_url,
)
from codanna_desktop.core.vector_store import VectorStore
from codanna_desktop.core.watcher import ChangeSet
from codanna_desktop.core.writer_lock import WriterLock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RootStatus:
    root: RootRow
    files: int
    skipped: int
    chunks: int
    embedded: int
    skip_counts: dict[str, int]


@dataclass(frozen=True)
class EngineStatus:
    roots: list[RootStatus]
    files: int
    chunks: int
    embedded: int
    skipped: int
    model: str
    model_problem: str | None
    vector_store: str
    vector_problem: str | None
    data_dir: Path
    skip_counts: dict[str, int] = field(default_factory=dict)

    @property
    def embedded_fraction(self) -> float:
        return self.embedded / self.chunks if self.chunks else 1.0


def _slug(text: str) -> str:
    short = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:48]
    return f"{short}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


# Settings that decide which files are indexed; they apply without a new engine.
FILE_RULE_FIELDS = ("excluded_dirs", "ignore_patterns", "max_file_size")


class Engine:
    def __init__(
        self,
        paths: AppPaths | None = None,
        settings: Settings | None = None,
        *,
        writer: bool = True,
        embedder: EmbeddingModel | None = None,
        wait_for_lock: float = 0.0,
    ) -> None:
        self.paths = paths or AppPaths.default()
        self.settings = settings or load_settings(self.paths)
        self.writer = writer
        self.paths.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = WriterLock(self.paths.data_dir) if writer else None
        if self._lock is not None:
            self._lock.acquire(wait_for_lock)
        self._model_lock = threading.Lock()
        self._embedder: EmbeddingModel | None = embedder
        self._model_problem: str | None = None
        self._model_tried = embedder is not None
        self._vectors: VectorStore | None = None
        self._vector_problem: str | None = None
        try:
            self.catalog = Catalog(self.paths.data_dir / "catalog.sqlite", readonly=not writer)
            self.lexical = LexicalIndex(self.paths.data_dir / "lexical", writable=writer)
        except BaseException:
            self._release_lock()
            raise
        self.scanner = Scanner.from_settings(self.settings)
        self.chunker = Chunker()
        self.indexer = Indexer(
            self.catalog,
            self.lexical,
            self.scanner,
            self.chunker,
            self._get_vectors,
            self._get_embedder,
            embed_batch_size=self.settings.embed_batch_size,
        )
        self.searcher = HybridSearcher(
            self.catalog,
            self.lexical,
            self._get_vectors,
            self._get_embedder,
            fusion=self.settings.fusion,
            candidates_per_side=self.settings.candidates_per_side,
            semantic_problem=lambda: self._model_problem or self._vector_problem,
        )
        if writer:
            self._recover()

    # -- lifecycle ------------------------------------------------------------------

    def _recover(self) -> None:
        # "open" stays 1 while a writer runs; finding it set means the last one crashed.
        unclean = self.catalog.get_meta("writer_open") == "1"
        self.catalog.set_meta("writer_open", "1")
        if getattr(self.lexical, "recreated", False):
            # The lexical index was lost or corrupt: every file is indexed again.
            self.catalog.delete_files(
                [
                    f.id
                    for r in self.catalog.roots()
                    for f in self.catalog.files_of_root(r.id).values()
                ]
            )
        rolled_back = self.indexer.recover(thorough=unclean)
        if rolled_back or unclean:
            log.info("recovered after an unclean stop (%d files rolled back)", rolled_back)

    def close(self) -> None:
        try:
            if self._vectors is not None:
                try:
                    self._vectors.flush()
                except CodannaError as exc:
                    log.warning("vectors not flushed: %s", exc)
                self._vectors.close()
            self.indexer.close()
            if self.writer:
                self.catalog.set_meta("writer_open", "0")
            self.lexical.close()
            self.catalog.close()
        finally:
            self._release_lock()

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the model and the vector store, loaded on first use -------------------------

    def _get_embedder(self) -> EmbeddingModel | None:
        with self._model_lock:
            if not self._model_tried:
                self._model_tried = True
                try:
                    self._embedder = load_embedder(self.settings, self.paths)
                except CodannaError as exc:
                    self._model_problem = str(exc)
                    log.warning("no embedding model: %s", exc)
            return self._embedder

    @property
    def model_problem(self) -> str | None:
        return self._model_problem

    def load_model(self) -> EmbeddingModel | None:
        """Load the model now (otherwise it loads on first use)."""
        return self._get_embedder()

    def _get_vectors(self) -> VectorStore | None:
        embedder = self._get_embedder()
        if embedder is None:
            return None
        with self._model_lock:
            if self._vectors is None:
                try:
                    self._vectors = self._open_vectors(embedder)
                    self._vector_problem = None
                except VectorStoreUnavailableError as exc:
                    self._vector_problem = str(exc)
                    return None
            return self._vectors

    def _open_vectors(self, embedder: EmbeddingModel) -> VectorStore:
        # One store per model id and dimension: a fused model's 768-d vectors never mix
        # with one model's 384-d ones.
        url = self.settings.effective_database_url()
        store: VectorStore
        if url:
            from codanna_desktop.core.pgvector_store import PgVectorStore

            store = PgVectorStore(url, embedder.model_id, embedder.dim, self.catalog.catalog_id)
            where = f"pgvector:{redact_url(url)}"
        else:
            path = self.paths.data_dir / "vectors" / f"{_slug(embedder.model_id)}.hnsw"
            path.parent.mkdir(parents=True, exist_ok=True)
            if self.writer:
                store = HnswStore(path, embedder.dim)
            else:
                store = HnswStore.open_readonly(path, embedder.dim)
            where = f"hnsw:{path.name}"
        if self.writer and self.catalog.get_meta("vector_store") != where:
            # Another model or store than last time: every chunk gets a vector there (the
            # embedding cache still answers for texts this model has embedded before).
            self.catalog.reset_all_vectors()
            self.catalog.set_meta("vector_store", where)
        return store

    @property
    def vector_store_name(self) -> str:
        url = self.settings.effective_database_url()
        return f"PostgreSQL {redact_url(url)}" if url else "embedded (hnswlib)"

    # -- roots ----------------------------------------------------------------------

    def add_root(self, path: Path | str) -> RootRow:
        folder = Path(path).expanduser().resolve()
        if not folder.is_dir():
            raise RootNotFoundError(f"{folder} is not a folder.")
        for root in self.catalog.roots():
            if root.path == folder:
                return root
        return self.catalog.add_root(folder)

    def remove_root(self, path: Path | str) -> RootRow:
        folder = Path(path).expanduser().resolve()
        root = self.catalog.root_by_path(folder) or self.catalog.root_by_path(Path(path))
        if root is None:
            raise RootNotFoundError(f"{path} is not one of the indexed folders.")
        self.indexer.remove_root(root)
        return root

    def roots(self) -> list[RootRow]:
        return self.catalog.roots()

    # -- indexing -------------------------------------------------------------------

    def index(
        self,
        roots: Sequence[RootRow] | None = None,
        *,
        full: bool = False,
        embed: bool = True,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> IndexReport:
        """Lexical pass over the roots (searchable when it returns), then embeddings."""
        report = IndexReport()
        for root in roots if roots is not None else self.catalog.roots():
            report.merge(
                self.indexer.sync_root(root, full=full, progress=progress or _quiet, cancel=cancel)
            )
        if embed:
            report.merge(self.embed_pending(progress=progress, cancel=cancel))
        return report

    def embed_pending(
        self,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        max_chunks: int | None = None,
    ) -> IndexReport:
        try:
            return self.indexer.embed_pending(
                progress=progress or _quiet, cancel=cancel, max_chunks=max_chunks
            )
        except VectorStoreUnavailableError as exc:
            self._vector_problem = str(exc)
            report = IndexReport()
            report.errors.append(str(exc))
            return report

    def apply_changes(
        self,
        changes: ChangeSet,
        *,
        progress: ProgressCallback | None = None,
        on_new_rules: Callable[[Path], None] | None = None,
    ) -> IndexReport:
        return self.indexer.apply_changes(
            changes, self.catalog.roots(), progress=progress or _quiet, on_new_rules=on_new_rules
        )

    def apply_file_rules(self, settings: Settings) -> bool:
        """Take the file rules of `settings` (skipped folders, ignore patterns, maximum
        file size) without a restart; True if they changed. The next `index()` then adds
        what they let in and drops what they leave out."""
        changed = any(
            getattr(settings, name) != getattr(self.settings, name) for name in FILE_RULE_FIELDS
        )
        if changed:
            for name in FILE_RULE_FIELDS:
                setattr(self.settings, name, getattr(settings, name))
            self.scanner.configure(self.settings)
        return changed

    def folders_with_rules_outside(self, root: Path) -> list[Path]:
        """For the watcher: folders outside the root's tree whose ignore files apply to it."""
        return self.scanner.rules_for(root).folders_with_rules_outside()

    def is_ignored(self, path: Path, is_dir: bool) -> bool:
        """For the watcher: outside every root, or ignored by its (innermost) root's rules."""
        root = owning_root(path, self.catalog.roots(), lambda r: r.path)
        if root is None:
            return True
        return self.scanner.rules_for(root.path).is_ignored(path, is_dir)

    # -- search ---------------------------------------------------------------------

    def search(self, query: str, filters: SearchFilters | None = None) -> SearchSession:
        if not self.writer:
            self.lexical.reload()
            store = self._vectors
            if store is not None and hasattr(store, "reload_if_changed"):
                store.reload_if_changed()
        return self.searcher.search(query, filters)

    # -- status ---------------------------------------------------------------------

    def status(self) -> EngineStatus:
        roots = []
        for root in self.catalog.roots():
            c = self.catalog.counts(root.id)
            roots.append(
                RootStatus(
                    root,
                    c["files"],
                    c["skipped"],
                    c["chunks"],
                    c["embedded"],
                    self.catalog.skip_counts(root.id),
                )
            )
        total = self.catalog.counts()
        model = self.settings.model_path or self.settings.model
        if model == DEFAULT_MODEL and self.settings.embedding_models == "both":
            model = f"{DEFAULT_MODEL} + {DEFAULT_SECOND_MODEL}"
        return EngineStatus(
            roots=roots,
            files=total["files"],
            chunks=total["chunks"],
            embedded=total["embedded"],
            skipped=total["skipped"],
            model=model,
            model_problem=self._model_problem,
            vector_store=self.vector_store_name,
            vector_problem=self._vector_problem,
            data_dir=self.paths.data_dir,
            skip_counts=self.catalog.skip_counts(),
        )


def _quiet(_: Progress) -> None:
    pass


__all__ = ["Engine", "EngineStatus", "IndexLockedError", "RootStatus"]
