"""The system tray icon: what the indexer is doing at a glance, and the app's menu while
the window is hidden.

Only created when the desktop has a tray (main.py checks
QSystemTrayIcon.isSystemTrayAvailable()); without one, closing the window quits the app.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon

from codanna_desktop.app.icons import PROGRESS_STEPS, app_icon, state_icon
from codanna_desktop.app.main_window import window_settings

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from codanna_desktop.app.context import AppContext
    from codanna_desktop.core.engine import EngineStatus
    from codanna_desktop.core.indexing.indexer import IndexReport

APP_TITLE = "Codanna Desktop"
# The same message is not shown again within this time (the indexer retries a missing
# model every few seconds and reports the same problem each time).
REPEAT_AFTER_S = 30 * 60.0
# At most one error notification in this time, whatever the messages.
ERROR_GAP_S = 60.0


class TrayWindow(Protocol):
    """What the tray needs from the main window."""

    def isVisible(self) -> bool: ...
    def isMinimized(self) -> bool: ...
    def hide(self) -> None: ...
    def show_and_raise(self) -> None: ...
    def add_folder_dialog(self) -> None: ...
    def open_settings(self) -> None: ...


@dataclass(frozen=True)
class Notification:
    title: str
    text: str
    kind: str  # info | error
    at: float


class TrayController(QObject):
    def __init__(
        self,
        context: AppContext,
        window: TrayWindow,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.context = context
        self.window = window
        self._clock = clock
        self._attention: str | None = None  # an error the person has not looked at yet
        # Folders added from now on get a notification when their first index is done.
        self._since = time.time()
        self._announced: set[int] = set()
        self._icon_key: tuple[str, int | None] | None = None
        self.notifications: list[Notification] = []  # shown ones, newest last

        self.icon = QSystemTrayIcon(app_icon(), self)
        self.menu = QMenu()  # a tray menu has no parent widget; this object keeps it alive
        self.show_action = self.menu.addAction("Show search window")
        self.menu.setDefaultAction(self.show_action)  # drawn bold: what a click does
        self.add_action = self.menu.addAction("Add folder…")
        self.pause_action = self.menu.addAction("Pause indexing")
        self.menu.addSeparator()
        self.settings_action = self.menu.addAction("Settings…")
        self.menu.addSeparator()
        self.quit_action = self.menu.addAction("Quit")
        self.show_action.triggered.connect(self.show_window)
        self.add_action.triggered.connect(self._add_folder)
        self.pause_action.triggered.connect(self.toggle_pause)
        self.settings_action.triggered.connect(self.open_settings)
        self.quit_action.triggered.connect(QApplication.quit)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.icon.messageClicked.connect(self.show_window)

        context.indexing_status.changed.connect(self._refresh)
        window_closed = getattr(window, "hidden_to_tray", None)
        if window_closed is not None:
            window_closed.connect(self.say_indexing_goes_on)
        context.report.connect(self._reported)
        context.error.connect(self._errored)
        context.roots_changed.connect(context.request_status)
        context.status_ready.connect(self._status_ready)
        self._refresh()

    def show(self) -> None:
        self.icon.show()
        self.context.request_status()

    # -- what the person sees -------------------------------------------------------

    @property
    def look(self) -> str:
        """The icon's state: error, paused, indexing or idle."""
        if self._attention:
            return "error"
        if self.context.paused:
            return "paused"
        return "indexing" if self.context.indexing_status.status.busy else "idle"

    @property
    def status_text(self) -> str:
        """One line on what the indexer is doing, e.g. "Indexing project 120/500"."""
        return self.context.indexing_status.status.tray_line()

    @property
    def tooltip(self) -> str:
        lines = [APP_TITLE, self.status_text]
        if self._attention:
            lines.append(f"Needs attention: {self._attention}")
        return "\n".join(lines)

    def _refresh(self, *_: object) -> None:
        self.pause_action.setText("Resume indexing" if self.context.paused else "Pause indexing")
        self.icon.setToolTip(self.tooltip)
        look, step = self.look, None
        fraction = self.context.indexing_status.status.progress_fraction()
        if look == "indexing" and fraction is not None:
            step = round(fraction * PROGRESS_STEPS)
        # Progress arrives for every file: repaint only when the icon would change.
        if (look, step) != self._icon_key:
            self._icon_key = (look, step)
            shown = None if step is None else step / PROGRESS_STEPS
            self.icon.setIcon(app_icon() if look == "idle" else state_icon(look, shown))

    # -- menu and clicks ------------------------------------------------------------

    def _add_folder(self) -> None:
        self.window.add_folder_dialog()

    @Slot()
    def show_window(self) -> None:
        self._attention = None  # the window shows the details
        self.window.show_and_raise()
        self._refresh()

    @Slot()
    def toggle_window(self) -> None:
        if self.window.isVisible() and not self.window.isMinimized():
            self.window.hide()
        else:
            self.show_window()

    @Slot()
    def open_settings(self) -> None:
        # The settings dialog belongs to the window: show it too, not a dialog on its own.
        self.show_window()
        self.window.open_settings()

    @Slot()
    def toggle_pause(self) -> None:
        self.context.set_paused(not self.context.paused)
        self._refresh()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.toggle_window()

    # -- notifications ----------------------------------------------------------------

    @Slot()
    def say_indexing_goes_on(self) -> None:
        """The first time the window is closed, say where the app went (once per user)."""
        settings = window_settings(self.context.paths)
        if settings.value("tray/close_explained", False, type=bool):
            return
        settings.setValue("tray/close_explained", True)
        self.notify(
            f"{APP_TITLE} keeps indexing",
            "It runs on in the system tray. Click the icon to search; Quit is in its menu.",
        )

    def notify(self, title: str, text: str, *, kind: str = "info") -> bool:
        """Show a notification unless the same one was shown lately or, for errors, any
        error was; returns whether it was shown."""
        now = self._clock()
        for n in reversed(self.notifications):
            if n.text == text and now - n.at < REPEAT_AFTER_S:
                return False
            if kind == "error" and n.kind == "error" and now - n.at < ERROR_GAP_S:
                return False
        self.notifications.append(Notification(title, text, kind, now))
        del self.notifications[:-50]
        icon = (
            QSystemTrayIcon.MessageIcon.Warning
            if kind == "error"
            else QSystemTrayIcon.MessageIcon.Information
        )
        self.icon.showMessage(title, text, icon, 8000)
        return True

    # -- the indexer's signals ----------------------------------------------------------

    def _reported(self, report: IndexReport) -> None:
        if not report.errors:
            self._attention = None
        self._refresh()

    def _errored(self, message: str) -> None:
        self._attention = message
        self.notify(f"{APP_TITLE} needs attention", message, kind="error")
        self._refresh()

    def _status_ready(self, status: EngineStatus) -> None:
        for r in status.roots:
            root = r.root
            fresh = root.added_at >= self._since and root.id not in self._announced
            if fresh and root.last_indexed_at is not None:
                self._announced.add(root.id)
                self._notify_first_index(root.path, r.files, r.chunks, r.embedded)
        self._refresh()

    def _notify_first_index(self, path: Path, files: int, chunks: int, embedded: int) -> None:
        text = f"{files:,} files, {chunks:,} chunks — searchable now."
        if embedded < chunks:
            text += " Semantic ranking fills in as embeddings finish."
        self.notify(f"{path.name or path} is indexed", text)
