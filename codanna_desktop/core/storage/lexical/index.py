"""The lexical (BM25) index over chunks, on tantivy.

Code is analysed two ways and each way gets its own fields, because tantivy's regex
tokenizer has no look-around and emits one token stream per field:

- split fields (``body``, ``symbol``, ``path``) hold the words of identifiers:
  ``readFileContents`` → read, file, contents; ``HTTP_TIMEOUT`` → http, timeout;
  ``HTTPConnection`` → http, connection; ``sha256`` → sha, 256;
- identifier fields (``body_ident``, ``symbol_ident``) hold whole identifiers, lowercased
  (``readfilecontents``, ``http_timeout``), so an exact identifier ranks the chunk that has
  it above chunks that only share its words.

The same analysis exists twice: as tantivy analyzers (indexing) and in Python (query terms,
highlighting). Their agreement is pinned by a test. Only the chunk id is stored; the
catalog keeps the text.

A query is read with ``tantivy.parse_query_lenient`` (so ``+must``, ``-not``, ``"a phrase"``,
``AND``/``OR`` and ``^boost`` work), but every word is searched literally: field prefixes are
not honoured (``a:b`` searches a and b), and a query the parser complains about is searched
as its plain words. Terms are OR-ed; BM25 ranks chunks with more of them higher.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import tantivy

from codanna_desktop.core.errors import CodannaError, IndexLockedError, LexicalIndexDamagedError
from codanna_desktop.core.ranking.query_shape import FUNCTION_WORDS, is_identifier_query
from codanna_desktop.core.storage.lexical.files import IndexFileChecker, IndexFilesDamaged

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from codanna_desktop.core.files.filters import SearchFilters

try:  # POSIX only; elsewhere the "is another process writing?" check is skipped.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# Boost per field for a query word; tuned by the benchmarks. The *_phrase entries reward
# chunks where the words of a compound query word (``read_file_contents``,
# ``HTTPConnection.request``) or of plain words typed in a row appear in order, adjacent:
# the same identifier in any casing.
# Measured (BENCHMARKS.md, tests/benchmarks/tuning.py): high boosts on single words in the
# short symbol field let one common word (read, get, copy) pull a function named just that
# above the answer of a prose query (CoSQA lexical MRR@10 0.171); with these values it is
# 0.327 and identifier lookup improves too (success@1 0.867 -> 0.877): the symbol phrase
# boost carries names typed in full.
FIELD_BOOSTS: dict[str, float] = {
    "symbol_ident": 0.5,
    "symbol": 0.25,
    "symbol_phrase": 4.0,
    "body_ident": 0.5,
    "body": 1.0,
    "body_phrase": 1.5,
    "path": 1.0,
    # Spaced forms of a name the chunk defines (`https port` for HTTPS_PORT).
    "name_phrase": 8.0,
}
# A lookup (query_shape) adds these scores to a chunk that defines the name typed (its
# Chunk.names), whatever else the chunk holds: defining a name is a fact, not a frequency,
# so a module chunk defining forty constants counts as much as a class named just that.
# name_exact is the same name in the same case: ERROR (a constant), not Error or error.
NAME_SCORES: dict[str, float] = {"name": 8.0, "name_exact": 8.0}

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


@dataclass(frozen=True)
class LexicalHit:
    chunk_id: int
    score: float


class LexicalIndex:
    """One tantivy index in `directory`.

    Every file is checked against its checksum when opened (see lexical_files.py).

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
        self._index = self._open_index()
        self._writer: tantivy.IndexWriter | None = self._open_writer() if writable else None

    # -- opening ---------------------------------------------------------------------

    def _open_index(self) -> tantivy.Index:
        exists = self.directory.is_dir() and tantivy.Index.exists(str(self.directory))
        self.on_disk = exists or self.writable
        if not self.on_disk:
            # An empty index created here would hide from the next writer that the real
            # one was lost; search an empty one in memory until a writer creates it.
            index = tantivy.Index(_SCHEMA)
            _register_analyzers(index)
            return index
        self.directory.mkdir(parents=True, exist_ok=True)
        self.recreated = not exists
        if not exists:
            self.recreated_because = "it was missing"
        problem = self._check_files() if exists else None
        try:
            if problem is not None:
                raise ValueError(problem)
            index = tantivy.Index(_SCHEMA, path=str(self.directory))
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
            index = tantivy.Index(_SCHEMA, path=str(self.directory))
        _register_analyzers(index)
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
            self._index = tantivy.Index(_SCHEMA)
            self.corrupt_backup = self._move_aside(ValueError(reason))
            self._files.forget()
            self._index = tantivy.Index(_SCHEMA, path=str(self.directory))
            _register_analyzers(self._index)
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
            writer.delete_documents_by_query(tantivy.Query.term_set_query(_SCHEMA, "chunk_id", ids))
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
            query = tantivy.Query.term_set_query(_SCHEMA, field, ids)
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
        self, query: str, limit: int, filters: SearchFilters | None = None
    ) -> list[LexicalHit]:
        """Best `limit` chunks for `query`, best first. Never raises on query syntax."""
        text_query = build_query(query)
        if text_query is None or limit <= 0:
            return []
        clauses = [(tantivy.Occur.Must, text_query)]
        if filters is not None and filters.active:
            filter_clauses = _filter_clauses(filters)
            if filter_clauses is None:
                return []
            clauses += filter_clauses
        query_all = tantivy.Query.boolean_query(clauses)
        return self._reading(lambda: self._hits(query_all, limit))

    def _hits(self, query: tantivy.Query, limit: int) -> list[LexicalHit]:
        searcher = self._index.searcher()
        limit = min(limit, searcher.num_docs)
        if limit == 0:
            return []
        result = searcher.search(query, limit, count=False)
        addresses = [address for _, address in result.hits]
        ids = searcher.fast_field_values("chunk_id", addresses)
        return [
            LexicalHit(chunk_id=int(cid), score=float(score))
            for (score, _), cid in zip(result.hits, ids, strict=True)
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


# -- schema and documents ------------------------------------------------------------

# Analyzer names carry a version: changing the analysis changes the schema, so an index
# built with the old analysis no longer opens and is rebuilt.
_SPLIT = "code_split_v1"
_IDENT = "code_ident_v1"


def _build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("chunk_id", stored=True, indexed=True, fast=True)
    sb.add_unsigned_field("file_id", indexed=True)
    sb.add_unsigned_field("root_id", indexed=True)
    sb.add_text_field("language", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("kind", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("path_raw", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("path", tokenizer_name=_SPLIT, index_option="freq")
    sb.add_text_field("symbol", tokenizer_name=_SPLIT)
    sb.add_text_field("symbol_ident", tokenizer_name=_IDENT, index_option="freq")
    sb.add_text_field("body", tokenizer_name=_SPLIT)
    sb.add_text_field("body_ident", tokenizer_name=_IDENT, index_option="freq")
    sb.add_text_field("name", tokenizer_name=_IDENT, index_option="basic")
    sb.add_text_field("name_split", tokenizer_name=_SPLIT)
    sb.add_text_field("name_exact", tokenizer_name="raw", index_option="basic")
    return sb.build()


_SCHEMA = _build_schema()
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
    d.add_text("path", _mark_acronym_ends(path))
    if doc.symbol:
        symbol = clean(doc.symbol)
        d.add_text("symbol", _mark_acronym_ends(symbol))
        d.add_text("symbol_ident", symbol)
    for name in doc.names:
        name = clean(name)
        d.add_text("name", name)
        d.add_text("name_exact", name)
        d.add_text("name_split", _mark_acronym_ends(name))
    text = clean(doc.text)
    d.add_text("body", _mark_acronym_ends(text))
    d.add_text("body_ident", text)
    return d


def _filter_clauses(filters: SearchFilters) -> list[tuple[tantivy.Occur, tantivy.Query]] | None:
    """MUST clauses with no score of their own; None when the filter can match nothing."""
    Q = tantivy.Query
    queries = []
    if filters.languages:
        langs = sorted({lang.lower() for lang in filters.languages})
        queries.append(Q.term_set_query(_SCHEMA, "language", langs))
    if filters.root_ids:
        # Root ids are unsigned in the index; a negative one names no folder (a scope
        # that leaves none, filters.NO_ROOT).
        root_ids = sorted({r for r in filters.root_ids if r >= 0})
        if not root_ids:
            return None
        queries.append(Q.term_set_query(_SCHEMA, "root_id", root_ids))
    if filters.path_regex:
        try:
            queries.append(Q.regex_query(_SCHEMA, "path_raw", filters.path_regex))
        except ValueError:
            log.info("path filter %r matches no path", filters.path_glob)
            return None
    clauses = [(tantivy.Occur.Must, Q.const_score_query(q, 0.0)) for q in queries]
    if filters.path_exclude_regex:
        try:
            left_out = Q.regex_query(_SCHEMA, "path_raw", filters.path_exclude_regex)
        except ValueError:  # a glob that matches no path leaves nothing out
            log.info("path filter %r leaves out no path", filters.path_glob)
        else:
            clauses.append((tantivy.Occur.MustNot, left_out))
    return clauses


# -- query ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Words:
    """Text the user typed, searched literally (with its identifiers and their words)."""

    text: str
    quoted: bool = False
    slop: int = 0
    prefix: bool = False


@dataclass(frozen=True)
class _Group:
    clauses: tuple[tuple[str, _Node], ...]  # occur is "should", "must" or "must_not"


@dataclass(frozen=True)
class _Boosted:
    node: _Node
    boost: float


_Node = _Words | _Group | _Boosted


def build_query(query: str) -> tantivy.Query | None:
    """The tantivy query for user text; None when there is nothing to search for."""
    plan = _plan(query)
    return _to_query(plan, is_identifier_query(query)) if plan is not None else None


def query_terms(query: str) -> list[str]:
    """The normalised terms the query searches for (identifiers and their words), in order."""
    return list(_query_term_set(query))


@functools.lru_cache(maxsize=256)
def _query_term_set(query: str) -> dict[str, None]:
    plan = _plan(query)
    return dict.fromkeys(_positive_terms(plan)) if plan is not None else {}


def _plan(query: str) -> _Node | None:
    try:
        ast, errors = tantivy.parse_query_lenient(query)
        parsed = not errors and isinstance(ast, dict)
    except Exception:  # the parser is lenient, but a query must never be an error
        parsed = False
    if not parsed:
        words = tuple(("should", _Words(w)) for w in query.split() if _has_terms(w))
        return _Group(words) if words else None
    return _from_ast(ast)


def _from_ast(node: dict[str, Any]) -> _Node | None:
    kind = node.get("type")
    if kind == "literal":
        phrase = str(node.get("phrase") or "")
        quoted = node.get("delimiter") == "double_quotes"
        prefix = bool(node.get("prefix")) or (not quoted and phrase.endswith("*"))
        words = _Words(phrase, quoted, int(node.get("slop") or 0), prefix)
        field = node.get("field_name")
        if field:  # not a field to us: "a:b" searches a and b
            return _group([("should", _Words(str(field))), ("should", words)])
        return words if _has_terms(phrase) else None
    if kind == "bool":
        clauses = []
        for occur, child in node.get("clauses", []):
            sub = _from_ast(child)
            if sub is not None:
                clauses.append((occur or "should", sub))
        return _group(clauses)
    if kind == "boost":
        sub = _from_ast(node.get("underlying") or {})
        return _Boosted(sub, max(0.0, float(node.get("boost") or 1.0))) if sub else None
    if kind == "all":  # "*": punctuation only
        return None
    # set, range, exists and anything newer: search the words they contain.
    return _group([("should", _Words(s)) for s in _strings_in(node)])


def _group(clauses: list[tuple[str, _Node]]) -> _Node | None:
    kept = [(occur, node) for occur, node in clauses if not _empty(node)]
    if not any(occur != "must_not" for occur, _ in kept):
        return None
    return _Group(tuple(kept))


def _empty(node: _Node) -> bool:
    return isinstance(node, _Words) and not _has_terms(node.text)


def _strings_in(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key != "type":
                yield from _strings_in(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _strings_in(value)


_OCCUR = {"must": tantivy.Occur.Must, "must_not": tantivy.Occur.MustNot}


def _to_query(node: _Node, lookup: bool) -> tantivy.Query | None:
    """`lookup`: the query is a name (query_shape), so the names chunks define count."""
    if isinstance(node, _Words):
        return _words_query(node, lookup)
    if isinstance(node, _Boosted):
        sub = _to_query(node.node, lookup)
        return tantivy.Query.boost_query(sub, node.boost) if sub is not None else None
    clauses = []
    for occur, child in node.clauses:
        sub = _to_query(child, lookup)
        if sub is not None:
            clauses.append((_OCCUR.get(occur, tantivy.Occur.Should), sub))
    if not any(occur != tantivy.Occur.MustNot for occur, _ in clauses):
        return None
    # Plain words typed in a row ("http connection") may name one identifier
    # (HTTPConnection, http_connection): reward chunks that have them in that order.
    plain = [
        child.text
        for occur, child in node.clauses
        if occur == "should" and isinstance(child, _Words) and not child.quoted
    ]
    if len(plain) > 1:
        clauses += [(tantivy.Occur.Should, q) for q in _phrase_bonus(" ".join(plain))]
    return tantivy.Query.boolean_query(clauses)


def _words_query(words: _Words, lookup: bool) -> tantivy.Query | None:
    Q = tantivy.Query
    idents = list(dict.fromkeys(t for t, _, _ in _ident_tokens(words.text)))
    parts = [t for t, _, _ in _split_tokens(words.text)]
    if not parts and not idents:
        return None
    phrase: list[str | tuple[int, str]] = list(parts)
    clauses: list[tantivy.Query] = []

    def add(query: tantivy.Query, boost_key: str) -> None:
        clauses.append(Q.boost_query(query, FIELD_BOOSTS[boost_key]))

    if words.quoted and len(parts) > 1:  # "a phrase": the words in order, nothing less
        for field in ("symbol", "body"):
            if words.prefix:
                add(Q.phrase_prefix_query(_SCHEMA, field, phrase), field)
            else:
                add(Q.phrase_query(_SCHEMA, field, phrase, slop=words.slop), field)
        return Q.boolean_query([(tantivy.Occur.Should, q) for q in clauses])

    for i, ident in enumerate(idents):
        prefix = words.prefix and i == len(idents) - 1
        for field in ("symbol_ident", "body_ident"):
            add(_term_or_prefix(field, ident, prefix), field)
        # A word of a sentence ("read", "copy") would pull every function named just
        # that above the answer: defined names count for lookups only.
        if lookup:
            name = _term_or_prefix("name", ident, prefix)
            clauses.append(Q.const_score_query(name, NAME_SCORES["name"]))
    if lookup and not words.prefix:
        # The words as typed, case kept: name_exact is a raw field.
        for name in dict.fromkeys(_IDENT_RE.findall(words.text)):
            exact = Q.term_query(_SCHEMA, "name_exact", name)
            clauses.append(Q.const_score_query(exact, NAME_SCORES["name_exact"]))
    unique_parts = list(dict.fromkeys(parts))
    for i, part in enumerate(unique_parts):
        prefix = words.prefix and i == len(unique_parts) - 1
        for field in ("symbol", "body", "path"):
            add(_term_or_prefix(field, part, prefix), field)
    clauses += _phrase_bonus(words.text)
    return Q.boolean_query([(tantivy.Occur.Should, q) for q in clauses])


def _phrase_bonus(text: str) -> list[tantivy.Query]:
    """Queries rewarding chunks where the words of `text` appear in order, adjacent."""
    phrase: list[str | tuple[int, str]] = [t for t, _, _ in _split_tokens(text)]
    if len(phrase) < 2:
        return []
    return [
        tantivy.Query.boost_query(
            tantivy.Query.phrase_query(_SCHEMA, field, phrase),
            FIELD_BOOSTS[f"{field.removesuffix('_split')}_phrase"],
        )
        for field in ("symbol", "body", "name_split")
    ]


def _term_or_prefix(field: str, term: str, prefix: bool) -> tantivy.Query:
    if prefix:  # terms are word characters only: nothing to escape
        return tantivy.Query.regex_query(_SCHEMA, field, term + ".*")
    return tantivy.Query.term_query(_SCHEMA, field, term)


def _positive_terms(node: _Node) -> Iterator[str]:
    if isinstance(node, _Words):
        yield from (t for t, _, _ in _ident_tokens(node.text))
        yield from (t for t, _, _ in _split_tokens(node.text))
    elif isinstance(node, _Boosted):
        yield from _positive_terms(node.node)
    else:
        for occur, child in node.clauses:
            if occur != "must_not":
                yield from _positive_terms(child)


# -- analysis ------------------------------------------------------------------------

# A letter that does not start a new word: anything but an ASCII capital.
_LOWER = r"[^\W\d_A-Z]"
# Tantivy side (no look-around): runs on text where each acronym's end is marked by a
# space (HTTPConnection → "HTTP Connection"), see _mark_acronym_ends.
_SPLIT_PATTERN = rf"[A-Z]?{_LOWER}+|[A-Z]+|\d+"
_IDENT_PATTERN = r"\w+"
# Python side, same tokens on the unmarked text, so offsets stay the text's own.
_SPLIT_RE = re.compile(rf"[A-Z]+(?=[A-Z]{_LOWER})|[A-Z]?{_LOWER}+|[A-Z]+|\d+")
_IDENT_RE = re.compile(_IDENT_PATTERN)
_ACRONYM_END_RE = re.compile(rf"(?<=[A-Z])(?=[A-Z]{_LOWER})")
# Tokens this long (in UTF-8 bytes) or longer are dropped: hashes, base64, minified code.
_MAX_PART_BYTES = 40
_MAX_IDENT_BYTES = 80


def _mark_acronym_ends(text: str) -> str:
    return _ACRONYM_END_RE.sub(" ", text)


def _analyzer(pattern: str, max_bytes: int) -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(pattern))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.remove_long(max_bytes))
        .build()
    )


_SPLIT_ANALYZER = _analyzer(_SPLIT_PATTERN, _MAX_PART_BYTES)
_IDENT_ANALYZER = _analyzer(_IDENT_PATTERN, _MAX_IDENT_BYTES)


def _register_analyzers(index: tantivy.Index) -> None:
    """Tantivy does not persist custom analyzers: register them on every open."""
    index.register_tokenizer(_SPLIT, _SPLIT_ANALYZER)
    index.register_tokenizer(_IDENT, _IDENT_ANALYZER)


def _tokens(regex: re.Pattern[str], max_bytes: int, text: str) -> Iterator[tuple[str, int, int]]:
    for m in regex.finditer(text):
        token = m.group().lower()
        if len(token.encode("utf-8", "surrogatepass")) < max_bytes:
            yield token, m.start(), m.end()


def _split_tokens(text: str) -> Iterator[tuple[str, int, int]]:
    return _tokens(_SPLIT_RE, _MAX_PART_BYTES, text)


def _ident_tokens(text: str) -> Iterator[tuple[str, int, int]]:
    return _tokens(_IDENT_RE, _MAX_IDENT_BYTES, text)


def _has_terms(text: str) -> bool:
    return next(_ident_tokens(text), None) is not None


# -- highlighting --------------------------------------------------------------------


def highlight_ranges(query: str, text: str) -> list[tuple[int, int]]:
    """Character ranges of `text` whose words match the query's terms, after the same
    normalisation as the index: merged, sorted, not overlapping."""
    terms = _query_term_set(query)
    if not is_identifier_query(query):
        # In a sentence, "the", "to" and "it" match everywhere and hide the words that
        # matter; they are marked only when the sentence has nothing else.
        terms = {t: None for t in terms if t not in FUNCTION_WORDS} or terms
    if not terms:
        return []
    hits: list[tuple[int, int]] = []
    for m in _IDENT_RE.finditer(text):
        word = m.group().lower()
        if word in terms:
            hits.append(m.span())
            continue
        if not any(term in word for term in terms):  # cheap test before splitting
            continue
        start = m.start()
        parts = list(_split_tokens(m.group()))
        if parts and all(p in terms for p, _, _ in parts):
            hits.append(m.span())  # read_file for readFile, read_file or "read file"
        else:
            hits += [(start + a, start + b) for p, a, b in parts if p in terms]
    merged: list[tuple[int, int]] = []
    for start, end in hits:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def split_words(text: str) -> set[str]:
    """The words of `text` as the index splits them (``readFileContents`` → read, file,
    contents), lowercased."""
    return {token for token, _, _ in _split_tokens(text)}
