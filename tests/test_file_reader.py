"""Big batches are read and chunked in worker processes, with the same result as on a
thread, and a worker that dies loses no file."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.indexing import file_reader, indexer
from codanna_desktop.core.indexing.indexer import Progress
from codanna_desktop.core.settings import AppPaths

REPO_ROOT = Path(__file__).resolve().parents[1]


def write_project(root: Path, files: int = 12) -> Path:
    for i in range(files):
        package = root / f"pkg{i % 3}"
        package.mkdir(parents=True, exist_ok=True)
        (package / f"mod{i}.py").write_text(
            f"MODULE_{i} = {i}\n\n\nclass Handler{i}:\n    def handle_{i}(self):\n"
            f"        return {i}\n\n\ndef helper_{i}(x):\n    return x + {i}\n"
        )
    (root / "pkg0" / "blob.py").write_bytes(b"\x00\x01 binary")  # skipped with its reason
    return root


def indexed_rows(
    home: Path, root: Path, process_min_files: int
) -> tuple[list[tuple[object, ...]], bool]:
    """Every chunk's place and text after indexing `root` in its own data folder, and
    whether worker processes ran meanwhile."""
    paths = AppPaths(config_dir=home, data_dir=home / "data")
    with Engine(paths, embedder=None) as eng:
        eng.add_root(root)
        saw_workers: list[bool] = []
        original = file_reader.PROCESS_MIN_FILES
        file_reader.PROCESS_MIN_FILES = process_min_files
        try:
            report = eng.index(
                embed=False,
                progress=lambda p: saw_workers.append(bool(multiprocessing.active_children())),
            )
        finally:
            file_reader.PROCESS_MIN_FILES = original
        assert report.skipped["binary"] == 1
        rows = eng.catalog._query(
            "SELECT f.rel_path, c.start_line, c.end_line, c.symbol, c.kind, c.text_hash"
            " FROM chunks c JOIN files f ON f.id = c.file_id ORDER BY 1, 2, 3"
        )
        return [tuple(r) for r in rows], any(saw_workers)


def test_worker_processes_index_what_a_thread_indexes(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project")
    on_thread, workers_ran = indexed_rows(tmp_path / "thread", root, process_min_files=10**6)
    assert not workers_ran
    in_workers, workers_ran = indexed_rows(tmp_path / "workers", root, process_min_files=2)
    assert workers_ran
    assert len(on_thread) >= 36 and in_workers == on_thread
    # The workers are gone once the run is over.
    assert not multiprocessing.active_children()


def test_a_worker_that_dies_loses_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    root = write_project(tmp_path / "project", files=20)
    monkeypatch.setattr(file_reader, "PROCESS_MIN_FILES", 2)
    monkeypatch.setattr(indexer, "FILES_PER_BATCH", 4)
    killed: list[int] = []
    others = {child.pid for child in multiprocessing.active_children()}

    def kill_the_workers(progress: Progress) -> None:
        # As the out-of-memory killer would, while batches are still being read.
        if progress.phase == "indexing" and not killed:
            for child in multiprocessing.active_children():
                if child.pid is not None and child.pid not in others:
                    os.kill(child.pid, signal.SIGKILL)
                    killed.append(child.pid)

    with caplog.at_level(logging.WARNING), Engine(embedder=None) as eng:
        eng.add_root(root)
        report = eng.index(embed=False, progress=kill_the_workers)
        assert killed
        assert report.files_indexed == 20 and report.skipped["binary"] == 1
        assert eng.search("helper_17").results(0.0, 1)[0].path == "pkg2/mod17.py"
    assert "reading files on a thread instead" in caplog.text


def test_worker_processes_that_cannot_start_leave_the_work_to_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    root = write_project(tmp_path / "project")
    monkeypatch.setattr(file_reader, "PROCESS_MIN_FILES", 2)

    def no_semaphores(*args: object, **kwargs: object) -> None:
        # What a container without /dev/shm answers when the first worker starts.
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(file_reader.ProcessPoolExecutor, "submit", no_semaphores)
    with caplog.at_level(logging.WARNING), Engine(embedder=None) as eng:
        eng.add_root(root)
        report = eng.index(embed=False)
        assert report.files_indexed == 12 and report.skipped["binary"] == 1
    assert "reading files on a thread instead" in caplog.text


# A writer process that starts a run in worker processes, says which they are, and is
# SIGKILLed (by itself) while they have work queued.
PARENT = """
import multiprocessing, os, signal, sys
from pathlib import Path
from codanna_desktop.core.indexing import file_reader
from codanna_desktop.core.indexing import indexer
from codanna_desktop.core.engine import Engine


def die_once_workers_run(progress):
    workers = [child.pid for child in multiprocessing.active_children()]
    if progress.phase == "indexing" and workers:
        print(" ".join(map(str, workers)), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    file_reader.PROCESS_MIN_FILES = 2
    indexer.FILES_PER_BATCH = 4
    with Engine(embedder=None) as eng:
        eng.add_root(Path(sys.argv[1]))
        eng.index(embed=False, progress=die_once_workers_run)
"""


def is_running(pid: int) -> bool:
    """Alive and not a zombie waiting for its new parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_worker_processes_exit_when_their_parent_is_killed(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project", files=40)
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(PARENT))
    parent = subprocess.Popen(
        [sys.executable, str(script), str(root)],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert parent.stdout is not None
    workers = [int(pid) for pid in parent.stdout.readline().split()]
    assert parent.wait(timeout=120) == -signal.SIGKILL
    assert workers
    # Before, they outlived it: busy ones chunked what was queued, then every one of
    # them waited for more work forever. The deadline only keeps a failure from hanging.
    deadline = time.monotonic() + 60
    while any(map(is_running, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    still_running = [pid for pid in workers if is_running(pid)]
    for pid in still_running:
        os.kill(pid, signal.SIGKILL)
    assert still_running == []
