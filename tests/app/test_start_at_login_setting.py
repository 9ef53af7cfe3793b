"""The settings dialog's "Start when I log in": a real autostart file, written and removed."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMessageBox
from pytestqt.qtbot import QtBot

from codanna_desktop import __version__
from codanna_desktop.app.context import AppContext
from codanna_desktop.app.main_window import MainWindow
from codanna_desktop.app.settings_dialog import SettingsDialog
from codanna_desktop.core.settings import AppPaths, load_settings

WAIT_MS = 60_000


@pytest.fixture
def autostart_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    return tmp_path / "xdg-config" / "autostart" / "codanna-desktop.desktop"


def open_dialog(qtbot: QtBot, context: AppContext) -> SettingsDialog:
    dialog = SettingsDialog(context)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.chunk_count is not None, timeout=WAIT_MS)
    return dialog


def press_ok(dialog: SettingsDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def test_start_at_login_is_off_at_first_and_ticking_it_writes_the_autostart_entry(
    qtbot: QtBot, context: AppContext, autostart_file: Path
) -> None:
    dialog = open_dialog(qtbot, context)
    assert not dialog.start_at_login.isChecked()
    dialog.start_at_login.setChecked(True)
    press_ok(dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert "Exec=" in autostart_file.read_text()
    assert load_settings(AppPaths.default()).start_at_login is True

    again = open_dialog(qtbot, context)
    assert again.start_at_login.isChecked()
    again.start_at_login.setChecked(False)
    press_ok(again)
    assert not autostart_file.exists()
    assert load_settings(AppPaths.default()).start_at_login is False


def test_an_unwritable_autostart_folder_is_said_and_nothing_is_saved(
    qtbot: QtBot, context: AppContext, autostart_file: Path
) -> None:
    autostart_file.parent.parent.mkdir(parents=True)
    autostart_file.parent.write_text("a file where the folder should be")
    dialog = open_dialog(qtbot, context)
    dialog.start_at_login.setChecked(True)
    press_ok(dialog)
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert "start at login" in dialog.error_label.text()
    assert not AppPaths.default().settings_file.exists()


def test_the_about_box_shows_the_version(qtbot: QtBot, context: AppContext) -> None:
    window = MainWindow(context)
    qtbot.addWidget(window)
    box = window.show_about()
    assert isinstance(box, QMessageBox)
    assert __version__ in box.text()
    box.close()
    window.hide_on_close = False
    window.close()
