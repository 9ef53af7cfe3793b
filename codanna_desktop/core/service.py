"""The background indexer: one writer thread that runs every index change in order.

The desktop app (and anything else long-running) hands it work: add or remove folders,
reindex, change sets from the watcher. Between jobs it embeds pending chunks in small
slices, so a new job (a saved file) never waits behind a long embedding run. Searches do
not go through it: they run beside it on other threads.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codanna_desktop.core.errors import CodannaError, user_error
from codanna_desktop.core.indexing.indexer import IndexReport, Phase, Progress
from codanna_desktop.core.watching.watcher import FolderWatcher

if TYPE_CHECKING:
    from pathlib import Path

    from codanna_desktop.core.engine import Engine
    from codanna_desktop.core.settings import Settings
    from codanna_desktop.core.watching.changes import ChangeSet

log = logging.getLogger(__name__)

EMBED_SLICE = 64  # chunks embedded between checks for new jobs
RETRY_AFTER_S = 10.0  # after the vector store or model failed
IDLE_POLL_S = 0.2  # how often an idle indexer looks for chunks left to embed
# ...and how seldom, after it found none several times running: it doubles its wait up to
# this. A job (a change, a folder added) wakes it at once whatever the wait; what else it
# looks for (a search that found an index damaged, a model to unload) can wait that long,
# and an app idle in the tray is not woken five times a second for nothing.
IDLE_POLL_MAX_S = 2.0
# The model (about 170 MB resident with onnxruntime's buffers) is dropped after this long
# unused and loaded again on the next search or embedding run (about 0.4 s in-process,
# more in a model process: Engine(model_process=True)): a tray indexer idles most of the
# day. CODANNA_MODEL_IDLE_UNLOAD_S overrides it (measurements).
MODEL_IDLE_UNLOAD_S = 600.0


def model_idle_unload_seconds() -> float:
    try:
        return float(os.environ.get("CODANNA_MODEL_IDLE_UNLOAD_S", MODEL_IDLE_UNLOAD_S))
    except ValueError:
        return MODEL_IDLE_UNLOAD_S


@dataclass(frozen=True)
class ServiceEvent:
    """What listeners hear: a progress step, a finished job, or an error to show."""

    kind: str  # progress | report | error | state | embedded (every chunk has its vector)
    progress: Progress | None = None
    report: IndexReport | None = None
    message: str = ""
    state: str = ""


Listener = Callable[[ServiceEvent], None]


# The jobs the writer thread runs, in the order they were queued.
@dataclass(frozen=True)
class AddFolders:
    paths: list[Path]


@dataclass(frozen=True)
class RemoveFolder:
    path: Path


@dataclass(frozen=True)
class Sync:
    """Compare every folder with the disk (`full`: read every file again)."""

    full: bool = False


@dataclass(frozen=True)
class ApplyFileRules:
    settings: Settings


@dataclass(frozen=True)
class ApplyChanges:
    changes: ChangeSet


@dataclass(frozen=True)
class Stop:
    pass


Job = AddFolders | RemoveFolder | Sync | ApplyFileRules | ApplyChanges | Stop


def next_idle_wait(wait: float, *, embedded: bool) -> float:
    """How long the idle indexer waits for a job before it looks again: the short poll
    while it finds chunks to embed, else twice the last wait up to IDLE_POLL_MAX_S. After
    a job the last wait is 0, so it doubles from the short poll, never from 0 (a spin)."""
    if embedded:
        return IDLE_POLL_S
    return min(max(2 * wait, IDLE_POLL_S), IDLE_POLL_MAX_S)


class IndexingService:
    def __init__(
        self,
        engine: Engine,
        listener: Listener,
        *,
        watch: bool = True,
        unload_model_after: float | None = None,
    ) -> None:
        self.engine = engine
        self._unload_model_after = (
            model_idle_unload_seconds() if unload_model_after is None else unload_model_after
        )
        self._listener = listener
        self._jobs: queue.Queue[Job] = queue.Queue()
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._thread = threading.Thread(target=self._run, name="codanna-indexer", daemon=True)
        self._state = Phase.IDLE
        self._retry_at = 0.0
        self._last_embed_error = ""
        self._last_lexical_note: str | None = None
        self._watcher = (
            FolderWatcher(
                self.notify_changes,
                engine.scanner,  # the rules the scan walks by
                on_error=self._watch_error,
                on_events_lost=self._events_lost,
            )
            if watch
            else None
        )

    # -- control (any thread) -------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._jobs.put(Sync())

    def _start_watching(self) -> None:
        # On the indexer thread: watchdog walks every folder to watch it (and the watcher
        # counts them), which must not hold up the window that called start().
        if self._watcher is not None and not self._stop.is_set():
            for root in self.engine.roots():
                self._watcher.add_root(root.path)
            self._watcher.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the batch in flight (committed, never half-written), then stop."""
        if self._watcher is not None:
            self._watcher.stop()  # its last change sets are queued before "stop"
        self._stop.set()
        self._resume.set()
        self._jobs.put(Stop())
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._watcher is not None:
            self._watcher.stop()  # in case the indexer thread started it meanwhile

    def add_roots(self, paths: list[Path]) -> None:
        self._jobs.put(AddFolders(paths))

    def remove_root(self, path: Path) -> None:
        self._jobs.put(RemoveFolder(path))

    def reindex(self, full: bool = False) -> None:
        self._jobs.put(Sync(full=full))

    def apply_file_rules(self, settings: Settings) -> None:
        """New skipped folders, ignore patterns or maximum file size: every folder is
        checked against them (files they now leave out are dropped, those they let in
        are indexed)."""
        self._jobs.put(ApplyFileRules(settings))

    def notify_changes(self, changes: ChangeSet) -> None:
        self._jobs.put(ApplyChanges(changes))

    def pause(self) -> None:
        self._resume.clear()
        self._set_state(Phase.PAUSED)

    def resume(self) -> None:
        self._resume.set()
        self._set_state(Phase.IDLE)
        self._jobs.put(Sync())

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    @property
    def state(self) -> Phase:
        return self._state

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until no job is queued and nothing is pending (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._jobs.unfinished_tasks == 0 and self._state == Phase.IDLE:
                counts = self.engine.catalog.counts()
                model_missing = self.engine.model_problem is not None
                if model_missing or counts["embedded"] >= counts["chunks"]:
                    return True
            time.sleep(0.05)
        return False

    # -- the writer thread ----------------------------------------------------------

    def _emit(self, event: ServiceEvent) -> None:
        try:
            self._listener(event)
        except Exception:  # a listener's bug must not stop indexing
            log.exception("service listener failed")

    def _set_state(self, state: Phase) -> None:
        if state != self._state:
            self._state = state
            self._emit(ServiceEvent("state", state=state))

    def _progress(self, p: Progress) -> None:
        self._set_state(p.phase)
        self._emit(ServiceEvent("progress", progress=p))

    def _watch_error(self, path: Path, exc: Exception) -> None:
        self._emit(ServiceEvent("error", message=f"Watching {path} failed: {exc}"))

    def _events_lost(self) -> None:
        # The kernel dropped file events (a burst larger than its queue): compare every
        # root with the disk. Unchanged files cost a stat each.
        log.warning("File events were lost; checking every folder against the disk")
        self.reindex(full=False)

    def _run(self) -> None:
        self._start_watching()  # before the first sync, so no change falls in between
        self._tell_lexical_note()
        wait = IDLE_POLL_S
        while not self._stop.is_set():
            self._resume.wait()
            try:
                job = self._jobs.get(timeout=wait)
            except queue.Empty:
                embedded = True
                try:
                    self._rebuild_damaged_lexical()
                    embedded = self._embed_slice()
                    self._unload_idle_model()
                except Exception as exc:  # a full disk, a damaged catalog: say it, go on
                    log.info("embedding stopped", exc_info=exc)
                    self._embedding_failed(str(user_error(exc)))
                    self._set_state(Phase.IDLE)
                wait = next_idle_wait(wait, embedded=embedded)
                continue
            # A job's new chunks are embedded as soon as no other job waits, not a poll
            # later: that poll was 0.2 s of the time from a save to semantic results.
            wait = 0.0
            try:
                if isinstance(job, Stop):
                    return
                self._do(job)
            except CodannaError as exc:
                self._emit(ServiceEvent("error", message=str(exc)))
            except Exception as exc:  # keep the indexer alive; the person sees the error
                log.exception("indexing job %s failed", type(job).__name__)
                self._emit(ServiceEvent("error", message=f"Indexing failed: {user_error(exc)}"))
            finally:
                self._jobs.task_done()
                self._tell_lexical_note()
                if self._jobs.empty() and not self.paused:
                    self._set_state(Phase.IDLE)

    def _rebuild_damaged_lexical(self) -> None:
        """A search found the lexical index damaged: rebuild it now, not at the next job."""
        if self.paused:
            return
        try:
            self.engine.rebuild_damaged_lexical()
        except CodannaError as exc:
            self._emit(ServiceEvent("error", message=str(exc)))
        self._tell_lexical_note()

    def _tell_lexical_note(self) -> None:
        """Say once that the lexical index was rebuilt (at start, or after a search found
        it damaged)."""
        note = self.engine.lexical_note
        if note and note != self._last_lexical_note:
            self._last_lexical_note = note
            self._emit(ServiceEvent("error", message=note))

    def _do(self, job: Job) -> None:
        engine = self.engine
        match job:
            case AddFolders(paths):
                roots = []
                for path in paths:
                    try:
                        roots.append(engine.add_root(path))
                    except CodannaError as exc:
                        self._emit(ServiceEvent("error", message=str(exc)))
                for root in roots:
                    if self._watcher is not None:
                        self._watcher.add_root(root.path)
                self._report(
                    engine.index(roots, embed=False, progress=self._progress, cancel=self._stop)
                )
            case RemoveFolder(path):
                root = engine.remove_root(path)
                if self._watcher is not None:
                    self._watcher.remove_root(root.path)
                self._emit(
                    ServiceEvent("report", report=IndexReport(), message=f"Removed {root.path}")
                )
            case ApplyFileRules(settings):
                if engine.apply_file_rules(settings):
                    if self._watcher is not None:
                        self._watcher.rewatch()
                    self._report(
                        engine.index(embed=False, progress=self._progress, cancel=self._stop)
                    )
            case Sync(full):
                self._report(
                    engine.index(full=full, embed=False, progress=self._progress, cancel=self._stop)
                )
            case ApplyChanges(changes):
                self._report(self._apply_changes(changes))

    def _apply_changes(self, changes: ChangeSet) -> IndexReport:
        # Coalesce every change set that queued up meanwhile into one pass.
        while True:
            try:
                queued = self._jobs.get_nowait()
            except queue.Empty:
                break
            self._jobs.task_done()
            if isinstance(queued, ApplyChanges):
                changes.merge(queued.changes)
            else:
                self._jobs.put(queued)
                break
        # A changed ignore file changes which folders need watches: the watcher walks
        # that root again once the new rules are read, before the root meets the disk.
        rewatch = self._watcher.rewatch if self._watcher is not None else None
        return self.engine.apply_changes(changes, progress=self._progress, on_new_rules=rewatch)

    def _report(self, report: IndexReport) -> None:
        self._emit(ServiceEvent("report", report=report))
        for error in report.errors:
            self._emit(ServiceEvent("error", message=error))

    def _embedding_failed(self, message: str) -> None:
        self._retry_at = time.monotonic() + RETRY_AFTER_S
        if message != self._last_embed_error:  # say it once, not every retry
            self._last_embed_error = message
            self._emit(ServiceEvent("error", message=message))

    def _unload_idle_model(self) -> None:
        if self._state == Phase.IDLE and self.engine.model_loaded:
            self.engine.unload_model(idle_for=self._unload_model_after)

    def _embed_slice(self) -> bool:
        """Embed a slice of the chunks waiting for a vector; False when none waited."""
        if self.paused or time.monotonic() < self._retry_at:
            return False
        # A search may have opened the vector store since: the writer checks it against
        # the catalog here, which may set vectors pending to refill.
        self.engine.reconcile_vectors()
        counts = self.engine.catalog.counts()
        if counts["embedded"] >= counts["chunks"]:
            return False
        # Say so before the model starts: its first progress comes only after a whole step.
        self._set_state(Phase.EMBEDDING)
        report = self.engine.embed_pending(
            progress=self._progress, cancel=self._stop, max_chunks=EMBED_SLICE
        )
        problem = self.engine.model_problem
        if report.errors or (problem and report.chunks_embedded == 0):
            self._embedding_failed("; ".join(report.errors) or problem or "")
        else:
            self._last_embed_error = ""
        stored = report.chunks_embedded + report.chunks_from_cache
        after = self.engine.catalog.counts() if stored else counts
        if stored and after["embedded"] >= after["chunks"]:
            # Results shown while embedding ran ranked by meaning only what had a vector.
            self._emit(ServiceEvent("embedded"))
        if self._jobs.empty():
            self._set_state(Phase.IDLE)
        return True
