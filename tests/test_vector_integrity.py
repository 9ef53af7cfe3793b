"""The vector store is checked against its own last save and against the catalog: a crash
(real SIGKILL), a full disk (a real tmpfs), a garbled or deleted file never leaves a wrong
or missing vector behind, never crashes a search, and is refilled from the embedding
cache without the model."""

from __future__ import annotations

import errno
import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.errors import VectorStoreUnavailableError
from codanna_desktop.core.semantic.embedder import Embedder
from codanna_desktop.core.settings import AppPaths, Settings
from codanna_desktop.core.storage.catalog import SCHEMA_VERSION
from codanna_desktop.core.storage.vectors.hnsw import HnswStore
from tests.test_engine import FILES, write_tree

CLI = [sys.executable, "-m", "codanna_desktop"]
# A guard against a hung child, not a measurement.
CHILD_GIVE_UP_S = 300

needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mounting a tmpfs needs root"
)


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def vectors_dir() -> Path:
    return AppPaths.default().data_dir / "vectors"


def hnsw_file() -> Path:
    (path,) = vectors_dir().glob("*.hnsw")
    return path


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=CHILD_GIVE_UP_S, env=os.environ
    )


def kill_when_marked(script: str, marker: Path, *args: str) -> None:
    """Run `script` in a child process; SIGKILL it as soon as it writes `marker`."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(marker), *args],
        env=os.environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    give_up = time.monotonic() + CHILD_GIVE_UP_S
    try:
        while not marker.exists():
            if child.poll() is not None:
                raise AssertionError(f"the child ended before the marker: {child.stderr.read()}")
            if time.monotonic() > give_up:
                raise AssertionError("the child never reached the marker")
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        assert child.stderr is not None
        child.stderr.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MB filesystem to fill up."""
    disk = tmp_path / "disk"
    disk.mkdir()
    with _mounted(disk, "1m"):
        yield disk


@contextmanager
def _mounted(folder: Path, size: str) -> Iterator[Path]:
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Write a file until the filesystem says it is full."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def garble_links(path: Path) -> None:
    """Point every vector's first neighbours far outside the index, keeping the size: the
    kind of damage that makes hnswlib read wild memory."""
    data = bytearray(path.read_bytes())
    _offset, _max, count, per_element, _label, _data = struct.unpack("<6Q", data[:48])
    header = 96  # six size_t, two int, four size_t/double fields
    for k in range(count):
        start = header + k * per_element + 4
        data[start : start + 32] = struct.pack("<8I", *([0x0FFFFFFF] * 8))
    path.write_bytes(bytes(data))


# --- item 1: an id never names two texts -----------------------------------------------

PAUSE_ONCE_VECTORS_ARE_MARKED = r"""
import sys, time
from pathlib import Path
from codanna_desktop.core.storage.catalog import Catalog
from codanna_desktop.core.engine import Engine

marker = Path(sys.argv[1])
original = Catalog.set_vector_state

def set_vector_state(self, chunk_ids, state):
    original(self, chunk_ids, state)
    if state != "pending":  # the catalog counts the new vector; the store's save comes next
        marker.write_text("marked")
        time.sleep(3600)

Catalog.set_vector_state = set_vector_state
with Engine() as engine:
    engine.index()
"""


