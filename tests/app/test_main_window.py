"""The search window end to end: a real indexed folder, the real model, the background
indexer and watcher running, real key presses and a real drop event."""

from __future__ import annotations

import shlex
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pygments.lexers.python import PythonLexer
from pygments.token import String
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from codanna_desktop.app.context import AppContext
from codanna_desktop.app.drop import classify_drop
from codanna_desktop.app.editor import editor_argv
from codanna_desktop.app.main_window import DEFAULT_SIZE, MainWindow
from codanna_desktop.app.preview import token_spans
from codanna_desktop.core.engine import Engine
from codanna_desktop.core.semantic.embedder import Embedder
from codanna_desktop.core.service import ServiceEvent
from codanna_desktop.core.settings import AppPaths
from tests.test_engine import FILES as ENGINE_FILES

WAIT_MS = 120_000  # indexing and embedding a few chunks; generous for a busy machine

# The engine tests' sample project, without its Markdown file.
FILES = {path: text for path, text in ENGINE_FILES.items() if path.endswith((".py", ".js"))}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root.resolve()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "project", FILES)


@pytest.fixture
def context(context: AppContext) -> AppContext:
    """The shared context, with its background indexer and watcher running."""
    context.start()
    return context


@pytest.fixture
def window(qtbot: QtBot, context: AppContext) -> Iterator[MainWindow]:
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.hide_on_close = False
    window.close()


def index_folder(qtbot: QtBot, window: MainWindow, folder: Path) -> None:
    """Add a folder and wait until the panel says it is indexed and embedded, and the
    window has re-run its query for the new index (so no late refresh follows)."""
    window.add_folders([folder])
    qtbot.waitUntil(lambda: folder_state(window, folder).startswith("Up to date"), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not window._refresh_timer.isActive(), timeout=WAIT_MS)


def count_searches(context: AppContext, monkeypatch: Any) -> list[str]:
    """The queries the engine is asked from now on, in order."""
    calls: list[str] = []
    engine_search = context.engine.search

    def counting_search(query: str, filters: Any = None, **kwargs: Any) -> Any:
        calls.append(query)
        return engine_search(query, filters, **kwargs)

    monkeypatch.setattr(context.engine, "search", counting_search)
    return calls


def folder_state(window: MainWindow, folder: Path) -> str:
    row = window.folders_panel.row_for(folder)
    return row.state if row is not None else ""


def search(qtbot: QtBot, window: MainWindow, text: str) -> None:
    """Type a query and wait until the window shows the answer to exactly that text."""
    window.search_box.clear()
    qtbot.keyClicks(window.search_box, text)
    qtbot.waitUntil(lambda: answered(window, text), timeout=WAIT_MS)


def answered(window: MainWindow, text: str) -> bool:
    return window.shown_key is not None and window.shown_key[0] == text


def shown_paths(window: MainWindow) -> list[str]:
    return [r.path for r in window.model.results()]


# Searching


def test_typing_a_query_lists_the_matching_code_first(
    qtbot: QtBot, window: MainWindow, project: Path
) -> None:
    index_folder(qtbot, window, project)
    search(qtbot, window, "retry failed upload")
    top = window.model.result(0)
    assert top is not None
    assert top.path == "net/http_client.py"
    assert top.symbol is not None and top.symbol.endswith("retry_failed_upload")
    assert window.results_stack.currentWidget() is window.results_view
    assert window.preview.result == top  # the first result is selected and previewed


def test_moving_the_slider_reorders_results_by_their_scores_without_a_new_query(
    qtbot: QtBot, window: MainWindow, context: AppContext, project: Path, monkeypatch: Any
) -> None:
    index_folder(qtbot, window, project)
    calls = count_searches(context, monkeypatch)
    search(qtbot, window, "read file contents")
    assert calls == ["read file contents"]

    window.alpha_slider.setValue(0)
    lexical_order = [r.chunk_id for r in window.model.results()]
    lexical = [r.lexical_score for r in window.model.results()]
    assert all(score is not None for score in lexical)
    assert lexical == sorted(lexical, reverse=True)  # type: ignore[type-var]

    window.alpha_slider.setValue(100)
    semantic_order = [r.chunk_id for r in window.model.results()]
    semantic = [r.semantic_score for r in window.model.results()]
    assert all(score is not None for score in semantic)
    assert semantic == sorted(semantic, reverse=True)  # type: ignore[type-var]

    assert lexical_order != semantic_order
    assert window.alpha_value.text() == "meaning only"
    assert calls == ["read file contents"]  # re-ranked from the cached session


