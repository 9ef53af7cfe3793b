"""Starting and stopping the desktop app.

Order matters: the single-instance check comes before the engine (a second start must
not touch the index), the window appears before the indexer starts (the model loads
lazily on the indexer's thread, never before the window is up), and quitting shuts the
indexer down so work in flight is committed or rolled back, never half-written.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSocketNotifier, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QSystemTrayIcon

from codanna_desktop import __version__
from codanna_desktop.app.context import AppContext
from codanna_desktop.app.icons import app_icon
from codanna_desktop.app.main_window import MainWindow
from codanna_desktop.app.single_instance import SingleInstance
from codanna_desktop.app.tray import TrayController
from codanna_desktop.core.app_link import answer_search
from codanna_desktop.core.errors import CatalogDamagedError, CodannaError, user_error
from codanna_desktop.core.repair import start_new_catalog
from codanna_desktop.core.settings import AppPaths

log = logging.getLogger(__name__)

APP_NAME = "Codanna Desktop"
ErrorPresenter = Callable[[str], None]
RepairQuestion = Callable[[str], bool]  # the damaged-catalog sentence -> rebuild now?


def configure_application(app: QApplication) -> None:
    app.setApplicationName(APP_NAME)
    app.setOrganizationName("Codanna")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("codanna-desktop")  # matches resources/codanna-desktop.desktop
    app.setWindowIcon(app_icon())


class DesktopApp(QObject):
    """The running app: context, window and (when the desktop has one) the tray."""

    def __init__(self, context: AppContext, *, tray: bool | None = None) -> None:
        super().__init__()
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        self.context = context
        self.window = MainWindow(context)
        if tray is None:
            tray = QSystemTrayIcon.isSystemTrayAvailable()
        self.tray = TrayController(context, self.window) if tray else None
        # With a tray, closing the window hides it and indexing goes on; without one,
        # there would be no way back to a hidden window, so closing it quits.
        self.window.hide_on_close = self.tray is not None
        app.setQuitOnLastWindowClosed(self.tray is None)
        app.aboutToQuit.connect(self.shutdown)
        self.restart = False  # set by "Restart now": run_app starts the app again at the end
        self.window.restart_requested.connect(self._restart)
        app.installEventFilter(self)
        self._shut_down = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Qt's quit (any Quit menu item, SIGTERM, logging out) first closes every
        # top-level window and gives up if one stays visible. The tray icon's own X
        # window at times does (seen under trayer), and the main window hides instead of
        # closing: both are taken out of the way before Qt asks.
        if event.type() == QEvent.Type.Quit and watched is QApplication.instance():
            self.window.hide_on_close = False
            if self.tray is not None:
                self.tray.icon.hide()
            # Still running on the next turn of the loop: something else refused.
            QTimer.singleShot(0, self, self._quit_refused)
        return False

    def _quit_refused(self) -> None:
        self.window.hide_on_close = self.tray is not None
        if self.tray is not None and not self._shut_down:
            self.tray.icon.show()

    def start(self, folders: list[Path]) -> None:
        """Show the window (unless it starts hidden in the tray), then start indexing."""
        if self.tray is not None:
            self.tray.show()
        if self.tray is None or not self.context.settings.start_hidden:
            self.window.show_and_raise()
        QTimer.singleShot(0, lambda: self._start_indexing(folders))

    def _start_indexing(self, folders: list[Path]) -> None:
        if self._shut_down:
            return
        self.context.start()
        if folders:
            self.context.add_folders(folders)

    def handle_message(self, message: dict[str, Any]) -> None:
        """A later start of the app: bring the window forward and add its folders."""
        folders = message.get("folders")
        if message.get("activate", True):
            self.window.show_and_raise()
        if isinstance(folders, list):
            paths = [Path(f) for f in folders if isinstance(f, str) and f]
            if paths:
                self.context.add_folders(paths)

    def handle_request(self, request: dict[str, Any], answer: Callable[[dict], None]) -> None:
        """A command from the shell while the app holds the index (core/app_link.py): the
        app does it, so `add`, `remove`, `index` and `search` work beside the window."""
        kind = request.get("request")
        context = self.context
        if kind == "add":
            folders = [Path(f) for f in request.get("folders") or [] if isinstance(f, str)]
            context.add_folders(folders)
            answer({"ok": True, "message": f"The running app adds and indexes {len(folders)} "
                    "folder(s); its window shows the progress."})  # fmt: skip
        elif kind == "remove":
            folder = Path(str(request.get("folder", "")))
            if not context.is_added_folder(folder):
                answer({"ok": False, "error": f"{folder} is not one of the indexed folders.",
                        "exit_code": CodannaError.exit_code})  # fmt: skip
                return
            context.remove_folder(folder)
            answer({"ok": True, "message": f"The running app removes {folder}."})
        elif kind == "index":
            context.reindex(bool(request.get("full")))
            answer({"ok": True, "message": "The running app checks every folder against the "
                    "disk now; its window shows the progress."})  # fmt: skip
        elif kind == "search":

            def done(reply: Any, exc: BaseException | None) -> None:
                if exc is not None:
                    error = user_error(exc)
                    answer({"ok": False, "error": str(error), "exit_code": error.exit_code})
                else:
                    answer(reply)

            context.run_in_background(lambda: answer_search(context.engine, request), done)
        else:
            answer({"ok": False, "error": f"unknown request {kind!r}", "exit_code": 2})

    def _restart(self) -> None:
        self.restart = True
        self.window.hide_on_close = False
        QApplication.quit()

    def shutdown(self) -> None:
        if self._shut_down:
            return
        self._shut_down = True
        if self.tray is not None:
            self.tray.icon.hide()
        self.window.exact.shutdown()
        self.context.shutdown()


def run_app(
    argv: list[str],
    *,
    show_error: ErrorPresenter | None = None,
    ask_repair: RepairQuestion | None = None,
    on_started: Callable[[DesktopApp], None] | None = None,
) -> int:
    """Run the desktop app until it quits; `argv` holds folders to add (and Qt options).

    `show_error` replaces the message box, `ask_repair` the question whether to rebuild a
    damaged index (without it, a given `show_error` means no), and `on_started` runs once
    the app is up: all for driver scripts and tests. Returns the process exit code."""
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app, args = existing, list(argv)
    else:
        app = QApplication(["codanna-desktop", *argv])
        args = app.arguments()[1:]  # what Qt left after taking its own options
    configure_application(app)
    present = show_error or _message_box
    # Absolute now: a running instance that receives them has another working directory.
    folders = [Path(a).expanduser().absolute() for a in args if a and not a.startswith("-")]

    try:
        paths = AppPaths.default()
        instance = SingleInstance(paths)
        primary = instance.try_become_primary(advertise=False)
    except Exception as exc:
        error = user_error(exc)
        present(str(error))
        return error.exit_code
    if not primary:
        if instance.send_to_primary({"activate": True, "folders": [str(f) for f in folders]}):
            return 0
        present(
            f"{APP_NAME} is already running for this index but does not answer. "
            "Close it (or end its process) and start again."
        )
        return CodannaError.exit_code

    if ask_repair is None:
        ask_repair = _ask_repair if show_error is None else (lambda _message: False)
    try:
        desktop = _build_or_repair(paths, ask_repair)
    except Exception as exc:  # a person never gets a traceback; the log keeps it
        error = user_error(exc)
        if error is not exc:
            log.error("startup failed", exc_info=exc)
        instance.close()
        present(str(error))
        return error.exit_code

    instance.message_received.connect(desktop.handle_message)
    instance.request_received.connect(desktop.handle_request)
    instance.advertise()
    desktop.start(folders)
    if on_started is not None:
        QTimer.singleShot(0, lambda: on_started(desktop))
    with _quit_on_signals(app):
        code = app.exec()
    desktop.shutdown()  # already done by aboutToQuit; here for an exec that ended otherwise
    instance.close()
    if desktop.restart:
        # Only now: the index and the single-instance lock are free for the new process.
        subprocess.Popen(restart_command(), start_new_session=True)
    return code


def restart_command() -> list[str]:
    """How this app was started (the interpreter and its options, or the frozen program)."""
    return list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])


def _build(paths: AppPaths) -> DesktopApp:
    # AppContext opens the engine (settings, writer lock, catalog); it does not load the
    # model. If the window cannot be built, the engine is closed again (lock released).
    context = AppContext(paths)
    try:
        return DesktopApp(context)
    except BaseException:
        context.shutdown()
        raise


def _build_or_repair(paths: AppPaths, ask_repair: RepairQuestion) -> DesktopApp:
    try:
        return _build(paths)
    except CatalogDamagedError as exc:
        log.error("the catalog is damaged", exc_info=exc)
        if not ask_repair(str(exc)):
            raise
    # As `codanna-desktop repair`: the damaged index moves aside with the folder list and
    # the embedding cache carried over; the indexer's first sync indexes the folders again.
    start_new_catalog(paths)
    return _build(paths)


def _ask_repair(message: str) -> bool:
    box = QMessageBox(QMessageBox.Icon.Critical, APP_NAME, "The index needs to be rebuilt.")
    box.setInformativeText(message)
    repair = box.addButton("Rebuild the index", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(repair)
    box.exec()
    return box.clickedButton() is repair


def _message_box(message: str) -> None:
    box = QMessageBox(QMessageBox.Icon.Critical, APP_NAME, f"{APP_NAME} cannot start.")
    box.setInformativeText(message)
    box.exec()


@contextmanager
def _quit_on_signals(app: QApplication) -> Iterator[None]:
    """Ctrl+C and SIGTERM quit like the Quit menu item. Python runs a signal's handler only
    when the interpreter runs, not while Qt's loop waits in C++. The interpreter's C
    handler writes a byte to a socket (signal.set_wakeup_fd) that the loop watches, so the
    loop wakes for the signal, and Python runs the handler: no timer wakes an idle app."""
    handlers = {sig: signal.signal(sig, lambda *_: app.quit()) for sig in _signals()}
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)
    notifier.activated.connect(lambda *_: _drain(reader))
    try:
        yield
    finally:
        notifier.setEnabled(False)
        signal.set_wakeup_fd(previous)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        reader.close()
        writer.close()


def _drain(reader: socket.socket) -> None:
    """The wake-up bytes, read and dropped: the handlers run as this Python code runs."""
    with contextlib.suppress(OSError):
        while reader.recv(4096):
            pass


def _signals() -> list[signal.Signals]:
    return [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