def test_a_crash_before_the_save_never_leaves_a_deleted_files_vector_under_a_new_chunk(
    embedder: Embedder, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    write_tree(
        root,
        {"invoice.py": 'def parse_invoice_lines(text):\n    """Split an invoice."""\n'},
    )
    with Engine(embedder=embedder) as eng:
        eng.add_root(root)
        eng.index()
    # The newest chunk (the highest id) belongs to the file deleted next.
    write_tree(root, {"sound.py": "def play_alarm_sound(volume):\n    beep(volume)\n"})
    with Engine(embedder=embedder) as eng:
        eng.index()
    (root / "sound.py").unlink()
    write_tree(root, {"matrix.py": "def rotate_matrix(rows):\n    return list(zip(*rows))\n"})

    kill_when_marked(PAUSE_ONCE_VECTORS_ARE_MARKED, tmp_path / "marked")

    with Engine(embedder=embedder) as eng:
        eng.index()
        eng.index(full=True)
        hit = eng.search("rotate_matrix").results(0.0, 1)[0]
        assert hit.path == "matrix.py"
        row = eng.catalog.chunk_rows([hit.chunk_id])[hit.chunk_id]
        own = eng.catalog.cached_vectors(embedder.model_id, [row.text_hash])[row.text_hash]
        store = eng.semantic.store()
        assert store is not None
        best_id, similarity = store.search(own, 1)[0]
        # The store holds the new chunk's own vector under its id, not the deleted one's.
        assert best_id == hit.chunk_id and similarity > 0.999
        deleted_text = eng.catalog.cached_vectors(
            embedder.model_id,
            [h for h in _all_cached_hashes(eng) if h != row.text_hash],
        )
        for vector in deleted_text.values():
            found = store.search(vector, 1)
            assert not found or found[0][0] != hit.chunk_id or found[0][1] < 0.999


def _all_cached_hashes(eng: Engine) -> list[str]:
    db = sqlite3.connect(eng.catalog.path)
    try:
        return [r[0] for r in db.execute("SELECT text_hash FROM embeddings")]
    finally:
        db.close()


def test_a_version_1_catalog_is_migrated_to_ids_that_are_never_reused(
    embedder: Embedder, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    write_tree(root, FILES)
    with Engine(embedder=embedder) as eng:
        eng.add_root(root)
        eng.index()
        chunks = eng.status().chunks
    catalog = AppPaths.default().data_dir / "catalog.sqlite"
    _downgrade_to_version_1(catalog)
    # Version 1 saved no checksum beside the vector index.
    hnsw_file().with_name(hnsw_file().name + ".check").unlink(missing_ok=True)

    with Engine(embedder=embedder) as eng:
        report = eng.index()
        # The suspect vectors are refilled from the embedding cache: no model work.
        assert report.chunks_embedded == 0 and report.chunks_from_cache == chunks
        assert any("rebuilt from the embedding cache" in e for e in report.errors)
        assert eng.search("order numbers from small to large").results(1.0, 1)[0].path == (
            "math/sorting.py"
        )
        newest = max(eng.catalog.all_chunk_ids())
        (root / "web/app.js").unlink()
        write_tree(root, {"extra.py": "def compute_checksum(data):\n    return sum(data)\n"})
        eng.index()
        assert min(eng.catalog.all_chunk_ids() - set(range(newest + 1))) > newest
    db = sqlite3.connect(catalog)
    try:
        (chunks_sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'chunks'").fetchone()
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    finally:
        db.close()
    assert "AUTOINCREMENT" in chunks_sql
    assert version == (str(SCHEMA_VERSION),) and SCHEMA_VERSION >= 2


def _downgrade_to_version_1(catalog: Path) -> None:
    """Rewrite a catalog as version 1 wrote it: chunk ids without AUTOINCREMENT."""
    db = sqlite3.connect(catalog, isolation_level=None)
    try:
        (chunks_sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'chunks'").fetchone()
        db.execute("BEGIN")
        db.execute(
            chunks_sql.replace(" AUTOINCREMENT", "").replace(
                "CREATE TABLE chunks", "CREATE TABLE c1"
            )
        )
        db.execute("INSERT INTO c1 SELECT * FROM chunks")
        db.execute("UPDATE c1 SET vector_state = 'done' WHERE vector_state != 'pending'")
        db.execute("DROP TABLE chunks")
        db.execute("ALTER TABLE c1 RENAME TO chunks")
        db.execute("CREATE INDEX chunks_file ON chunks(file_id)")
        db.execute("CREATE INDEX chunks_vector_state ON chunks(vector_state)")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        db.execute("COMMIT")
    finally:
        db.close()


# --- item 3: a full disk -----------------------------------------------------------------


@needs_root
def test_a_save_on_a_full_disk_fails_and_keeps_the_saved_index(small_disk: Path) -> None:
    path = small_disk / "v.hnsw"
    store = HnswStore(path, 64)
    ids = list(range(1, 101))
    store.upsert(ids, unit_vectors(100, 64, seed=1), [])
    store.flush()
    saved = path.read_bytes()
    filler = fill(small_disk)
    more = list(range(101, 201))
    store.upsert(more, unit_vectors(100, 64, seed=2), [])

    with pytest.raises(VectorStoreUnavailableError, match="disk"):
        store.flush()

    assert path.read_bytes() == saved
    assert temporaries(small_disk) == []
    assert HnswStore.open_readonly(path, 64).count() == 100
    filler.unlink()
    store.flush()  # still dirty: the next save writes everything
    assert HnswStore.open_readonly(path, 64).count() == 200


@needs_root
def test_vectors_a_full_disk_kept_from_the_saved_index_are_refilled_by_the_next_run(
    embedder: Embedder, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    write_tree(root, FILES)
    vectors_dir().mkdir(parents=True)
    with _mounted(vectors_dir(), "1m") as disk:
        with Engine(embedder=embedder) as eng:
            eng.add_root(root)
            eng.index()
        saved = hnsw_file().read_bytes()
        filler = fill(disk)
        write_tree(root, {"net/zip.py": "def compress_payload(data):\n    return zlib(data)\n"})

        with Engine(embedder=embedder) as eng:
            report = eng.index()
            assert report.files_indexed == 1
            assert any("Could not save the vector index" in e for e in report.errors)
        assert hnsw_file().read_bytes() == saved
        assert temporaries(disk) == []
        with Engine(writer=False) as reader:
            status = reader.status()
            assert status.embedded < status.chunks  # not "up to date"

        filler.unlink()
        with Engine(embedder=embedder) as eng:
            report = eng.index()
            assert report.chunks_embedded == 0 and report.chunks_from_cache == 1
            hit = eng.search("shrink bytes with zlib").results(1.0, 1)[0]
            assert hit.path == "net/zip.py"
            status = eng.status()
            assert status.embedded == status.chunks


# --- item 4: a garbled or deleted index ------------------------------------------------


def test_a_garbled_vector_index_never_crashes_search_and_is_rebuilt_from_the_cache(
    embedder: Embedder, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    write_tree(root, FILES)
    with Engine(embedder=embedder) as eng:
        eng.add_root(root)
        eng.index()
        chunks = eng.status().chunks
    garble_links(hnsw_file())

    lexical = run_cli("search", "readFileContents", "--alpha", "0", "--json")
    assert lexical.returncode == 0, lexical.stderr
    hybrid = run_cli("search", "order numbers from small to large")
    assert hybrid.returncode == 0, hybrid.stderr
    assert "damaged" in hybrid.stderr
    status = run_cli("status")
    assert "damaged" in status.stdout and "up to date" not in status.stdout

    index = run_cli("index")
    assert index.returncode == 0, index.stderr
    assert "rebuilt from the embedding cache" in index.stderr
    assert f"0 embedded; {chunks} from the embedding cache" in index.stdout
    semantic = run_cli("search", "order numbers from small to large", "--alpha", "1", "--json")
    assert json.loads(semantic.stdout.splitlines()[0])["symbol"] == "bubble_sort"
    assert "up to date" in run_cli("status").stdout


@pytest.mark.parametrize("deleted", ["the index file", "the whole vectors folder"])
def test_a_deleted_vector_index_is_noticed_and_refilled_from_the_cache(
    embedder: Embedder, tmp_path: Path, deleted: str
) -> None:
    root = tmp_path / "project"
    write_tree(root, FILES)
    with Engine(embedder=embedder) as eng:
        eng.add_root(root)
        eng.index()
        chunks = eng.status().chunks
    if deleted == "the index file":
        hnsw_file().unlink()
    else:
        for path in vectors_dir().iterdir():
            path.unlink()

    with Engine(writer=False) as reader:
        status = reader.status()
        assert status.embedded == 0 and status.vector_problem is not None
        assert "missing" in status.vector_problem
    with Engine(embedder=embedder) as eng:
        report = eng.index()
        assert report.chunks_embedded == 0 and report.chunks_from_cache == chunks
        assert any("embedding cache" in e for e in report.errors)
        assert eng.search("order numbers from small to large").results(1.0, 1)[0].path == (
            "math/sorting.py"
        )
        assert eng.status().vector_note is None
    with Engine(embedder=embedder) as eng:  # the note is said once, not on every run
        assert not eng.index().errors


def test_search_at_alpha_0_loads_no_model_and_opens_no_vector_store(tmp_path: Path) -> None:
    root = tmp_path / "project"
    write_tree(root, FILES)
    with Engine() as eng:
        eng.add_root(root)
        eng.index(embed=False)
    settings = Settings(model_path=str(tmp_path / "no-model"))
    with Engine(AppPaths.default(), settings, writer=False) as reader:
        session = reader.search("readFileContents", semantic=False)
        assert session.results(0.0, 1)[0].symbol == "readFileContents"
        assert session.notes == []
        assert reader.model_problem is None  # no model was even tried


# --- the store itself ----------------------------------------------------------------------

KILL_DURING_SAVE = r"""
import os, sys, time
from pathlib import Path
import numpy as np
from codanna_desktop.core.storage.vectors.hnsw import HnswStore

marker, path = Path(sys.argv[1]), Path(sys.argv[2])
vectors = np.eye(8, dtype=np.float32)
store = HnswStore(path, 8)
store.upsert([1, 2, 3, 4], vectors[:4], [])
store.flush()
store.upsert([5, 6, 7, 8], vectors[4:], [])

def pause(src, dst):  # the new file is written, not yet renamed into place
    marker.write_text("saving")
    time.sleep(3600)

os.replace = pause
store.flush()
"""


def test_a_save_killed_midway_leaves_no_temporary_file_behind(tmp_path: Path) -> None:
    folder = tmp_path / "vectors"
    folder.mkdir()
    path = folder / "v.hnsw"
    kill_when_marked(KILL_DURING_SAVE, tmp_path / "saving", str(path))
    assert temporaries(folder)  # the kill left the save's temporary file

    store = HnswStore(path, 8)

    assert temporaries(folder) == []
    assert store.ids() == {1, 2, 3, 4}


def test_hnsw_writer_finding_its_file_garbled_starts_empty_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "v.hnsw"
    store = HnswStore(path, 8)
    store.upsert(list(range(1, 41)), unit_vectors(40, 8, seed=3), [])
    store.close()
    garble_links(path)

    with pytest.raises(VectorStoreUnavailableError, match="damaged"):
        HnswStore.open_readonly(path, 8)
    again = HnswStore(path, 8)

    assert again.rebuild_reason is not None and "damaged" in again.rebuild_reason
    assert again.count() == 0 and not path.exists()


def test_hnsw_writer_finding_its_file_deleted_says_it_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "v.hnsw"
    store = HnswStore(path, 8)
    store.upsert([1, 2], unit_vectors(2, 8, seed=4), [])
    store.close()
    path.unlink()

    assert HnswStore(path, 8).rebuild_reason == "missing"
    assert HnswStore(tmp_path / "never-saved.hnsw", 8).rebuild_reason is None


def test_hnsw_reader_keeps_its_last_good_copy_when_the_file_on_disk_is_garbled(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v.hnsw"
    writer = HnswStore(path, 8)
    vectors = unit_vectors(40, 8, seed=5)
    writer.upsert(list(range(1, 21)), vectors[:20], [])
    writer.flush()
    reader = HnswStore.open_readonly(path, 8)
    writer.upsert(list(range(21, 41)), vectors[20:], [])
    writer.flush()
    garble_links(path)
    os.utime(path, ns=(1, 1))  # a new stat, so the reader looks again

    assert reader.reload_if_changed() is False
    assert reader.count() == 20
    assert reader.search(vectors[0], 1)[0][0] == 1


def test_the_checksum_sidecar_is_small_json(tmp_path: Path) -> None:
    path = tmp_path / "v.hnsw"
    store = HnswStore(path, 8)
    store.upsert([1], unit_vectors(1, 8, seed=6), [])
    store.flush()
    (accepted,) = json.loads(path.with_name("v.hnsw.check").read_text())["accepted"]
    assert accepted["size"] == path.stat().st_size and isinstance(accepted["crc32"], int)
