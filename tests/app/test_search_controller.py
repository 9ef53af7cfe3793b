"""The ranked search behind the window, on a real engine with a small indexed folder
(lexical only: these questions are answered at exact words, without the model)."""

from __future__ import annotations

from pathlib import Path

import pytest
import shiboken6
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from codanna_desktop.app.context import AppContext
from codanna_desktop.app.search_controller import RESULT_LIMIT, SearchController, SearchKey
from codanna_desktop.core.files.filters import SearchFilters

WAIT_MS = 60_000
SORTING = "def bubble_sort(items):\n    return sorted(items)\n"
UPLOADS = "def retry_failed_upload(request):\n    return request.send()\n"


@pytest.fixture
def indexed(context: AppContext, tmp_path: Path) -> AppContext:
    root = tmp_path / "project"
    root.mkdir()
    (root / "sorting.py").write_text(SORTING, encoding="utf-8")
    (root / "uploads.py").write_text(UPLOADS, encoding="utf-8")
    context.engine.add_root(root)
    context.engine.index(embed=False)
    return context


@pytest.fixture
def searches(qtbot: QtBot, indexed: AppContext) -> SearchController:
    return SearchController(indexed)


def key(query: str) -> SearchKey:
    return (query, SearchFilters())


def ask(qtbot: QtBot, searches: SearchController, query: str) -> bool:
    """Search at exact words only; what `answered` said about the person's place."""
    with qtbot.waitSignal(searches.answered, timeout=WAIT_MS) as signal:
        searches.search(key(query), semantic=False)
    assert signal.args is not None
    return bool(signal.args[0])


def settle(context: AppContext) -> None:
    """Every search has returned and every answer queued so far has been delivered."""
    assert context.tasks.wait(WAIT_MS)
    QApplication.processEvents()


def test_a_new_question_is_answered_as_a_new_ranking(
    qtbot: QtBot, searches: SearchController
) -> None:
    assert ask(qtbot, searches, "bubble_sort") is False
    assert searches.shown_key == key("bubble_sort") and searches.requested is None
    assert searches.error == ""
    top = searches.results(0.0, bend=True)[0]
    assert top.symbol == "bubble_sort"


def test_the_same_question_answered_again_keeps_the_persons_place(
    qtbot: QtBot, searches: SearchController
) -> None:
    ask(qtbot, searches, "bubble_sort")
    assert ask(qtbot, searches, "bubble_sort") is True


def test_a_ranking_from_the_top_is_asked_for_once(qtbot: QtBot, searches: SearchController) -> None:
    ask(qtbot, searches, "bubble_sort")
    searches.rank_from_the_top()
    assert ask(qtbot, searches, "bubble_sort") is False
    assert ask(qtbot, searches, "bubble_sort") is True


def test_a_newer_search_drops_the_answer_to_the_one_in_flight(
    indexed: AppContext, searches: SearchController
) -> None:
    shown: list[SearchKey | None] = []
    searches.answered.connect(lambda _keep: shown.append(searches.shown_key))
    searches.search(key("retry_failed_upload"), semantic=False)
    searches.search(key("bubble_sort"), semantic=False)
    assert searches.requested == key("bubble_sort")
    settle(indexed)
    assert shown == [key("bubble_sort")]


def test_a_cancelled_search_shows_nothing(indexed: AppContext, searches: SearchController) -> None:
    shown: list[bool] = []
    searches.answered.connect(shown.append)
    searches.search(key("bubble_sort"), semantic=False)
    searches.cancel()
    assert searches.requested is None
    settle(indexed)
    assert shown == [] and searches.shown_key is None and searches.session is None


def test_another_mode_answering_cancels_the_ranked_search(
    indexed: AppContext, searches: SearchController
) -> None:
    shown: list[bool] = []
    searches.answered.connect(shown.append)
    searches.search(key("bubble_sort"), semantic=False)
    searches.shown_elsewhere(key("/bubble.*/"))
    settle(indexed)
    assert shown == [] and searches.shown_key == key("/bubble.*/")


def test_the_slider_reranks_the_kept_session_without_asking_again(
    qtbot: QtBot, searches: SearchController
) -> None:
    ask(qtbot, searches, "sorted items")
    session = searches.session
    assert session is not None and not session.semantic_asked
    assert searches.results(0.0, bend=False) == session.results(0.0, RESULT_LIMIT, bend=False)
    assert searches.weight_label(0.0, bend=True) == session.weight_label(0.0, bend=True)
    # Asked at exact words only: meaning needs a new search, exact words do not.
    assert searches.needs_meaning(0.5) and not searches.needs_meaning(0.0)
    searches.clear()
    assert searches.results(0.5, bend=True) == [] and searches.weight_label(0.5, bend=True) is None
    assert not searches.needs_meaning(0.5)


def test_a_search_answered_after_its_window_is_gone_is_dropped(
    indexed: AppContext, searches: SearchController
) -> None:
    searches.search(key("bubble_sort"), semantic=False)
    shiboken6.delete(searches)  # the window closed, and its controller with it
    settle(indexed)  # an error delivering the answer would fail the test here
