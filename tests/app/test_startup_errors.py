"""The desktop app on a damaged index: the person reads the same sentence as on the
command line, and can have the index rebuilt from the folders on disk, losing nothing."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import QApplication

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.settings import AppPaths


def damaged_index(tmp_path: Path) -> Path:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "store.py").write_text("def save_user_record(db, user):\n    db.insert(user)\n")
    with Engine() as engine:
        engine.add_root(project)
        engine.index(embed=False)
    catalog = AppPaths.default().data_dir / "catalog.sqlite"
    catalog.write_bytes(os.urandom(catalog.stat().st_size))
    return project


def test_damaged_catalog_is_shown_with_the_way_out(qapp: QApplication, tmp_path: Path) -> None:
    from codanna_desktop.app.main import run_app

    damaged_index(tmp_path)
    shown: list[str] = []
    assert run_app([], show_error=shown.append) == 4
    assert len(shown) == 1
    assert "is damaged" in shown[0] and "codanna-desktop repair" in shown[0]


def test_rebuilding_a_damaged_index_from_the_app_keeps_its_folders(
    qapp: QApplication, tmp_path: Path
) -> None:
    # What run_app does before its event loop (which a test cannot end and run again).
    from codanna_desktop.app.main import _build_or_repair

    project = damaged_index(tmp_path)
    asked: list[str] = []

    def ask(message: str) -> bool:
        asked.append(message)
        return True

    desktop = _build_or_repair(AppPaths.default(), ask)
    try:
        desktop.context.start()  # as desktop.start() does once the event loop runs
        assert desktop.context.wait_idle(120)
        found = desktop.context.search_now("save_user_record").results(0.0, 1)
    finally:
        desktop.shutdown()
        qapp.setQuitOnLastWindowClosed(True)
    assert len(asked) == 1 and "is damaged" in asked[0]
    assert found and found[0].abs_path == project / "store.py"
