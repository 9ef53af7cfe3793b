"""A vector store that goes away while embedding: the report keeps what was done before."""

from __future__ import annotations

from pathlib import Path

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.indexing.indexer import Progress
from codanna_desktop.core.semantic.embedder import Embedder
from codanna_desktop.core.settings import AppPaths, Settings
from tests.fixtures_pg import PgTestServer


def test_report_keeps_embedding_counts_when_postgres_goes_away_midway(
    embedder: Embedder, tmp_path: Path, pg_url: str, pg_server: PgTestServer
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    # More chunks than one embedding step (64), so the outage falls between two steps.
    (project / "many.py").write_text(
        "".join(f"def handler_{i}(event):\n    return event + {i}\n\n" for i in range(80))
    )
    stopped: list[int] = []

    def stop_the_server_after_the_first_step(p: Progress) -> None:
        if p.phase == "embedding" and not stopped:
            stopped.append(p.done)
            pg_server.stop()

    try:
        with Engine(AppPaths.default(), Settings(database_url=pg_url), embedder=embedder) as eng:
            eng.add_root(project)
            report = eng.index(progress=stop_the_server_after_the_first_step)
    finally:
        pg_server.start()
    assert stopped and 0 < stopped[0] < 80
    assert report.errors and "not available" in report.errors[0]
    assert report.chunks_embedded + report.chunks_from_cache >= stopped[0]
    assert report.files_indexed == 1
