"""The engine on a real PostgreSQL + pgvector server (started by the tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.semantic.embedder import Embedder
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
    store = eng.semantic.store()
    assert store is not None
    known = eng.catalog.all_chunk_ids()
    ghost = max(known) + 1000
    import numpy as np

    from codanna_desktop.core.storage.vectors.store import VectorMeta

    vec = np.zeros((1, embedder.dim), dtype=np.float32)
    vec[0, 0] = 1.0
    store.upsert([ghost], vec, [VectorMeta(eng.catalog.root_key(1), "ghost.py", "python")])
    # Crash: no close(), so the catalog still says a writer is open.
    eng._release_lock()
    eng.lexical.close()
    eng.content.close()
    with pg_engine(embedder, pg_url) as again:
        again.index()  # the writer checks the store against the catalog before using it
        store2 = again.semantic.opened_store
        assert store2 is not None
        assert ghost not in store2.ids()
        assert store2.ids() == again.catalog.all_chunk_ids(vector_done=True)


def password_forms(pg_server: PgTestServer, pg_url: str) -> dict[str, str]:
    """The same database as libpq's three ways to carry a password."""
    dbname = pg_url.rsplit("/", 1)[1]
    where = f"127.0.0.1:{pg_server.port}/{dbname}"
    return {
        "query parameter": f"postgresql://{pg_server.superuser}@{where}?password={pg_server.password}",
        "conninfo": (
            f"host=127.0.0.1 port={pg_server.port} dbname={dbname} "
            f"user={pg_server.superuser} password='{pg_server.password}'"
        ),
    }


@pytest.mark.parametrize("form", ["query parameter", "conninfo"])
def test_a_password_in_any_form_is_never_shown_nor_stored_in_the_catalog(
    embedder: Embedder,
    project: Path,
    pg_url: str,
    pg_server: PgTestServer,
    form: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = password_forms(pg_server, pg_url)[form]
    # The settings accept postgresql:// URLs; a conninfo string comes from the environment.
    monkeypatch.setenv("CODANNA_DATABASE_URL", url)
    secret = pg_server.password
    with Engine(AppPaths.default(), Settings(), embedder=embedder) as eng:
        eng.add_root(project)
        eng.index()
        assert eng.status().embedded > 0  # the password worked
        shown = [eng.vector_store_name, eng.status().vector_store]
        shown.append(str(eng.catalog.get_meta("vector_store")))
        pg_server.stop()
        try:
            (project / "net/new.py").write_text("def compress_payload(data):\n    return data\n")
            shown += eng.index().errors
            shown += eng.search("compress payload").notes
        finally:
            pg_server.start()
    assert shown[2].startswith("pgvector:")
    assert not [text for text in shown if secret in text]
    catalog = AppPaths.default().data_dir / "catalog.sqlite"
    assert secret.encode() not in b"".join(
        p.read_bytes() for p in catalog.parent.glob("catalog.sqlite*")
    )


def test_the_command_line_never_prints_a_password_given_as_a_parameter(
    project: Path, pg_url: str, pg_server: PgTestServer
) -> None:
    from tests.test_cli import run

    url = password_forms(pg_server, pg_url)["query parameter"]
    config = AppPaths.default().settings_file
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'database_url = "{url}"\n')
    outputs = [run("add", str(project), check=True), run("index", check=True)]
    outputs += [run("search", "sort values"), run("status"), run("status", "--json")]
    pg_server.stop()
    try:
        outputs += [run("index"), run("search", "sort values"), run("status", "--json")]
    finally:
        pg_server.start()
    assert "PostgreSQL" in outputs[3].stdout
    for proc in outputs:
        assert pg_server.password not in proc.stdout + proc.stderr