def test_moving_the_slider_selects_and_shows_the_new_first_result(
    qtbot: QtBot, window: MainWindow, project: Path
) -> None:
    index_folder(qtbot, window, project)
    search(qtbot, window, "read file contents")
    window.alpha_slider.setValue(0)
    window.move_selection(len(window.model.results()) - 1)  # the person looks at the last
    assert window.results_view.currentIndex().row() > 0
    window.alpha_slider.setValue(100)
    assert window.results_view.currentIndex().row() == 0
    assert window.preview.result == window.model.results()[0]
    first = window.results_view.visualRect(window.model.index(0))
    assert window.results_view.viewport().rect().intersects(first)


def test_the_ranking_once_every_chunk_has_its_vector_is_shown_from_its_top(
    qtbot: QtBot, window: MainWindow, context: AppContext, project: Path, monkeypatch: Any
) -> None:
    index_folder(qtbot, window, project)
    search(qtbot, window, "read file contents")
    window.move_selection(len(window.model.results()) - 1)
    calls = count_searches(context, monkeypatch)
    context._on_service_event(ServiceEvent("embedded"))
    qtbot.waitUntil(lambda: calls == ["read file contents"], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.results_view.currentIndex().row() == 0, timeout=WAIT_MS)


def test_the_visible_query_is_ranked_again_when_every_chunk_has_its_vector(
    qtbot: QtBot, window: MainWindow, context: AppContext, project: Path, monkeypatch: Any
) -> None:
    index_folder(qtbot, window, project)
    calls = count_searches(context, monkeypatch)
    search(qtbot, window, "bubble sort")
    # What the indexer says when the last vectors are stored (it runs on its own thread).
    context._on_service_event(ServiceEvent("embedded"))
    qtbot.waitUntil(lambda: calls == ["bubble sort", "bubble sort"], timeout=WAIT_MS)


def test_a_late_answer_to_an_older_query_is_dropped(
    qtbot: QtBot, window: MainWindow, context: AppContext, project: Path, monkeypatch: Any
) -> None:
    index_folder(qtbot, window, project)
    if context.pool.maxThreadCount() < 2:  # the slow search must not hold up the newer one
        context.pool.setMaxThreadCount(2)
    slow_started, release, slow_returned = threading.Event(), threading.Event(), threading.Event()
    engine_search = context.engine.search

    def search_slowly_for_uploads(query: str, filters: Any = None, **kwargs: Any) -> Any:
        if query != "retry failed upload":
            return engine_search(query, filters, **kwargs)
        slow_started.set()
        release.wait(WAIT_MS / 1000)
        try:
            return engine_search(query, filters, **kwargs)
        finally:
            slow_returned.set()

    monkeypatch.setattr(context.engine, "search", search_slowly_for_uploads)
    window.search_box.setText("retry failed upload")
    window.run_search()
    qtbot.waitUntil(slow_started.is_set, timeout=WAIT_MS)
    search(qtbot, window, "bubble sort")
    newer = shown_paths(window)
    assert newer[0] == "math/sorting.py"

    release.set()  # the older query answers now, after the newer one
    assert slow_returned.wait(WAIT_MS / 1000)
    assert context.pool.waitForDone(WAIT_MS)  # its answer is on its way to the UI thread
    QApplication.processEvents()

    assert shown_paths(window) == newer
    assert window.shown_key is not None and window.shown_key[0] == "bubble sort"


