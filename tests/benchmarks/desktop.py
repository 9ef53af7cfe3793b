"""Desktop: cold start to the window shown, and the longest event-loop stall while a large
folder indexes.

    .venv/bin/python -m tests.benchmarks.desktop [--runs 5] [--stall-seconds 90]

Cold start: a fresh process runs the real `run_app` (offscreen), and notes the wall time
at the first event-loop turn after the window is shown; the figure is that time minus the
moment the parent started the process (interpreter start and imports included). Measured
with an empty index and with the standard library indexed; the model must not be loaded
by then (checked, not assumed).

Stall: in one process, the real window (AppContext + MainWindow) is shown while the
background indexer scans, chunks, indexes and embeds the standard library. A 10 ms
QTimer ticks on the UI thread; a gap between ticks beyond its interval is time the event
loop could not run (a stall). Reported: longest gap, p99, and how many gaps exceeded
50 ms and 100 ms, per phase (lexical indexing, then embedding).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.benchmarks.workspace import (
    DOCS_DIR,
    WORK_DIR,
    cli_env,
    machine,
    percentile,
    stdlib_dir,
    write_json,
)

TICK_MS = 10


def _child_cold_start(report: Path) -> int:
    """Runs in the measured process: the real app, quitting once the window is up."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from codanna_desktop.app.main import DesktopApp, run_app

    def started(desktop: DesktopApp) -> None:
        shown_at = time.time()
        engine = desktop.window.context.engine if hasattr(desktop.window, "context") else None
        model_loaded = bool(engine is not None and engine.model_loaded)
        report.write_text(
            json.dumps(
                {
                    "shown_at": shown_at,
                    "visible": desktop.window.isVisible(),
                    "model_loaded": model_loaded,
                }
            )
        )
        QTimer.singleShot(0, QApplication.quit)

    def failed(message: str) -> None:
        report.write_text(json.dumps({"error": message}))

    return run_app([], show_error=failed, on_started=started)


def cold_start(home: Path, runs: int) -> dict[str, Any]:
    env = cli_env(home)
    env["QT_QPA_PLATFORM"] = "offscreen"
    times: list[float] = []
    model_loaded = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "report.json"
            started = time.time()
            subprocess.run(
                [sys.executable, "-m", "tests.benchmarks.desktop", "--child", str(report)],
                env=env,
                check=True,
                timeout=120,
                capture_output=True,
            )
            facts = json.loads(report.read_text())
            if "error" in facts:
                raise SystemExit(f"the app did not start: {facts['error']}")
            times.append(facts["shown_at"] - started)
            model_loaded.append(facts["model_loaded"])
    return {
        "runs": runs,
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "model_loaded_before_window": any(model_loaded),
    }


def _gaps_summary(gaps: list[float]) -> dict[str, Any]:
    if not gaps:
        return {"ticks": 0}
    return {
        "ticks": len(gaps),
        "longest_ms": round(max(gaps), 1),
        "p99_ms": round(percentile(gaps, 99), 1),
        "p50_ms": round(percentile(gaps, 50), 1),
        "over_50ms": sum(g > 50 for g in gaps),
        "over_100ms": sum(g > 100 for g in gaps),
    }


def event_loop_stall(folder: Path, home: Path, seconds: float) -> dict[str, Any]:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["CODANNA_HOME"] = str(home)
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from codanna_desktop.app.context import AppContext
    from codanna_desktop.app.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    context = AppContext()
    window = MainWindow(context)
    window.show()
    phases: dict[str, list[float]] = {"indexing": [], "embedding": []}
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]

    def tick() -> None:
        # Only cheap reads here: anything slow on this thread would be measured as a stall.
        now = clock.elapsed()
        state = context.service.state
        if state in ("scanning", "indexing", "embedding"):
            phase = "embedding" if state == "embedding" else "indexing"
            phases[phase].append(float(now - last[0] - TICK_MS))
        last[0] = now

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    timer.start()
    context.start()
    started = time.monotonic()
    context.add_folders([folder])
    lexical_done_s = None
    while time.monotonic() - started < seconds:
        app.processEvents()
        time.sleep(0.001)
        if lexical_done_s is None and phases["embedding"]:
            lexical_done_s = round(time.monotonic() - started, 2)
    counts = context.engine.catalog.counts()
    timer.stop()
    window.hide_on_close = False
    window.close()
    context.shutdown()
    return {
        "folder_files": counts["files"],
        "chunks": counts["chunks"],
        "embedded_during_run": counts["embedded"],
        "seconds_observed": seconds,
        "lexically_searchable_after_s": lexical_done_s,
        "indexing": _gaps_summary(phases["indexing"]),
        "embedding": _gaps_summary(phases["embedding"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stall-seconds", type=float, default=90.0)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child_cold_start(args.child)

    work = WORK_DIR / "desktop"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    result: dict[str, Any] = {"machine": machine()}
    result["cold_start_empty_index"] = cold_start(work / "empty-home", args.runs)
    # A populated index (the standard library, lexical only) for the second cold start.
    populated = work / "stdlib-home"
    subprocess.run(
        [sys.executable, "-m", "codanna_desktop", "add", "--no-embed", str(stdlib_dir())],
        env=cli_env(populated),
        check=True,
        capture_output=True,
        timeout=600,
    )
    result["cold_start_stdlib_index"] = cold_start(populated, args.runs)
    result["event_loop_stall"] = event_loop_stall(
        stdlib_dir(), work / "stall-home", args.stall_seconds
    )
    path = write_json(DOCS_DIR, "desktop", result)
    print(json.dumps(result, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
