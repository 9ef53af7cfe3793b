"""The indexer: turns folders on disk into catalog rows, tantivy documents and vectors.

Every write follows the catalog-first protocol (see catalog.py): mark the files
``indexing``, write the stores, then finish the catalog rows. recover() repairs whatever
a crash left between those steps. Lexical indexing never waits for embeddings: chunks
land in tantivy at once and are embedded afterwards by embed_pending().
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

from codanna_desktop.core.errors import (
    DiskFullError,
    RootNotFoundError,
    VectorStoreUnavailableError,
    known_error,
)
from codanna_desktop.core.exact import sync as exact_sync
from codanna_desktop.core.files.ignore import IgnoreRules
from codanna_desktop.core.files.roots import owning_root
from codanna_desktop.core.files.skips import SkipReason
from codanna_desktop.core.files.walk import ScannedFile, Scanner, outside_detail
from codanna_desktop.core.indexing.embedding_cache import EmbeddingCache
from codanna_desktop.core.indexing.file_reader import FileRead, FileReader
from codanna_desktop.core.storage.lexical.index import LexicalDoc, LexicalIndex
from codanna_desktop.core.storage.vectors.store import VectorMeta, VectorStore

if TYPE_CHECKING:
    import threading
    from pathlib import Path

    from codanna_desktop.core.chunking.chunker import Chunker
    from codanna_desktop.core.chunking.chunks import Chunk
    from codanna_desktop.core.exact.binary_prefix import BinaryPrefix
    from codanna_desktop.core.exact.content_index import ContentIndex
    from codanna_desktop.core.semantic.side import SemanticSide
    from codanna_desktop.core.storage.catalog import Catalog, FileRow, RootRow
    from codanna_desktop.core.watching.changes import ChangeSet

log = logging.getLogger(__name__)

FILES_PER_BATCH = 200
# Saving the embedded store rewrites its whole file and holds the GIL meanwhile (about
# 4 ms per 1,000 vectors here): save on a timer and when the queue runs dry, not per batch.
FLUSH_VECTORS_EVERY_S = 30.0
# Texts handed to the model at a time: enough batches for every worker (eight of four
# texts), few enough that a cancel is seen within seconds.
EMBED_SLICE = 32
# Chunks re-added to the lexical index per read of the catalog (their texts are in memory).
RE_ADD_BATCH = 2000


def _in_stores(row: FileRow) -> bool:
    """The file has entries in a store: indexed (or being), or a binary file's first
    lines held for exact search (a skipped row with a content hash)."""
    return row.state != "skipped" or row.content_hash is not None


def _stat_to_keep(skip_reason: str, size: int, mtime_ns: int) -> tuple[int, int]:
    """The stat to record with a skipped file. A file skipped by a setting (its size, a
    link out of the folder) is recorded without one, so that the first scan that finds it
    allowed (the limit raised) reads it, changed or not; other skips keep theirs, so an
    unchanged file is not read again.
    """
    by_setting = (SkipReason.TOO_LARGE.value, SkipReason.LINK_OUTSIDE.value)
    return (0, 0) if skip_reason in by_setting else (size, mtime_ns)


class Phase(StrEnum):
    """What the indexer is doing: a Progress's phase and the indexing service's state."""

    IDLE = "idle"
    SCANNING = "scanning"
    INDEXING = "indexing"
    EMBEDDING = "embedding"
    PAUSED = "paused"


@dataclass
class Progress:
    """What the indexer is doing, for progress bars and the folders panel."""

    phase: Phase
    root: Path | None = None
    done: int = 0
    total: int = 0
    message: str = ""


ProgressCallback = Callable[[Progress], None]


@dataclass
class IndexReport:
    files_indexed: int = 0
    files_unchanged: int = 0
    files_deleted: int = 0
    chunks_added: int = 0
    chunks_embedded: int = 0  # vectors computed by the model (cache misses)
    chunks_from_cache: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def merge(self, other: IndexReport) -> None:
        self.files_indexed += other.files_indexed
        self.files_unchanged += other.files_unchanged
        self.files_deleted += other.files_deleted
        self.chunks_added += other.chunks_added
        self.chunks_embedded += other.chunks_embedded
        self.chunks_from_cache += other.chunks_from_cache
        self.skipped.update(other.skipped)
        self.errors += other.errors


def _no_progress(_: Progress) -> None:
    pass


def lexical_doc(chunk: Chunk, chunk_id: int, file_id: int, root_id: int) -> LexicalDoc:
    """The lexical index's document of a chunk stored under these ids (a chunk read back
    from the catalog has no `names`: the next read of its file restores them)."""
    return LexicalDoc(
        chunk_id=chunk_id,
        file_id=file_id,
        root_id=root_id,
        path=chunk.path,
        language=chunk.language,
        symbol=chunk.symbol,
        kind=chunk.kind,
        text=chunk.text,
        names=chunk.names,
    )


class Indexer:
    """Writes to the index. Not thread-safe by itself: one writer thread drives it."""

    def __init__(
        self,
        catalog: Catalog,
        lexical: LexicalIndex,
        scanner: Scanner,
        chunker: Chunker,
        semantic: SemanticSide,
        *,
        embed_batch_size: int = 4,
        workers: int = 2,
        content: ContentIndex | None = None,
    ) -> None:
        self.catalog = catalog
        self.lexical = lexical
        self.scanner = scanner
        self.chunker = chunker
        self.semantic = semantic
        # The vector store this writer checked against the catalog (see reconcile_vectors).
        self._checked_store: VectorStore | None = None
        self.embed_batch_size = embed_batch_size
        # Folders whose chunks are embedded first (the one searched or open in the window);
        # set from other threads: a tuple is replaced whole.
        self.embedding_focus: tuple[int, ...] = ()
        self._reader = FileReader(scanner, chunker, threads=workers)
        self.content = content  # whole texts for exact search
        self._last_vector_flush = time.monotonic()

    def close(self) -> None:
        self._reader.close()

    # -- crash repair ---------------------------------------------------------------

    def recover(self, *, thorough: bool) -> int:
        """Undo half-done writes. Returns how many files were rolled back.

        Files left ``indexing`` lose their rows and documents (the next sync reindexes them,
        from the embedding cache); removals of roots that began are finished.
        `thorough` (after an unclean shutdown, or when the lexical index was rebuilt)
        also compares the lexical index with the catalog: ghosts are deleted, chunks
        it lacks are put back. The vector store is compared with the catalog
        before the writer first uses it (see reconcile_vectors).
        """
        for root in self.catalog.roots_being_removed():
            log.info("finishing the removal of %s", root.path)
            self.remove_root(root)
        stuck = self.catalog.files_in_state("indexing")
        if stuck:
            self._drop_files(stuck)
        if thorough:
            known = self.catalog.all_chunk_ids()
            in_lexical = self.lexical.chunk_ids()
            ghosts = in_lexical - known
            if ghosts:
                self.lexical.delete_chunks(ghosts)
                self.lexical.commit()
            self._re_add_lexical(known - in_lexical)
        return len(stuck)

    def _re_add_lexical(self, chunk_ids: set[int]) -> int:
        """Put chunks the catalog has as indexed back into tantivy, from the catalog's text.

        Searchable at once, under the same ids (their vectors stay valid). The names a
        chunk defines come from the chunker and are not kept in the catalog, so the files
        are also marked to be read again by the next sync, which restores them.
        """
        ordered = sorted(chunk_ids)
        added = 0
        files: set[int] = set()
        for start in range(0, len(ordered), RE_ADD_BATCH):  # a batch's texts at a time
            rows = self.catalog.chunk_rows(ordered[start : start + RE_ADD_BATCH])
            self.lexical.add(
                lexical_doc(row, row.id, row.file_id, row.root_id) for row in rows.values()
            )
            added += len(rows)
            files.update(row.file_id for row in rows.values())
        if added:
            self.lexical.commit()
            self.catalog.mark_files_to_reread(sorted(files))
            log.info("re-added %d chunks the lexical index lacked", added)
        return added

    def reconcile_vectors(self) -> None:
        """A writer trusts a vector store only once it agrees with the catalog: check the
        open store now, if this writer has not yet (a store nobody opened is left alone:
        opening it needs the model). Done here, on the writer's thread, before the
        writer's first use of the store; a search that opens it never writes the catalog.

        Another model or store than last time, or a store found damaged or missing:
        every chunk gets its vector again (from the embedding cache, no model work).
        """
        opened = self.semantic.opened
        if opened is None or opened.store is self._checked_store:
            return
        store = opened.store
        if self.catalog.get_meta("vector_store") != opened.where:
            self.catalog.reset_all_vectors()
            self.catalog.set_meta("vector_store", opened.where)
        note = None
        if store.rebuild_reason is not None:
            self.catalog.reset_all_vectors()
            note = (
                f"The vector index was {store.rebuild_reason} and is being rebuilt from the"
                " embedding cache."
            )
        try:
            lost = self._agree_with_catalog(store)
        except VectorStoreUnavailableError as exc:
            self.semantic.store_problem = str(exc)
            raise
        self.semantic.store_problem = None
        if lost and note is None:
            note = (
                f"The vector index lacked {lost:,} vectors it had saved (was it deleted?);"
                " they are being refilled from the embedding cache."
            )
        if note is not None:
            log.warning("%s", note)
            self.catalog.set_meta("vector_note", note)
        self._recache_lost_vectors()
        self._checked_store = store

    def _recache_lost_vectors(self) -> None:
        """The embedding cache agrees with the catalog too: a text whose chunks have a
        vector but which some model has no cached vector for (damage, see
        catalog.mark_uncached_for_embedding) is embedded again. With the store's check,
        once per store a writer opens: the model is loaded by then, and its ids are needed."""
        model = self.semantic.model()
        if model is None:
            return
        lost = self.catalog.mark_uncached_for_embedding([p.cache_ids for p in model.parts])
        if lost:
            texts = "1 text" if lost == 1 else f"{lost:,} texts"
            log.warning(
                "The cached vectors of %s were missing from the catalog; embedding again", texts
            )

    def _agree_with_catalog(self, store: VectorStore) -> int:
        """Returns how many vectors the catalog believed saved that the store lacks (they
        go pending, to be refilled).

        Vectors no save covered (``stored``: a crash or a full disk stopped the save) are
        redone; vectors of chunks the catalog no longer knows are deleted. Ids are never
        reused, so a vector under a known id is that chunk's own.
        """
        self.catalog.unsaved_vectors_to_pending()
        in_store = store.ids()
        extra = in_store - self.catalog.all_chunk_ids()
        if extra:
            store.delete(sorted(extra))
            self._flush(store)
        lost = self.catalog.all_chunk_ids(vector_done=True) - in_store
        if lost:
            self.catalog.set_vector_state(sorted(lost), "pending")
        return len(lost)

    def _store(self) -> VectorStore | None:
        """The vector store for the writer's use: checked against the catalog first."""
        store = self.semantic.store()
        if store is not None:
            self.reconcile_vectors()
        return store

    def _drop_files(self, files: Sequence[FileRow]) -> None:
        """Remove files from every store, then from the catalog (in that order)."""
        if not files:
            return
        file_ids = [f.id for f in files]
        chunk_ids = self.catalog.chunk_ids_of_files(file_ids)
        self.lexical.delete_files(file_ids)
        self.lexical.commit()
        exact_sync.drop_texts(self.content, file_ids)
        self._delete_vectors(chunk_ids)
        self.catalog.delete_files(file_ids)

    def _delete_vectors(self, chunk_ids: Sequence[int]) -> None:
        if not chunk_ids:
            return
        try:
            store = self._store()
            if store is not None:
                store.delete(chunk_ids)
        except VectorStoreUnavailableError as exc:
            # Left behind as ghosts; reconcile_vectors deletes them, and search never
            # shows a vector whose chunk the catalog does not know.
            log.warning("vectors not deleted now: %s", exc)

    # -- whole roots ----------------------------------------------------------------

    def sync_root(
        self,
        root: RootRow,
        *,
        full: bool = False,
        progress: ProgressCallback = _no_progress,
        cancel: threading.Event | None = None,
        on_new_rules: Callable[[Path], None] | None = None,
    ) -> IndexReport:
        """Bring one root up to date with the disk (only what changed, unless `full`).
        ``on_new_rules(root)`` runs once the root's ignore rules are read anew, before
        the scan (the watcher walks the root again there, with the same parsed rules)."""
        report = IndexReport()
        if not root.path.is_dir():
            message = f"{root.path} is missing or not a folder"
            self.catalog.set_root_indexed(root.id, error=message)
            report.errors.append(message)
            return report
        progress(Progress(Phase.SCANNING, root.path, message=f"Scanning {root.path}"))
        self.scanner.rules_for(root.path).invalidate()
        if on_new_rules is not None:
            on_new_rules(root.path)
        try:
            scan = self.scanner.scan(root.path, cancel=cancel)
        except RootNotFoundError as exc:
            self.catalog.set_root_indexed(root.id, error=str(exc))
            report.errors.append(str(exc))
            return report
        known = self.catalog.files_of_root(root.id)
        seen = {f.rel_path for f in scan.files}
        for skipped in scan.skipped:
            seen.add(skipped.rel_path)
            report.skipped[skipped.reason.value] += 1
            row = known.get(skipped.rel_path)
            if row is not None and _in_stores(row):
                self._drop_files([row])
            self.catalog.mark_skipped(
                root.id, skipped.rel_path, skipped.reason.value, skipped.detail, 0, 0
            )
        if scan.cancelled:  # a partial scan says nothing about what is gone
            return report
        # Files under a folder that could not be read are not gone: keep what we have.
        unreadable = tuple(
            s.rel_path + "/" for s in scan.skipped if s.reason is SkipReason.UNREADABLE
        )
        gone = [
            row
            for path, row in known.items()
            if path not in seen and not (unreadable and path.startswith(unreadable))
        ]
        self._drop_files(gone)
        report.files_deleted += len(gone)

        todo = [
            f
            for f in scan.files
            if full
            or (row := known.get(f.rel_path)) is None
            or row.state not in ("indexed", "skipped")
            or row.size != f.size
            or row.mtime_ns != f.mtime_ns
        ]
        report.files_unchanged += len(scan.files) - len(todo)
        if not (cancel and cancel.is_set()):
            report.merge(self.index_files(root, todo, force=full, progress=progress, cancel=cancel))
        if not (cancel and cancel.is_set()):
            self.catalog.set_root_indexed(root.id)
        return report

    def remove_root(self, root: RootRow) -> None:
        """Remove a root from every store, then from the catalog. Crash-safe: the root is
        marked ``removing`` first (hidden from then on), and recover() finishes a removal a
        crash interrupted; before, a crash after tantivy's delete left the root listed and
        its files ``indexed`` with nothing searchable."""
        self.catalog.mark_root_removing(root.id)
        files = list(self.catalog.files_of_root(root.id).values())
        chunk_ids = self.catalog.chunk_ids_of_files([f.id for f in files])
        # By root, not by file: a file whose row a crash lost still carries its root id.
        try:
            self.lexical.delete_roots([root.id])
            self.lexical.commit()
            exact_sync.drop_texts(self.content, [f.id for f in files])
        except Exception as exc:
            if not isinstance(known_error(exc), DiskFullError):
                raise
            # A full disk, and removing a folder is how a person frees space: its catalog
            # rows go now (no result can show a chunk the catalog does not hold); the root
            # stays marked, and the search index drops its entries at a start with room.
            log.warning("the search index keeps %s's entries until there is room", root.path)
            self._delete_vectors(chunk_ids)
            self.catalog.delete_files([f.id for f in files])
            return
        self._delete_vectors(chunk_ids)
        self._after_stores_written()
        self.catalog.delete_root(root.id)

    # -- files ----------------------------------------------------------------------

    def index_files(
        self,
        root: RootRow,
        files: Sequence[ScannedFile],
        *,
        force: bool = False,
        progress: ProgressCallback = _no_progress,
        cancel: threading.Event | None = None,
    ) -> IndexReport:
        """Read, chunk and store the given files of one root, in batches."""
        report = IndexReport()
        known = self.catalog.files_of_root(root.id)
        total = len(files)
        batches = [files[i : i + FILES_PER_BATCH] for i in range(0, total, FILES_PER_BATCH)]

        # Pipelined: the reader reads and chunks the next batch while this thread writes
        # the current one.
        self._reader.start_run(total)
        try:
            ahead = self._reader.submit(batches[0]) if batches else []
            done = 0
            for i, batch in enumerate(batches):
                if cancel and cancel.is_set():
                    for future in ahead:
                        future.cancel()
                    break
                progress(Progress(Phase.INDEXING, root.path, done, total, f"Indexing {root.path}"))
                updates = self._reader.results(batch, ahead)
                ahead = self._reader.submit(batches[i + 1]) if i + 1 < len(batches) else []
                self._store_batch(root, updates, known, force, report)
                done += len(updates)
        finally:
            self._reader.end_run()
        progress(Progress(Phase.INDEXING, root.path, total, total, f"Indexed {root.path}"))
        return report

    def _store_batch(
        self,
        root: RootRow,
        updates: list[FileRead],
        known: dict[str, FileRow],
        force: bool,
        report: IndexReport,
    ) -> None:
        changed: list[FileRead] = []
        for u in updates:
            row = known.get(u.scanned.rel_path)
            if u.stamp is None:
                report.skipped[u.skip_reason] += 1
                if row is not None and _in_stores(row):
                    self._drop_files([row])
                stat = _stat_to_keep(u.skip_reason, u.scanned.size, u.scanned.mtime_ns)
                if u.binary is not None and self.content is not None:
                    self._store_binary(root, u, u.binary, stat)
                else:
                    skip = (root.id, u.scanned.rel_path, u.skip_reason, u.skip_detail)
                    self.catalog.mark_skipped(*skip, *stat)
            elif (
                not force
                and row is not None
                and row.state == "indexed"
                and row.content_hash == u.stamp.content_hash
            ):
                # Touched but not changed (a save without edits, a checkout of the same text).
                self.catalog.touch_file(row.id, u.stamp.size, u.stamp.mtime_ns)
                report.files_unchanged += 1
            else:
                changed.append(u)
        if not changed:
            return
        begun = self.catalog.begin_file_updates(
            root.id, [(u.scanned.rel_path, u.language, u.chunks) for u in changed]
        )
        docs = [
            lexical_doc(c, chunk_id, file_id, root.id)
            for u, (file_id, _, new_ids) in zip(changed, begun, strict=True)
            for c, chunk_id in zip(u.chunks, new_ids, strict=True)
        ]
        self.lexical.delete_files([file_id for file_id, _, _ in begun])
        self.lexical.add(docs)
        self.lexical.commit()
        exact_sync.store_texts(self.content, root.id, changed, [f for f, _, _ in begun])
        self._delete_vectors([i for _, old, _ in begun for i in old])
        self._after_stores_written()
        self.catalog.finish_file_updates(
            [
                (file_id, u.stamp.size, u.stamp.mtime_ns, u.stamp.content_hash)
                for u, (file_id, _, _) in zip(changed, begun, strict=True)
                if u.stamp is not None
            ]
        )
        report.files_indexed += len(changed)
        report.chunks_added += len(docs)

    def _store_binary(
        self, root: RootRow, u: FileRead, prefix: BinaryPrefix, stat: tuple[int, int]
    ) -> None:
        """A binary file whose first lines exact search holds. The catalog's row comes
        first without a stat (a crash from here on leaves the file to be read again), then
        the stored part, then the stat and content hash that name it."""
        skip = (root.id, u.scanned.rel_path, u.skip_reason, u.skip_detail)
        file_id = self.catalog.mark_skipped(*skip, 0, 0)
        assert self.content is not None
        exact_sync.store_binary(
            self.content, root.id, exact_sync.binary_file(file_id, u.scanned.rel_path, prefix)
        )
        self._after_stores_written()
        self.catalog.mark_skipped(*skip, *stat, content_hash=prefix.content_hash)

    def _after_stores_written(self) -> None:
        """The point between store writes and the catalog commit (tests crash here)."""

    # -- change sets from the watcher -----------------------------------------------

    def apply_changes(
        self,
        changes: ChangeSet,
        roots: Sequence[RootRow],
        *,
        progress: ProgressCallback = _no_progress,
        on_new_rules: Callable[[Path], None] | None = None,
    ) -> IndexReport:
        """Update only what a change set touched. The disk is the judge: each touched path
        is looked at now, so events that raced each other still end in the right state.
        ``on_new_rules(root)`` is called when an ignore file of the root changed, once its
        rules are read anew and before the root is compared with the disk."""
        report = IndexReport()
        paths = set(changes.paths())
        by_root: dict[int, tuple[RootRow, set[Path]]] = {}
        for path in paths:
            root = owning_root(path, roots, lambda r: r.path)
            if root is not None:
                by_root.setdefault(root.id, (root, set()))[1].add(path)
            elif IgnoreRules.is_ignore_file(path):  # above roots, in their repository
                governed = IgnoreRules.folder_governed_by(path)
                for below in roots:
                    if governed in below.path.parents:
                        by_root.setdefault(below.id, (below, set()))[1].add(path)
        for root, touched in by_root.values():
            if any(IgnoreRules.is_ignore_file(p) for p in touched):
                # Which files an ignore rule covers changed: resync the whole root by stat.
                report.merge(self.sync_root(root, progress=progress, on_new_rules=on_new_rules))
                continue
            rules = self.scanner.rules_for(root.path)
            to_index: list[ScannedFile] = []
            # Gone paths are dropped together: each drop commits the lexical and exact
            # indexes, so 200 single renames dropped one by one took 3x a folder's move.
            gone: dict[int, FileRow] = {}  # by id: a folder and a file in it both gone
            if root.path in touched and not root.path.is_dir():
                # The whole folder is gone (or its drive unmounted): keep its index, say so.
                message = f"{root.path} is missing or not a folder"
                self.catalog.set_root_indexed(root.id, error=message)
                report.errors.append(message)
                continue
            for path in sorted(touched):
                rel = path.relative_to(root.path).as_posix()
                if path.is_dir():
                    gone = {}  # the root compared with the disk drops (and counts) them
                    report.merge(self.sync_root(root, progress=progress))
                    to_index = []
                    break
                if path.is_file() and not rules.is_ignored(path, False):
                    try:
                        st = path.stat()
                    except OSError:
                        continue
                    outside = self.scanner.link_outside(root.path, path)
                    if outside is not None:  # a link made since the scan: not followed
                        self._drop_files(self.catalog.files_under(root.id, rel))
                        reason = SkipReason.LINK_OUTSIDE.value
                        detail = outside_detail(outside)
                        self.catalog.mark_skipped(root.id, rel, reason, detail, 0, 0)
                        report.skipped[reason] += 1
                        continue
                    if st.st_size > self.scanner.max_file_size:
                        self._drop_files(self.catalog.files_under(root.id, rel))
                        reason = SkipReason.TOO_LARGE.value
                        stat = _stat_to_keep(reason, st.st_size, st.st_mtime_ns)
                        self.catalog.mark_skipped(root.id, rel, reason, "", *stat)
                        report.skipped["too large"] += 1
                        continue
                    to_index.append(ScannedFile(path, rel, st.st_size, st.st_mtime_ns))
                else:
                    gone.update((f.id, f) for f in self.catalog.files_under(root.id, rel))
            # Before the indexing: a path gone and one made under it (a file replaced by
            # a folder of that name) are written in the order they happened.
            self._drop_files(list(gone.values()))
            report.files_deleted += len(gone)
            if to_index:
                report.merge(self.index_files(root, to_index, progress=progress))
        return report

    # -- embeddings -----------------------------------------------------------------

    def embed_pending(
        self,
        *,
        progress: ProgressCallback = _no_progress,
        cancel: threading.Event | None = None,
        max_chunks: int | None = None,
        report: IndexReport | None = None,
    ) -> IndexReport:
        """Give every pending chunk its vector: from the cache where its text was embedded
        before, else from the model. Durable in small steps, so stopping loses little.

        Counts go into `report` as they happen, so a caller that catches an error midway
        (the vector store went away) still reports what was done before it."""
        report = IndexReport() if report is None else report
        embedder, store = self.semantic.model(), self._store()
        if embedder is None or store is None:
            return report
        cache = EmbeddingCache(self.catalog, embedder)  # each model's vector, fused
        counts = self.catalog.counts()
        total = counts["chunks"]
        done = counts["embedded"]
        step = max(self.embed_batch_size * 4, 64)
        while not (cancel and cancel.is_set()):
            if (
                max_chunks is not None
                and report.chunks_embedded + report.chunks_from_cache >= max_chunks
            ):
                break
            pending = self.catalog.pending_vectors(step, self.embedding_focus)
            if not pending:
                break
            cached = cache.ready([p.text_hash for p in pending])
            missing: dict[str, str] = {}
            for p in pending:
                if p.text_hash not in cached:
                    missing.setdefault(p.text_hash, p.text)
            # Batches of similar length pad less: bare fastembed ran 2.0x faster on the same
            # texts sorted in steps of 64 (BENCHMARKS.md, speed), and this pipeline 1.7x.
            # The model cuts each slice into batches by token count and runs them on its
            # workers; a slice is what stopping may have to wait for.
            hashes = sorted(missing, key=lambda h: len(missing[h]))
            for i in range(0, len(hashes), EMBED_SLICE):
                part = hashes[i : i + EMBED_SLICE]
                fresh, computed = cache.embed({h: missing[h] for h in part})
                cached.update(fresh)
                report.chunks_embedded += computed
                if cancel and cancel.is_set():
                    break
            ready = [p for p in pending if p.text_hash in cached]
            if not ready:
                break
            report.chunks_from_cache += len(ready) - sum(1 for p in ready if p.text_hash in missing)
            matrix = np.stack([cached[p.text_hash] for p in ready]).astype(np.float32)
            meta = [
                VectorMeta(self.catalog.root_key(p.root_id), p.rel_path, p.language) for p in ready
            ]
            store.upsert([p.id for p in ready], matrix, meta)
            self.catalog.set_vector_state([p.id for p in ready], "stored")
            done += len(ready)
            progress(Progress(Phase.EMBEDDING, None, done, max(total, done), "Embedding"))
            if time.monotonic() - self._last_vector_flush > FLUSH_VECTORS_EVERY_S:
                self._flush(store)
        drained = not self.catalog.pending_vectors(1)
        if drained or (cancel is not None and cancel.is_set()):
            self._flush(store)
        return report

    def flush_vectors(self) -> None:
        """Save the vector store this writer wrote to, if any (a store it never checked it
        never wrote to)."""
        if self._checked_store is not None:
            self._flush(self._checked_store)

    def _flush(self, store: VectorStore) -> None:
        """Save the store; only then does the catalog count its new vectors as done."""
        store.flush()
        self.catalog.vectors_saved()
        self._last_vector_flush = time.monotonic()
