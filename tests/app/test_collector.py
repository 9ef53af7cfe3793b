"""Python's cycle collector runs on the UI thread between events, never inside one.

A closed AppContext is garbage in a reference cycle (it and its IndexingStatusModel
refer to each other) while signals to its parts may still wait in the event queue: the
answer of a status read, a report from the indexer's thread. A collection that started
while Qt delivered one of them deleted the receiver under Qt's feet: SIGSEGV (one run of
the suite died so, in `qtbot.waitUntil`). Run in a process of its own, so that a crash
is a failed test and not the end of the suite.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication
from pytestqt.qtbot import QtBot

from codanna_desktop.app.collector import (
    CHECK_EVERY_MS,
    IDLE_CHECK_EVERY_MS,
    CollectorBetweenEvents,
    collect_between_events,
)

CLOSED_CONTEXTS = 20

SCRIPT = f"""
import gc, threading, weakref
from PySide6.QtWidgets import QApplication
from codanna_desktop.app.context import AppContext
from codanna_desktop.core.indexing.indexer import Progress

app = QApplication([])
closed = []
for _ in range({CLOSED_CONTEXTS}):
    context = AppContext(watch=False)
    context.request_status()
    context.shutdown()  # waits for the status read: its answer waits in the event queue
    # As the indexer's thread reports: queued to the context's IndexingStatusModel.
    report = Progress("indexing", None, 1, 2, "Indexing")
    thread = threading.Thread(target=context.progress.emit, args=(report,))
    thread.start()
    thread.join()
    closed.append(weakref.ref(context))
    del context, thread
    gc.set_threshold(1, 1, 1)  # any allocation may start a collection, if one can
    app.processEvents()  # Qt delivers what waited
    gc.set_threshold(700, 10, 10)
print("delivered", flush=True)
gc.collect()  # between events: what the collector's timer does once they are due
print("collected", sum(ref() is None for ref in closed), flush=True)
"""


def test_closed_contexts_with_signals_waiting_are_collected_without_a_crash(
    codanna_home: Path,
) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == ["delivered", f"collected {CLOSED_CONTEXTS}"]


def test_the_ui_thread_collects_due_cycles_from_its_event_loop(qtbot: QtBot) -> None:
    collect_between_events()
    assert not gc.isenabled()  # no collection on other threads, or inside a delivery

    class Cycle:
        pass

    garbage = Cycle()
    garbage.me = garbage  # type: ignore[attr-defined]
    collected = weakref.ref(garbage)
    del garbage
    kept = [[] for _ in range(10 * gc.get_threshold()[0])]  # the youngest generation is due
    qtbot.waitUntil(lambda: collected() is None, timeout=10_000)
    assert len(kept) > 0


def test_an_idle_app_is_checked_ever_less_often_and_a_busy_one_at_once(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While little is allocated the collector's timer backs off (an app idle in the tray
    is not woken twice a second for nothing); a burst of allocations brings it back."""
    collector = CollectorBetweenEvents(QCoreApplication.instance())  # type: ignore[arg-type]
    try:
        counts = [(5, 0, 0)]
        monkeypatch.setattr(gc, "get_count", lambda: counts[0])
        intervals = []  # the counts stand still (fell, even, since it was made)
        for _ in range(6):
            collector.collect_due()
            intervals.append(collector.interval_ms)
        assert intervals == [2 * CHECK_EVERY_MS, 4 * CHECK_EVERY_MS] + [IDLE_CHECK_EVERY_MS] * 4
        counts[0] = (25, 0, 0)  # a little allocated: the youngest generation is far from due
        collector.collect_due()
        assert collector.interval_ms == IDLE_CHECK_EVERY_MS
        counts[0] = (650, 0, 0)  # a burst: due (700) within a tenth of the last wait
        collector.collect_due()
        assert collector.interval_ms == CHECK_EVERY_MS
    finally:
        collector.deleteLater()
