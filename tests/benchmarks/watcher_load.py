"""The watcher while a large tree indexes: its cost, and the events the kernel drops.

    .venv/bin/python -m tests.benchmarks.watcher_load

`IndexingService` (the desktop app's background indexer) adds the standard library and
runs until it is lexically searchable, in three configurations, interleaved in one run:
no watcher; the watcher asking the kernel for every event (watchdog's default, as the
app did before it filtered them); and the watcher asking only for the events that can
change a file's content (today). Each run counts the times the kernel's inotify queue
overflowed: every overflow drops events, edits made meanwhile among them. Medians over
the repetitions, and each configuration's time as a ratio of the no-watcher run.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codanna_desktop.core.service import IndexingService, ServiceEvent
from codanna_desktop.core.watching import watcher as watcher_module
from tests.benchmarks import report
from tests.benchmarks.workspace import (
    DOCS_DIR,
    WORK_DIR,
    machine,
    open_engine,
    patched,
    stdlib_dir,
    write_json,
)

CONFIGS = ("no watcher", "watcher, every event", "watcher, content events only")
TIMEOUT_S = 900.0


def index_once(tree: Path, home: Path, config: str) -> dict[str, Any]:
    """Seconds from adding `tree` to its first indexing report, and overflows meanwhile."""
    shutil.rmtree(home, ignore_errors=True)
    overflows: list[None] = []
    # The watcher's own listener for watchdog's overflow warning, counting here.
    counter = watcher_module._OverflowListener(lambda: overflows.append(None))
    log = logging.getLogger(watcher_module._OVERFLOW_LOGGER)
    log.addHandler(counter)
    events: list[ServiceEvent] = []
    filtered = watcher_module._SUBSCRIBED if config.endswith("only") else None
    try:
        with patched(watcher_module, "_SUBSCRIBED", filtered), open_engine(home) as engine:
            service = IndexingService(engine, events.append, watch=config != "no watcher")
            service.start()
            started = time.perf_counter()
            service.add_roots([tree])
            report_event = None
            while report_event is None and time.perf_counter() - started < TIMEOUT_S:
                time.sleep(0.01)
                report_event = next(
                    (
                        e
                        for e in events
                        if e.kind == "report" and e.report and e.report.files_indexed
                    ),
                    None,
                )
            seconds = time.perf_counter() - started
            service.stop()
    finally:
        log.removeHandler(counter)
    files = report_event.report.files_indexed if report_event and report_event.report else 0
    return {"seconds": round(seconds, 2), "files": files, "overflows": len(overflows)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tree", type=Path, default=stdlib_dir())
    p.add_argument("--work", type=Path, default=WORK_DIR / "watcher_load")
    p.add_argument("--out", type=Path, default=DOCS_DIR)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--no-report", action="store_true")
    args = p.parse_args(argv)

    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CONFIGS}
    for rep in range(args.runs):
        for config in CONFIGS:
            run = index_once(args.tree, args.work / "home", config)
            runs[config].append(run)
            print(f"run {rep + 1}, {config}: {run}", flush=True)
    shutil.rmtree(args.work / "home", ignore_errors=True)
    base = statistics.median(r["seconds"] for r in runs[CONFIGS[0]])
    summary = {
        config: {
            "median_s": statistics.median(r["seconds"] for r in rows),
            "ratio_to_no_watcher": round(statistics.median(r["seconds"] for r in rows) / base, 3),
            "overflows_per_run": [r["overflows"] for r in rows],
            "files": rows[0]["files"],
        }
        for config, rows in runs.items()
    }
    result = {
        "benchmark": "watcher_load",
        "command": "python -m tests.benchmarks.watcher_load",
        "machine": machine(),
        "tree": str(args.tree),
        "runs": runs,
        "summary": summary,
    }
    write_json(args.out, "watcher_load", result)
    print(summary)
    if not args.no_report:
        report.refresh(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
