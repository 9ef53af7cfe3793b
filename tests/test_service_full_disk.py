"""The background indexer on a disk that fills up while it embeds: it says so once, stays
alive, and finishes by itself once there is room. A real 8 MiB file system, the real model."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.semantic.embedder import Embedder
from codanna_desktop.core.service import IndexingService, ServiceEvent
from tests.test_service import wait_for


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], check=True)
    monkeypatch.setenv("CODANNA_HOME", str(disk / "home"))
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.mark.slow
def test_full_disk_while_embedding_is_said_once_and_indexing_goes_on(
    small_disk: Path, tmp_path: Path, embedder: Embedder
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "many.py").write_text(
        "".join(f"def handler_{i}(event):\n    return event + {i}\n\n" for i in range(300))
    )
    engine = Engine(embedder=embedder)
    engine.add_root(project)
    engine.index(embed=False)
    other_files = small_disk / "other-files"
    other_files.write_bytes(b"\0" * (shutil.disk_usage(small_disk).free - 150 * 1024))
    events: list[ServiceEvent] = []
    service = IndexingService(engine, events.append, watch=False)
    service.start()
    try:
        errors = lambda: [e.message for e in events if e.kind == "error"]  # noqa: E731
        assert wait_for(lambda: any("is full" in m for m in errors()), timeout=120)
        assert service._thread.is_alive()  # before, the indexer thread died here
        other_files.unlink()
        assert wait_for(
            lambda: engine.catalog.counts()["embedded"] == engine.catalog.counts()["chunks"],
            timeout=180,
        )
        assert len([m for m in errors() if "is full" in m]) == 1
    finally:
        service.stop()
        engine.close()
