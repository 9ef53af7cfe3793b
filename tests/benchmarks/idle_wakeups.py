"""How often the desktop app wakes up while it has nothing to do: idle in the tray all day,
every wake-up is a little CPU and battery for nothing.

    .venv/bin/python -m tests.benchmarks.idle_wakeups [--seconds 30] [--runs 3]
        [--before DIR]

The real app (`run_app`, the model in its own process) is started offscreen on a small
folder in a fresh CODANNA_HOME. Once the folder is indexed and embedded and the app has
settled, the kernel's count of voluntary context switches of every thread of the app's
process (/proc/PID/task/TID/status) is read, again `--seconds` later, and the difference
is a wake-up each. Two states: the window shown with the search box focused (its text
cursor blinks, as every editor's does), and the window hidden, as closing it to the tray
leaves it. The app is then ended with SIGTERM, which must quit it cleanly. Threads are
named by the app itself (Python's names for its threads, tantivy's for its own). The model
process is not counted: it sleeps in a blocking read. `--before DIR` runs the same on
another checkout (a git worktree at an older commit), interleaved run by run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.benchmarks.workspace import DOCS_DIR, REPO_ROOT, machine, share_models_folder, write_json

SETTLE_S = 5.0  # after the app says it is idle, before counting

# Run in the app's process with the checkout under test first on sys.path. It prints
# "ready" once the index is idle and the state is set, with the names of the threads.
DRIVER = """
import json, sys, threading
from pathlib import Path
from PySide6.QtCore import QTimer
from codanna_desktop.app.main import run_app

folder, hidden = Path(sys.argv[1]), sys.argv[2] == "hidden"

def on_started(desktop):
    def check():
        if not desktop.context.wait_idle(0.05):
            QTimer.singleShot(200, check)
            return
        if hidden:
            desktop.window.hide()  # what closing it does when the desktop has a tray
        else:
            desktop.window.search_box.setFocus()
        names = {t.native_id: t.name for t in threading.enumerate()}
        print("ready " + json.dumps(names), flush=True)
    QTimer.singleShot(200, check)

sys.exit(run_app([str(folder)], on_started=on_started))
"""


def _switches(pid: int) -> dict[int, tuple[str, int]]:
    """Each thread's name (as the kernel has it) and voluntary context switches so far."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            status = (task / "status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        count = next(
            int(line.split()[1])
            for line in status.splitlines()
            if line.startswith("voluntary_ctxt_switches")
        )
        out[int(task.name)] = (name, count)
    return out


def measure(checkout: Path, state: str, seconds: float, work: Path) -> dict[str, Any]:
    """One run: the app of `checkout` idle in `state` ("shown" or "hidden")."""
    home, folder = work / f"home-{state}", work / "project"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "invoices.py").write_text(
        "def send_invoice(customer):\n    return customer.mail()\n", encoding="utf-8"
    )
    subprocess.run(["rm", "-rf", str(home)], check=True)
    driver = work / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "CODANNA_HOME": str(home),
        "PYTHONPATH": str(checkout),
    }
    proc = subprocess.Popen(
        [sys.executable, str(driver), str(folder), state],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=checkout,
    )
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        if not line.startswith("ready "):
            raise SystemExit(f"the app did not get ready: {line!r} {proc.stderr.read()[-2000:]}")
        names = {int(k): v for k, v in json.loads(line[len("ready ") :]).items()}
        time.sleep(SETTLE_S)
        first = _switches(proc.pid)
        time.sleep(seconds)
        last = _switches(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    threads = []
    for tid, (kernel_name, count) in sorted(last.items()):
        if tid not in first:
            continue
        rate = (count - first[tid][1]) / seconds
        name = "main" if tid == proc.pid else names.get(tid, kernel_name)
        if rate > 0:
            threads.append({"thread": name, "wakeups_per_s": round(rate, 2)})
    return {
        "state": state,
        "wakeups_per_s": round(sum(t["wakeups_per_s"] for t in threads), 2),
        "threads": sorted(threads, key=lambda t: -t["wakeups_per_s"]),
        "exit_code_after_sigterm": code,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--before", type=Path, default=None, help="another checkout to compare")
    p.add_argument("--out", type=Path, default=DOCS_DIR)
    p.add_argument("--name", default="idle_wakeups")
    args = p.parse_args(argv)
    share_models_folder()
    checkouts = {"this": REPO_ROOT} | ({"before": args.before.resolve()} if args.before else {})
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        label: {"shown": [], "hidden": []} for label in checkouts
    }
    with tempfile.TemporaryDirectory(prefix="codanna-idle-") as tmp:
        for i in range(args.runs):
            for label, checkout in checkouts.items():  # interleaved
                for state in ("shown", "hidden"):
                    run = measure(checkout, state, args.seconds, Path(tmp) / label)
                    runs[label][state].append(run)
                    print(f"run {i + 1} {label} {state}: {run['wakeups_per_s']}/s", flush=True)
    summary = {
        label: {
            state: statistics.median(r["wakeups_per_s"] for r in by_state[state])
            for state in by_state
        }
        for label, by_state in runs.items()
    }
    result = {
        "benchmark": "idle_wakeups",
        "command": "python -m tests.benchmarks.idle_wakeups",
        "machine": machine(),
        "seconds_counted": args.seconds,
        "runs": args.runs,
        "before": str(args.before) if args.before else None,
        "median_wakeups_per_s": summary,
        "all_runs": runs,
    }
    path = write_json(args.out, args.name, result)
    print(json.dumps(summary), f"\nwrote {path}")
    bad = [
        r for by in runs.values() for rs in by.values() for r in rs if r["exit_code_after_sigterm"]
    ]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
