"""The app's one way of running work off the UI thread.

A function runs on a thread pool; its result or error comes back on the thread the
`BackgroundTasks` object lives in (the UI thread), where widgets may be touched. Each run
returns a `Task` that can be cancelled: a cancelled task that has not started never runs,
and one that has is let finish but its answer is dropped, even an answer already on its
way to the UI thread. So the newest request decides what is shown, however slowly an
older one answers. A task run for an `owner` (the widget that shows its answer) is
dropped the same way once the owner is deleted: a window closed while its search runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

Done = Callable[[Any, BaseException | None], None]


class Task:
    """One function handed to the pool; `done(result, error)` follows on the UI thread
    unless cancel() came first."""

    def __init__(self, fn: Callable[[], Any], done: Done, owner: QObject | None = None) -> None:
        self.fn = fn
        self.done = done
        self.owner = owner
        # Written on the UI thread, read on the worker: a plain attribute is enough, a
        # late read only means a function that runs for nothing.
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    @property
    def wanted(self) -> bool:
        return not self.cancelled and (self.owner is None or shiboken6.isValid(self.owner))


class _Runnable(QRunnable):
    def __init__(self, task: Task, deliver: Callable[[Task, Any, BaseException | None], None]):
        super().__init__()
        self._task = task
        self._deliver = deliver

    def run(self) -> None:
        task = self._task
        if task.cancelled:
            return
        try:
            result = task.fn()
        except BaseException as exc:
            self._answer(task, None, exc)
        else:
            self._answer(task, result, None)

    def _answer(self, task: Task, result: Any, exc: BaseException | None) -> None:
        # RuntimeError: the BackgroundTasks object was deleted while the function ran (its
        # app context closed without waiting), so nobody is left to receive the answer.
        # The emit is queued to the UI thread, so that is the only error it raises here;
        # the object itself is not held, or this thread could be the one to delete it.
        with contextlib.suppress(RuntimeError):
            self._deliver(task, result, exc)


class BackgroundTasks(QObject):
    """Create it on the UI thread: answers are delivered to the thread it lives in."""

    # Emitted on a worker thread; Qt queues it to this object's thread.
    _finished = Signal(object, object, object)

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool.globalInstance()
        self._finished.connect(self._deliver)

    def run(self, fn: Callable[[], Any], done: Done, *, owner: QObject | None = None) -> Task:
        """Run `fn` on the pool; `done(result, error)` runs afterwards on the UI thread,
        unless the task was cancelled or `owner` deleted meanwhile."""
        task = Task(fn, done, owner)
        self.pool.start(_Runnable(task, self._finished.emit))
        return task

    def wait(self, timeout_ms: int) -> bool:
        """Wait for every function started on the pool to return (True: all did)."""
        return self.pool.waitForDone(timeout_ms)

    def _deliver(self, task: Task, result: Any, exc: BaseException | None) -> None:
        if task.wanted:
            task.done(result, exc)
