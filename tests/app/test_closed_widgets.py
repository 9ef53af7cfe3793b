"""A widget closed (deleted) while its background read runs: the answer is dropped, not
delivered to a widget that no longer exists. Real engine, real thread pool."""

from __future__ import annotations

import gc
import weakref
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtWidgets import QApplication

from codanna_desktop.app.main_window import MainWindow
from codanna_desktop.app.preview import PreviewPane
from codanna_desktop.app.settings_dialog import SettingsDialog
from codanna_desktop.app.tray import TrayController

if TYPE_CHECKING:
    from pathlib import Path

    from pytestqt.qtbot import QtBot

    from codanna_desktop.app.context import AppContext

WAIT_MS = 60_000


def settle(context: AppContext) -> None:
    """Every background read has returned and its answer, if any, been delivered (an
    exception raised delivering it fails the test)."""
    assert context.tasks.wait(WAIT_MS)
    QApplication.processEvents()


def test_a_preview_closed_while_its_file_is_read_is_left_alone(
    qtbot: QtBot, context: AppContext, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "sorting.py").write_text("def bubble_sort(items):\n    return sorted(items)\n")
    context.engine.add_root(root)
    context.engine.index(embed=False)
    result = context.search_now("bubble_sort").results(0.0, 1)[0]
    pane = PreviewPane(context)
    pane.show_result(result, "bubble_sort")

    shiboken6.delete(pane)
    settle(context)


def test_a_settings_dialog_closed_before_its_counts_arrive_is_left_alone(
    qtbot: QtBot, context: AppContext
) -> None:
    dialog = SettingsDialog(context)  # asks for the index's counts at once
    shiboken6.delete(dialog)
    settle(context)


def test_a_deleted_window_and_its_tray_are_freed(qtbot: QtBot, context: AppContext) -> None:
    """Nothing Qt holds (a slot connected to a child's signal) keeps a deleted window, its
    preview, its exact mode or its tray controller alive: a lambda over `self` did, for
    as long as the process ran."""
    window = MainWindow(context)
    tray = TrayController(context, window)
    alive = [weakref.ref(o) for o in (window, window.preview, window.exact, tray)]
    tray.icon.hide()
    shiboken6.delete(window)
    del window, tray
    settle(context)
    gc.collect()
    assert [ref() for ref in alive] == [None] * len(alive)
