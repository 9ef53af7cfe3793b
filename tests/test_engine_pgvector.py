"""The engine on a real PostgreSQL + pgvector server (started by the tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codanna_desktop.core.embedder import Embedder
from codanna_desktop.core.engine import Engine
from codanna_desktop.core.settings import AppPaths, Settings
from tests.fixtures_pg import PgTestServer
from tests.test_engine import FILES, write_tree


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write_tree(root, FILES)
    return root


def pg_engine(embedder: Embedder, url: str) -> Engine:
    return Engine(AppPaths.default(), Settings(database_url=url), embedder=embedder)


def test_pgvector_store_serves_semantic_search(
    embedder: Embedder, project: Path, pg_url: str
) -> None:
    with pg_engine(embedder, pg_url) as eng:
        eng.add_root(project)
        eng.index()
        assert "PostgreSQL" in eng.vector_store_name
        session = eng.search("arrange values in ascending order")
        assert session.semantic_available
        assert session.results(1.0, 1)[0].symbol == "bubble_sort"
        status = eng.status()
        assert status.embedded == status.chunks > 0
    # Nothing went into the embedded store.
    assert not list((AppPaths.default().data_dir / "vectors").glob("*.hnsw"))


def test_database_outage_keeps_lexical_search_and_indexing_resumes(
    embedder: Embedder, project: Path, pg_url: str, pg_server: PgTestServer
) -> None:
    with pg_engine(embedder, pg_url) as eng:
        eng.add_root(project)
        eng.index()
        pg_server.stop()
        try:
            (project / "net/new.py").write_text(
                "def compress_payload(data):\n    return zlib.compress(data)\n"
            )
            report = eng.index()
            assert report.files_indexed == 1
            assert report.errors and "password" not in report.errors[0].lower()
            assert pg_server.password not in report.errors[0]
            # Lexical search goes on while the database is away, and says why.
            session = eng.search("compress_payload")
            assert session.results(0.5, 1)[0].path == "net/new.py"
            assert any("unavailable" in note.lower() for note in session.notes)
        finally:
            pg_server.start()
        # Back: the pending chunk is embedded and semantic search works again.
        report = eng.embed_pending()
        assert not report.errors
        status = eng.status()
        assert status.embedded == status.chunks
        assert eng.search("shrink bytes with zlib").results(1.0, 1)[0].path == "net/new.py"


def test_ghost_vectors_in_postgres_are_removed_after_an_unclean_stop(
    embedder: Embedder, project: Path, pg_url: str
) -> None:
    eng = pg_engine(embedder, pg_url)
    eng.add_root(project)
    eng.index()
    store = eng._get_vectors()
    assert store is not None
    known = eng.catalog.all_chunk_ids()
    ghost = max(known) + 1000
    import numpy as np

    from codanna_desktop.core.vector_store import VectorMeta

    vec = np.zeros((1, embedder.dim), dtype=np.float32)
    vec[0, 0] = 1.0
    store.upsert([ghost], vec, [VectorMeta(eng.catalog.root_key(1), "ghost.py", "python")])
    # Crash: no close(), so the catalog still says a writer is open.
    eng._release_lock()
    eng.lexical.close()
    eng.content.close()
    with pg_engine(embedder, pg_url) as again:
        store2 = again._get_vectors()
        assert store2 is not None
        assert ghost not in store2.ids()
        assert store2.ids() == again.catalog.all_chunk_ids(vector_done=True)
