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

# How often the allocation counts are looked at (an idle app wakes this often). Longer
# costs memory, as cycles pile up until then, not work: a generation is collected only
# once it is due.
CHECK_EVERY_MS = 500


class CollectorBetweenEvents(QObject):
    """A child of the application: lives, and collects, as long as it does."""

    def __init__(self, app: QCoreApplication) -> None:
        super().__init__(app)
        self.thresholds = gc.get_threshold()
        self._timer = QTimer(self, interval=CHECK_EVERY_MS)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start()

    def collect_due(self) -> None:
        """Collect the oldest generation whose count has passed its threshold, if any
        (with it every younger one), as the interpreter does after an allocation."""
        counts = gc.get_count()
        due = [g for g in range(len(counts)) if counts[g] > self.thresholds[g]]
        if due:
            gc.collect(max(due))


def collect_between_events() -> None:
    """From now on only the UI thread collects, from its event loop (call it there).
    Without an application there is no loop to collect from: nothing changes."""
    app = QCoreApplication.instance()
    if app is None:
        return
    if app.findChild(CollectorBetweenEvents) is None:
        CollectorBetweenEvents(app)
    gc.disable()  # again on every call: a test may have turned it back on
