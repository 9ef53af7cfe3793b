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
import itertools
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QThreadPool, Signal

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
        # (result, error), written on the worker once fn has returned; None: it never ran.
        self.answer: tuple[Any, BaseException | None] | None = None

    def cancel(self) -> None:
        self.cancelled = True

    @property
    def wanted(self) -> bool:
        return not self.cancelled and (self.owner is None or shiboken6.isValid(self.owner))


class _Work:
    """What a pool thread holds of a task, let go of before it says the task is over.

    The UI thread keeps every task until then, so it is the last to let go of whatever a
    task refers to (its `done`'s widget, its owner, the closures over them): a Qt object
    whose last reference goes on a worker is deleted there, on the wrong thread. Handed to
    the pool as a plain callable, not as a QRunnable subclass: PySide makes a QRunnable's
    Python side a child of the pool when `start` returns, and when a pool thread had run
    it to its end before that (often, under load), the dead runnable stayed the pool's
    child for good, with its task and all the task refers to.
    """

    def __init__(self, number: int, task: Task, finished: Callable[[int], None]) -> None:
        self._number = number
        self._task: Task | None = task
        self._finished = finished

    def __call__(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.cancelled:
            try:
                task.answer = (task.fn(), None)
            except BaseException as exc:
                task.answer = (None, exc)
        del task
        # RuntimeError: the BackgroundTasks object was deleted while the function ran (its
        # app context closed without waiting), so nobody is left to receive the answer.
        # The emit is queued to the UI thread, so that is the only error it raises here;
        # the object itself is not held, or this thread could be the one to delete it.
        with contextlib.suppress(RuntimeError):
            self._finished(self._number)


class BackgroundTasks(QObject):
    """Create it on the UI thread: answers are delivered to the thread it lives in."""

    # A task's number, emitted on a worker thread once it is done with the task; Qt
    # queues it to this object's thread.
    _finished = Signal(object)

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool.globalInstance()
        self._numbers = itertools.count()
        self._running: dict[int, Task] = {}  # by number, until the worker is done with it
        self._finished.connect(self._deliver)

    def run(self, fn: Callable[[], Any], done: Done, *, owner: QObject | None = None) -> Task:
        """Run `fn` on the pool; `done(result, error)` runs afterwards on the UI thread,
        unless the task was cancelled or `owner` deleted meanwhile."""
        task = Task(fn, done, owner)
        number = next(self._numbers)
        self._running[number] = task
        self.pool.start(_Work(number, task, self._finished.emit))
        return task

    def wait(self, timeout_ms: int) -> bool:
        """Wait for every function started on the pool to return (True: all did)."""
        return self.pool.waitForDone(timeout_ms)

    def _deliver(self, number: int) -> None:
        task = self._running.pop(number)
        answer, task.answer = task.answer, None
        if answer is not None and task.wanted:
            task.done(*answer)
