"""Whole file texts with a trigram index over them: where exact search finds its candidates.

Two parts in one folder (``data/exact``), one entry per indexed file (and per binary file
whose first lines ripgrep searches: binary_prefix.py), both keyed by the catalog's file
id: a tantivy index (``trigrams/``) of every window of one to four characters of the
file's text, lowercased (document ids only), with the file's root, path and language for filters;
and the texts themselves, uncompressed, in SQLite (``texts.sqlite``). A pattern's required
trigrams (trigrams.py) select the files that may hold a match; the matcher reads
their texts. The texts are kept out of tantivy's compressed document store because
reading candidates is most of a search's time: a stored document came back at about
50 MB/s on this machine, a SQLite blob at several hundred.

Like the lexical index it is derived from the catalog: written before the catalog row is
finished, deleted by file id before the row is, compared with the catalog on start
(ContentSync), and rebuilt from the files on disk when it is missing or unreadable.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import tantivy

from codanna_desktop.core.errors import IndexLockedError
from codanna_desktop.core.exact.trigrams import ALL, And, Gram, Or, Query
from codanna_desktop.core.storage.commit_stamp import commit_stamp

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

log = logging.getLogger(__name__)

# Windows of one to four characters. Four-grams cut the candidates of a literal such as
# `set_dict` from 195 files of the standard library to 21 (3 hold it); two-grams let a
# short literal (`?.`, `=>`, `||`) and one-grams a character that is not ASCII (`é`, `—`)
# choose their files instead of reading every text (trigrams.py). A new name: an index
# made with other windows no longer opens with this schema and is built again.
_GRAMS = "ngram14_lower"
_TEXTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS texts (
    file_id INTEGER PRIMARY KEY,
    root_id INTEGER NOT NULL,
    rel_path TEXT NOT NULL,
    language TEXT NOT NULL,
    hash_prefix INTEGER NOT NULL,
    body BLOB NOT NULL
);
-- Files the catalog skips as binary whose first lines ripgrep still searches
-- (binary_prefix.py): their text above is that part, and here is where the NUL is.
-- A table of its own, so that an index made before it gains it by CREATE IF NOT EXISTS.
CREATE TABLE IF NOT EXISTS binary_files (
    file_id INTEGER PRIMARY KEY,
    nul_offset INTEGER NOT NULL
);
"""
_READ_MMAP_BYTES = 1 << 40  # the whole file, however large (SQLite maps what exists)
_WRITER_HEAP_BYTES = 64_000_000
_WRITER_THREADS = 1


def _build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("file_id", stored=True, indexed=True, fast=True)
    sb.add_unsigned_field("root_id", indexed=True)
    sb.add_text_field("path_raw", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("language", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("grams", tokenizer_name=_GRAMS, index_option="basic")
    return sb.build()


_SCHEMA = _build_schema()


def _register(index: tantivy.Index) -> None:
    analyzer = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.ngram(1, 4, False))
        .filter(tantivy.Filter.lowercase())
        .build()
    )
    index.register_tokenizer(_GRAMS, analyzer)


def hash_prefix(content_hash: str) -> int:
    """The first 15 hex digits of a sha256 (fits SQLite's signed integers)."""
    return int(content_hash[:15], 16)


@dataclass(frozen=True)
class ContentFile:
    """A file as the indexer hands it over."""

    file_id: int
    rel_path: str
    language: str
    content_hash: str
    text: str
    # The file's own bytes when they are not valid UTF-8 (the text has U+FFFD for them):
    # matched as they are, as ripgrep does; the trigrams still come from the text.
    raw: bytes | None = None
    # A binary file's searched part (binary_prefix.py): where its first NUL byte is.
    binary_offset: int | None = None

    @property
    def body(self) -> bytes:
        return self.raw if self.raw is not None else self.text.encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class StoredFile:
    """A candidate as the matcher gets it."""

    file_id: int
    root_id: int
    rel_path: str
    language: str
    body: bytes  # the text as UTF-8 (what byte offsets and columns count in)
    binary_offset: int | None = None  # a binary file's NUL, searched up to (see ContentFile)


@dataclass(frozen=True)
class Scope:
    """Part of one root: the whole root, or the files whose path matches `path_regex`."""

    root_id: int
    path_regex: str | None = None


