"""Exact mode in the search window: the switch, the toggles and their keys, every matching
line grouped by file with counts and a total, /regex/ chosen by the text, a bad regex
shown under the box, and Enter opening the editor at line and column."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from codanna_desktop.app.context import AppContext
from codanna_desktop.app.exact_search import read_query, total_text
from codanna_desktop.app.main_window import DEFAULT_SIZE, MainWindow
from codanna_desktop.core.engine import Engine
from codanna_desktop.core.exact.pattern import CaseMode

WAIT_MS = 120_000  # the first exact query starts the search process: slow on a busy machine


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "app").mkdir(parents=True)
    (root / "app/views.py").write_text(
        "from flask import url_for\n\n"
        "def login():\n"
        "    return redirect(url_for('index'))  # url_for twice\n\n"
        "class View:\n"
        "    def get(self):\n"
        "        return URL_FOR\n"
    )
    (root / "app/routes.js").write_text("app.route('/x', () => url_for(a) !== b)\n")
    many = "".join(f"value_{i} = url_for('item', id={i})\n" for i in range(3000))
    (root / "app/many.py").write_text(many)
    return root.resolve()


@pytest.fixture
def context(project: Path) -> Iterator[AppContext]:
    """Indexed lexically before the window opens; no model, no background writer."""
    engine = Engine()
    engine.add_root(project)
    engine.index(embed=False)
    ctx = AppContext(engine=engine)
    yield ctx
    ctx.shutdown()


@pytest.fixture
def window(qtbot: QtBot, context: AppContext) -> Iterator[MainWindow]:
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.resize(*DEFAULT_SIZE)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.close()


def _search(qtbot: QtBot, window: MainWindow, text: str) -> None:
    window.search_box.setText(text)
    window.run_search()
    ticket = window.exact.latest
    qtbot.waitUntil(lambda: window.exact.answered == ticket, timeout=WAIT_MS)


def test_box_text_chooses_regex_or_literal_and_the_toggles_the_rest() -> None:
    q = read_query("/url_\\w+/", regex=False, match_case=False, whole_word=False)
    assert q.automatic == "regex" and not q.options.fixed and q.options.pattern == "url_\\w+"
    q = read_query('"a.b"', regex=True, match_case=True, whole_word=True)
    assert q.automatic == "literal" and q.options.fixed and q.options.case is CaseMode.SENSITIVE
    q = read_query("url_for", regex=False, match_case=False, whole_word=False)
    assert not q.automatic and q.options.fixed and q.options.case is CaseMode.IGNORE


def test_exact_mode_lists_every_matching_line_grouped_by_file(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.exact.exact_button.click()
    assert window.exact.active and window.exact.regex_button.isVisible()
    assert not window.alpha_slider.isVisible()
    window.exact.case_button.setChecked(True)
    _search(qtbot, window, "url_for")
    result = window.exact.result
    assert result is not None
    assert total_text(result) == "3,004 matches in 3 files"
    assert window.result_count.text() == "3,004 matches in 3 files"
    model = window.exact.view.exact_model
    assert model.rowCount() == 3 + 3003  # a heading per file, a row per matching line
    assert window.results_stack.currentWidget() is window.exact.view
    # Alt+W: whole words only; the case toggle stays on (URL_FOR is not a match).
    qtbot.keyClick(window.search_box, Qt.Key.Key_W, Qt.KeyboardModifier.AltModifier)
    assert window.exact.word_button.isChecked()
    window.exact.case_button.setChecked(False)
    _search(qtbot, window, "url_for")
    assert window.exact.result is not None
    assert window.exact.result.match_count == 3005  # URL_FOR too, case ignored


def test_slashes_make_a_regex_search_and_a_bad_one_says_why_under_the_box(
    qtbot: QtBot, window: MainWindow
) -> None:
    _search(qtbot, window, r"/value_\d+9 =/")
    assert window.exact.active and "regex" in window.exact.exact_button.text()
    assert window.exact.result is not None and window.exact.result.line_count == 299
    _search(qtbot, window, "/url_for(/")
    assert window.exact.error_label.isVisible()
    assert "unclosed group" in window.exact.error_label.text()
    assert window.result_count.text() == "Invalid pattern"
    assert window.exact.view.exact_model.rowCount() > 0  # the last good results stay,
    assert not window.exact.view.isEnabled()  # greyed out: not the answer to this pattern
    _search(qtbot, window, r"/value_\d+9 =/")
    assert window.exact.view.isEnabled() and not window.exact.error_label.isVisible()
    window.search_box.setText("plain words")
    window.run_search()
    assert not window.exact.active and window.alpha_slider.isVisible()


def test_a_path_filter_that_is_no_glob_says_why_under_the_box(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.path_filter.setText("[z-a].py")
    _search(qtbot, window, "/url_for/")
    assert window.exact.error_label.isVisible()
    assert "The path filter “[z-a].py” has a range that runs backwards" in (
        window.exact.error_label.text()
    )
    assert window.result_count.text() == "Search failed"


def test_enter_opens_the_editor_at_line_and_column(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    out = tmp_path / "opened.txt"
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys\nopen(sys.argv[1], 'w').write(' '.join(sys.argv[2:]))\n", encoding="utf-8"
    )
    window.context.settings.editor_command = (
        f"{sys.executable} {script} {out} {{path}}:{{line}}:{{column}}"
    )
    _search(qtbot, window, "/url_for\\('index'\\)/")
    window.search_box.setFocus()
    qtbot.keyClick(window.search_box, Qt.Key.Key_Return)
    # Written, not only created: the editor opens the file, then writes to it.
    qtbot.waitUntil(lambda: out.exists() and out.read_text() != "", timeout=WAIT_MS)
    assert out.read_text().endswith("views.py:4:21")
    out.unlink()
    _search(qtbot, window, "/url_for('index'/")  # an unclosed group: the list is greyed out
    assert window.result_count.text() == "Invalid pattern"
    qtbot.keyClick(window.search_box, Qt.Key.Key_Return)
    qtbot.wait(500)  # a launched editor writes within this (it did above)
    assert not out.exists()


def test_editor_command_gets_the_column() -> None:
    from codanna_desktop.app.editor import editor_argv

    argv = editor_argv("code -g {path}:{line}:{column}", Path("/src/a b.py"), 12, 7)
    assert argv == ["code", "-g", "/src/a b.py:12:7"]
    assert editor_argv("subl {path}:{line}", Path("/x.py"), 3, 9) == ["subl", "/x.py:3"]


def test_a_binary_file_shows_that_it_was_searched_up_to_its_nul(
    qtbot: QtBot, window: MainWindow, context: AppContext, project: Path
) -> None:
    lines = b"".join(b"binary_hit %06d\n" % k for k in range(5000))
    (project / "app/data.bin").write_bytes(lines[:70_000] + b"\x00" + lines[70_001:])
    context.engine.index(embed=False)
    _search(qtbot, window, '"binary_hit"')
    model = window.exact.view.exact_model
    heading = model.index(0, 0)
    assert model.data(heading, Qt.ItemDataRole.DisplayRole) == "app/data.bin (3640)"  # 65,536 // 18
    tip = model.data(heading, Qt.ItemDataRole.ToolTipRole)
    assert tip.endswith("binary file: searched up to its NUL byte at offset 70,000")


def test_closing_the_window_ends_its_search_process(qtbot: QtBot, window: MainWindow) -> None:
    _search(qtbot, window, '"url_for"')
    process = window.exact._search
    assert process is not None and process.alive
    window.close()
    assert not process.alive  # not left running until the window object is collected
    assert window.exact._search is None


def test_a_search_that_failed_is_not_called_an_invalid_pattern(
    qtbot: QtBot, window: MainWindow
) -> None:
    _search(qtbot, window, '"url_for"')
    # What the drain hands on when the search process is gone mid-query.
    window.exact._finished(window.exact.latest, None, ConnectionResetError("reset by peer"))
    assert "The search failed: reset by peer" in window.exact.error_label.text()
    assert window.result_count.text() == "Search failed"
