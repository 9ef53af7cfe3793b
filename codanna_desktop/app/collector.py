"""Python's cycle collector, run on the UI thread between events only.

Left to itself, the collector starts whenever enough objects have been allocated: on
whichever thread allocated them, at whatever point that thread was, even inside PySide
while Qt hands an event to a QObject. A collection deletes the Python-owned QObjects of
the reference cycles it frees, their C++ side included (the AppContext and its
IndexingStatusModel refer to each other). One deleted while Qt was delivering a queued
signal to it or to one of its children crashed the process (SIGSEGV, first seen in the
app's tests: BENCHMARKS.md, finding 10), and one freed by a collection that started on
the indexer's thread would be deleted from the wrong thread. So once the app has a
context, automatic collection is off and a timer on the UI thread collects each
generation when the interpreter would have (its own thresholds), between events.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

# How often the allocation counts are looked at, at most and at least. Longer costs
# memory, as cycles pile up until then, not work: a generation is collected only once it
# is due. The next look comes about when the youngest generation would fall due at the
# pace the counts grew since the last one (doubling the wait while they do not grow), so
# an app idle in the tray, where only the indexer's and the watcher's threads allocate a
# little now and then, is not woken twice a second for nothing.
CHECK_EVERY_MS = 500
IDLE_CHECK_EVERY_MS = 4_000


class CollectorBetweenEvents(QObject):
    """A child of the application: lives, and collects, as long as it does."""

    def __init__(self, app: QCoreApplication) -> None:
        super().__init__(app)
        self.thresholds = gc.get_threshold()
        self._last_counts = gc.get_count()
        self._timer = QTimer(self, interval=CHECK_EVERY_MS)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start()

    @property
    def interval_ms(self) -> int:
        return self._timer.interval()

    def collect_due(self) -> None:
        """Collect the oldest generation whose count has passed its threshold, if any
        (with it every younger one), as the interpreter does after an allocation."""
        counts = gc.get_count()
        due = [g for g in range(len(counts)) if counts[g] > self.thresholds[g]]
        if due:
            gc.collect(max(due))
        interval = self._timer.interval()
        grown = counts[0] - self._last_counts[0]
        due_in = interval * (self.thresholds[0] - counts[0]) / grown if grown > 0 else 2 * interval
        self._timer.setInterval(int(min(max(due_in, CHECK_EVERY_MS), IDLE_CHECK_EVERY_MS)))
        self._last_counts = gc.get_count()


def collect_between_events() -> None:
    """From now on only the UI thread collects, from its event loop (call it there).
    Without an application there is no loop to collect from: nothing changes."""
    app = QCoreApplication.instance()
    if app is None:
        return
    if app.findChild(CollectorBetweenEvents) is None:
        CollectorBetweenEvents(app)
    gc.disable()  # again on every call: a test may have turned it back on
