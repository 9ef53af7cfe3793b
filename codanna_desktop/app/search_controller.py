"""The ranked search behind the window: what was asked, what the shown results answer.

A query runs once, on a background task; starting another cancels the one in flight, so
a slow query never overwrites a newer one. The answer (a SearchSession) is kept: the
slider re-ranks it for any weight without querying again, except that a session asked at
exact words only has no semantic side, so moving the slider off 0 asks again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from codanna_desktop.core.files.filters import SearchFilters

if TYPE_CHECKING:
    from codanna_desktop.app.context import AppContext
    from codanna_desktop.app.tasks import Task
    from codanna_desktop.core.ranking.search import SearchResult, SearchSession

RESULT_LIMIT = 50

SearchKey = tuple[str, SearchFilters]  # the query as typed (stripped) and its filters


class SearchController(QObject):
    # New results to show. True: the same question answered again (the index changed),
    # so the person's place is kept; False: a new ranking, shown from its top.
    answered = Signal(bool)

    def __init__(self, context: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.session: SearchSession | None = None
        self.shown_key: SearchKey | None = None  # what the shown results answer
        self.error = ""  # why the last search failed, as a sentence
        self._task: Task | None = None
        self._in_flight: SearchKey | None = None
        self._from_the_top = False

    @property
    def requested(self) -> SearchKey | None:
        """The question of the search in flight, if one is."""
        return self._in_flight

    def search(self, key: SearchKey, *, semantic: bool) -> None:
        """Ask `key`; `answered` follows. `semantic=False` (exact words only) asks
        without the model and the vector store."""
        self.cancel()
        query, filters = key
        self._in_flight = key
        self._task = self.context.search(
            query,
            filters,
            lambda session, error: self._answer(key, session, error),
            semantic=semantic,
            owner=self,
        )

    def cancel(self) -> None:
        """Whatever is in flight is no longer wanted: its answer will not be shown."""
        if self._task is not None:
            self._task.cancel()
        self._task = self._in_flight = None

    def shown_elsewhere(self, key: SearchKey) -> None:
        """Another mode (exact search) answers `key` now."""
        self.cancel()
        self.shown_key = key

    def clear(self) -> None:
        """Nothing is shown any more."""
        self.session = None
        self.shown_key = None
        self.error = ""

    def rank_from_the_top(self) -> None:
        """The next answer is a new ranking even for the same question (meaning now
        covers every chunk): the window shows it from its first result."""
        self._from_the_top = True

    def needs_meaning(self, alpha: float) -> bool:
        """The shown session was asked at exact words only and the slider now wants
        meaning too: only a new search has it."""
        return self.session is not None and not self.session.semantic_asked and alpha > 0

    def results(self, alpha: float, *, bend: bool) -> list[SearchResult]:
        """The shown session ranked for the slider's weight (no new query)."""
        if self.session is None:
            return []
        return self.session.results(alpha, RESULT_LIMIT, bend=bend)

    def weight_label(self, alpha: float, *, bend: bool) -> str | None:
        """The weight the shown query is fused with, in words (None: no session)."""
        if self.session is None:
            return None
        return self.session.weight_label(alpha, bend=bend)

    def _answer(self, key: SearchKey, session: SearchSession | None, error: str) -> None:
        self._task = self._in_flight = None
        same_question = self.shown_key == key  # a refresh after the index changed
        self.shown_key = key
        self.session = session
        self.error = error
        keep_place = same_question and not self._from_the_top
        self._from_the_top = False
        self.answered.emit(keep_place)
