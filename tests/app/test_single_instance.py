"""One app per data directory: a second start hands its folders to the first and exits;
a crash leaves nothing that blocks the next start; a held index is refused clearly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDir
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from codanna_desktop.app.single_instance import SingleInstance, server_name
from codanna_desktop.core.engine import Engine
from codanna_desktop.core.semantic.embedder import Embedder
from codanna_desktop.core.settings import AppPaths
from codanna_desktop.core.storage.writer_lock import WriterLock

DRIVER = Path(__file__).with_name("app_driver.py")


def _start(scenario: str, report: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(DRIVER), scenario, str(report), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def _finish(qtbot: QtBot, proc: subprocess.Popen[str]) -> int:
    """Wait for a child while this process keeps answering on its socket."""
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=60_000)
    stdout, stderr = proc.communicate()
    assert proc.returncode is not None
    if proc.returncode != 0:
        print(stdout, stderr)
    return proc.returncode


def _facts(report: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def primary(qtbot: QtBot) -> Iterator[SingleInstance]:
    instance = SingleInstance(AppPaths.default())
    assert instance.try_become_primary()
    yield instance
    instance.close()


def test_second_start_hands_its_folders_to_the_running_app_and_exits_0(
    qtbot: QtBot, qapp: QApplication, embedder: Embedder, tmp_path: Path
) -> None:
    from codanna_desktop.app.context import AppContext
    from codanna_desktop.app.main import DesktopApp

    context = AppContext(engine=Engine(embedder=embedder))
    desktop = DesktopApp(context, tray=False)
    qtbot.addWidget(desktop.window)
    instance = SingleInstance(context.paths)
    try:
        assert instance.try_become_primary()
        instance.message_received.connect(desktop.handle_message)
        desktop.start([])
        desktop.window.hide()  # a second start brings it forward again
        folder = tmp_path / "project"
        folder.mkdir()
        (folder / "uploads.py").write_text("def retry_failed_upload():\n    return 3\n")
        report = tmp_path / "second.jsonl"
        # The way a person starts it again: the app itself, with a folder argument.
        proc = subprocess.Popen(
            [sys.executable, str(DRIVER), "run", str(report), "project"],
            cwd=tmp_path,  # a relative path: the primary lives in another directory
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        assert _finish(qtbot, proc) == 0
        assert _facts(report) == [{"exit_code": 0}]
        assert desktop.window.isVisible()
        qtbot.waitUntil(
            lambda: [r.path for r in context.engine.roots()] == [folder.resolve()],
            timeout=60_000,
        )
        assert context.wait_idle(120)
        hits = context.search_now("retry_failed_upload").results(0.0, 5)
        assert [h.symbol for h in hits][:1] == ["retry_failed_upload"]
    finally:
        instance.close()
        desktop.shutdown()
        qapp.setQuitOnLastWindowClosed(True)


def test_secondary_message_reaches_the_primary_and_is_acknowledged(
    qtbot: QtBot, primary: SingleInstance, tmp_path: Path
) -> None:
    report = tmp_path / "send.jsonl"
    message = {"activate": True, "folders": ["/home/dev/a", "/home/dev/b"]}
    with qtbot.waitSignal(primary.message_received, timeout=30_000) as received:
        proc = _start("send", report, json.dumps(message))
        assert _finish(qtbot, proc) == 0
    assert received.args == [message]
    assert _facts(report) == [{"acknowledged": True}]


def test_text_that_is_not_a_json_object_is_refused_and_the_primary_keeps_listening(
    qtbot: QtBot, primary: SingleInstance, tmp_path: Path
) -> None:
    received: list[dict[str, Any]] = []
    primary.message_received.connect(received.append)
    report = tmp_path / "raw.jsonl"
    assert _finish(qtbot, _start("raw", report, "not json\n")) == 0
    assert _finish(qtbot, _start("raw", report, "[1, 2]\n")) == 0
    assert _finish(qtbot, _start("send", report, '{"activate": true}')) == 0
    assert _facts(report) == [
        {"connected": True, "reply": "bad\n"},
        {"connected": True, "reply": "bad\n"},
        {"acknowledged": True},
    ]
    assert received == [{"activate": True}]


def test_killed_primary_leaves_a_stale_socket_that_does_not_block_the_next_start(
    qtbot: QtBot, tmp_path: Path
) -> None:
    report = tmp_path / "killed.jsonl"
    first = _start("become-primary", report)
    assert first.stdout is not None
    assert first.stdout.readline().strip() == "ready"
    first.send_signal(signal.SIGKILL)
    first.wait()
    paths = AppPaths.default()
    # Qt puts a relative server name in its temporary folder.
    socket_file = Path(QDir.tempPath()) / server_name(paths)
    assert socket_file.exists(), "a killed server leaves its socket file behind"

    second = SingleInstance(paths)
    try:
        assert second.try_become_primary()
        with qtbot.waitSignal(second.message_received, timeout=30_000) as received:
            assert _finish(qtbot, _start("send", tmp_path / "send.jsonl", '{"folders": []}')) == 0
        assert received.args == [{"folders": []}]
    finally:
        second.close()


def test_a_running_primary_makes_a_second_start_secondary(primary: SingleInstance) -> None:
    again = SingleInstance(AppPaths.default())
    assert not again.try_become_primary()
    again.close()


def test_two_data_directories_are_two_instances(primary: SingleInstance, tmp_path: Path) -> None:
    other_paths = AppPaths(
        config_dir=tmp_path / "other" / "config", data_dir=tmp_path / "other" / "data"
    )
    other = SingleInstance(other_paths)
    try:
        assert other.try_become_primary()
        assert other.name != primary.name
    finally:
        other.close()


def test_server_name_is_short_enough_for_a_socket_path(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 12)
    name = server_name(AppPaths(config_dir=deep / "config", data_dir=deep / "data"))
    assert len(name) <= 40
    assert "/" not in name


# -- startup refusals: shown to the person, non-zero exit, no traceback ----------------


def test_index_held_by_another_writer_is_refused_with_a_message() -> None:
    from codanna_desktop.app.main import run_app

    lock = WriterLock(AppPaths.default().data_dir)
    lock.acquire()
    shown: list[str] = []
    try:
        assert run_app([], show_error=shown.append) == 3
    finally:
        lock.release()
    assert len(shown) == 1
    assert "The index is being written by process" in shown[0]
    # The refused start gave its instance role back: the next start can be primary.
    again = SingleInstance(AppPaths.default())
    assert again.try_become_primary()
    again.close()


def test_a_start_refused_while_watch_holds_the_index_leaves_watch_reachable() -> None:
    from codanna_desktop.app.main import run_app
    from codanna_desktop.core import app_link

    paths = AppPaths.default()
    lock = WriterLock(paths.data_dir)
    lock.acquire()  # as `watch` holds it
    link = app_link.LinkServer(paths.data_dir, lambda request: {"ok": True, "message": "here"})
    assert link.start()
    try:
        assert run_app([], show_error=[].append) == 3
        # Before, the refused app wrote its own address over watch's and removed it on
        # the way out: the command line then found nobody and said the index was busy.
        assert app_link.send(paths.data_dir, {"request": "index"})["message"] == "here"
    finally:
        link.close()
        lock.release()
    assert not app_link.socket_note(paths.data_dir).exists()


def test_invalid_settings_file_is_refused_with_a_message() -> None:
    from codanna_desktop.app.main import run_app

    paths = AppPaths.default()
    paths.config_dir.mkdir(parents=True)
    paths.settings_file.write_text("alpha = [unclosed\n", encoding="utf-8")
    shown: list[str] = []
    assert run_app([], show_error=shown.append) == 4
    assert len(shown) == 1
    assert "is not valid TOML" in shown[0]


def test_the_command_line_hands_its_work_to_the_running_app(
    qtbot: QtBot, qapp: QApplication, embedder: Embedder, tmp_path: Path
) -> None:
    from codanna_desktop.app.context import AppContext
    from codanna_desktop.app.main import DesktopApp

    context = AppContext(engine=Engine(embedder=embedder))
    desktop = DesktopApp(context, tray=False)
    qtbot.addWidget(desktop.window)
    instance = SingleInstance(context.paths)

    def cli(*args: str, python: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        proc = subprocess.Popen(
            [sys.executable, *python, "-m", "codanna_desktop", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=120_000)  # the app answers
        out, err = proc.communicate()
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    try:
        assert instance.try_become_primary()
        instance.message_received.connect(desktop.handle_message)
        instance.request_received.connect(desktop.handle_request)
        desktop.start([])
        folder = tmp_path / "project"
        folder.mkdir()
        (folder / "uploads.py").write_text("def retry_failed_upload():\n    return 3\n")

        # The app holds the index: before, `add` exited 3 ("busy") and --wait waited forever.
        added = cli("add", "--wait", str(folder))
        assert added.returncode == 0, added.stderr
        assert "running app" in added.stdout
        qtbot.waitUntil(lambda: context.wait_idle(1), timeout=120_000)

        found = cli("search", "retry_failed_upload", "--json", python=("-X", "importtime"))
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout.splitlines()[0])["symbol"] == "retry_failed_upload"
        # The app answered: the command line loaded nothing of the index to print it.
        imported = {line.rsplit("|", 1)[1].strip() for line in found.stderr.splitlines()
                    if line.startswith("import time:")}  # fmt: skip
        assert "codanna_desktop.cli" in imported
        assert not {"tantivy", "numpy", "codanna_desktop.core.engine"} & imported
        missing = cli("search", "zzqqxx_not_here")
        assert missing.returncode == 1
        assert "No code contains" in missing.stderr

        assert cli("index").returncode == 0
        removed = cli("remove", str(folder))
        assert removed.returncode == 0, removed.stderr
        qtbot.waitUntil(lambda: not context.engine.roots(), timeout=60_000)
        assert cli("remove", str(folder)).returncode == 4
    finally:
        instance.close()
        desktop.shutdown()
        qapp.setQuitOnLastWindowClosed(True)
    assert not (context.paths.data_dir / "app.socket").exists()
