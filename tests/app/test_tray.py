"""The tray: state texts and looks, its menu, notifications without spam, and how the app
behaves with a tray (closing hides, indexing goes on) and without one (closing quits)."""

from __future__ import annotations

import configparser
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QFileDialog, QSystemTrayIcon
from pytestqt.qtbot import QtBot

from codanna_desktop.app.context import AppContext
from codanna_desktop.app.icons import ICON_SIZES, app_icon, state_icon
from codanna_desktop.app.main import DesktopApp, configure_application
from codanna_desktop.app.main_window import MainWindow
from codanna_desktop.app.tray import ERROR_GAP_S, REPEAT_AFTER_S, TrayController
from codanna_desktop.core.engine import Engine
from codanna_desktop.core.indexing.indexer import Progress
from codanna_desktop.core.semantic.embedder import Embedder
from codanna_desktop.core.settings import AppPaths, Settings, save_settings
from codanna_desktop.core.storage.writer_lock import WriterLock

DRIVER = Path(__file__).with_name("app_driver.py")


class Clock:
    """The tray's notion of time, moved by the test (rate limits are minutes long)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _project(root: Path, name: str = "project") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "uploads.py").write_text(
        "def retry_failed_upload(path, attempts=3):\n"
        '    """Upload again after a network error."""\n'
        "    return attempts\n",
        encoding="utf-8",
    )
    (folder / "config.py").write_text("HTTP_TIMEOUT = 30\n", encoding="utf-8")
    return folder


@pytest.fixture
def window(qtbot: QtBot, context: AppContext) -> MainWindow:
    w = MainWindow(context)
    qtbot.addWidget(w)
    return w


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tray(context: AppContext, window: MainWindow, clock: Clock) -> Iterator[TrayController]:
    # Constructed directly: offscreen there is no tray, so main.py would not create one.
    controller = TrayController(context, window, clock=clock)
    yield controller
    controller.icon.hide()


def _menu_texts(tray: TrayController) -> list[str]:
    return [a.text() for a in tray.menu.actions() if not a.isSeparator()]


# -- icons --------------------------------------------------------------------------


def test_app_icon_has_every_rendered_size(qapp: QApplication) -> None:
    sizes = {(s.width(), s.height()) for s in app_icon().availableSizes()}
    assert sizes == {(n, n) for n in ICON_SIZES}


def test_each_tray_state_looks_different(qapp: QApplication) -> None:
    def image(state: str, progress: float | None = None) -> QImage:
        return state_icon(state, progress).pixmap(32, 32).toImage()

    looks = [
        image("idle"),
        image("indexing", None),
        image("indexing", 0.25),
        image("indexing", 0.75),
        image("paused"),
        image("error"),
    ]
    for i, a in enumerate(looks):
        for b in looks[i + 1 :]:
            assert a != b
    # The indexer's phases share the indexing look.
    assert image("embedding", 0.25) == image("indexing", 0.25)
    assert image("scanning") == image("indexing")


def test_desktop_entry_names_the_shipped_icon_and_the_window_class(qapp: QApplication) -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    resources = files("codanna_desktop.resources")
    entry.read_string(resources.joinpath("codanna-desktop.desktop").read_text(encoding="utf-8"))
    desktop = entry["Desktop Entry"]
    assert resources.joinpath("icons", f"{desktop['Icon']}.svg").is_file()
    assert resources.joinpath("icons", f"{desktop['Icon']}-256.png").is_file()
    configure_application(qapp)
    # X11 matches windows to the entry by WM_CLASS, which Qt takes from these names.
    assert desktop["StartupWMClass"] == qapp.applicationName()
    assert f"{qapp.desktopFileName()}.desktop" == "codanna-desktop.desktop"


# -- state texts ------------------------------------------------------------------------


def test_tooltip_says_up_to_date_with_chunk_and_folder_counts(
    qtbot: QtBot, context: AppContext, tray: TrayController, tmp_path: Path
) -> None:
    # The window beside the tray may have read the counts already: the tray shares them.
    assert tray.status_text in ("Starting…", "No folders yet — add one to start")
    context.start()
    tray.show()
    qtbot.waitUntil(lambda: tray.status_text == "No folders yet — add one to start", timeout=30_000)
    context.add_folders([_project(tmp_path, "alpha"), _project(tmp_path, "beta")])
    assert context.wait_idle(120)
    chunks = context.engine.catalog.counts()["chunks"]
    assert chunks > 0
    expected = f"Up to date — {chunks:,} chunks in 2 folders"
    qtbot.waitUntil(lambda: tray.status_text == expected, timeout=30_000)
    assert tray.look == "idle"
    assert tray.icon.toolTip() == f"Codanna Desktop\n{expected}"


def test_indexing_progress_shows_folder_and_counts(
    context: AppContext, tray: TrayController
) -> None:
    context.state_changed.emit("scanning")
    context.progress.emit(Progress("scanning", Path("/src/project")))
    assert tray.status_text == "Scanning project…"
    context.progress.emit(Progress("indexing", Path("/src/project"), 120, 500))
    assert tray.status_text == "Indexing project 120/500"
    assert tray.look == "indexing"
    context.progress.emit(Progress("embedding", None, 1200, 3400))
    assert tray.status_text == "Embedding 1,200/3,400 chunks"
    assert "Embedding 1,200/3,400 chunks" in tray.icon.toolTip()


# -- the menu ---------------------------------------------------------------------------


def test_menu_has_the_app_actions_in_order(tray: TrayController) -> None:
    assert _menu_texts(tray) == [
        "Show search window",
        "Add folder…",
        "Pause indexing",
        "Settings…",
        "Quit",
    ]


def test_pause_action_toggles_indexing_and_its_own_text(
    context: AppContext, tray: TrayController
) -> None:
    context.start()
    tray.pause_action.trigger()
    assert context.paused
    assert tray.pause_action.text() == "Resume indexing"
    assert tray.look == "paused"
    assert tray.status_text.startswith("Indexing paused")
    tray.pause_action.trigger()
    assert not context.paused
    assert tray.pause_action.text() == "Pause indexing"
    assert tray.look == "idle"


def test_add_folder_action_adds_the_chosen_folder(
    qtbot: QtBot,
    context: AppContext,
    tray: TrayController,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = _project(tmp_path)
    asked: list[str] = []

    def choose(*args: object, **kwargs: object) -> str:
        asked.append("asked")
        return str(folder)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", choose)
    context.start()
    tray.add_action.trigger()
    assert asked == ["asked"]
    qtbot.waitUntil(
        lambda: [r.path for r in context.engine.roots()] == [folder.resolve()], timeout=60_000
    )


def test_settings_action_opens_the_settings_dialog_over_the_window(
    qtbot: QtBot, context: AppContext, tray: TrayController, window: MainWindow
) -> None:
    def dialogs() -> list[str]:
        return [
            w.windowTitle()
            for w in QApplication.topLevelWidgets()
            if w.isVisible() and w.metaObject().className() == "SettingsDialog"
        ]

    assert dialogs() == []
    tray.settings_action.trigger()
    qtbot.waitUntil(lambda: len(dialogs()) == 1, timeout=10_000)
    assert window.isVisible()
    # Let the dialog's own background status call come back before closing it.
    qtbot.waitUntil(lambda: context.pool.activeThreadCount() == 0, timeout=30_000)
    QApplication.processEvents()
    for w in QApplication.topLevelWidgets():
        if w.metaObject().className() == "SettingsDialog":
            w.close()


def test_show_action_and_left_click_toggle_the_window(
    tray: TrayController, window: MainWindow
) -> None:
    assert not window.isVisible()
    tray.show_action.trigger()
    assert window.isVisible()
    tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    assert not window.isVisible()
    tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    assert window.isVisible()
    # A right click opens the menu (Qt does that); it does not toggle the window.
    tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Context)
    assert window.isVisible()


def test_quit_action_quits_even_though_the_open_window_hides_on_close(
    qtbot: QtBot, qapp: QApplication, embedder: Embedder
) -> None:
    context = AppContext(engine=Engine(embedder=embedder))
    desktop = DesktopApp(context, tray=True)
    qtbot.addWidget(desktop.window)
    try:
        desktop.start([])
        assert desktop.tray is not None and desktop.window.isVisible()
        assert desktop.window.hide_on_close
        QTimer.singleShot(0, desktop.tray.quit_action.trigger)
        # If Quit did nothing, the loop would end with 99 after the safety timeout.
        QTimer.singleShot(20_000, lambda: qapp.exit(99))
        assert qapp.exec() == 0
        assert not desktop.window.isVisible()
        # Quitting shut the engine down: its writer lock is free for the next process.
        lock = WriterLock(context.paths.data_dir)
        lock.acquire()
        lock.release()
    finally:
        desktop.shutdown()
        qapp.setQuitOnLastWindowClosed(True)


# -- notifications ----------------------------------------------------------------------


def test_errors_notify_once_then_are_rate_limited(
    context: AppContext, tray: TrayController, clock: Clock
) -> None:
    context.error.emit("The embedding model is not installed.")
    assert tray.look == "error"
    assert "Needs attention: The embedding model is not installed." in tray.icon.toolTip()
    # The indexer retries every few seconds and says the same again: no second bubble.
    clock.now += ERROR_GAP_S + 1
    context.error.emit("The embedding model is not installed.")
    # A different error once the gap has passed shows; one right after it is held back
    # (the badge and the tooltip still show it).
    context.error.emit("Watching /src failed: too many open files")
    clock.now += 5
    context.error.emit("The database went away.")
    assert "Needs attention: The database went away." in tray.icon.toolTip()
    shown = [n.text for n in tray.notifications]
    assert shown == [
        "The embedding model is not installed.",
        "Watching /src failed: too many open files",
    ]
    # Long after, the first message may show again.
    clock.now += REPEAT_AFTER_S
    context.error.emit("The embedding model is not installed.")
    assert len(tray.notifications) == 3


def test_showing_the_window_clears_the_error_badge(
    context: AppContext, tray: TrayController
) -> None:
    context.error.emit("The database went away.")
    assert tray.look == "error"
    tray.show_action.trigger()
    assert tray.look == "idle"
    assert "Needs attention" not in tray.icon.toolTip()


def test_first_index_of_a_new_folder_notifies_once(
    qtbot: QtBot, context: AppContext, window: MainWindow, clock: Clock, tmp_path: Path
) -> None:
    # A folder indexed in an earlier run, before this tray existed.
    old = _project(tmp_path, "old")
    context.engine.add_root(old)
    context.engine.index()
    tray = TrayController(context, window, clock=clock)
    context.start()
    tray.show()
    qtbot.waitUntil(lambda: "1 folder" in tray.status_text, timeout=30_000)
    assert tray.notifications == []  # indexed in an earlier run: nothing to announce
    context.add_folders([_project(tmp_path, "fresh")])
    qtbot.waitUntil(lambda: len(tray.notifications) == 1, timeout=60_000)
    note = tray.notifications[0]
    assert note.title == "fresh is indexed"
    assert note.text.startswith("2 files, ")
    assert "searchable now" in note.text
    context.reindex()
    assert context.wait_idle(120)
    context.request_status()
    qtbot.waitUntil(lambda: "2 folders" in tray.status_text, timeout=30_000)
    assert len(tray.notifications) == 1


# -- the app with and without a tray --------------------------------------------------


@pytest.mark.parametrize("tray", [True, False])
def test_start_hidden_keeps_the_window_in_the_tray_only_when_there_is_one(
    tray: bool, qtbot: QtBot, qapp: QApplication, embedder: Embedder
) -> None:
    save_settings(Settings(start_hidden=True), AppPaths.default())
    context = AppContext(engine=Engine(embedder=embedder))
    desktop = DesktopApp(context, tray=tray)
    qtbot.addWidget(desktop.window)
    try:
        desktop.start([])
        # Without a tray a hidden window could never be reached: it shows anyway.
        assert desktop.window.isVisible() is not tray
        assert desktop.window.hide_on_close is tray
    finally:
        desktop.shutdown()
        qapp.setQuitOnLastWindowClosed(True)


def test_without_a_tray_closing_the_window_quits_the_app(tmp_path: Path) -> None:
    report = tmp_path / "close.jsonl"
    proc = subprocess.run(
        [sys.executable, str(DRIVER), "close-window", str(report)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stderr
    facts = [json.loads(line) for line in report.read_text().splitlines()]
    assert facts == [
        {
            "tray": False,
            "tray_available": False,
            "window_visible": True,
            "quit_on_last_window_closed": True,
        },
        {"about_to_quit": True},
        {"exit_code": 0},
    ]


def test_window_appears_before_the_model_loads(tmp_path: Path) -> None:
    report = tmp_path / "order.jsonl"
    proc = subprocess.run(
        [sys.executable, str(DRIVER), "startup-order", str(report), str(_project(tmp_path))],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line) for line in report.read_text().splitlines()] == [
        {"event": "window shown"},
        {"event": "model loading"},
        {"event": "model loaded"},
        {"exit_code": 0},
    ]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_terminating_signal_quits_cleanly(
    signum: signal.Signals, codanna_home: Path, tmp_path: Path
) -> None:
    report = tmp_path / "serve.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(DRIVER), "serve", str(report), str(_project(tmp_path))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert report.read_text().splitlines() == ['{"exit_code": 0}']
    # The engine was closed properly: the next start finds no sign of a crash.
    with sqlite3.connect(codanna_home / "data" / "catalog.sqlite") as db:
        row = db.execute("SELECT value FROM meta WHERE key = 'writer_open'").fetchone()
    assert row == ("0",)


def test_with_a_tray_closing_hides_the_window_and_indexing_goes_on(
    qtbot: QtBot, qapp: QApplication, embedder: Embedder, tmp_path: Path
) -> None:
    folder = _project(tmp_path)
    context = AppContext(engine=Engine(embedder=embedder))
    desktop = DesktopApp(context, tray=True)  # offscreen has no tray: forced, as if it had
    qtbot.addWidget(desktop.window)
    try:
        assert not qapp.quitOnLastWindowClosed()
        desktop.start([folder])
        qtbot.waitUntil(lambda: desktop.window.isVisible(), timeout=10_000)
        qtbot.waitUntil(lambda: bool(context.engine.roots()), timeout=60_000)
        assert context.wait_idle(120)
        desktop.window.close()
        assert not desktop.window.isVisible()
        # Hidden, the watcher still sees a saved file and the index follows.
        (folder / "config.py").write_text("HTTP_TIMEOUT = 30\nUPLOAD_CHUNK_BYTES = 1\n")
        qtbot.waitUntil(
            lambda: any(
                r.symbol == "UPLOAD_CHUNK_BYTES" or "UPLOAD_CHUNK_BYTES" in r.snippet
                for r in context.search_now("UPLOAD_CHUNK_BYTES").results(0.0, 5)
            ),
            timeout=60_000,
        )
        assert not desktop.window.isVisible()
    finally:
        desktop.shutdown()  # shuts the context down
        qapp.setQuitOnLastWindowClosed(True)


def test_folders_dropped_on_the_window_shown_from_the_tray_are_added(
    qtbot: QtBot, context: AppContext, tray: TrayController, window: MainWindow, tmp_path: Path
) -> None:
    folder = _project(tmp_path)
    context.start()
    tray.show_action.trigger()
    assert window.isVisible()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder / "uploads.py"))])
    target = window
    pos = window.rect().center()
    enter = QDragEnterEvent(  # Qt takes a QPoint here and a QPointF for the drop
        pos,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(pos),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(target, drop)
    qtbot.waitUntil(
        lambda: [r.path for r in context.engine.roots()] == [folder.resolve()], timeout=60_000
    )


def test_closing_the_window_says_once_that_indexing_goes_on_in_the_tray(
    tray: TrayController,
) -> None:
    tray.window.hidden_to_tray.emit()  # type: ignore[attr-defined]
    tray.window.hidden_to_tray.emit()  # type: ignore[attr-defined]
    said = [n for n in tray.notifications if "keeps indexing" in n.title]
    assert len(said) == 1
    assert "system tray" in said[0].text
