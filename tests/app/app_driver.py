"""Runs the real desktop app (or one piece of it) in a child process for the app tests.

    python tests/app/app_driver.py SCENARIO REPORT [ARGS...]

Every scenario appends JSON lines to REPORT (what it saw), so the test asserts on facts
from inside the child, and on its exit code:

  tray-available REPORT        exit 0 if the desktop has a system tray now, else 1
  become-primary REPORT        take the single-instance role, print "ready", wait to be killed
  send REPORT JSON             hand JSON to the running primary; exit 0 if it acknowledged
  raw REPORT TEXT              write TEXT as it is to the primary's socket, note the reply
  run REPORT [FOLDER...]       run_app(FOLDER...) with startup errors noted instead of a box
  serve REPORT [FOLDER...]     run_app; print "ready" once it is up (then send it a signal)
  startup-order REPORT FOLDER  run_app(FOLDER); note when the window shows and when the
                               model loads; quit once it has loaded
  close-window REPORT          run_app; close the window once it is up (no tray: quits)
  tray-tour REPORT [FOLDER]    run_app under a real tray host: click the icon, use the menu
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QPoint, Qt, QTimer
from PySide6.QtNetwork import QLocalSocket
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from codanna_desktop.app.single_instance import SingleInstance, server_name
from codanna_desktop.core.settings import AppPaths

REPORT: Path


def note(**facts: Any) -> None:
    with REPORT.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(facts, default=str) + "\n")


def become_primary() -> int:
    app = QCoreApplication(sys.argv[:1])
    instance = SingleInstance(AppPaths.default())
    note(primary=instance.try_become_primary(), server=instance.name)
    print("ready", flush=True)
    return app.exec()


def send(message: str) -> int:
    ok = SingleInstance(AppPaths.default()).send_to_primary(json.loads(message))
    note(acknowledged=ok)
    return 0 if ok else 1


def raw(text: str) -> int:
    socket = QLocalSocket()
    socket.connectToServer(server_name(AppPaths.default()))
    if not socket.waitForConnected(5000):
        note(connected=False)
        return 1
    socket.write(text.encode("utf-8"))
    socket.waitForBytesWritten(5000)
    reply = b""
    while not reply.endswith(b"\n") and socket.waitForReadyRead(5000):
        reply += bytes(socket.readAll().data())
    note(connected=True, reply=reply.decode("utf-8", "replace"))
    return 0


def run(folders: list[str], on_started: Callable[[Any], None] | None = None) -> int:
    from codanna_desktop.app.main import run_app

    code = run_app(folders, show_error=lambda message: note(error=message), on_started=on_started)
    note(exit_code=code)
    return code


class ShowWatcher(QObject):
    """Notes the first time the main window is shown."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            not self.seen
            and event.type() == QEvent.Type.Show
            and watched.metaObject().className() == "MainWindow"
        ):
            self.seen = True
            note(event="window shown")
        return False