class ContentIndex:
    """See the module docstring. Writable: holds tantivy's writer lock until close().
    Read-only: a missing index is empty (`on_disk` False) until reload() finds one.
    `recreated` is True when a writer found no usable index and made a new one."""

    def __init__(self, directory: Path, *, writable: bool = True) -> None:
        self.directory = Path(directory)
        self.writable = writable
        self.recreated = False
        # An index made before binary files were searched: its binary files are to be
        # read again (sync.reconcile) to store what ripgrep searches of them.
        self.gained_binary_table = False
        self.on_disk = False
        self._seen_meta: bytes | None = None
        # The searches' connection has seen the binary_files table (it is never dropped,
        # so a search need not ask again: pending_files() and candidates() both ask).
        self._read_has_binary_table = False
        self._lock = threading.Lock()
        self._index = self._open()
        self._texts = self._open_texts()
        # Searches read through their own connection: they see committed texts only, and
        # never share a statement with the writer's open transaction.
        self._read = self._open_reader()
        self._writer: tantivy.IndexWriter | None = None
        if writable:
            try:
                self._writer = self._index.writer(
                    heap_size=_WRITER_HEAP_BYTES, num_threads=_WRITER_THREADS
                )
            except ValueError as exc:
                if "LockBusy" in str(exc):
                    raise IndexLockedError(
                        f"Another Codanna Desktop process is updating {self.directory}."
                    ) from exc
                raise

    @property
    def _grams_dir(self) -> Path:
        return self.directory / "trigrams"

    def _open(self) -> tantivy.Index:
        grams = self._grams_dir
        exists = grams.is_dir() and tantivy.Index.exists(str(grams))
        self.on_disk = exists or self.writable
        if not self.on_disk:
            index = tantivy.Index(_SCHEMA)
        else:
            grams.mkdir(parents=True, exist_ok=True)
            self.recreated = not exists
            try:
                index = tantivy.Index(_SCHEMA, path=str(grams))
            except ValueError as exc:
                if not self.writable:
                    # Made by another version: empty until the writer rebuilds it (the
                    # search says the index is being built).
                    log.info("exact-search index not readable yet (%s)", exc)
                    self.on_disk = False
                    index = tantivy.Index(_SCHEMA)
                    _register(index)
                    return index
                # Everything in it can be read again from the files: start over.
                log.warning("exact-search index unreadable (%s); rebuilding", exc)
                shutil.rmtree(grams)
                grams.mkdir(parents=True)
                self.recreated = True
                index = tantivy.Index(_SCHEMA, path=str(grams))
        _register(index)
        return index

    def _open_reader(self) -> sqlite3.Connection | None:
        path = self.directory / "texts.sqlite"
        if not path.exists():
            return None
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        # Texts read through a memory map instead of read() calls: 1.5 GB/s against 0.6 on
        # this machine's standard library (most of a search with many candidates).
        db.execute(f"PRAGMA mmap_size={_READ_MMAP_BYTES}")
        return db

    def _open_texts(self) -> sqlite3.Connection | None:
        """The writer's connection (None when read-only), inside a transaction always."""
        if not self.writable:
            return None
        path = self.directory / "texts.sqlite"
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            self.gained_binary_table = "texts" in tables and "binary_files" not in tables
            db.executescript(_TEXTS_SCHEMA)
        except sqlite3.DatabaseError as exc:
            db.close()
            log.warning("exact-search texts unreadable (%s); rebuilding", exc)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_TEXTS_SCHEMA)
        if self.recreated:
            db.execute("DELETE FROM texts")  # texts without their trigrams are never found
            db.execute("DELETE FROM binary_files")
        db.execute("BEGIN")
        return db

    # -- writing ---------------------------------------------------------------------

    def put(self, root_id: int, files: Sequence[ContentFile]) -> None:
        """Add or replace files (by file id); visible after commit()."""
        if not files:
            return
        with self._lock:
            writer = self._require_writer()
            ids = sorted({f.file_id for f in files})
            writer.delete_documents_by_query(tantivy.Query.term_set_query(_SCHEMA, "file_id", ids))
            texts = self._require_texts()
            for f in files:
                doc = tantivy.Document()
                doc.add_unsigned("file_id", f.file_id)
                doc.add_unsigned("root_id", root_id)
                doc.add_text("path_raw", f.rel_path)
                doc.add_text("language", f.language.lower())
                doc.add_text("grams", f.text)
                writer.add_document(doc)
            texts.executemany(
                "INSERT OR REPLACE INTO texts VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        f.file_id,
                        root_id,
                        f.rel_path,
                        f.language.lower(),
                        hash_prefix(f.content_hash),
                        f.body,
                    )
                    for f in files
                ],
            )
            texts.executemany("DELETE FROM binary_files WHERE file_id = ?", [(i,) for i in ids])
            texts.executemany(
                "INSERT INTO binary_files VALUES (?, ?)",
                [(f.file_id, f.binary_offset) for f in files if f.binary_offset is not None],
            )

    def delete_files(self, file_ids: Iterable[int]) -> None:
        ids = sorted(set(file_ids))
        if not ids:
            return
        with self._lock:
            query = tantivy.Query.term_set_query(_SCHEMA, "file_id", ids)
            self._require_writer().delete_documents_by_query(query)
            texts = self._require_texts()
            for i in range(0, len(ids), 500):
                part = ids[i : i + 500]
                marks = ",".join("?" * len(part))
                texts.execute(f"DELETE FROM texts WHERE file_id IN ({marks})", part)
                texts.execute(f"DELETE FROM binary_files WHERE file_id IN ({marks})", part)

    def commit(self) -> None:
        """Texts first, then trigrams: a crash between them leaves texts no trigram finds
        (deleted on the next start), never trigrams pointing at a missing text."""
        with self._lock:
            texts = self._require_texts()
            texts.execute("COMMIT")
            texts.execute("BEGIN")
            self._require_writer().commit()
            self._index.reload()

    def _require_writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            raise RuntimeError(f"exact-search index {self.directory} is not open for writing")
        return self._writer

    def _require_texts(self) -> sqlite3.Connection:
        if self._texts is None or not self.writable:
            raise RuntimeError(f"exact-search texts in {self.directory} are not writable")
        return self._texts

    # -- reading ---------------------------------------------------------------------

    def doc_count(self) -> int:
        return int(self._index.searcher().num_docs)

    def binary_count(self) -> int:
        """Stored files that are binary files' searched parts (not indexed files)."""
        db = self._read if self._read is not None else self._texts
        if db is None or not self._has_binary_table(db):
            return 0
        return int(db.execute("SELECT COUNT(*) FROM binary_files").fetchone()[0])

    def _ids(self, query: tantivy.Query) -> list[int]:
        searcher = self._index.searcher()
        if searcher.num_docs == 0:
            return []
        # Every hit is wanted and none ranked: a constant score spares scoring them.
        hits = searcher.search(
            tantivy.Query.const_score_query(query, 1.0), searcher.num_docs, count=False
        ).hits
        ids = searcher.fast_field_values("file_id", [a for _, a in hits])
        return [int(i) for i in ids if i is not None]

    def stamps(self) -> tuple[dict[int, int], set[int]]:
        """file id -> hash prefix of every file held whole (trigrams and text), and the
        ids held by only one of the two (a crash between their commits)."""
        in_grams = set(self._ids(tantivy.Query.all_query()))
        rows = (
            self._texts.execute("SELECT file_id, hash_prefix FROM texts").fetchall()
            if (self._texts is not None)
            else []
        )
        in_texts = {int(i): int(h) for i, h in rows}
        whole = {i: h for i, h in in_texts.items() if i in in_grams}
        return whole, (in_grams ^ set(in_texts))

    def candidates(
        self,
        query: Query,
        *,
        scopes: Sequence[Scope] = (),
        languages: Sequence[str] = (),
        path_regex: str | None = None,
        exclude_regex: str | None = None,
    ) -> Iterator[StoredFile]:
        """Every stored file the trigram query and the filters allow, texts included."""
        clauses = [(tantivy.Occur.Must, _tantivy_query(query))]
        # A path regex tantivy refuses (its automaton is capped at 1,000 states: a glob
        # like `**/*a*/**/*b*/**/*c*`) is matched here in Python instead, on every file
        # the other clauses let through: the same files, only slower.
        in_python: list[tuple[re.Pattern[str], bool]] = []
        for occur, regex in (
            (tantivy.Occur.Must, path_regex),
            (tantivy.Occur.MustNot, exclude_regex),
        ):
            if regex is None:
                continue
            try:
                clauses.append((occur, tantivy.Query.regex_query(_SCHEMA, "path_raw", regex)))
            except ValueError:
                in_python.append((re.compile(regex), occur == tantivy.Occur.Must))
        if languages:
            langs = sorted({lang.lower() for lang in languages})
            clauses.append(
                (tantivy.Occur.Must, tantivy.Query.term_set_query(_SCHEMA, "language", langs))
            )
        if scopes:
            clauses.append((tantivy.Occur.Must, _scopes_query(scopes)))
        ids = self._ids(tantivy.Query.boolean_query(clauses))
        if self._read is None or not ids:
            return
        # One statement for every candidate, read row by row (SQLite releases Python's
        # lock while it steps): only the text being matched is in memory.
        # An index no writer of this version opened yet has no binary_files table.
        nul = "b.nul_offset" if self._has_binary_table(self._read) else "NULL"
        join = " LEFT JOIN binary_files b ON b.file_id = t.file_id" if nul != "NULL" else ""
        rows = self._read.execute(
            f"SELECT t.file_id, t.root_id, t.rel_path, t.language, t.body, {nul} FROM texts t"
            f"{join} WHERE t.file_id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        )
        for file_id, root_id, rel_path, language, body, nul_offset in rows:
            if any(bool(rx.fullmatch(rel_path)) != wanted for rx, wanted in in_python):
                continue
            yield StoredFile(
                int(file_id),
                int(root_id),
                str(rel_path),
                str(language),
                body,
                None if nul_offset is None else int(nul_offset),
            )

    def _has_binary_table(self, db: sqlite3.Connection) -> bool:
        """The writer's connection always has it (it makes it); the searches' one once a
        writer of this version has opened the index."""
        if db is self._texts:
            return True
        if not self._read_has_binary_table:
            self._read_has_binary_table = _has_binary_table(db)
        return self._read_has_binary_table

    def reload(self) -> None:
        """See commits made since, by this or another process."""
        if self._read is None:
            self._read = self._open_reader()
        if not self.on_disk:
            self._index = self._open()
            return
        stamp = commit_stamp(self._grams_dir)  # the bytes of the last reload: nothing new
        if stamp is not None and stamp == self._seen_meta:
            return
        try:
            self._index.reload()
        except ValueError:
            time.sleep(0.05)  # a writer removed merged segments between two reads
            self._index.reload()
        self._seen_meta = stamp

    def close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.wait_merging_threads()
            texts, self._texts = self._texts, None
            if texts is not None:
                if texts.in_transaction:
                    texts.execute("ROLLBACK")  # changes not committed are dropped
                texts.close()
            reader, self._read = self._read, None
            if reader is not None:
                reader.close()


def _has_binary_table(db: sqlite3.Connection) -> bool:
    found = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'binary_files'").fetchone()
    return found is not None


def _tantivy_query(query: Query) -> tantivy.Query:
    Q = tantivy.Query
    if query is ALL:
        return Q.all_query()
    if isinstance(query, Gram):
        return Q.term_query(_SCHEMA, "grams", query.text, index_option="basic")
    if isinstance(query, And):
        return Q.boolean_query([(tantivy.Occur.Must, _tantivy_query(q)) for q in query.items])
    assert isinstance(query, Or)
    return Q.boolean_query([(tantivy.Occur.Should, _tantivy_query(q)) for q in query.items])


def _scopes_query(scopes: Sequence[Scope]) -> tantivy.Query:
    Q = tantivy.Query
    alternatives = []
    for scope in scopes:
        # A range of one value, not a term (the binding makes an int term i64, which a
        # u64 field never matches) nor a term set (190 µs a search, the range 25).
        root = Q.range_query(
            _SCHEMA,
            "root_id",
            tantivy.FieldType.Unsigned,
            scope.root_id,
            scope.root_id,
            use_inverted_index=True,
        )
        parts = [(tantivy.Occur.Must, root)]
        if scope.path_regex is not None:
            parts.append((tantivy.Occur.Must, Q.regex_query(_SCHEMA, "path_raw", scope.path_regex)))
        alternatives.append((tantivy.Occur.Should, Q.boolean_query(parts)))
    return Q.boolean_query(alternatives)
