"""The lexical (BM25) index over chunks, on tantivy: opening and checking it, writing
chunks, and running a query with the search's filters.

Its fields are in schema.py, the word analysis they are read with in analysis.py; the
query itself (user text into tantivy's, with each field's boost) is built by ranking
(core/ranking/lexical_query.py), so this module holds no ranking constant.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeVar

import tantivy

from codanna_desktop.core.errors import (
    CodannaError,
    IndexLockedError,
    LexicalIndexDamagedError,
    PathFilterTooBigError,
)
from codanna_desktop.core.storage.commit_stamp import commit_stamp
from codanna_desktop.core.storage.lexical.analysis import mark_acronym_ends
from codanna_desktop.core.storage.lexical.files import IndexFileChecker, IndexFilesDamaged
from codanna_desktop.core.storage.lexical.schema import SCHEMA, register_analyzers

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from codanna_desktop.core.files.filters import SearchFilters

try:  # POSIX only; elsewhere the "is another process writing?" check is skipped.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# Writer memory budget and threads: a desktop app on a small machine, sharing it with the
# embedder. One thread indexes a few thousand chunks per second.
_WRITER_HEAP_BYTES = 64_000_000
_WRITER_THREADS = 1


@dataclass(frozen=True)
class LexicalDoc:
    chunk_id: int
    file_id: int
    root_id: int
    path: str  # relative to root, "/"-separated
    language: str
    symbol: str | None
    kind: str
    text: str
    names: tuple[str, ...] = ()  # the names the chunk defines (Chunk.names)


class LexicalHit(NamedTuple):
    """A tuple, not a frozen dataclass: a search makes one per candidate (200), and a
    tuple is built in a third of the time."""

    chunk_id: int
    score: float


class LexicalIndex:
    """One tantivy index in `directory`.

    Every file is checked against its checksum when opened (see files.py).

    Writable: holds tantivy's writer lock until close(); a second writer, in this process
    or another, gets IndexLockedError. If no usable index was found (missing, or damaged
    and moved aside to ``<dir>.corrupt-<timestamp>``), a fresh one is created and
    `recreated` is True (`recreated_because` says why): the caller must fill it again.
    `corrupt_backup` names the moved-aside folder.

    Read-only: searches while another process writes and sees its commits after reload().
    A missing index searches as empty (`on_disk` False, nothing is created) until reload()
    finds one; a damaged one raises CodannaError and is left alone.

    A search that finds the index damaged (tantivy fails, or a reader's reload finds a
    bad file) raises LexicalIndexDamagedError, as does every later one: `damaged` says
    why, and the writer's owner calls rebuild().

    Thread-safe: one thread may add and commit while others search.
    """

    def __init__(self, directory: Path, *, writable: bool = True) -> None:
        self.directory = Path(directory)
        self.writable = writable
        self.recreated = False
        self.recreated_because: str | None = None
        self.corrupt_backup: Path | None = None
        self.damaged: str | None = None
        self.on_disk = False
        self._write_lock = threading.Lock()
        self._files = IndexFileChecker(self.directory)
        # meta.json as of the last reload that found the index sound (commit_stamp.py).
        self._reloaded_at: bytes | None = None
        self._index = self._open_index()
        self._writer: tantivy.IndexWriter | None = self._open_writer() if writable else None

    # -- opening ---------------------------------------------------------------------

    def _open_index(self) -> tantivy.Index:
        self._reloaded_at = None
        exists = self.directory.is_dir() and tantivy.Index.exists(str(self.directory))
        self.on_disk = exists or self.writable
        if not self.on_disk:
            # An empty index created here would hide from the next writer that the real
            # one was lost; search an empty one in memory until a writer creates it.
            index = tantivy.Index(SCHEMA)
            register_analyzers(index)
            return index
        self.directory.mkdir(parents=True, exist_ok=True)
        self.recreated = not exists
        if not exists:
            self.recreated_because = "it was missing"
        problem = self._check_files() if exists else None
        try:
            if problem is not None:
                raise ValueError(problem)
            index = tantivy.Index(SCHEMA, path=str(self.directory))
        except ValueError as exc:
            if not self.writable:
                raise CodannaError(
                    f"The search index in {self.directory} cannot be read ({exc}). "
                    "Start Codanna Desktop (or run `codanna-desktop index`) to rebuild it."
                ) from exc
            if "schema does not match" in str(exc):
                # Built by an older version (a field or an analyzer changed): nothing in
                # it is lost by rebuilding from the files, so no backup is kept.
                log.info("search index format changed; rebuilding %s", self.directory)
                with _no_other_writer(self.directory):
                    shutil.rmtree(self.directory)
                self.directory.mkdir(parents=True)
                self.recreated_because = "its format changed"
            else:
                self.corrupt_backup = self._move_aside(exc)
                self.recreated_because = str(exc)
            self.recreated = True
            self._files.forget()
            index = tantivy.Index(SCHEMA, path=str(self.directory))
        register_analyzers(index)
        return index

    def _check_files(self) -> str | None:
        """What is wrong with the files on disk, or None. A reader retries: a writer in
        another process may have replaced meta.json and removed merged segments between
        the reader's reading of the one and of the others."""
        attempts = 1 if self.writable else 3
        for attempt in range(attempts):
            try:
                self._files.check()
                return None
            except IndexFilesDamaged as exc:
                problem = str(exc)
            if attempt + 1 < attempts:
                time.sleep(0.05)
        return problem

    def _move_aside(self, reason: Exception) -> Path:
        """Keep the unreadable index for inspection and make room for a fresh one."""
        with _no_other_writer(self.directory):
            stamp = time.strftime("%Y%m%d-%H%M%S")
            backup = self.directory.with_name(f"{self.directory.name}.corrupt-{stamp}")
            n = 1
            while backup.exists():
                backup = self.directory.with_name(f"{self.directory.name}.corrupt-{stamp}-{n}")
                n += 1
            shutil.move(str(self.directory), str(backup))
        # The owner tells the person (Engine: one warning, with what it rebuilt).
        log.info("lexical index unreadable (%s); moved to %s, rebuilding", reason, backup)
        self.directory.mkdir(parents=True, exist_ok=True)
        return backup

    def _open_writer(self) -> tantivy.IndexWriter:
        try:
            writer = self._index.writer(heap_size=_WRITER_HEAP_BYTES, num_threads=_WRITER_THREADS)
        except ValueError as exc:
            if "LockBusy" in str(exc):
                raise IndexLockedError(_locked_message(self.directory)) from exc
            raise
        # A commit killed after writing its files but before meta.json named them leaves
        # them behind; this writer's first commit would reuse their names (same opstamps)
        # and tantivy refuses to overwrite a file: every later commit failed.
        try:
            writer.garbage_collect_files()
        except ValueError as exc:  # a full disk or a busy file: the next open tries again
            log.info("leftover files of an interrupted commit not removed: %s", exc)
        return writer

    def rebuild(self) -> None:
        """Replace a damaged index by an empty one (the old one is moved aside); the caller
        fills it again from the catalog."""
        with self._write_lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.rollback()
                del writer  # releases tantivy's writer lock
            reason = self.damaged or "asked to rebuild"
            # Let go of the old files before they move (Windows cannot move open files).
            self._reloaded_at = None
            self._index = tantivy.Index(SCHEMA)
            self.corrupt_backup = self._move_aside(ValueError(reason))
            self._files.forget()
            self._index = tantivy.Index(SCHEMA, path=str(self.directory))
            register_analyzers(self._index)
            self.recreated, self.recreated_because, self.damaged = True, reason, None
            self._writer = self._open_writer() if self.writable else None

    # -- writing ---------------------------------------------------------------------

    def add(self, docs: Iterable[LexicalDoc]) -> None:
        """Add or replace chunks (by chunk id); visible after commit()."""
        batch = list(docs)
        if not batch:
            return
        with self._write_lock:
            writer = self._require_writer()
            ids = [d.chunk_id for d in batch]
            # A delete applies to documents added before it, so replacing goes first.
            writer.delete_documents_by_query(tantivy.Query.term_set_query(SCHEMA, "chunk_id", ids))
            for doc in batch:
                writer.add_document(_to_document(doc))

    def delete_files(self, file_ids: Iterable[int]) -> None:
        self._delete_where("file_id", file_ids)

    def delete_chunks(self, chunk_ids: Iterable[int]) -> None:
        self._delete_where("chunk_id", chunk_ids)

    def delete_roots(self, root_ids: Iterable[int]) -> None:
        self._delete_where("root_id", root_ids)

    def _delete_where(self, field: str, values: Iterable[int]) -> None:
        ids = sorted(set(values))
        if not ids:
            return
        with self._write_lock:
            # By query, not by term: the binding turns a Python int into an i64 term,
            # which never matches a u64 field.
            query = tantivy.Query.term_set_query(SCHEMA, field, ids)
            self._require_writer().delete_documents_by_query(query)

    def commit(self) -> None:
        """Make every change so far durable and visible to searches."""
        with self._write_lock:
            self._require_writer().commit()
            self._index.reload()

    def _require_writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            state = "opened read-only" if not self.writable else "closed"
            raise RuntimeError(f"lexical index {self.directory} is {state}")
        return self._writer

    # -- reading ---------------------------------------------------------------------

    def search(
        self, query: tantivy.Query | None, limit: int, filters: SearchFilters | None = None
    ) -> list[LexicalHit]:
        """Best `limit` chunks for `query` (core.ranking.lexical_query.build_query makes it
        from what a person typed), best first; None, nothing to search for, finds nothing."""
        if query is None or limit <= 0:
            return []
        clauses = [(tantivy.Occur.Must, query)]
        if filters is not None and filters.active:
            filter_clauses = _filter_clauses(filters)
            if filter_clauses is None:
                return []
            clauses += filter_clauses
        query_all = tantivy.Query.boolean_query(clauses)
        return self._reading(lambda: self._hits(query_all, limit))

    def scores_of(self, query: tantivy.Query | None, chunk_ids: Iterable[int]) -> list[LexicalHit]:
        """`query`'s score of each of `chunk_ids` that it matches, best first: the score
        each would have in `search`, for chunks another side found (ranking/search.py)."""
        ids = sorted({int(i) for i in chunk_ids})
        if query is None or not ids:
            return []
        only = tantivy.Query.term_set_query(SCHEMA, "chunk_id", ids)
        clauses = [
            (tantivy.Occur.Must, query),
            (tantivy.Occur.Must, tantivy.Query.const_score_query(only, 0.0)),
        ]
        query_ids = tantivy.Query.boolean_query(clauses)
        return self._reading(lambda: self._hits(query_ids, len(ids)))

    def _hits(self, query: tantivy.Query, limit: int) -> list[LexicalHit]:
        searcher = self._index.searcher()
        limit = min(limit, searcher.num_docs)
        if limit == 0:
            return []
        hits = searcher.search(query, limit, count=False).hits  # a new list at each reading
        ids = searcher.fast_field_values("chunk_id", [address for _, address in hits])
        return [
            LexicalHit(int(cid), float(score))
            for (score, _), cid in zip(hits, ids, strict=True)
            if cid is not None
        ]

    def chunk_ids(self) -> set[int]:
        """Every chunk id in the index (as of the last commit or reload)."""
        return {hit.chunk_id for hit in self._reading(lambda: self._hits(_ALL, 2**31))}

    def doc_count(self) -> int:
        return self._reading(lambda: int(self._index.searcher().num_docs))

    def _reading(self, read: Callable[[], _T]) -> _T:
        """Run a read of tantivy; whatever tantivy fails with becomes
        LexicalIndexDamagedError, now and for every later read until rebuild()."""
        if self.damaged is None:
            try:
                return read()
            except BaseException as exc:
                if not _is_tantivy_failure(exc):
                    raise
                self._mark_damaged(f"tantivy failed: {exc}")
        raise LexicalIndexDamagedError(self._damaged_message())

    def _mark_damaged(self, problem: str) -> None:
        if self.damaged is None:
            self.damaged = problem
            log.warning("lexical index %s is damaged: %s", self.directory, problem)

    def _damaged_message(self) -> str:
        fix = (
            "it is being rebuilt from the catalog"
            if self.writable
            else "restart Codanna Desktop (or, with it closed, run `codanna-desktop index`)"
            " to rebuild it from the catalog"
        )
        return f"Text search is unavailable: the search index is damaged ({self.damaged}); {fix}."

    def reload(self) -> None:
        """See commits made since, by this or another process."""
        if not self.on_disk:
            self._index = self._open_index()
            return
        if self.damaged is not None:
            if not self.writable:
                self._reopen_if_rebuilt()
            return
        stamp = commit_stamp(self.directory)
        if stamp is not None and stamp == self._reloaded_at:
            return  # no commit since: its files were checked then and never change
        for attempt in range(2):
            try:
                self._index.reload()
                break
            except BaseException as exc:
                if not _is_tantivy_failure(exc):
                    raise
                if attempt:
                    self._mark_damaged(f"tantivy failed: {exc}")
                    return
                # A concurrent writer may have removed merged segment files between
                # reading meta.json and opening them; the next attempt reads the newer one.
                time.sleep(0.05)
        problem = self._check_files()
        if problem is not None:
            self._mark_damaged(problem)
        else:
            self._reloaded_at = stamp

    def _reopen_if_rebuilt(self) -> None:
        """A reader of a damaged index: searchable again once the writer has rebuilt it."""
        try:
            index = self._open_index()
        except CodannaError:
            return
        self._index, self.damaged = index, None
        log.info("lexical index %s is readable again", self.directory)

    def close(self) -> None:
        """Release the writer and its lock. Changes not committed are dropped."""
        with self._write_lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.wait_merging_threads()

    def __enter__(self) -> LexicalIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_tantivy_failure(exc: BaseException) -> bool:
    """Any exception, and the PanicException pyo3 turns a Rust panic into (which is a
    BaseException: it would otherwise pass every `except Exception`)."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def _locked_message(directory: Path) -> str:
    return (
        f"Another Codanna Desktop process is updating the search index in {directory}. "
        "Wait for it to finish or close it, then try again; searching still works meanwhile."
    )


@contextlib.contextmanager
def _no_other_writer(directory: Path) -> Iterator[None]:
    """Hold tantivy's writer lock file (it uses flock) so a live writer's index is never
    moved away; raise IndexLockedError if another process holds it."""
    lock_path = directory / ".tantivy-writer.lock"
    if fcntl is None or not lock_path.exists():
        yield
        return
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexLockedError(_locked_message(directory)) from None
        yield  # closing the file releases the lock


# -- documents and filters ------------------------------------------------------

_ALL = tantivy.Query.all_query()
_T = TypeVar("_T")


def _to_document(doc: LexicalDoc) -> tantivy.Document:
    try:
        return _document(doc, lambda s: s)
    except UnicodeEncodeError:
        # Text decoded with surrogateescape cannot cross into Rust; index what is readable.
        return _document(doc, lambda s: s.encode("utf-8", "replace").decode("utf-8"))


def _document(doc: LexicalDoc, clean: Callable[[str], str]) -> tantivy.Document:
    d = tantivy.Document()
    d.add_unsigned("chunk_id", doc.chunk_id)
    d.add_unsigned("file_id", doc.file_id)
    d.add_unsigned("root_id", doc.root_id)
    d.add_text("language", doc.language.lower())
    d.add_text("kind", doc.kind)
    path = clean(doc.path)
    d.add_text("path_raw", path)
    d.add_text("path", mark_acronym_ends(path))
    if doc.symbol:
        symbol = clean(doc.symbol)
        d.add_text("symbol", mark_acronym_ends(symbol))
        d.add_text("symbol_ident", symbol)
    for name in doc.names:
        name = clean(name)
        d.add_text("name", name)
        d.add_text("name_exact", name)
        d.add_text("name_split", mark_acronym_ends(name))
    text = clean(doc.text)
    d.add_text("body", mark_acronym_ends(text))
    d.add_text("body_ident", text)
    return d


def _filter_clauses(filters: SearchFilters) -> list[tuple[tantivy.Occur, tantivy.Query]] | None:
    """MUST clauses with no score of their own; None when the filter can match nothing."""
    Q = tantivy.Query
    queries = []
    if filters.languages:
        langs = sorted({lang.lower() for lang in filters.languages})
        queries.append(Q.term_set_query(SCHEMA, "language", langs))
    if filters.root_ids:
        # Root ids are unsigned in the index; a negative one names no folder (a scope
        # that leaves none, filters.NO_ROOT).
        root_ids = sorted({r for r in filters.root_ids if r >= 0})
        if not root_ids:
            return None
        queries.append(Q.term_set_query(SCHEMA, "root_id", root_ids))
    if filters.path_regex:
        queries.append(_path_query(filters.path_regex, filters.path_glob))
    clauses = [(tantivy.Occur.Must, Q.const_score_query(q, 0.0)) for q in queries]
    if filters.path_exclude_regex:
        left_out = _path_query(filters.path_exclude_regex, filters.path_glob)
        clauses.append((tantivy.Occur.MustNot, left_out))
    return clauses


def _path_query(regex: str, glob: str | None) -> tantivy.Query:
    """The regex query of a path filter. Its syntax is one tantivy reads (filters.py), so
    tantivy refuses one only for its size (the automaton is capped at 1,000 states): that
    is raised (the searcher then filters through the catalog), never searched as if the
    filter matched no path or left none out."""
    try:
        return tantivy.Query.regex_query(SCHEMA, "path_raw", regex)
    except ValueError as exc:
        reason = str(exc).rsplit(": ", 1)[-1].strip("'")  # "Compiled regex exceeds ..."
        raise PathFilterTooBigError(
            f"The path filter “{glob}” has too many wildcards for the search by words"
            f" ({reason}): use fewer."
        ) from exc
