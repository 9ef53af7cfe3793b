"""The app's background tasks: real threads of a real QThreadPool, answers delivered by
Qt's event loop."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QObject, QThreadPool
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from codanna_desktop.app.tasks import BackgroundTasks

WAIT_MS = 30_000


@pytest.fixture
def tasks(qapp: QApplication) -> Iterator[BackgroundTasks]:
    pool = QThreadPool()
    pool.setMaxThreadCount(1)  # one worker: a second task waits for the first
    yield BackgroundTasks(pool)
    assert pool.waitForDone(WAIT_MS)


class Answers:
    """What `done` was called with, and on which thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, BaseException | None]] = []
        self.threads: list[int] = []

    def __call__(self, result: Any, exc: BaseException | None) -> None:
        self.calls.append((result, exc))
        self.threads.append(threading.get_ident())


def finish(tasks: BackgroundTasks) -> None:
    """Every function has returned and every answer queued so far has been delivered."""
    assert tasks.wait(WAIT_MS)
    QApplication.processEvents()


def test_the_result_comes_back_on_the_ui_thread_and_the_work_runs_off_it(
    qtbot: QtBot, tasks: BackgroundTasks
) -> None:
    answers = Answers()
    worker: list[int] = []

    def work() -> str:
        worker.append(threading.get_ident())
        return "found"

    tasks.run(work, answers)
    qtbot.waitUntil(lambda: bool(answers.calls), timeout=WAIT_MS)
    assert answers.calls == [("found", None)]
    assert answers.threads == [threading.get_ident()]
    assert worker and worker[0] != threading.get_ident()


def test_an_error_is_handed_to_done_instead_of_being_raised(
    qtbot: QtBot, tasks: BackgroundTasks
) -> None:
    answers = Answers()
    problem = ValueError("the index is damaged")

    def fail() -> None:
        raise problem

    tasks.run(fail, answers)
    qtbot.waitUntil(lambda: bool(answers.calls), timeout=WAIT_MS)
    assert answers.calls == [(None, problem)]


def test_a_task_cancelled_before_it_starts_never_runs(tasks: BackgroundTasks) -> None:
    release = threading.Event()
    tasks.run(lambda: release.wait(WAIT_MS / 1000), Answers())
    ran: list[str] = []
    answers = Answers()
    queued = tasks.run(lambda: ran.append("ran"), answers)

    queued.cancel()
    release.set()
    finish(tasks)

    assert ran == [] and answers.calls == []


def test_a_task_cancelled_while_it_runs_finishes_but_its_answer_is_dropped(
    tasks: BackgroundTasks,
) -> None:
    started, release = threading.Event(), threading.Event()
    returned: list[str] = []

    def slow() -> str:
        started.set()
        release.wait(WAIT_MS / 1000)
        returned.append("returned")
        return "stale"

    answers = Answers()
    task = tasks.run(slow, answers)
    assert started.wait(WAIT_MS / 1000)

    task.cancel()
    release.set()
    finish(tasks)

    assert returned == ["returned"] and answers.calls == []


def test_an_answer_already_on_its_way_is_dropped_when_cancelled(tasks: BackgroundTasks) -> None:
    answers = Answers()
    task = tasks.run(lambda: "stale", answers)
    assert tasks.wait(WAIT_MS)  # returned; its answer waits in the UI thread's queue

    task.cancel()
    QApplication.processEvents()

    assert answers.calls == []


def test_answers_of_tasks_not_cancelled_still_come(tasks: BackgroundTasks) -> None:
    older, newer = Answers(), Answers()
    tasks.run(lambda: "older", older).cancel()
    tasks.run(lambda: "newer", newer)
    finish(tasks)
    assert older.calls == [] and newer.calls == [("newer", None)]


def test_the_answer_for_an_owner_deleted_meanwhile_is_dropped(tasks: BackgroundTasks) -> None:
    owner, answers = QObject(), Answers()
    tasks.run(lambda: "for a closed window", answers, owner=owner)
    assert tasks.wait(WAIT_MS)

    shiboken6.delete(owner)
    QApplication.processEvents()

    assert answers.calls == []


def test_an_answer_finished_after_the_tasks_object_was_deleted_is_dropped_quietly(
    qapp: QApplication, capfd: pytest.CaptureFixture[str]
) -> None:
    pool = QThreadPool()
    tasks = BackgroundTasks(pool)
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(WAIT_MS / 1000)
        return "for a closed app"

    answers = Answers()
    tasks.run(slow, answers)
    assert started.wait(WAIT_MS / 1000)

    shiboken6.delete(tasks)  # the app's context closed without waiting for its tasks
    release.set()
    assert pool.waitForDone(WAIT_MS)
    QApplication.processEvents()

    assert answers.calls == []
    assert capfd.readouterr().err == ""


class LetGo:
    """Stands for a widget a task refers to: says on which thread its last reference went
    (a Qt object let go of on a worker thread is deleted there, from its wrong thread)."""

    def __init__(self, threads: list[int]) -> None:
        self.threads = threads

    def __call__(self, result: Any, exc: BaseException | None) -> None:
        pass

    def __del__(self) -> None:
        self.threads.append(threading.get_ident())


def test_what_a_task_cancelled_before_it_starts_refers_to_is_let_go_of_on_the_ui_thread(
    tasks: BackgroundTasks,
) -> None:
    release = threading.Event()
    tasks.run(lambda: release.wait(WAIT_MS / 1000), Answers())
    threads: list[int] = []
    tasks.run(lambda: None, LetGo(threads)).cancel()

    release.set()
    finish(tasks)

    assert threads == [threading.get_ident()]


def test_nothing_a_quick_task_refers_to_stays_alive_after_its_answer(
    tasks: BackgroundTasks,
) -> None:
    # PySide made a QRunnable's Python side a child of the pool when `start` returned; a
    # pool thread that had run it to its end before then left it the pool's child for
    # good, with its task and all the task refers to (in the tray's tests a third of the
    # status reads kept their AppContext alive so). Here the pool's one thread wakes for
    # a first task and waits for the GIL, which this thread holds in C code (`sum` runs
    # no bytecode, so it is not asked to switch), and runs the second, quick one at once.
    threads: list[int] = []
    for _ in range(20):
        tasks.run(lambda: None, Answers())
        sum(range(1_000_000))
        tasks.run(lambda: None, LetGo(threads))
        finish(tasks)
    gc.collect()
    assert threads == [threading.get_ident()] * 20
