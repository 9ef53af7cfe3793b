#!/usr/bin/env python3
"""Screenshots for packaging/test-deb, taken from outside the program under test.

    grab_screen.py OUT.png               the whole X screen ($DISPLAY) to a PNG
    grab_screen.py --has-window TITLE    exit 0 when a window of that title is mapped

Runs with the developer's Python and PySide6 (PYTHON, else the .venv of the checkout the
script is in, else python3), not the package's: the picture is taken from outside.
"""

from __future__ import annotations

import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    if argv[1] == "--has-window":
        return 0 if argv[2] in mapped_window_titles() else 1
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication(["grab_screen"])
    return 0 if app.primaryScreen().grabWindow(0).save(argv[1], "PNG") else 1


def mapped_window_titles() -> list[str]:
    # xwininfo (x11-utils) lists every window with its title; unmapped ones are skipped.
    try:
        out = subprocess.run(
            ["xwininfo", "-root", "-tree"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    titles = []
    for line in out.splitlines():
        if line.count('"') >= 2:
            window_id = line.split()[0]
            info = subprocess.run(
                ["xwininfo", "-id", window_id], capture_output=True, text=True, timeout=5
            ).stdout
            if "IsViewable" in info:
                titles.append(line.split('"')[1])
    return titles


if __name__ == "__main__":
    if os.environ.get("GRAB_SCREEN_CHILD") is None:
        here = os.path.dirname(os.path.abspath(__file__))
        venv = os.path.join(here, "..", ".venv", "bin", "python")
        python = os.environ.get("PYTHON") or (venv if os.path.exists(venv) else "python3")
        os.environ["GRAB_SCREEN_CHILD"] = "1"
        os.execvp(python, [python, __file__, *sys.argv[1:]])
    raise SystemExit(main(sys.argv))
