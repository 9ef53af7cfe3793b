#!/usr/bin/env python3
"""Screenshots of the tray icon with its menu open (docs/screenshots/tray-menu.png) and,
beside it, the notification a newly indexed folder shows (tray-notification.png).

Starts its own X display (Xvfb) with a tray host (trayer), runs the app there with a
throwaway CODANNA_HOME and a small demo folder, waits until it is up to date, pops the
tray menu up and grabs the screen around it. Needs `scripts/setup --dev`.

    .venv/bin/python scripts/screenshot_tray.py [OUT.png]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "screenshots" / "tray-menu.png"
INSIDE = "CODANNA_SCREENSHOT_INSIDE"  # set for the child that runs on the private display


def main() -> int:
    out = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else DEFAULT_OUT
    if os.environ.get(INSIDE):
        return inside(out)
    return outside(out)


# -- the parent: a private display with a tray host ----------------------------------


def outside(out: Path) -> int:
    xvfb, trayer = shutil.which("Xvfb"), shutil.which("trayer")
    if xvfb is None or trayer is None:
        print("screenshot_tray: needs Xvfb and trayer (scripts/setup --dev)", file=sys.stderr)
        return 2
    from codanna_desktop.core.settings import AppPaths

    # The app's own model folder, so the throwaway home does not provision another copy.
    models = os.environ.get("CODANNA_MODELS_DIR") or str(AppPaths.default().models_dir)
    server = subprocess.Popen(
        [xvfb, "-displayfd", "1", "-screen", "0", "1024x640x24", "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    display = ":" + server.stdout.readline().strip()
    with tempfile.TemporaryDirectory(prefix="codanna-shot-") as home:
        env = os.environ.copy()
        env.update(
            DISPLAY=display,
            QT_QPA_PLATFORM="xcb",
            CODANNA_HOME=home,
            CODANNA_MODELS_DIR=models,
            **{INSIDE: "1"},
        )
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        env.pop("WAYLAND_DISPLAY", None)
        # A panel across the top of the screen, as on a desktop.
        panel = [
            *("--edge", "top", "--align", "right", "--widthtype", "percent", "--width", "100"),
            *("--height", "30", "--transparent", "true", "--alpha", "0", "--tint", "0x262b33"),
        ]
        host = subprocess.Popen([trayer, *panel], env=env)
        try:
            return subprocess.run([sys.executable, __file__, str(out)], env=env).returncode
        finally:
            host.terminate()
            host.wait(10)
            server.terminate()
            server.wait(10)


# -- the child: the app, its tray icon and the open menu -----------------------------


def inside(out: Path) -> int:
    from PySide6.QtCore import QRect, QTimer
    from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPaintEvent
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

    from codanna_desktop.app.context import AppContext
    from codanna_desktop.app.main import DesktopApp, configure_application
    from codanna_desktop.core.settings import AppPaths

    app = QApplication(sys.argv[:1])
    configure_application(app)
    deadline = time.monotonic() + 20
    while not QSystemTrayIcon.isSystemTrayAvailable():
        if time.monotonic() > deadline:
            print("screenshot_tray: no tray host appeared", file=sys.stderr)
            return 1
        app.processEvents()
        time.sleep(0.1)

    class Wallpaper(QWidget):
        """Something calm behind the panel instead of Xvfb's black root window."""

        def paintEvent(self, event: QPaintEvent) -> None:
            p = QPainter(self)
            g = QLinearGradient(0, 0, self.width(), self.height())
            g.setColorAt(0, QColor("#5b6f8f"))
            g.setColorAt(1, QColor("#2f3b52"))
            p.fillRect(self.rect(), g)

    screen = app.primaryScreen()
    wallpaper = Wallpaper()
    wallpaper.setGeometry(screen.geometry())
    wallpaper.show()
    wallpaper.lower()  # no window manager: keep it under the panel by hand

    demo = Path(os.environ["CODANNA_HOME"]) / "shop-backend"
    demo.mkdir()
    (demo / "uploads.py").write_text(
        "def retry_failed_upload(path, attempts=3):\n"
        '    """Upload again after a network error."""\n'
        "    return attempts\n"
    )
    (demo / "config.py").write_text("HTTP_TIMEOUT = 30\nMAX_UPLOAD_BYTES = 1 << 20\n")

    desktop = DesktopApp(AppContext(AppPaths.default()))
    tray = desktop.tray
    if tray is None:
        print("screenshot_tray: the app made no tray icon", file=sys.stderr)
        return 1
    desktop.start([demo])
    result = {"code": 1}

    def balloon() -> QWidget | None:
        # Without a notification service Qt shows its own balloon next to the icon.
        found = [w for w in app.topLevelWidgets() if w.metaObject().className() == "QBalloonTip"]
        return found[0] if found and found[0].isVisible() else None

    def save(area: QRect, path: Path) -> bool:
        area = area.intersected(QRect(screen.geometry()))
        shot = screen.grabWindow(0, area.x(), area.y(), area.width(), area.height())
        path.parent.mkdir(parents=True, exist_ok=True)
        ok = shot.save(str(path))
        print(f"wrote {path}" if ok else f"screenshot_tray: cannot write {path}")
        return ok

    def wait_until_current() -> None:
        if tray.status_text.startswith("Up to date") and tray.icon.geometry().width() > 0:
            # No window manager: the window was mapped over the panel. Hide it and let X
            # repaint before grabbing.
            desktop.window.hide()
            QTimer.singleShot(600, notification)
        elif time.monotonic() > deadline + 120:
            print(f"screenshot_tray: stuck at {tray.status_text!r}", file=sys.stderr)
            app.quit()
        else:
            desktop.context.request_status()
            QTimer.singleShot(250, wait_until_current)

    def notification() -> None:
        tip = balloon()
        if tip is not None:  # the "folder is indexed" notification, while it shows
            area = tray.icon.geometry().united(tip.geometry()).adjusted(-16, -8, 16, 16)
            save(area, out.with_name("tray-notification.png"))
            tip.hide()
        tray.menu.popup(tray.icon.geometry().bottomLeft())
        QTimer.singleShot(700, grab)

    def grab() -> None:
        area = tray.icon.geometry().united(tray.menu.geometry()).adjusted(-160, -8, 16, 60)
        if save(area, out):
            result["code"] = 0
        tray.menu.hide()
        app.quit()

    QTimer.singleShot(0, wait_until_current)
    app.exec()
    desktop.shutdown()
    return result["code"]


if __name__ == "__main__":
    raise SystemExit(main())