def test_up_and_down_move_through_results_while_the_box_keeps_focus(
    qtbot: QtBot, window: MainWindow, project: Path
) -> None:
    index_folder(qtbot, window, project)
    window.activateWindow()
    window.focus_search()
    search(qtbot, window, "read file")
    assert window.model.rowCount() >= 3
    assert window.results_view.currentIndex().row() == 0

    qtbot.keyClick(window.search_box, Qt.Key.Key_Down)
    qtbot.keyClick(window.search_box, Qt.Key.Key_Down)
    assert window.results_view.currentIndex().row() == 2
    qtbot.keyClick(window.search_box, Qt.Key.Key_Up)
    assert window.results_view.currentIndex().row() == 1
    assert window.search_box.hasFocus()
    second = window.model.result(1)
    qtbot.waitUntil(lambda: window.preview.loaded is not None, timeout=WAIT_MS)
    assert window.preview.result == second


def test_enter_opens_the_selected_result_in_the_editor_at_the_matching_line(
    qtbot: QtBot, window: MainWindow, context: AppContext, project: Path, tmp_path: Path
) -> None:
    argv_file = tmp_path / "editor-argv.txt"
    editor = tmp_path / "fake_editor.py"
    editor.write_text(
        "import pathlib, sys\n"
        "pathlib.Path(sys.argv[1]).write_text('\\n'.join(sys.argv[2:]), encoding='utf-8')\n"
    )
    context.settings.editor_command = (
        f"{shlex.quote(sys.executable)} {shlex.quote(str(editor))} "
        f"{shlex.quote(str(argv_file))} {{path}} {{line}}"
    )
    index_folder(qtbot, window, project)
    search(qtbot, window, "retry_failed_upload")
    selected = window.selected_result()
    assert selected is not None and selected.path == "net/http_client.py"

    qtbot.keyClick(window.search_box, Qt.Key.Key_Return)

    qtbot.waitUntil(argv_file.exists, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: argv_file.read_text(encoding="utf-8").count("\n") == 1)
    source = (project / "net/http_client.py").read_text(encoding="utf-8").splitlines()
    line = 1 + next(i for i, text in enumerate(source) if "def retry_failed_upload" in text)
    assert argv_file.read_text(encoding="utf-8").splitlines() == [
        str(project / "net" / "http_client.py"),
        str(line),
    ]


def test_escape_clears_the_box_and_its_results(
    qtbot: QtBot, window: MainWindow, project: Path
) -> None:
    index_folder(qtbot, window, project)
    window.activateWindow()
    window.focus_search()
    search(qtbot, window, "bubble sort")
    assert window.model.rowCount() > 0

    qtbot.keyClick(window.search_box, Qt.Key.Key_Escape)
    assert window.search_box.text() == ""
    assert window.model.rowCount() == 0
    assert window.results_stack.currentWidget() is not window.results_view
    assert "Type to search" in window.empty_label.text()


@pytest.mark.parametrize("key", [Qt.Key.Key_K, Qt.Key.Key_F])
def test_ctrl_k_and_ctrl_f_focus_the_search_box(
    qtbot: QtBot, window: MainWindow, key: Qt.Key
) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.path_filter.setFocus()
    qtbot.waitUntil(window.path_filter.hasFocus)
    window.search_box.setText("some text")

    qtbot.keyClick(window.path_filter, key, Qt.KeyboardModifier.ControlModifier)

    assert window.search_box.hasFocus()
    assert window.search_box.selectedText() == "some text"  # typing replaces the query


# Folders: drop, watch


def drop_on(window: MainWindow, mime: QMimeData) -> tuple[bool, bool]:
    """Send a real drag-enter and drop to the window; whether each was accepted."""
    centre = window.rect().center()
    enter = QDragEnterEvent(  # Qt takes a QPoint here and a QPointF for the drop
        centre,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    drop = QDropEvent(
        QPointF(centre),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, drop)
    return enter.isAccepted(), drop.isAccepted()


def test_dropping_a_folder_adds_and_indexes_it(
    qtbot: QtBot, window: MainWindow, project: Path
) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(project))])

    assert drop_on(window, mime) == (True, True)

    qtbot.waitUntil(lambda: folder_state(window, project).startswith("Up to date"), timeout=WAIT_MS)
    search(qtbot, window, "cartTotal")
    assert shown_paths(window)[0] == "web/app.js"


def test_a_refused_drop_says_why_in_the_status_bar(window: MainWindow) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl("https://example.com/repo")])
    refused = classify_drop(mime).refused
    assert refused

    entered, dropped = drop_on(window, mime)

    assert entered and not dropped
    assert refused[0] in window.statusBar().currentMessage()


