"""Crashes and damage, for real: a writer process SIGKILLs itself at a precise point, or
a file of the index is garbled on disk, and the next engine to open the data folder
finds a consistent index and search never fails with a traceback."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from codanna_desktop.core.chunking.chunks import text_hash
from codanna_desktop.core.engine import Engine
from codanna_desktop.core.ranking.search import SearchResult
from codanna_desktop.core.semantic.embedder import Embedder
from codanna_desktop.core.storage.catalog import Catalog
from codanna_desktop.core.storage.lexical.index import LexicalIndex

REPO_ROOT = Path(__file__).resolve().parents[1]

FILES = {
    "net/client.py": "def retry_failed_upload(upload):\n    return upload.send()\n",
    "math/sorting.py": "def bubble_sort(items):\n    return sorted(items)\n",
    "web/app.js": "function cartTotal(cart) {\n  return cart.total;\n}\n",
}

# Runs in its own process (CODANNA_HOME comes from the test's environment): indexes the
# project, then does one more thing and kills itself right after tantivy committed.
WRITER = """
import os, signal, sys
from pathlib import Path
from codanna_desktop.core.storage.catalog import Catalog
from codanna_desktop.core.chunking.chunks import text_hash
from codanna_desktop.core.engine import Engine

project, action = Path(sys.argv[1]), sys.argv[2]
eng = Engine(embedder=None)
eng.add_root(project)
eng.index(embed=False)
commit = eng.lexical.commit


def commit_then_die():
    commit()
    os.kill(os.getpid(), signal.SIGKILL)

def mark_then_die(root_id):
    mark(root_id)
    os.kill(os.getpid(), signal.SIGKILL)

if action == "remove":
    eng.lexical.commit = commit_then_die
    eng.remove_root(project)
elif action == "remove, killed once marked":
    mark = eng.catalog.mark_root_removing
    eng.catalog.mark_root_removing = mark_then_die
    eng.remove_root(project)
print("survived", flush=True)
"""


def write_project(root: Path) -> Path:
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def run_writer_until_killed(project: Path, action: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WRITER), str(project), action],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert "survived" not in done.stdout


@pytest.mark.parametrize("action", ["remove", "remove, killed once marked"])
def test_kill_during_remove_is_finished_by_the_next_start(tmp_path: Path, action: str) -> None:
    """Killed right after tantivy committed the delete (before, the folder stayed listed
    with every file `indexed` and nothing searchable, and `index` said "unchanged"), or
    right after the removal began."""
    project = write_project(tmp_path / "project")
    run_writer_until_killed(project, action)
    with Engine(embedder=None) as eng:
        assert eng.roots() == []
        assert eng.status().files == 0 and eng.status().chunks == 0
        assert not eng.search("bubble_sort").results(0.0, 5)
        # Adding the folder again indexes it from scratch: nothing is "unchanged".
        eng.add_root(project)
        report = eng.index(embed=False)
        assert report.files_indexed == 3 and report.files_unchanged == 0
        assert eng.search("bubble_sort").results(0.0, 1)[0].path == "math/sorting.py"


def test_unclean_stop_re_adds_chunks_the_lexical_index_lost(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    with Engine(embedder=None) as eng:
        eng.add_root(project)
        eng.index(embed=False)
        data_dir = eng.paths.data_dir
        sorting = eng.catalog.files_of_root(eng.roots()[0].id)["math/sorting.py"]
    # A writer that stopped without closing, and whose tantivy lost one file's chunks
    # (a committed delete whose catalog delete never happened).
    with LexicalIndex(data_dir / "lexical") as lexical:
        lexical.delete_files([sorting.id])
        lexical.commit()
    catalog = Catalog(data_dir / "catalog.sqlite")
    catalog.set_meta("writer_open", "1")
    catalog.close()
    with Engine(embedder=None) as eng:
        top = eng.search("bubble_sort").results(0.0, 1)
        assert top and top[0].path == "math/sorting.py"
        # The next pass reads the file again (restoring what only the chunker knows).
        report = eng.index(embed=False)
        assert report.files_indexed == 1 and report.files_unchanged == 2
        assert eng.search("bubble_sort").results(0.0, 1)[0].path == "math/sorting.py"


def garble(path: Path) -> None:
    """Flip bytes in the middle of a file, keeping its size."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 3
    data[middle : middle + 16] = bytes(b ^ 0x5A for b in data[middle : middle + 16])
    path.write_bytes(bytes(data))


