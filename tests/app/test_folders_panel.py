"""The folders panel: what each folder's line says, and Add/Remove with a real indexer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from codanna_desktop.app.context import AppContext
from codanna_desktop.app.folders_panel import FoldersPanel
from codanna_desktop.core.engine import EngineStatus, RootStatus
from codanna_desktop.core.indexing.indexer import Progress
from codanna_desktop.core.indexing_status import FolderLine, IndexingStatus
from codanna_desktop.core.storage.catalog import RootRow

WAIT_MS = 120_000
ROOT = Path("/home/dev/project")


def root_status(
    *,
    files: int = 10,
    chunks: int = 40,
    embedded: int = 40,
    skip_counts: dict[str, int] | None = None,
    error: str | None = None,
    indexed: bool = True,
) -> RootStatus:
    skips = skip_counts or {}
    row = RootRow(1, ROOT, time.time(), time.time() if indexed else None, error)
    return RootStatus(row, files, sum(skips.values()), chunks, embedded, skips)


def describe_folder(
    root: RootStatus, progress: Progress | None, state: str, semantic_problem: str | None
) -> FolderLine:
    """The line the one indexing-status model gives this folder."""
    counts = EngineStatus(
        roots=[root],
        files=root.files,
        chunks=root.chunks,
        embedded=root.embedded,
        skipped=root.skipped,
        model="a model",
        model_problem=semantic_problem,
        vector_problem=None,
        vector_store="embedded (hnswlib)",
        data_dir=Path("/data"),
    )
    status = IndexingStatus(counts=counts).with_state(state)
    if progress is not None:
        status = status.with_progress(progress)
    return status.folder_line(root)


# What a folder's line says


def test_folder_being_indexed_shows_files_done_of_total() -> None:
    row = describe_folder(
        root_status(), Progress("indexing", ROOT, 120, 500), "indexing", semantic_problem=None
    )
    assert row.state == "Indexing 120/500"
    assert row.kind == "busy"
    assert row.fraction == pytest.approx(0.24)


def test_folder_being_scanned_says_scanning() -> None:
    row = describe_folder(root_status(), Progress("scanning", ROOT), "scanning", None)
    assert row.state == "Scanning…"


def test_progress_of_another_folder_does_not_change_this_one() -> None:
    other = Progress("indexing", Path("/elsewhere"), 1, 9)
    row = describe_folder(root_status(), other, "indexing", None)
    assert row.state == "Up to date · 10 files"


def test_folder_waiting_for_embeddings_shows_embedded_of_chunks() -> None:
    row = describe_folder(root_status(chunks=2000, embedded=300), None, "embedding", None)
    assert row.state == "Embedding 300/2,000"
    paused = describe_folder(root_status(chunks=2000, embedded=300), None, "paused", None)
    assert paused.state == "Paused · embedded 300/2,000"


def test_folder_without_a_model_says_exact_words_only_and_why() -> None:
    row = describe_folder(root_status(embedded=0), None, "idle", "the model folder is missing")
    assert row.state == "Exact words only"
    assert "the model folder is missing" in row.tooltip


def test_folder_with_an_error_shows_the_reason() -> None:
    row = describe_folder(root_status(error="The folder cannot be opened"), None, "idle", None)
    assert row.state == "Error: The folder cannot be opened"
    assert row.kind == "error"


def test_skipped_files_are_counted_by_reason_in_the_tooltip() -> None:
    row = describe_folder(
        root_status(skip_counts={"binary": 3, "too large": 1}), None, "idle", None
    )
    assert row.state == "Up to date · 10 files, 4 skipped"
    assert "4 files skipped:" in row.tooltip
    assert "3 binary" in row.tooltip and "1 too large" in row.tooltip


# The panel on a real engine


@pytest.fixture
def context(context: AppContext) -> AppContext:
    """The shared context, with its background indexer and watcher running."""
    context.start()
    return context


@pytest.fixture
def panel(qtbot: QtBot, context: AppContext) -> FoldersPanel:
    panel = FoldersPanel(context)
    qtbot.addWidget(panel)
    panel.resize(260, 400)
    panel.show()
    # The window asks for fresh counts when the indexer changes state; here the test does.
    context.roots_changed.connect(context.request_status)
    context.state_changed.connect(lambda _state: context.request_status())
    context.request_status()
    return panel


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "a.py").write_text("def alpha():\n    return 1\n")
    (folder / "b.py").write_text("def beta():\n    return 2\n")
    (folder / "blob.dat").write_bytes(b"\x00\x01binary\x00" * 20)
    return folder.resolve()


def state_of(panel: FoldersPanel, folder: Path) -> str:
    row = panel.row_for(folder)
    return row.state if row is not None else ""


def test_panel_lists_an_added_folder_with_its_files_and_skips(
    qtbot: QtBot, panel: FoldersPanel, context: AppContext, project: Path
) -> None:
    qtbot.waitUntil(lambda: panel.status.counts is not None, timeout=WAIT_MS)
    assert panel.empty.isVisible() and not panel.list.isVisible()

    context.add_folders([project])

    qtbot.waitUntil(lambda: state_of(panel, project).startswith("Up to date"), timeout=WAIT_MS)
    row = panel.row_for(project)
    assert row is not None
    assert row.state == "Up to date · 2 files, 1 skipped"
    assert "1 binary" in row.tooltip
    assert panel.list.count() == 1 and panel.list.item(0).toolTip() == row.tooltip
    assert panel.list.isVisible() and not panel.empty.isVisible()


def answer_next_message_box(qtbot: QtBot, button_text: str) -> list[str]:
    """Click `button_text` in the next modal message box; returns its text once shown."""
    seen: list[str] = []

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        seen.append(box.text())
        button = next(b for b in box.buttons() if b.text().replace("&", "") == button_text)
        button.click()

    QTimer.singleShot(0, click)
    return seen


def test_remove_asks_first_and_cancel_keeps_the_folder(
    qtbot: QtBot, panel: FoldersPanel, context: AppContext, project: Path
) -> None:
    context.add_folders([project])
    qtbot.waitUntil(lambda: state_of(panel, project).startswith("Up to date"), timeout=WAIT_MS)
    panel.select_folder(project)
    assert panel.remove_button.isEnabled()

    asked = answer_next_message_box(qtbot, "Cancel")
    panel.remove_button.click()

    assert asked and project.name in asked[0]
    assert context.wait_idle(60)
    assert [r.path for r in context.engine.roots()] == [project]


def test_remove_after_confirming_forgets_the_folder(
    qtbot: QtBot, panel: FoldersPanel, context: AppContext, project: Path
) -> None:
    context.add_folders([project])
    qtbot.waitUntil(lambda: state_of(panel, project).startswith("Up to date"), timeout=WAIT_MS)
    panel.select_folder(project)

    asked = answer_next_message_box(qtbot, "Remove")
    panel.remove_button.click()

    assert asked
    qtbot.waitUntil(lambda: panel.row_for(project) is None, timeout=WAIT_MS)
    assert context.engine.roots() == []
    assert panel.empty.isVisible()
