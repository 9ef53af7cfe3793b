"""The engine: one object that owns the catalog, the stores, the model and the indexer.

The CLI and the desktop app are two faces on it. A writing engine holds the data
directory's writer lock; a read-only engine (``writer=False``) searches beside a writer
in another process and sees its commits.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from codanna_desktop.core.chunking.chunker import Chunker
from codanna_desktop.core.errors import (
    CatalogDamagedError,
    CodannaError,
    IndexLockedError,
    LexicalIndexDamagedError,
    RootNotFoundError,
    VectorStoreUnavailableError,
    known_error,
)
from codanna_desktop.core.exact import sync as exact_sync
from codanna_desktop.core.exact.content_index import ContentIndex
from codanna_desktop.core.exact.search import CONTENT_DIR, ExactRequest, ExactResult, ExactSearcher
from codanna_desktop.core.files.walk import Scanner
from codanna_desktop.core.indexing.indexer import (
    Indexer,
    IndexReport,
    Phase,
    Progress,
    ProgressCallback,
)
from codanna_desktop.core.ranking.search import HybridSearcher, SearchSession
from codanna_desktop.core.semantic.embedder import load_embedder
from codanna_desktop.core.semantic.model_process import ModelProcess
from codanna_desktop.core.semantic.side import OpenedStore, SemanticSide
from codanna_desktop.core.settings import (
    DEFAULT_MODEL,
    DEFAULT_SECOND_MODEL,
    AppPaths,
    Settings,
    load_settings,
    redact_url,
)
from codanna_desktop.core.storage.catalog import Catalog, FileRow, RootRow
from codanna_desktop.core.storage.lexical.index import LexicalIndex
from codanna_desktop.core.storage.roots_backup import load_roots_backup, save_roots_backup
from codanna_desktop.core.storage.vectors.hnsw import HnswStore, file_problem
from codanna_desktop.core.storage.writer_lock import WriterLock

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Sequence

    from codanna_desktop.core.files.filters import SearchFilters
    from codanna_desktop.core.semantic.embedding_model import EmbeddingModel
    from codanna_desktop.core.watching.changes import ChangeSet

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
    # Semantic search works, but the vector store is being refilled, and why.
    vector_note: str | None = None
    # The lexical index was found damaged or missing and rebuilt by this engine, and why.
    lexical_note: str | None = None

    @property
    def embedded_fraction(self) -> float:
        return self.embedded / self.chunks if self.chunks else 1.0


def _slug(text: str) -> str:
    short = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:48]
    return f"{short}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


# Settings that decide which files are indexed; they apply without a new engine.
FILE_RULE_FIELDS = ("excluded_dirs", "ignore_patterns", "max_file_size", "follow_links_outside")


class Engine:
    def __init__(
        self,
        paths: AppPaths | None = None,
        settings: Settings | None = None,
        *,
        writer: bool = True,
        embedder: EmbeddingModel | None = None,
        wait_for_lock: float = 0.0,
        model_process: bool = False,
    ) -> None:
        """`model_process`: load the model in a child process (semantic/model_process.py), so
        that unloading it gives all its memory back; for a program that stays running."""
        self.paths = paths or AppPaths.default()
        self.settings = settings or load_settings(self.paths)
        self.writer = writer
        try:
            self.paths.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            known = known_error(exc, self.paths.data_dir)
            if known is None:
                raise
            raise known from exc
        self._lock = WriterLock(self.paths.data_dir) if writer else None
        if self._lock is not None:
            self._lock.acquire(wait_for_lock)
        self._vector_note_reported = False
        # Set when the lexical index had to be rebuilt: one sentence for the user.
        self.lexical_note: str | None = None
        self._pages_checked = False
        try:
            catalog_path = self.paths.data_dir / "catalog.sqlite"
            _refuse_a_lost_catalog(catalog_path, self.paths.data_dir)
            self.catalog = Catalog(catalog_path, readonly=not writer)
            self.lexical = LexicalIndex(self.paths.data_dir / "lexical", writable=writer)
            self.content = ContentIndex(self.paths.data_dir / CONTENT_DIR, writable=writer)
        except BaseException as exc:
            self._release_lock()
            known = known_error(exc, self.paths.data_dir) if isinstance(exc, Exception) else None
            if known is not None and known is not exc:
                raise known from exc
            raise
        # After the stores made their files: they hold the text of the user's code.
        self.paths.prepare_data_dir()
        self.scanner = Scanner.from_settings(self.settings)
        self.chunker = Chunker()
        self.semantic = SemanticSide(
            functools.partial(
                ModelProcess if model_process else load_embedder, self.settings, self.paths
            ),
            functools.partial(open_vector_store, self.settings, self.paths, self.catalog, writer),
            model=embedder,
        )
        self.indexer = Indexer(
            self.catalog,
            self.lexical,
            self.scanner,
            self.chunker,
            self.semantic,
            embed_batch_size=self.settings.embed_batch_size,
            content=self.content,
        )
        self.exact = ExactSearcher(self.catalog, self.content)
        self._texts_missing: list[FileRow] = []
        self.searcher = HybridSearcher(
            self.catalog,
            self.lexical,
            self.semantic,
            fusion=self.settings.fusion,
            candidates_per_side=self.settings.candidates_per_side,
        )
        if writer:
            self._recover()
            self._save_roots_backup()

    # -- lifecycle ------------------------------------------------------------------

    def _recover(self) -> None:
        # "open" stays 1 while a writer runs; finding it set means the last one crashed.
        unclean = self.catalog.get_meta("writer_open") == "1"
        self.catalog.set_meta("writer_open", "1")
        # A lexical index found lost, damaged or in an old format was replaced by an empty
        # one: the thorough pass refills it from the catalog.
        rebuilt = self.lexical.recreated and (
            self.lexical.corrupt_backup is not None or bool(self.catalog.all_chunk_ids())
        )
        try:
            rolled_back = self.indexer.recover(thorough=unclean or rebuilt)
        except LexicalIndexDamagedError:  # tantivy opened it, then failed reading it
            self.lexical.rebuild()
            rebuilt = True
            rolled_back = self.indexer.recover(thorough=True)
        if rebuilt:
            self._note_lexical_rebuilt()
        # Also how an index folder made before exact search gets its texts: all missing.
        self._texts_missing = exact_sync.reconcile(self.catalog, self.content)
        if rolled_back or unclean:
            log.info("recovered after an unclean stop (%d files rolled back)", rolled_back)

    def _save_roots_backup(self) -> None:
        save_roots_backup(self.paths.data_dir, [r.path for r in self.catalog.roots()])

    def _note_lexical_rebuilt(self) -> None:
        problem = self.lexical.recreated_because or "it was missing"
        kept = (
            f"; the damaged copy is kept in {self.lexical.corrupt_backup}"
            if self.lexical.corrupt_backup
            else ""
        )
        self.lexical_note = (
            f"The search index could not be used ({problem}). It was rebuilt from the "
            f"catalog ({self.lexical.doc_count()} chunks){kept}."
        )
        log.warning("%s", self.lexical_note)

    def rebuild_damaged_lexical(self) -> bool:
        """If a search found the lexical index damaged, rebuild it now from the catalog.
        Runs on the writer's thread (index() and apply_changes() call it); True if it did."""
        if not self.writer or self.lexical.damaged is None:
            return False
        self.lexical.rebuild()
        self.indexer.recover(thorough=True)
        self._note_lexical_rebuilt()
        return True

    def close(self) -> None:
        try:
            self.semantic.close_model()
            store = self.semantic.opened_store
            if store is not None:
                try:
                    if self.writer:
                        self.indexer.flush_vectors()
                except CodannaError as exc:
                    log.warning("vectors not saved: %s", exc)
                    # Say so now: the next writer refills them from the embedding cache.
                    self.catalog.unsaved_vectors_to_pending()
                try:
                    store.close()
                except CodannaError as exc:
                    log.warning("vector store not closed cleanly: %s", exc)
            self.indexer.close()
            if self.writer:
                try:
                    self.catalog.set_meta("writer_open", "0")
                except CodannaError as exc:
                    # A full disk: the next writer takes this for a crash and checks the
                    # index thoroughly, which is right; closing goes on.
                    log.info("the clean stop is not recorded: %s", exc)
            self.lexical.close()
            self.content.close()
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

    # -- the model and the vector store, loaded on first use (see SemanticSide) ---------

    @property
    def model_loaded(self) -> bool:
        return self.semantic.model_loaded

    @property
    def model_loads(self) -> int:
        """How often the model was loaded (tests of unload/reload)."""
        return self.semantic.model_loads

    def model_idle_seconds(self) -> float:
        """Seconds since the model was last asked for (by a search or the indexer)."""
        return self.semantic.model_idle_seconds()

    def unload_model(self, idle_for: float = 0.0) -> bool:
        """Drop the loaded model until it is needed again (see SemanticSide.unload_model)."""
        return self.semantic.unload_model(idle_for)

    @property
    def model_problem(self) -> str | None:
        return self.semantic.model_problem

    def load_model(self) -> EmbeddingModel | None:
        """Load the model now (otherwise it loads on first use)."""
        return self.semantic.model()

    def reconcile_vectors(self) -> None:
        """The writer's check of a vector store a search opened since (the indexer checks
        the store before its own first use anyway): the writer loop calls it when idle."""
        if self.writer:
            self.indexer.reconcile_vectors()

    @property
    def vector_store_name(self) -> str:
        url = self.settings.effective_database_url()
        return f"PostgreSQL {redact_url(url)}" if url else "embedded (hnswlib)"

    # -- roots ----------------------------------------------------------------------

    def add_root(self, path: Path | str) -> RootRow:
        folder = Path(path).expanduser().resolve()
        if not folder.is_dir():
            raise RootNotFoundError(f"{folder} is not a folder.")
        unfinished = self.catalog.root_by_path(folder)
        if unfinished is not None and unfinished.removing:
            self.indexer.remove_root(unfinished)
        for root in self.catalog.roots():
            if root.path == folder:
                return root
        added = self.catalog.add_root(folder)
        self._save_roots_backup()
        return added

    def remove_root(self, path: Path | str) -> RootRow:
        folder = Path(path).expanduser().resolve()
        root = self.catalog.root_by_path(folder) or self.catalog.root_by_path(Path(path))
        if root is None:
            raise RootNotFoundError(f"{path} is not one of the indexed folders.")
        self.indexer.remove_root(root)
        self._save_roots_backup()
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
        if not self._pages_checked:
            # Once per writer, before its first pass: a pass over every file is the moment
            # to read every page too (the app's start, `index`, `add`).
            self.catalog.check_pages()
            self._recache_damaged_vectors()
            self._reread_files_of_damaged_chunks()
            self._pages_checked = True
        self.rebuild_damaged_lexical()
        report = IndexReport()
        self.build_exact_index(progress=progress, cancel=cancel)
        for root in roots if roots is not None else self.catalog.roots():
            report.merge(
                self.indexer.sync_root(root, full=full, progress=progress or _quiet, cancel=cancel)
            )
        if embed:
            report.merge(self.embed_pending(progress=progress, cancel=cancel))
        return report

    def _recache_damaged_vectors(self) -> None:
        """Damaged cached vectors go, and their texts are embedded again by this run (or
        by the next one that embeds): the stored vectors were right, the cache would not
        have been when the store is next rebuilt from it."""
        damaged = self.catalog.drop_damaged_cached_vectors()
        if damaged:
            texts = "1 text" if len(damaged) == 1 else f"{len(damaged):,} texts"
            log.warning("The cached vectors of %s were damaged on disk; embedding again", texts)

    def _reread_files_of_damaged_chunks(self) -> None:
        """Chunks whose text no longer matches its hash are chunked again from their files
        by this run (catalog.reread_files_of_damaged_chunks)."""
        files = self.catalog.reread_files_of_damaged_chunks()
        if files:
            what = "1 file" if files == 1 else f"{files:,} files"
            log.warning("Chunks of %s were damaged in the catalog; reading them again", what)

    def build_exact_index(
        self, *, progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> int:
        """Give the exact-search index the texts it lacks (from the files on disk)."""
        todo, self._texts_missing = self._texts_missing, []
        if not todo:
            return 0
        say = progress or _quiet
        message = "Building the exact-search index"
        log.info("%s: %d files", message, len(todo))
        say(Progress(Phase.INDEXING, None, 0, len(todo), message))
        stored = exact_sync.build_missing(
            self.catalog,
            self.content,
            self.scanner,
            todo,
            progress=lambda done, total: say(Progress(Phase.INDEXING, None, done, total, message)),
            cancel=cancel,
        )
        if cancel is not None and cancel.is_set():
            self._texts_missing = exact_sync.reconcile(self.catalog, self.content)
        return stored

    def grep(self, request: ExactRequest, *, cancel: threading.Event | None = None) -> ExactResult:
        """Every line matching a pattern (see core/exact); raises PatternError."""
        return self.exact.search(request, cancel=cancel)

    def embed_pending(
        self,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        max_chunks: int | None = None,
    ) -> IndexReport:
        report = IndexReport()
        try:
            self.indexer.embed_pending(
                progress=progress or _quiet, cancel=cancel, max_chunks=max_chunks, report=report
            )
        except VectorStoreUnavailableError as exc:
            self.semantic.store_problem = str(exc)
            report.errors.append(str(exc))
        note = self.catalog.get_meta("vector_note")
        if note and not self._vector_note_reported:
            self._vector_note_reported = True
            report.errors.insert(0, note)
        if note and self.semantic.opened_store is not None and not self.catalog.pending_vectors(1):
            self.catalog.set_meta("vector_note", "")  # refilled
        return report

    def apply_changes(
        self,
        changes: ChangeSet,
        *,
        progress: ProgressCallback | None = None,
        on_new_rules: Callable[[Path], None] | None = None,
    ) -> IndexReport:
        self.rebuild_damaged_lexical()
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

    def focus_embedding(self, root_ids: Sequence[int]) -> None:
        """Embed these folders' chunks before the others' (the folder the person searches
        or works in); the rest follow, most recently changed files first."""
        self.indexer.embedding_focus = tuple(root_ids)

    # -- search ---------------------------------------------------------------------

    def search(
        self, query: str, filters: SearchFilters | None = None, *, semantic: bool = True
    ) -> SearchSession:
        """`semantic=False` (the slider at 0) neither loads the model nor opens the store."""
        if not self.writer:
            self.lexical.reload()
            store = self.semantic.opened_store
            if semantic and store is not None and hasattr(store, "reload_if_changed"):
                store.reload_if_changed()
        return self.searcher.search(query, filters, semantic=semantic)

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
        opening_problem = self.semantic.store_problem
        problem = opening_problem or self._saved_vectors_problem(total["embedded"])
        if problem is not None and opening_problem is None:
            # The file cannot serve them: none of the chunks is semantically searchable.
            total["embedded"] = 0
            roots = [replace(r, embedded=0) for r in roots]
        return EngineStatus(
            roots=roots,
            files=total["files"],
            chunks=total["chunks"],
            embedded=total["embedded"],
            skipped=total["skipped"],
            model=model,
            model_problem=self.semantic.model_problem,
            vector_store=self.vector_store_name,
            vector_problem=problem,
            data_dir=self.paths.data_dir,
            skip_counts=self.catalog.skip_counts(),
            vector_note=self.catalog.get_meta("vector_note") or None,
            lexical_note=self.lexical_note,
        )

    def _saved_vectors_problem(self, embedded: int) -> str | None:
        """For a reader that has not opened the store: is the embedded store's file as
        its last save wrote it? Checked from the file alone, without loading the model
        (a writer checks it when it opens the store, and says so in `vector_note`)."""
        if self.writer or self.semantic.opened_store is not None or not embedded:
            return None
        if self.settings.effective_database_url():
            return None
        where = self.catalog.get_meta("vector_store") or ""
        if not where.startswith("hnsw:"):
            return None
        path = self.paths.data_dir / "vectors" / where.removeprefix("hnsw:")
        reason = file_problem(path) if path.exists() else "missing"
        if reason is None:
            return None
        return (
            f"The vector index {path} is {reason}. The next index run rebuilds it from the"
            " embedding cache."
        )


def _quiet(_: Progress) -> None:
    pass


def open_vector_store(
    settings: Settings, paths: AppPaths, catalog: Catalog, writer: bool, model: EmbeddingModel
) -> OpenedStore:
    """The store the settings name, for the model's vectors (a writer's may be written);
    raises VectorStoreUnavailableError. One store per model id and dimension: a fused
    model's 768-d vectors never mix with one model's 384-d ones."""
    url = settings.effective_database_url()
    if url:
        from codanna_desktop.core.storage.vectors.pgvector import PgVectorStore

        store = PgVectorStore(url, model.model_id, model.dim, catalog.catalog_id)
        return OpenedStore(store, f"pgvector:{redact_url(url)}")
    path = paths.data_dir / "vectors" / f"{_slug(model.model_id)}.hnsw"
    path.parent.mkdir(parents=True, exist_ok=True)
    opened = HnswStore(path, model.dim) if writer else HnswStore.open_readonly(path, model.dim)
    return OpenedStore(opened, f"hnsw:{path.name}")


def test_database_url(url: str) -> str:
    """Connect to the PostgreSQL server at `url` and say what it runs (the settings'
    *Test connection*); raises VectorStoreUnavailableError with the reason."""
    from codanna_desktop.core.storage.vectors.pgvector import test_connection

    return test_connection(url)


__all__ = ["Engine", "EngineStatus", "IndexLockedError", "RootStatus", "test_database_url"]


def _refuse_a_lost_catalog(path: Path, data_dir: Path) -> None:
    """An empty or missing catalog where folders were added is a lost catalog, not a
    fresh start: SQLite opens an empty file as a new database, and the index would say
    "no folders yet" and forget them. `repair` indexes them again from the saved list."""
    folders = load_roots_backup(data_dir)
    if not folders:
        return
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = None
    except OSError:
        return  # unreadable: the catalog's own open says why
    if size is None or size == 0:
        state = "missing" if size is None else "empty"
        added = "1 folder was" if len(folders) == 1 else f"{len(folders):,} folders were"
        raise CatalogDamagedError(path, f"the file is {state}, though {added} added")
