"""The model and the vector store live in one object that the indexer and the searcher
share; only the writer checks the store against the catalog, never a search."""

from __future__ import annotations

from pathlib import Path

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.semantic.embedder import Embedder
from codanna_desktop.core.service import IndexingService
from codanna_desktop.core.settings import AppPaths, Settings
from tests.test_engine import FILES, write_tree
from tests.test_service import wait_for

SENTENCE = "order numbers from small to large"


def vector_states(eng: Engine) -> dict[int, str]:
    rows = eng.catalog._query("SELECT id, vector_state FROM chunks")
    return {int(i): str(state) for i, state in rows}


def indexed(embedder: Embedder, root: Path) -> int:
    write_tree(root, FILES)
    with Engine(embedder=embedder) as eng:
        eng.add_root(root)
        eng.index()
        return eng.status().chunks


def indexed_then_vectors_deleted(embedder: Embedder, root: Path) -> int:
    """An index whose vector file is gone: a writer that checks it refills every vector."""
    chunks = indexed(embedder, root)
    (hnsw,) = (AppPaths.default().data_dir / "vectors").glob("*.hnsw")
    hnsw.unlink()
    return chunks


def test_a_search_on_the_writer_never_resets_vectors_in_the_catalog(
    embedder: Embedder, tmp_path: Path
) -> None:
    chunks = indexed_then_vectors_deleted(embedder, tmp_path / "project")
    with Engine(embedder=embedder) as eng:
        before = vector_states(eng)
        assert set(before.values()) == {"done"}
        # The search opens the store first (the app's searches share the writer engine,
        # on another thread than the writer loop).
        eng.search(SENTENCE).results(1.0, 5)
        assert eng.semantic.opened_store is not None
        assert vector_states(eng) == before
        assert not eng.catalog.get_meta("vector_note")

        # The writer checks the store before its first use of it, and refills it.
        report = eng.index()
        assert report.chunks_embedded == 0 and report.chunks_from_cache == chunks
        assert set(vector_states(eng).values()) == {"done"}
        assert eng.search(SENTENCE).results(1.0, 1)[0].path == "math/sorting.py"


def test_the_writer_loop_checks_a_store_a_search_opened(embedder: Embedder, tmp_path: Path) -> None:
    chunks = indexed_then_vectors_deleted(embedder, tmp_path / "project")
    eng = Engine(embedder=embedder)
    svc = IndexingService(eng, lambda event: None, watch=False)
    svc.start()
    try:
        # Nothing changed on disk: the start's sync neither loads the model nor opens the
        # store, so the search below is the first to open it.
        assert svc.wait_idle()
        eng.search(SENTENCE).results(1.0, 5)
        assert wait_for(lambda: eng.semantic.opened_store is not None)
        store = eng.semantic.opened_store
        assert store is not None
        # Refilled and saved (a vector counts as done once a save covered it).
        assert wait_for(
            lambda: store.count() == chunks and set(vector_states(eng).values()) == {"done"}
        )
        assert eng.search(SENTENCE).results(1.0, 1)[0].path == "math/sorting.py"
    finally:
        svc.stop()
        eng.close()


def test_a_search_at_weight_0_on_the_writer_loads_no_model_and_opens_no_store(
    tmp_path: Path,
) -> None:
    root = tmp_path / "project"
    write_tree(root, FILES)
    settings = Settings(model_path=str(tmp_path / "no-model"))
    with Engine(AppPaths.default(), settings) as eng:
        eng.add_root(root)
        eng.index(embed=False)
        session = eng.search("readFileContents", semantic=False)
        assert session.results(0.0, 1)[0].symbol == "readFileContents"
        assert eng.model_problem is None  # no model was even tried
        assert eng.semantic.opened_store is None and eng.model_loads == 0


def test_unloading_the_model_keeps_the_store_and_the_next_search_loads_it_again(
    tmp_path: Path, embedder: Embedder
) -> None:
    indexed(embedder, tmp_path / "project")
    with Engine() as eng:  # loads the model itself, as the app does
        assert eng.search(SENTENCE).results(1.0, 1)[0].path == "math/sorting.py"
        store = eng.semantic.opened_store
        assert eng.model_loads == 1 and store is not None
        assert eng.unload_model() and not eng.model_loaded
        assert eng.search(SENTENCE).results(1.0, 1)[0].path == "math/sorting.py"
        assert eng.model_loads == 2 and eng.semantic.opened_store is store