def test_saving_a_file_in_a_folder_makes_its_new_text_searchable(
    qtbot: QtBot, window: MainWindow, project: Path
) -> None:
    index_folder(qtbot, window, project)
    search(qtbot, window, "quokka_ledger_balance")
    assert "bank/ledger.py" not in shown_paths(window)

    write_tree(
        project,
        {"bank/ledger.py": "def quokka_ledger_balance(entries):\n    return sum(entries)\n"},
    )

    # The watcher notices, the indexer indexes, the window runs the shown query again.
    qtbot.waitUntil(lambda: "bank/ledger.py" in shown_paths(window), timeout=WAIT_MS)
    assert shown_paths(window)[0] == "bank/ledger.py"


# Empty states


def test_without_folders_the_window_says_to_add_or_drop_one(
    qtbot: QtBot, window: MainWindow
) -> None:
    qtbot.waitUntil(lambda: window.status is not None, timeout=WAIT_MS)
    assert window.results_stack.currentWidget() is not window.results_view
    assert "Add a folder or drop one here" in window.empty_label.text()
    assert window.empty_add_button.isVisible()
    assert "No folders yet" in window.progress_label.text()


@pytest.fixture
def unembedded_window(qtbot: QtBot, embedder: Embedder, project: Path) -> Iterator[MainWindow]:
    """A window on the project indexed lexically only, no indexer running: nothing is
    embedded yet."""
    engine = Engine(embedder=embedder)
    engine.index([engine.add_root(project)], embed=False)
    context = AppContext(engine=engine)
    try:
        window = MainWindow(context)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: window.status is not None, timeout=WAIT_MS)
        yield window
        window.close()
    finally:
        context.shutdown()


def test_no_results_says_so_with_the_share_of_the_index_embedded(
    qtbot: QtBot, unembedded_window: MainWindow
) -> None:
    window = unembedded_window
    window.path_filter.setText("nowhere/**")
    search(qtbot, window, "upload")

    assert window.model.rowCount() == 0
    assert window.results_stack.currentWidget() is not window.results_view
    text = window.empty_label.text()
    assert "No results for “upload”" in text
    assert "0% of the index is embedded so far" in text
    assert "filter" in text


def test_a_path_filter_that_is_no_glob_says_why_in_place_of_results(
    qtbot: QtBot, unembedded_window: MainWindow
) -> None:
    window = unembedded_window
    window.path_filter.setText("[z-a].py")
    window.search_box.setText("upload")
    window.run_search()
    qtbot.waitUntil(lambda: bool(window.searches.error), timeout=WAIT_MS)
    text = window.empty_label.text()
    assert text.startswith("The search failed: The path filter “[z-a].py”"), text
    assert "runs backwards" in text and "unexpected" not in text


# Window behaviour the app shell relies on


def test_pause_action_pauses_indexing_and_says_so(
    qtbot: QtBot, window: MainWindow, context: AppContext
) -> None:
    window.pause_action.trigger()
    assert context.paused
    assert "paused" in window.progress_label.text().lower()
    assert window.pause_action.text() == "Resume Indexing"
    window.pause_action.trigger()
    assert not context.paused


