"""The command line imports only what its answer needs: a process of its own pays for
every import before it prints anything (BENCHMARKS.md §14).

What a process imported is read from `python -X importtime` (standard error), so these
are real processes on a real index; no timing is asserted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from codanna_desktop.core import app_link
from codanna_desktop.core.engine import Engine
from codanna_desktop.core.ranking.lexical_reader import LexicalReader
from codanna_desktop.core.settings import AppPaths, Settings, save_settings

if TYPE_CHECKING:
    from collections.abc import Iterator

CLI = [sys.executable, "-m", "codanna_desktop"]
# What the handoff to a running app or `watch` must not load: the answer is made there.
ENGINE_SIDE = ("tantivy", "numpy", "hnswlib", "fastembed", "onnxruntime", "psycopg",
               "codanna_desktop.core.engine", "codanna_desktop.core.storage")  # fmt: skip
# What a lexical search in the process itself must not load: the semantic side.
SEMANTIC_SIDE = ("fastembed", "onnxruntime", "hnswlib", "psycopg", "numpy",
                 "codanna_desktop.core.engine", "codanna_desktop.core.semantic",
                 "codanna_desktop.core.storage.vectors.hnsw",
                 "codanna_desktop.core.storage.vectors.pgvector")  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=300, env=os.environ.copy()
    )


def run_counting_imports(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *CLI[1:], *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "codanna_desktop.cli" in modules  # the report was read
    return proc, modules


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "uploads.py").write_text(
        'def retry_failed_upload(attempts):\n    """Send the file again."""\n    return 3\n'
    )
    (root / "ui.js").write_text("function renderButton(label) { return label; }\n")
    return root


def test_a_lexical_search_without_the_app_loads_neither_the_model_nor_the_vectors(
    project: Path,
) -> None:
    assert run("add", "--no-embed", str(project)).returncode == 0
    found, modules = run_counting_imports("search", "--alpha", "0", "retry_failed_upload")
    assert found.returncode == 0, found.stderr
    assert "retry_failed_upload" in found.stdout
    assert loaded(modules, SEMANTIC_SIDE) == []
    assert "tantivy" in modules  # it did search here

    # The settings' weight at 0 is the same search: no --alpha needed.
    save_settings(Settings(alpha=0.0), AppPaths.default())
    missing, modules = run_counting_imports("search", "zzqqxx_not_here", "--lang", "py")
    assert missing.returncode == 1
    assert "No code contains" in missing.stderr
    assert loaded(modules, SEMANTIC_SIDE) == []


def test_the_lexical_reader_answers_as_a_reading_engine_does(project: Path) -> None:
    with Engine() as engine:
        engine.add_root(project)
        engine.index(embed=False)
    requests = [
        {"query": "retry_failed_upload"},
        {"query": "send the file again", "k": 1},
        {"query": "zzqqxx_not_here"},
        {"query": "label", "languages": ["js"]},
        {"query": "label", "languages": ["klingon"]},
        {"query": "return", "path_glob": "*.py", "roots": [str(project)]},
        {"query": "return", "roots": [str(project.parent)]},
    ]
    paths = AppPaths.default()
    settings = Settings()
    with Engine(paths, settings, writer=False) as engine, LexicalReader(paths, settings) as reader:
        for request in requests:
            full = {"request": "search", "alpha": 0.0, **request}
            by_engine = app_link.answer_search(engine, full)
            assert app_link.answer_search(reader, full) == by_engine
        first = app_link.answer_search(reader, {"request": "search", "alpha": 0, **requests[0]})
        assert first["results"][0]["symbol"] == "retry_failed_upload"
        assert first["labels"][0] == "defines it"
        with pytest.raises(ValueError):
            reader.search("retry", semantic=True)


@pytest.fixture
def watching(project: Path) -> Iterator[subprocess.Popen[str]]:
    """`codanna-desktop watch` on the project, once it answers over the socket."""
    assert run("add", "--no-embed", str(project)).returncode == 0
    proc = subprocess.Popen(
        [*CLI, "watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    data_dir = AppPaths.default().data_dir
    deadline = time.monotonic() + 120
    try:
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                reply = app_link.send(data_dir, {"request": "search", "query": "x", "alpha": 0})
                assert reply["ok"], reply
                break
            except app_link.AppNotAnswering:
                assert time.monotonic() < deadline, "watch never answered on its socket"
                time.sleep(0.2)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert not app_link.socket_note(data_dir).exists()


@pytest.mark.slow  # `watch` embeds what it finds pending
def test_a_search_handed_to_watch_imports_nothing_of_the_engine(
    watching: subprocess.Popen[str], project: Path, tmp_path: Path
) -> None:
    found, modules = run_counting_imports("search", "--alpha", "0", "--json", "renderButton")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout.splitlines()[0])["symbol"] == "renderButton"
    # Found without tantivy in this process: `watch` answered.
    assert loaded(modules, ENGINE_SIDE) == []

    printed, modules = run_counting_imports("search", "--alpha", "0", "retry_failed_upload")
    assert "defines it" in printed.stdout  # how it matches, in words, from the answer
    assert loaded(modules, ENGINE_SIDE) == []

    unknown = run("search", "label", "--lang", "klingon")
    assert unknown.returncode == 2
    assert "Unknown language 'klingon'" in unknown.stderr

    # Writing is not handed to `watch`: the command says who holds the index, as before.
    busy = run("add", str(tmp_path))
    assert busy.returncode == 3
    assert f"process {watching.pid}" in busy.stderr


def test_a_server_killed_before_closing_leaves_no_folder_behind_the_next_one() -> None:
    data_dir = AppPaths.default().data_dir
    data_dir.mkdir(parents=True)
    killed = app_link.LinkServer(data_dir, lambda request: {"ok": True, "message": "old"})
    assert killed.start()
    left = Path(killed.where).parent  # what a SIGKILL would leave: its folder and the note
    assert left.is_dir()
    server = app_link.LinkServer(data_dir, lambda request: {"ok": True, "message": "new"})
    try:
        assert server.start()
        assert not left.exists()
        assert app_link.send(data_dir, {"request": "index"})["message"] == "new"
    finally:
        server.close()
        killed.close()
    assert not Path(server.where).parent.exists()
    assert not app_link.socket_note(data_dir).exists()
