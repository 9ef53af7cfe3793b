"""The application context: one object passed to every window part that needs the engine.

It owns the engine and the background indexer (core.service.IndexingService) and turns
the indexer's events, which arrive on the indexer's thread, into Qt signals delivered on
the UI thread. Widgets talk to this object, never to tantivy, hnswlib or psycopg.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot

from codanna_desktop.app.collector import collect_between_events
from codanna_desktop.app.indexing_status import IndexingStatusModel
from codanna_desktop.app.tasks import BackgroundTasks, Done, Task
from codanna_desktop.core.engine import Engine, EngineStatus, test_database_url
from codanna_desktop.core.errors import user_error
from codanna_desktop.core.indexing.indexer import IndexReport, Progress
from codanna_desktop.core.ranking.search import SearchSession
from codanna_desktop.core.service import IndexingService, ServiceEvent

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from codanna_desktop.core.files.filters import SearchFilters
    from codanna_desktop.core.settings import AppPaths, Settings


class AppContext(QObject):
    """Signals are emitted from worker threads; Qt queues them to the UI thread."""

    progress = Signal(object)  # core.indexer.Progress
    state_changed = Signal(str)  # idle | scanning | indexing | embedding | paused
    report = Signal(object)  # core.indexer.IndexReport
    error = Signal(str)  # a message for the person
    roots_changed = Signal()
    index_changed = Signal()  # something new is searchable: re-run the visible query
    fully_embedded = Signal()  # every chunk has its vector: the visible query ranks anew
    status_ready = Signal(object)  # core.engine.EngineStatus

    def __init__(
        self,
        paths: AppPaths | None = None,
        settings: Settings | None = None,
        *,
        engine: Engine | None = None,
        watch: bool = True,
        pool: QThreadPool | None = None,
    ) -> None:
        super().__init__()
        # Its threads allocate too: a collection must never start on them, or in the
        # middle of Qt delivering their signals (app/collector.py).
        collect_between_events()
        # The model in a child process: an idle app gives all its memory back when it unloads.
        self.engine = engine or Engine(paths, settings, model_process=True)
        self.paths = self.engine.paths
        self.tasks = BackgroundTasks(pool, self)
        self.pool = self.tasks.pool
        self.service = IndexingService(self.engine, self._on_service_event, watch=watch)
        # Before any widget connects: they all read the indexer's state from this one.
        self.indexing_status = IndexingStatusModel(self)
        self._started = False
        self._closed = False

    @property
    def settings(self) -> Settings:
        return self.engine.settings

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Start the background indexer (and the watcher). The model loads lazily there."""
        if not self._started:
            self._started = True
            self.service.start()

    def shutdown(self) -> None:
        """Finish work in flight, then close the engine (nothing half-written). Safe twice."""
        if self._closed:
            return
        self._closed = True
        if self._started:
            self.service.stop()
        self.tasks.wait(30_000)
        self.engine.close()

    # -- indexing -------------------------------------------------------------------

    def add_folders(self, paths: list[Path]) -> None:
        self.service.add_roots(paths)

    def remove_folder(self, path: Path) -> None:
        self.service.remove_root(path)

    def reindex(self, full: bool = False) -> None:
        self.service.reindex(full)

    def apply_file_rules(self, settings: Settings) -> None:
        """Saved settings with new ignore rules or maximum size: applied at once."""
        self.service.apply_file_rules(settings)

    @staticmethod
    def test_database(url: str) -> str:
        """Connect to a PostgreSQL server and say what it runs (raises with the reason)."""
        return test_database_url(url)

    def is_added_folder(self, folder: Path) -> bool:
        # A folder whose removal has begun is no longer added (the catalog keeps its row
        # until the removal finishes, so a second `remove` must not be told it works).
        root = self.engine.catalog.root_by_path(folder)
        return root is not None and not root.removing

    def languages(self) -> list[str]:
        """The languages the index holds (for the language filter)."""
        return self.engine.catalog.languages()

    def focus_embedding(self, root_ids: tuple[int, ...]) -> None:
        """The folders the person works in now: their chunks are embedded first."""
        self.engine.focus_embedding(root_ids)

    def set_paused(self, paused: bool) -> None:
        if paused:
            self.service.pause()
        else:
            self.service.resume()
        self.indexing_status.refresh_paused()

    @property
    def paused(self) -> bool:
        return self.service.paused

    def _on_service_event(self, event: ServiceEvent) -> None:
        # Called on the indexer thread: only emit signals here.
        if event.kind == "progress" and isinstance(event.progress, Progress):
            self.progress.emit(event.progress)
        elif event.kind == "state":
            self.state_changed.emit(event.state)
        elif event.kind == "report" and isinstance(event.report, IndexReport):
            self.report.emit(event.report)
            self.roots_changed.emit()
            self.index_changed.emit()
        elif event.kind == "error":
            self.error.emit(event.message)
        elif event.kind == "embedded":
            self.fully_embedded.emit()  # the visible query is ranked again, by meaning too

    # -- searching and status, off the UI thread ------------------------------------

    def search(
        self,
        query: str,
        filters: SearchFilters | None,
        done: Callable[[SearchSession | None, str], None],
        *,
        semantic: bool = True,
        owner: QObject | None = None,
    ) -> Task:
        """Start a search; `done(session, error)` follows on the UI thread (the error as a
        sentence, or ""), unless the returned task is cancelled or `owner` deleted first.
        `semantic=False` (exact words only) loads no model and opens no vector store."""

        def answered(session: Any, exc: BaseException | None) -> None:
            if exc is None and isinstance(session, SearchSession):
                done(session, "")
            else:
                done(None, "" if exc is None else str(user_error(exc)))

        return self.tasks.run(
            lambda: self.engine.search(query, filters, semantic=semantic), answered, owner=owner
        )

    def search_now(self, query: str, filters: SearchFilters | None = None) -> SearchSession:
        """Synchronous search, for tests and scripts (never call it from a widget)."""
        return self.engine.search(query, filters)

    def request_status(self) -> None:
        def done(status: Any, exc: BaseException | None) -> None:
            if exc is None and isinstance(status, EngineStatus):
                self.status_ready.emit(status)
            elif exc is not None:
                self.error.emit(f"Status unavailable: {user_error(exc)}")

        self.tasks.run(self.engine.status, done)

    def run_in_background(
        self, fn: Callable[[], Any], done: Done, *, owner: QObject | None = None
    ) -> Task:
        """Any other core call (test a database connection, load the model). `fn` runs on
        the thread pool; `done(result, error)` runs afterwards on the UI thread, unless
        `owner` (the widget that shows the answer) has been deleted by then."""
        return self.tasks.run(fn, done, owner=owner)

    @Slot()
    def wait_idle(self, timeout: float = 60.0) -> bool:
        return self.service.wait_idle(timeout)
