"""The catalog on its own: what goes in comes back out, field by field, from a real SQLite
file (rows are read by column name, so a column added or moved cannot shift a field)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from codanna_desktop.core.chunking.chunks import Chunk
from codanna_desktop.core.storage.catalog import Catalog, ChunkRow, FileRow, RootRow

FUNCTION = Chunk(
    path="pkg/net.py",
    language="python",
    start_line=3,
    end_line=9,
    symbol="Client.retry",
    kind="method",
    text="def retry(self):\n    return self.send()\n",
    names=("retry",),
)
MODULE = Chunk("pkg/net.py", "python", 1, 2, None, "module", "TIMEOUT = 30\n")


def stored(catalog: Catalog, root: RootRow, *chunks: Chunk) -> tuple[int, list[int]]:
    """Stores the chunks as one file the way the indexer does (begin, stores, finish)."""
    ((file_id, _, ids),) = catalog.begin_file_updates(root.id, [("pkg/net.py", "python", chunks)])
    catalog.finish_file_updates([(file_id, 120, 7_000, "content-hash")])
    return file_id, ids


def test_a_chunk_comes_back_from_the_catalog_with_every_field(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    root = catalog.add_root(tmp_path / "project")
    file_id, (function_id, module_id) = stored(catalog, root, FUNCTION, MODULE)

    rows = catalog.chunk_rows([function_id, module_id])
    row = rows[function_id]
    assert Chunk(**{f.name: getattr(row, f.name) for f in fields(Chunk)}) == FUNCTION
    assert isinstance(row, ChunkRow) and row.hash == FUNCTION.hash
    assert (row.id, row.file_id, row.root_id, row.root_path) == (
        function_id,
        file_id,
        root.id,
        tmp_path / "project",
    )
    row = rows[module_id]
    assert (row.path, row.start_line, row.end_line, row.symbol, row.kind, row.text) == (
        "pkg/net.py",
        1,
        2,
        None,
        "module",
        "TIMEOUT = 30\n",
    )
    assert row.text_hash == MODULE.hash and row.rel_path == "pkg/net.py"
    assert row.abs_path == tmp_path / "project" / "pkg" / "net.py"
    assert row.names == ()  # not kept: the next read of the file restores them
    catalog.close()


def test_pending_chunks_come_back_as_rows_and_leave_once_stored(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    root = catalog.add_root(tmp_path / "project")
    _, ids = stored(catalog, root, FUNCTION, MODULE)

    pending = catalog.pending_vectors(10)
    assert [p.id for p in pending] == ids
    assert pending == list(catalog.chunk_rows(ids).values())
    catalog.set_vector_state(ids[:1], "stored")
    assert [p.id for p in catalog.pending_vectors(10)] == ids[1:]
    catalog.close()


def test_roots_and_files_come_back_with_every_field(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    root = catalog.add_root(tmp_path / "project")
    assert catalog.roots() == [root]
    assert (root.path, root.last_indexed_at, root.error, root.removing) == (
        tmp_path / "project",
        None,
        None,
        False,
    )
    catalog.set_root_indexed(root.id, error="gone")
    assert catalog.root_by_path(root.path) == RootRow(
        id=root.id, path=root.path, added_at=root.added_at, last_indexed_at=None, error="gone"
    )

    file_id, _ = stored(catalog, root, MODULE)
    catalog.mark_skipped(root.id, "big.bin", "binary", "NUL bytes", 5, 6)
    files = catalog.files_of_root(root.id)
    assert files["pkg/net.py"] == FileRow(
        id=file_id,
        root_id=root.id,
        rel_path="pkg/net.py",
        size=120,
        mtime_ns=7_000,
        content_hash="content-hash",
        language="python",
        state="indexed",
        skip_reason=None,
    )
    skipped = files["big.bin"]
    assert (skipped.state, skipped.skip_reason, skipped.size, skipped.mtime_ns) == (
        "skipped",
        "binary",
        5,
        6,
    )
    assert catalog.files_under(root.id, "pkg") == [files["pkg/net.py"]]
    assert catalog.files_in_state("skipped") == [skipped]

    catalog.mark_root_removing(root.id)
    assert catalog.roots() == []
    assert [r.id for r in catalog.roots_being_removed()] == [root.id]
    catalog.close()