def startup_order(folder: str) -> int:
    import codanna_desktop.core.engine as engine_module

    app = QApplication(sys.argv[:1])  # made here so the watcher sees the first show
    watcher = ShowWatcher()
    app.installEventFilter(watcher)
    real_load = engine_module.load_embedder
    loaded: list[bool] = []

    def load_embedder(*args: Any, **kwargs: Any) -> Any:
        note(event="model loading")
        try:
            return real_load(*args, **kwargs)
        finally:
            note(event="model loaded")
            loaded.append(True)

    engine_module.load_embedder = load_embedder  # the real loader, with a note around it

    class NotedModelProcess(engine_module.ModelProcess):
        """The desktop app loads its model in a process of its own: the same notes."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            note(event="model loading")
            try:
                super().__init__(*args, **kwargs)
            finally:
                note(event="model loaded")
                loaded.append(True)

    engine_module.ModelProcess = NotedModelProcess

    def quit_once_loaded(desktop: Any) -> None:
        if loaded:
            app.quit()
        else:
            QTimer.singleShot(100, lambda: quit_once_loaded(desktop))

    return run([folder], on_started=quit_once_loaded)


def close_window(desktop: Any) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    note(
        tray=desktop.tray is not None,
        tray_available=QSystemTrayIcon.isSystemTrayAvailable(),
        window_visible=desktop.window.isVisible(),
        quit_on_last_window_closed=app.quitOnLastWindowClosed(),
    )
    app.aboutToQuit.connect(lambda: note(about_to_quit=True))
    desktop.window.close()


class TrayTour:
    """Drives the tray of a running app step by step, a little apart so X can keep up."""

    def __init__(self, desktop: Any) -> None:
        self.desktop = desktop
        self.tray = desktop.tray
        self.window = desktop.window
        self.deadline = time.monotonic() + 60
        note(
            tray=self.tray is not None,
            tray_available=QSystemTrayIcon.isSystemTrayAvailable(),
            window_visible=self.window.isVisible(),
        )
        if self.tray is None:
            QApplication.exit(3)
            return
        self.steps: list[Callable[[], None]] = [
            self.click_icon,  # the window was up: hides it
            lambda: note(step="left click", window_visible=self.window.isVisible()),
            self.click_icon,  # and shows it again
            lambda: note(step="left click again", window_visible=self.window.isVisible()),
            self.window.close,
            lambda: note(step="window closed", window_visible=self.window.isVisible()),
            self.tray.show_action.trigger,
            lambda: note(step="show", window_visible=self.window.isVisible()),
            self.tray.pause_action.trigger,
            self.note_pause,
            self.tray.pause_action.trigger,
            self.note_pause,
            self.right_click_icon,
            lambda: note(step="right click", menu_visible=self.tray.menu.isVisible()),
            self.tray.menu.hide,
            lambda: note(step="tooltip", tooltip=self.tray.icon.toolTip()),
            self.quit,
        ]
        self.wait_for_icon()

    def tray_widget(self) -> QWidget | None:
        # Without a StatusNotifier host Qt embeds the icon as a small X window (XEmbed).
        for w in QApplication.topLevelWidgets():
            if type(w).__name__ == "QSystemTrayIconSys" or w.metaObject().className() == (
                "QSystemTrayIconSys"
            ):
                return w
        return None

    def wait_for_icon(self) -> None:
        widget = self.tray_widget()
        if widget is not None and widget.isVisible() and widget.width() > 0:
            note(
                step="icon embedded",
                icon_visible=self.tray.icon.isVisible(),
                icon_size=[widget.width(), widget.height()],
            )
            QTimer.singleShot(300, self.next_step)
        elif time.monotonic() > self.deadline:
            note(step="icon never embedded", icon_visible=self.tray.icon.isVisible())
            QApplication.exit(4)
        else:
            QTimer.singleShot(100, self.wait_for_icon)

    def next_step(self) -> None:
        if self.steps:
            self.steps.pop(0)()
            QTimer.singleShot(300, self.next_step)

    def click_icon(self, button: Qt.MouseButton = Qt.MouseButton.LeftButton) -> None:
        from PySide6.QtTest import QTest

        widget = self.tray_widget()
        assert widget is not None
        QTest.mouseClick(widget, button, Qt.KeyboardModifier.NoModifier, QPoint(5, 5))

    def right_click_icon(self) -> None:
        self.click_icon(Qt.MouseButton.RightButton)

    def quit(self) -> None:
        self.tray.quit_action.trigger()
        # Still running long after: Quit was refused (a window ignored its close event).
        QTimer.singleShot(30_000, self.quit_refused)

    def quit_refused(self) -> None:
        visible = [
            f"{w.metaObject().className()} {w.windowType().name}"
            for w in QApplication.topLevelWidgets()
            if w.isVisible()
        ]
        note(step="quit refused", visible_windows=visible)
        QApplication.exit(5)

    def note_pause(self) -> None:
        note(
            step="pause toggled",
            paused=self.desktop.context.paused,
            action=self.tray.pause_action.text(),
            look=self.tray.look,
        )


def main() -> int:
    global REPORT
    scenario, REPORT, args = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    if scenario == "tray-available":
        app = QApplication(sys.argv[:1])
        available = QSystemTrayIcon.isSystemTrayAvailable()
        note(tray_available=available, platform=app.platformName())
        return 0 if available else 1
    if scenario == "become-primary":
        return become_primary()
    if scenario == "send":
        return send(args[0])
    if scenario == "raw":
        return raw(args[0])
    if scenario == "run":
        return run(args)
    if scenario == "startup-order":
        return startup_order(args[0])
    if scenario == "serve":
        return run(args, on_started=lambda desktop: print("ready", flush=True))
    if scenario == "close-window":
        return run(args, on_started=close_window)
    if scenario == "tray-tour":
        tours: list[TrayTour] = []  # kept alive while its timers run
        return run(args, on_started=lambda desktop: tours.append(TrayTour(desktop)))
    raise SystemExit(f"unknown scenario {scenario}")


if __name__ == "__main__":
    raise SystemExit(main())
