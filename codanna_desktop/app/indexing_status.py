"""The window's, the folders panel's and the tray's one source of the indexer's state.

It keeps a core `IndexingStatus` up to date from the context's signals (state changes,
progress, the engine's counts) and tells its readers when it changed; each reader
takes its words from that one object, so they cannot contradict each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from codanna_desktop.core.indexing_status import IndexingStatus, Phase

if TYPE_CHECKING:
    from codanna_desktop.app.context import AppContext
    from codanna_desktop.core.engine import EngineStatus
    from codanna_desktop.core.indexing.indexer import Progress


class IndexingStatusModel(QObject):
    changed = Signal(object)  # the new IndexingStatus

    def __init__(self, context: AppContext) -> None:
        super().__init__(context)
        self._context = context
        self.status = IndexingStatus()
        context.state_changed.connect(self._state_changed)
        context.progress.connect(self._progressed)
        context.status_ready.connect(self._counted)

    def refresh_paused(self) -> None:
        """Take the pause flag from the indexer itself (after Pause or Resume)."""
        self._set(self.status.with_paused(self._context.paused))

    def _state_changed(self, state: str) -> None:
        self._set(self.status.with_state(state))
        if state == Phase.IDLE:
            # The counts are what an idle indexer's words come from: read them now.
            self._context.request_status()

    def _progressed(self, progress: Progress) -> None:
        self._set(self.status.with_progress(progress))

    def _counted(self, counts: EngineStatus) -> None:
        self._set(self.status.with_counts(counts))

    def _set(self, status: IndexingStatus) -> None:
        if status != self.status:
            self.status = status
            self.changed.emit(status)