def test_garbled_lexical_index_is_rebuilt_from_the_catalog_with_one_warning(
    tmp_path: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    project = write_project(tmp_path / "project")
    with Engine(embedder=embedder) as eng:
        eng.add_root(project)
        eng.index()
        data_dir = eng.paths.data_dir
        chunk_ids = eng.catalog.all_chunk_ids()
        vector_ids = eng.semantic.store().ids()  # type: ignore[union-attr]
    assert vector_ids == chunk_ids
    (term,) = (data_dir / "lexical").glob("*.term")
    garble(term)
    with caplog.at_level(logging.WARNING), Engine(embedder=embedder) as eng:
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and "rebuilt from the catalog" in warnings[0]
        notes = [m for m in warnings if term.name in m]
        assert eng.lexical_note == notes[0] == eng.status().lexical_note
        assert list(data_dir.glob("lexical.corrupt-*"))
        # Searchable at once, before any file is read again, under the same chunk ids.
        assert eng.lexical.chunk_ids() == chunk_ids
        top = eng.search("bubble_sort").results(0.0, 1)
        assert top[0].path == "math/sorting.py"
        # The next pass reads the files again; chunks whose text is the same keep their
        # ids and their vectors, so nothing is embedded again.
        before = embedder.documents_embedded
        report = eng.index()
        assert report.files_indexed == 3 and report.chunks_embedded == 0
        assert embedder.documents_embedded == before
        assert eng.catalog.all_chunk_ids() == chunk_ids
        assert eng.search("bubble_sort").results(0.0, 1)[0].path == "math/sorting.py"
        assert eng.search("bubble_sort").results(1.0, 1)[0].path == "math/sorting.py"


def test_search_beside_a_writer_says_the_index_is_damaged_instead_of_failing(
    tmp_path: Path,
) -> None:
    project = write_project(tmp_path / "project")
    writer = Engine(embedder=None)
    try:
        writer.add_root(project)
        writer.index(embed=False)
        with Engine(writer=False, embedder=None) as reader:
            assert reader.search("bubble_sort").results(0.0, 1)
            lexical_dir = writer.lexical.directory
            before = set(lexical_dir.glob("*.idx"))
            (project / "extra.py").write_text("def quick_sort(items):\n    return items\n")
            writer.index(embed=False)
            (new_postings,) = set(lexical_dir.glob("*.idx")) - before
            garble(new_postings)
            session = reader.search("quick_sort")
            assert session.results(0.0, 5) == []
            assert any("search index is damaged" in note for note in session.notes)
            # The next writer to start rebuilds it; the reader then finds results again.
            writer.close()
            writer = Engine(embedder=None)
            assert writer.lexical_note is not None
            session = reader.search("quick_sort")
            assert not any("damaged" in note for note in session.notes)
            assert session.results(0.0, 1)[0].path == "extra.py"
    finally:
        writer.close()


def test_deleted_lexical_folder_is_refilled_from_the_catalog(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    with Engine(embedder=None) as eng:
        eng.add_root(project)
        eng.index(embed=False)
        lexical_dir = eng.lexical.directory
        chunk_ids = eng.catalog.all_chunk_ids()
    shutil.rmtree(lexical_dir)
    with Engine(embedder=None) as eng:
        assert eng.lexical_note is not None and "missing" in eng.lexical_note
        assert eng.lexical.chunk_ids() == chunk_ids
        assert eng.search("cartTotal").results(0.0, 1)[0].path == "web/app.js"


def test_index_found_damaged_by_a_search_is_rebuilt_at_the_next_pass(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    with Engine(embedder=None) as eng:
        eng.add_root(project)
        eng.index(embed=False)
        # What a search leaves behind when tantivy fails under it.
        eng.lexical.damaged = "tantivy failed: index out of bounds"
        session = eng.search("bubble_sort")
        assert session.results(0.0, 5) == []
        assert any("being rebuilt" in note for note in session.notes)
        eng.index(embed=False)
        assert eng.lexical_note is not None and "index out of bounds" in eng.lexical_note
        assert eng.lexical.damaged is None
        assert eng.lexical.chunk_ids() == eng.catalog.all_chunk_ids()
        assert eng.search("bubble_sort").results(0.0, 1)[0].path == "math/sorting.py"


def test_catalog_from_before_root_removal_marks_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE roots (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE,"
            " added_at REAL NOT NULL, last_indexed_at REAL, error TEXT)"
        )
        db.execute("INSERT INTO roots(path, added_at) VALUES ('/old/project', 1.0)")
    db.close()
    catalog = Catalog(path)
    try:
        (root,) = catalog.roots()
        assert root.path == Path("/old/project") and not root.removing
        catalog.mark_root_removing(root.id)
        assert catalog.roots() == [] and catalog.roots_being_removed()[0].id == root.id
    finally:
        catalog.close()


def index_and_find_the_upload(tmp_path: Path, embedder: Embedder) -> tuple[SearchResult, Path]:
    """FILES indexed; the chunk of net/client.py and the catalog's path."""
    project = write_project(tmp_path / "proj")
    with Engine(embedder=embedder) as engine:
        engine.add_root(project)
        engine.index()
        (upload,) = [
            r for r in engine.search("retry_failed_upload").results(0.0, 5) if "net" in r.path
        ]
        return upload, engine.catalog.path


def _damage_row(catalog: Path, column: str, chunk_id: int) -> None:
    """One character of a chunk's text or hash changed inside a well-formed row: what bits
    flipped in a page do when SQLite's page checks still pass (the fault campaign)."""
    with sqlite3.connect(catalog) as db:
        ((value,),) = db.execute(f"SELECT {column} FROM chunks WHERE id = ?", (chunk_id,))
        changed = value[:6] + ("x" if value[6] != "x" else "y") + value[7:]
        db.execute(f"UPDATE chunks SET {column} = ? WHERE id = ?", (changed, chunk_id))


@pytest.mark.parametrize("column", ["text", "text_hash"])
def test_a_chunk_whose_text_no_longer_has_its_hash_is_chunked_again_from_its_file(
    tmp_path: Path, embedder: Embedder, column: str
) -> None:
    """Found by the fault campaign (seed 1136919801, a page flip in a leaf of the chunks
    table): the catalog passed its page checks, `index` exited 0, and the chunk kept a
    hash no cached vector had (or a garbled text the window would show)."""
    upload, catalog = index_and_find_the_upload(tmp_path, embedder)
    _damage_row(catalog, column, upload.id)
    with Engine(embedder=embedder) as engine:
        engine.index()
        rows = list(engine.search("retry_failed_upload").results(0.0, 5))
        (found,) = [r for r in rows if "net" in r.path]
        assert found.text == FILES["net/client.py"].rstrip("\n")
        assert found.text_hash == text_hash(found.text)
        for part in embedder.parts:  # each model's vector is in the cache under its hash
            assert set(engine.catalog.cached_vectors(part.model_id, [found.text_hash]))
        assert engine.catalog.coverage() == (3, 3)  # every chunk has its vector stored
        by_meaning = engine.search("retry a failed upload").results(1.0, 1)
        assert by_meaning[0].id == found.id and by_meaning[0].text == found.text
    with sqlite3.connect(catalog) as db:
        texts = db.execute("SELECT text, text_hash FROM chunks").fetchall()
    assert len(texts) == 3 and all(text_hash(t) == h for t, h in texts)


def _damage_cached_key(catalog: Path, text_hash: str, model_id: str) -> None:
    """One model's cached vector of a text moved under another hash (its last digit)."""
    flipped = text_hash[:-1] + ("0" if text_hash[-1] != "0" else "1")
    with sqlite3.connect(catalog) as db:
        db.execute(
            "UPDATE embeddings SET text_hash = ? WHERE text_hash = ? AND model_id = ?",
            (flipped, text_hash, model_id),
        )


@pytest.mark.parametrize("model", [0, 1])
def test_a_cached_vector_whose_key_was_damaged_is_embedded_again(
    tmp_path: Path, embedder: Embedder, model: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by the fault campaign (seed 69238308, a page flip in a leaf of the embeddings
    table): one hex digit of a row's text hash turned from f to b. The vector's checksum
    still held, so the row was whole under a hash no text has, and the chunk's own text
    had no cached vector for that model: `index` exited 0 and said nothing of it, and the
    next rebuild of the vector store would have had to embed it again."""
    part = embedder.parts[model]
    upload, catalog = index_and_find_the_upload(tmp_path, embedder)
    _damage_cached_key(catalog, upload.text_hash, part.model_id)
    with Engine(embedder=embedder) as engine, caplog.at_level(logging.WARNING):
        before = part.documents_embedded
        report = engine.index()
        assert part.documents_embedded == before + 1  # that text, by that model only
        assert report.chunks_embedded + report.chunks_from_cache == 1
        for each in embedder.parts:  # each model's vector is cached under the text's hash
            assert any(engine.catalog.cached_vectors(m, [upload.text_hash]) for m in each.cache_ids)
        assert engine.catalog.coverage() == (3, 3)
        by_meaning = engine.search("retry a failed upload").results(1.0, 1)
        assert by_meaning[0].id == upload.id
    assert "were missing from the catalog; embedding again" in caplog.text
    with Engine(embedder=embedder) as engine:  # the next writer finds nothing more to do
        again = engine.index()
        assert again.chunks_embedded + again.chunks_from_cache == 0


def test_the_desktop_writer_finds_a_lost_cached_vector_when_it_checks_the_store(
    tmp_path: Path, embedder: Embedder
) -> None:
    """The desktop app's writer (core/service.py) indexes without embedding, and checks
    the vector store a search opened when it is idle: the lost cached vector is found
    there, before anything is pending."""
    part = embedder.parts[1]
    upload, catalog = index_and_find_the_upload(tmp_path, embedder)
    _damage_cached_key(catalog, upload.text_hash, part.model_id)
    with Engine(embedder=embedder) as engine:
        engine.index(embed=False)  # the service's pass over the folders
        assert engine.catalog.coverage() == (3, 3)
        engine.search("retry a failed upload")  # a search opens the vector store
        engine.reconcile_vectors()  # the service, idle
        assert engine.catalog.coverage() == (2, 3)
        report = engine.embed_pending()
        assert report.chunks_embedded + report.chunks_from_cache == 1
        assert engine.catalog.cached_vectors(part.model_id, [upload.text_hash])
        assert engine.catalog.coverage() == (3, 3)
