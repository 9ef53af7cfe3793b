#!/usr/bin/env python3
"""Screenshots of the desktop app for the docs: docs/screenshots/{empty,indexing,results,
settings}.png.

Runs offscreen (or on a real display when one is set, e.g. under xvfb-run), in a
temporary CODANNA_HOME, with a copy of codanna_desktop/core as the sample folder, so the
pictures show real indexing, real search results and the real preview. The model comes
from the machine's provisioned models folder (scripts/setup).

    .venv/bin/python scripts/screenshots.py [--dark] [--out DIR]

--dark paints with a dark palette and adds "-dark" to the file names (to check that the
window follows the system palette).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIZE = (1200, 760)
QUERY_WHILE_INDEXING = "test_connection"
QUERY = "wait until the file stops changing before indexing it"


def prepare_environment(home: Path) -> None:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if "CODANNA_MODELS_DIR" not in os.environ:
        from codanna_desktop.core.settings import AppPaths

        os.environ.pop("CODANNA_HOME", None)
        os.environ["CODANNA_MODELS_DIR"] = str(AppPaths.default().models_dir)
    os.environ["CODANNA_HOME"] = str(home)
    os.environ.pop("CODANNA_DATABASE_URL", None)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"Timed out waiting for {what}.")
        QApplication.processEvents()
        time.sleep(0.02)


def settle(seconds: float = 0.4) -> None:
    """Let queued signals, background reads and repaints land before a grab."""
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def dark_palette() -> object:
    from PySide6.QtGui import QColor, QPalette

    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#202124",
        QPalette.ColorRole.WindowText: "#e8eaed",
        QPalette.ColorRole.Base: "#17181a",
        QPalette.ColorRole.AlternateBase: "#24262a",
        QPalette.ColorRole.Text: "#e8eaed",
        QPalette.ColorRole.Button: "#2b2d31",
        QPalette.ColorRole.ButtonText: "#e8eaed",
        QPalette.ColorRole.Highlight: "#4c7cf0",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.PlaceholderText: "#8b8f96",
        QPalette.ColorRole.Mid: "#3c4043",
        QPalette.ColorRole.Dark: "#111214",
        QPalette.ColorRole.Light: "#3a3c40",
        QPalette.ColorRole.ToolTipBase: "#2b2d31",
        QPalette.ColorRole.ToolTipText: "#e8eaed",
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    return palette


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--dark", action="store_true", help="paint with a dark palette")
    args = parser.parse_args()
    suffix = "-dark" if args.dark else ""
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    workdir = Path(tempfile.mkdtemp(prefix="codanna-screenshots-"))
    prepare_environment(workdir / "home")
    sample = workdir / "codanna-core"
    shutil.copytree(
        REPO / "codanna_desktop" / "core", sample, ignore=shutil.ignore_patterns("__pycache__")
    )

    from PySide6.QtWidgets import QApplication

    from codanna_desktop.app.context import AppContext
    from codanna_desktop.app.main_window import MainWindow
    from codanna_desktop.app.settings_dialog import SettingsDialog
    from codanna_desktop.core.indexing.indexer import Progress
    from codanna_desktop.core.semantic.model_store import install_default_model
    from codanna_desktop.core.settings import AppPaths

    app = QApplication([sys.argv[0]])
    app.setStyle("Fusion")
    app.setOrganizationName("Codanna")
    app.setApplicationName("Codanna Desktop")
    if args.dark:
        app.setPalette(dark_palette())  # type: ignore[arg-type]
    install_default_model(AppPaths.default(), log=lambda message: None)

    context = AppContext()
    try:
        window = MainWindow(context)
        window.resize(*SIZE)
        window.show()
        context.start()
        wait_until(lambda: window.status is not None, 30, "the first status")
        settle()
        saved = [save(window, out / f"empty{suffix}.png")]

        embedding: list[Progress] = []
        context.progress.connect(lambda p: embedding.append(p) if p.phase == "embedding" else None)
        window.add_folders([sample])
        wait_until(lambda: bool(window.folders_panel.rows()), 30, "the folder to appear")
        wait_until(
            lambda: bool(embedding) and embedding[-1].done >= 0.2 * embedding[-1].total,
            300,
            "embedding to get going",
        )
        window.search_box.setText(QUERY_WHILE_INDEXING)
        window.run_search()
        wait_until(lambda: window.model.rowCount() > 0, 30, "results while indexing")
        settle(1.2)
        saved.append(save(window, out / f"indexing{suffix}.png"))

        wait_until(lambda: context.wait_idle(0.05), 900, "indexing to finish")
        context.request_status()
        settle(1.0)
        window.search_box.setText(QUERY)
        window.run_search()
        wait_until(
            lambda: (
                window.model.rowCount() > 0
                and window.shown_key is not None
                and window.shown_key[0] == QUERY
            ),
            30,
            "the results",
        )
        window.move_selection(1)
        window.move_selection(-1)
        wait_until(lambda: window.preview.loaded is not None, 30, "the preview")
        settle(1.0)
        saved.append(save(window, out / f"results{suffix}.png"))

        dialog = SettingsDialog(context, window)
        dialog.show()
        wait_until(lambda: dialog.chunk_count is not None, 30, "the settings dialog's counts")
        settle()
        saved.append(save(dialog, out / f"settings{suffix}.png"))
        dialog.close()
        window.hide_on_close = False
        window.close()
    finally:
        context.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)
    for path in saved:
        print(path)
    return 0


def save(widget: object, path: Path) -> Path:
    from PySide6.QtWidgets import QWidget

    assert isinstance(widget, QWidget)
    if not widget.grab().save(str(path)):
        raise SystemExit(f"Could not write {path}.")
    return path


if __name__ == "__main__":
    raise SystemExit(main())