def test_closing_hides_the_window_when_hide_on_close_is_set(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.hide_on_close = True
    window.close()
    assert not window.isVisible()
    window.show_and_raise()
    assert window.isVisible()


def test_window_remembers_its_size_splitter_and_last_query(
    qtbot: QtBot, context: AppContext, codanna_home: Path
) -> None:
    first = MainWindow(context)
    qtbot.addWidget(first)
    assert (first.width(), first.height()) == DEFAULT_SIZE
    first.show()
    first.resize(790, 520)  # within the offscreen screen (800x600)
    size = (first.width(), first.height())
    assert size != DEFAULT_SIZE
    first.splitter.setSizes([300, 500])
    sizes = first.splitter.sizes()
    first.search_box.setText("bubble sort")
    first.alpha_slider.setValue(30)
    first.close()

    second = MainWindow(context)
    qtbot.addWidget(second)
    second.show()
    assert second.search_box.text() == "bubble sort"
    assert second.alpha_slider.value() == 30
    assert (second.width(), second.height()) == size
    assert second.splitter.sizes() == sizes
    ini = AppPaths.default().config_dir / "window.ini"
    assert ini.is_file() and codanna_home in ini.parents
    second.close()


def test_drop_target_accepts_only_urls(window: MainWindow) -> None:
    mime = QMimeData()
    mime.setText("just some text")
    enter = QDragEnterEvent(
        QPoint(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    assert not enter.isAccepted()


# Filters and the preview


def test_language_filter_offers_the_index_languages_and_narrows_results(
    qtbot: QtBot, window: MainWindow, project: Path
) -> None:
    index_folder(qtbot, window, project)
    combo = window.language_filter

    def offered() -> list[str]:
        return [combo.itemText(i) for i in range(combo.count())]

    qtbot.waitUntil(lambda: {"python", "javascript"} <= set(offered()), timeout=WAIT_MS)
    search(qtbot, window, "readFileContents")
    assert {r.language for r in window.model.results()} == {"python", "javascript"}

    combo.setCurrentText("javascript")
    qtbot.waitUntil(
        lambda: window.shown_key is not None and window.shown_key[1].languages == ("javascript",),
        timeout=WAIT_MS,
    )
    assert window.model.rowCount() > 0
    assert {r.language for r in window.model.results()} == {"javascript"}


def test_preview_highlights_the_file_and_scrolls_the_matched_lines_into_view(
    qtbot: QtBot, window: MainWindow, project: Path
) -> None:
    filler = "".join(f"VALUE_{i} = {i}  # padding line\n" for i in range(300))
    target = "def zebra_crossing_signal(light):\n    return light == 'green'\n"
    write_tree(project, {"long/module.py": filler + target})
    index_folder(qtbot, window, project)

    search(qtbot, window, "zebra_crossing_signal")
    result = window.selected_result()
    assert result is not None and result.path == "long/module.py"
    assert result.start_line == 301
    qtbot.waitUntil(
        lambda: (
            window.preview.loaded is not None
            and window.preview.loaded.path == project / "long" / "module.py"
        ),
        timeout=WAIT_MS,
    )
    code = window.preview.code
    assert code.marked == (301, result.end_line)
    first_visible = code.firstVisibleBlock().blockNumber() + 1
    visible_lines = code.viewport().height() // code.fontMetrics().lineSpacing()
    assert first_visible <= 301 < first_visible + visible_lines
    # Pygments found tokens (the keyword `def` on line 301), and the query's word is marked.
    loaded = window.preview.loaded
    assert loaded is not None
    assert any(length == 3 for start, length, _ in loaded.spans[300] if start == 0)
    assert (300, 4, 25) in loaded.matches


def test_preview_tokens_of_a_multi_line_string_are_split_per_line() -> None:
    text = 'x = 1\ns = """one\ntwo"""\n'
    spans = token_spans(text, PythonLexer(stripnl=False, ensurenl=False))
    assert len(spans) == 4
    covered = {
        (line, col)
        for line, row in enumerate(spans)
        for start, length, ttype in row
        if ttype in String
        for col in range(start, start + length)
    }
    # '"""one' on line 2 from column 4, 'two"""' on line 3 from column 0, nothing more.
    assert covered == {(1, c) for c in range(4, 10)} | {(2, c) for c in range(0, 6)}


# The editor command


def test_editor_command_keeps_a_path_with_spaces_as_one_argument() -> None:
    argv = editor_argv("code -g {path}:{line}", Path("/home/me/my project/a b.py"), 42)
    assert argv == ["code", "-g", "/home/me/my project/a b.py:42"]


def test_an_editor_that_cannot_start_is_reported_in_the_status_bar(
    qtbot: QtBot, window: MainWindow, context: AppContext, project: Path
) -> None:
    context.settings.editor_command = "no-such-editor-3e9x {path}"
    index_folder(qtbot, window, project)
    search(qtbot, window, "bubble_sort")

    qtbot.keyClick(window.search_box, Qt.Key.Key_Return)

    assert "Could not start the editor 'no-such-editor-3e9x'" in (
        window.statusBar().currentMessage()
    )


def test_picking_a_folder_in_the_panel_limits_the_search_to_it(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, project: Path
) -> None:
    other = write_tree(tmp_path / "other", {"lib/sorting.py": FILES["math/sorting.py"]})
    index_folder(qtbot, window, project)
    index_folder(qtbot, window, other)
    search(qtbot, window, "bubble sort")
    assert {r.root for r in window.model.results()} == {project, other.resolve()}

    window.folders_panel.select_folder(other.resolve())
    qtbot.waitUntil(lambda: window.scope_button.isVisible(), timeout=WAIT_MS)
    assert window.scope_button.text() == "In other  ✕"
    qtbot.waitUntil(
        lambda: {r.root for r in window.model.results()} == {other.resolve()}, timeout=WAIT_MS
    )
    window.scope_button.click()
    assert not window.scope_button.isVisible()
    qtbot.waitUntil(
        lambda: {r.root for r in window.model.results()} == {project, other.resolve()},
        timeout=WAIT_MS,
    )


def test_the_results_menu_copies_path_and_line_and_the_snippet(
    qtbot: QtBot, window: MainWindow, project: Path
) -> None:
    index_folder(qtbot, window, project)
    search(qtbot, window, "bubble sort")
    result = window.selected_result()
    assert result is not None
    menu = window.result_menu(result)
    actions = {a.text(): a for a in menu.actions() if a.text()}
    assert list(actions) == [
        "Open in editor",
        "Copy path:line",
        "Copy the snippet",
        "Show in file manager",
    ]
    actions["Copy path:line"].trigger()
    clipboard = QApplication.clipboard().text()
    assert clipboard.startswith(f"{result.abs_path}:")
    assert int(clipboard.rsplit(":", 1)[1]) >= result.start_line
    actions["Copy the snippet"].trigger()
    assert QApplication.clipboard().text() == result.snippet


def test_find_in_the_preview_moves_through_the_file_and_says_when_nothing_matches(
    qtbot: QtBot, window: MainWindow, project: Path
) -> None:
    index_folder(qtbot, window, project)
    search(qtbot, window, "bubble sort")
    preview = window.preview
    qtbot.waitUntil(lambda: preview.loaded is not None, timeout=WAIT_MS)
    preview.code.setFocus()
    qtbot.keyClick(preview.code, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert preview.find_box.isVisible()
    qtbot.keyClicks(preview.find_box, "def ")
    first = preview.code.textCursor().selectionStart()
    assert preview.code.textCursor().selectedText() == "def "
    qtbot.keyClick(preview.find_box, Qt.Key.Key_Return)
    assert preview.code.textCursor().selectionStart() != first
    preview.find_box.setText("no_such_text_anywhere")
    assert not preview.find_next(backwards=False)
    assert preview.find_status.text() == "Not in this file"
    qtbot.keyClick(preview.find_box, Qt.Key.Key_Escape)
    assert not preview.find_box.isVisible()


def test_a_store_or_model_change_offers_restart_now(qtbot: QtBot, window: MainWindow) -> None:
    asked: list[bool] = []
    window.restart_requested.connect(lambda: asked.append(True))
    window.offer_restart()
    box = window.restart_box
    qtbot.waitUntil(box.isVisible)
    now = next(b for b in box.buttons() if b.text() == "Restart now")
    now.click()
    qtbot.waitUntil(lambda: asked == [True])


def test_at_exact_words_only_the_semantic_side_is_not_asked_until_the_slider_moves(
    qtbot: QtBot, window: MainWindow, context: AppContext, project: Path, monkeypatch: Any
) -> None:
    index_folder(qtbot, window, project)
    window.alpha_slider.setValue(0)
    calls = count_searches(context, monkeypatch)
    search(qtbot, window, "read file contents")
    assert window.session is not None and not window.session.semantic_asked
    assert window.alpha_value.text() == "exact words only"
    window.alpha_slider.setValue(80)  # meaning is wanted now: the query runs again with it
    qtbot.waitUntil(
        lambda: window.session is not None and window.session.semantic_asked, timeout=WAIT_MS
    )
    assert calls == ["read file contents", "read file contents"]
    assert any(r.semantic_score is not None for r in window.model.results())
