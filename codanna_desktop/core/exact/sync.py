"""Keeping the content index equal to the catalog: the indexer's hooks, the comparison on
start, and the build from the files on disk for an index folder that lacks it (made by
an older version, deleted, or unreadable).

The catalog stays the one source of truth: a stored text whose file the catalog does not
hold as indexed, with the same content hash, is deleted; an indexed file without its
text gets it from disk when the file still has that hash, or else is marked for the
next scan to read again (which writes every store anew). A binary file whose first lines
ripgrep searches (binary_prefix.py) is a skipped file in the catalog with its content
hash kept: its stored part is held to that hash as an indexed file's text is.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
from collections import defaultdict
from typing import TYPE_CHECKING

from codanna_desktop.core.chunking.languages import detect_language
from codanna_desktop.core.exact.binary_prefix import BinaryPrefix, read_prefix
from codanna_desktop.core.exact.content_index import ContentFile, ContentIndex, hash_prefix
from codanna_desktop.core.files.skips import FileSkipped, SkipReason

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from codanna_desktop.core.files.walk import Scanner
    from codanna_desktop.core.indexing.file_reader import FileRead
    from codanna_desktop.core.storage.catalog import Catalog, FileRow

log = logging.getLogger(__name__)

BATCH = 200


def store_texts(
    content: ContentIndex | None,
    root_id: int,
    changed: Sequence[FileRead],
    file_ids: Sequence[int],
) -> None:
    """The indexer's hook: the texts of a batch of changed files, before the catalog."""
    if content is None:
        return
    content.put(
        root_id,
        [
            ContentFile(
                file_id,
                u.scanned.rel_path,
                u.language,
                u.stamp.content_hash,
                u.text,
                raw_bytes(u.scanned.abs_path, u.text, u.stamp.content_hash),
            )
            for u, file_id in zip(changed, file_ids, strict=True)
            if u.stamp is not None
        ],
    )
    content.commit()


def binary_file(file_id: int, rel_path: str, prefix: BinaryPrefix) -> ContentFile:
    """A binary file's searched part as the content index stores it."""
    text = prefix.body.decode("utf-8", "replace")
    raw = None if "\ufffd" not in text or _is_utf8(prefix.body) else prefix.body
    return ContentFile(
        file_id,
        rel_path,
        detect_language(rel_path),
        prefix.content_hash,
        text,
        raw,
        binary_offset=prefix.nul_offset,
    )


def store_binary(content: ContentIndex, root_id: int, file: ContentFile) -> None:
    """The indexer's hook for a binary file with a searched part (before its stamp)."""
    content.put(root_id, [file])
    content.commit()


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def raw_bytes(path: Path, text: str, content_hash: str) -> bytes | None:
    """The file's bytes when its text was decoded with replacements (not valid UTF-8),
    read again and kept only if they are still the bytes the text came from."""
    if "\ufffd" not in text:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != content_hash:
        return None
    try:
        data.decode("utf-8")
        return None  # valid UTF-8 that holds U+FFFD itself: the text is the bytes
    except UnicodeDecodeError:
        pass
    return data.removeprefix(codecs.BOM_UTF8)


def drop_texts(content: ContentIndex | None, file_ids: Sequence[int]) -> None:
    """The indexer's hook: files leaving the index, before their catalog rows go."""
    if content is None or not file_ids:
        return
    content.delete_files(file_ids)
    content.commit()


def reconcile(catalog: Catalog, content: ContentIndex) -> list[FileRow]:
    """Delete stored texts the catalog does not know; return the indexed files whose
    text is missing (to build with `build_missing`)."""
    indexed = {f.id: f for f in catalog.files_in_state("indexed")}
    indexed.update(
        (f.id, f) for f in catalog.files_in_state("skipped") if f.content_hash is not None
    )
    stamps, halves = content.stamps()
    stale = sorted(halves) + [
        file_id
        for file_id, stamp in stamps.items()
        if (row := indexed.get(file_id)) is None
        or row.content_hash is None
        or hash_prefix(row.content_hash) != stamp
    ]
    if stale:
        content.delete_files(stale)
        content.commit()
        log.info("exact-search index: %d stored texts no longer indexed, deleted", len(stale))
    if content.gained_binary_table:
        binary = [
            f for f in catalog.files_in_state("skipped") if f.skip_reason == SkipReason.BINARY
        ]
        for row in binary:
            catalog.touch_file(row.id, 0, 0)  # a changed stat makes the next scan read it
        content.gained_binary_table = False
        log.info("exact-search index: %d binary files to read again", len(binary))
    stale_set = set(stale)
    return [f for f in indexed.values() if f.id not in stamps or f.id in stale_set]


def build_missing(
    catalog: Catalog,
    content: ContentIndex,
    scanner: Scanner,
    files: Sequence[FileRow],
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """Read the texts of `files` from disk into the content index; returns how many were
    stored. A file that changed or went away is marked for the next scan instead."""
    roots = {r.id: r.path for r in catalog.roots()}
    by_root: dict[int, list[ContentFile]] = defaultdict(list)
    stored = 0
    for done, row in enumerate(files, 1):
        if cancel is not None and cancel.is_set():
            break
        root = roots.get(row.root_id)
        if root is None:
            continue
        path = root / row.rel_path
        try:
            source = scanner.read_source(path)
        except FileSkipped:
            source = None
            prefix = read_prefix(path, scanner.max_file_size)
            if prefix is not None and prefix.content_hash == row.content_hash:
                by_root[row.root_id].append(binary_file(row.id, row.rel_path, prefix))
                continue
        if source is None or source.content_hash != row.content_hash:
            catalog.touch_file(row.id, 0, 0)  # a changed stat makes the next scan read it
            continue
        by_root[row.root_id].append(
            ContentFile(
                row.id,
                row.rel_path,
                row.language or "text",
                row.content_hash,
                source.text,
                raw_bytes(path, source.text, row.content_hash),
            )
        )
        if sum(len(v) for v in by_root.values()) >= BATCH:
            stored += _flush(content, by_root)
        if progress is not None and done % BATCH == 0:
            progress(done, len(files))
    stored += _flush(content, by_root)
    if progress is not None:
        progress(len(files), len(files))
    return stored


def _flush(content: ContentIndex, by_root: dict[int, list[ContentFile]]) -> int:
    n = 0
    for root_id, batch in by_root.items():
        content.put(root_id, batch)
        n += len(batch)
    by_root.clear()
    if n:
        content.commit()
    return n
