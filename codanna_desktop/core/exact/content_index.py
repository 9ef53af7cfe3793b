"""Whole file texts with a trigram index over them: where exact search finds its candidates.

One tantivy index in its own folder (``data/exact``), one document per indexed file: the
file's text (stored, compressed by tantivy's document store) and every three-character
window of it, lowercased (indexed, document ids only). A pattern's required trigrams
(trigrams.py) select the files that may hold a match; the matcher reads their texts.

Like the lexical index it is derived from the catalog: written before the catalog row is
finished, deleted by file id before the row is, compared with the catalog on start
(ContentSync), and rebuilt from the files on disk when it is missing or unreadable.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import tantivy

from codanna_desktop.core.errors import IndexLockedError
from codanna_desktop.core.exact.trigrams import ALL, And, Gram, Or, Query

log = logging.getLogger(__name__)

_TRIGRAMS = "trigram_lower"
_WRITER_HEAP_BYTES = 64_000_000
_WRITER_THREADS = 1


def _build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("file_id", stored=True, indexed=True, fast=True)
    sb.add_unsigned_field("root_id", stored=True, indexed=True, fast=True)
    # The first 16 hex digits of the file's sha256, to compare with the catalog cheaply.
    sb.add_unsigned_field("hash_prefix", indexed=False, fast=True)
    sb.add_text_field("path_raw", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("language", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("grams", tokenizer_name=_TRIGRAMS, index_option="basic")
    sb.add_bytes_field("body", stored=True, indexed=False)
    return sb.build()


_SCHEMA = _build_schema()


def _register(index: tantivy.Index) -> None:
    analyzer = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.ngram(3, 3, False))
        .filter(tantivy.Filter.lowercase())
        .build()
    )
    index.register_tokenizer(_TRIGRAMS, analyzer)


def hash_prefix(content_hash: str) -> int:
    return int(content_hash[:16], 16)


@dataclass(frozen=True)
class ContentFile:
    """A file as the indexer hands it over."""

    file_id: int
    rel_path: str
    language: str
    content_hash: str
    text: str


@dataclass(frozen=True)
class StoredFile:
    """A candidate as the matcher gets it."""

    file_id: int
    root_id: int
    rel_path: str
    language: str
    body: bytes  # the text as UTF-8 (what byte offsets and columns count in)


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
        self.on_disk = False
        self._lock = threading.Lock()
        self._index = self._open()
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

    def _open(self) -> tantivy.Index:
        exists = self.directory.is_dir() and tantivy.Index.exists(str(self.directory))
        self.on_disk = exists or self.writable
        if not self.on_disk:
            index = tantivy.Index(_SCHEMA)
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.recreated = not exists
            try:
                index = tantivy.Index(_SCHEMA, path=str(self.directory))
            except ValueError as exc:
                if not self.writable:
                    raise
                # Everything in it can be read again from the files: start over.
                log.warning("exact-search index unreadable (%s); rebuilding", exc)
                shutil.rmtree(self.directory)
                self.directory.mkdir(parents=True)
                self.recreated = True
                index = tantivy.Index(_SCHEMA, path=str(self.directory))
        _register(index)
        return index

    # -- writing ---------------------------------------------------------------------

    def put(self, root_id: int, files: Sequence[ContentFile]) -> None:
        """Add or replace files (by file id); visible after commit()."""
        if not files:
            return
        with self._lock:
            writer = self._require_writer()
            ids = sorted({f.file_id for f in files})
            writer.delete_documents_by_query(tantivy.Query.term_set_query(_SCHEMA, "file_id", ids))
            for f in files:
                doc = tantivy.Document()
                doc.add_unsigned("file_id", f.file_id)
                doc.add_unsigned("root_id", root_id)
                doc.add_unsigned("hash_prefix", hash_prefix(f.content_hash))
                doc.add_text("path_raw", f.rel_path)
                doc.add_text("language", f.language.lower())
                doc.add_text("grams", f.text)
                doc.add_bytes("body", f.text.encode("utf-8", "surrogatepass"))
                writer.add_document(doc)

    def delete_files(self, file_ids: Iterable[int]) -> None:
        ids = sorted(set(file_ids))
        if not ids:
            return
        with self._lock:
            query = tantivy.Query.term_set_query(_SCHEMA, "file_id", ids)
            self._require_writer().delete_documents_by_query(query)

    def commit(self) -> None:
        with self._lock:
            self._require_writer().commit()
            self._index.reload()

    def _require_writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            raise RuntimeError(f"exact-search index {self.directory} is not open for writing")
        return self._writer

    # -- reading ---------------------------------------------------------------------

    def doc_count(self) -> int:
        return int(self._index.searcher().num_docs)

    def stamps(self) -> dict[int, int]:
        """file id -> hash prefix of every stored file."""
        searcher = self._index.searcher()
        if searcher.num_docs == 0:
            return {}
        hits = searcher.search(tantivy.Query.all_query(), searcher.num_docs, count=False).hits
        addresses = [a for _, a in hits]
        ids = searcher.fast_field_values("file_id", addresses)
        hashes = searcher.fast_field_values("hash_prefix", addresses)
        return {
            int(i): int(h)
            for i, h in zip(ids, hashes, strict=True)
            if i is not None and h is not None
        }

    def candidates(
        self,
        query: Query,
        *,
        scopes: Sequence[Scope] = (),
        languages: Sequence[str] = (),
        path_regex: str | None = None,
    ) -> Iterator[StoredFile]:
        """Every stored file the trigram query and the filters allow, texts included."""
        clauses = [(tantivy.Occur.Must, _tantivy_query(query))]
        if path_regex is not None:
            clauses.append(
                (tantivy.Occur.Must, tantivy.Query.regex_query(_SCHEMA, "path_raw", path_regex))
            )
        if languages:
            langs = sorted({lang.lower() for lang in languages})
            clauses.append(
                (tantivy.Occur.Must, tantivy.Query.term_set_query(_SCHEMA, "language", langs))
            )
        if scopes:
            clauses.append((tantivy.Occur.Must, _scopes_query(scopes)))
        searcher = self._index.searcher()
        if searcher.num_docs == 0:
            return
        hits = searcher.search(
            tantivy.Query.boolean_query(clauses), searcher.num_docs, count=False
        ).hits
        for _, address in hits:
            doc = searcher.doc(address)
            yield StoredFile(
                file_id=int(doc["file_id"][0]),
                root_id=int(doc["root_id"][0]),
                rel_path=str(doc["path_raw"][0]),
                language=str(doc["language"][0]),
                body=bytes(doc["body"][0]),
            )

    def reload(self) -> None:
        """See commits made since, by this or another process."""
        if not self.on_disk:
            self._index = self._open()
            return
        try:
            self._index.reload()
        except ValueError:
            time.sleep(0.05)  # a writer removed merged segments between two reads
            self._index.reload()

    def close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.wait_merging_threads()


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
        # A term set, not a term: the binding makes an int term i64, which a u64 field
        # never matches.
        parts = [(tantivy.Occur.Must, Q.term_set_query(_SCHEMA, "root_id", [scope.root_id]))]
        if scope.path_regex is not None:
            parts.append((tantivy.Occur.Must, Q.regex_query(_SCHEMA, "path_raw", scope.path_regex)))
        alternatives.append((tantivy.Occur.Should, Q.boolean_query(parts)))
    return Q.boolean_query(alternatives)
