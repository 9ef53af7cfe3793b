"""The real app on a real X display with a real tray host (Xvfb + trayer).

Offscreen there is no tray, so this is the one test that sees the tray icon embedded,
clicks it and uses its menu in the running app. Xvfb and trayer come from
`scripts/setup --dev`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

DRIVER = Path(__file__).with_name("app_driver.py")


@pytest.fixture
def tray_display() -> Iterator[dict[str, str]]:
    """An X display with a system tray; yields the environment for the app under test."""
    xvfb, trayer = shutil.which("Xvfb"), shutil.which("trayer")
    if xvfb is None or trayer is None:
        pytest.skip("Xvfb or trayer is not installed (scripts/setup --dev installs them)")
    server = subprocess.Popen(
        [xvfb, "-displayfd", "1", "-screen", "0", "1024x600x24", "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    host: subprocess.Popen[bytes] | None = None
    try:
        assert server.stdout is not None
        number = server.stdout.readline().strip()  # Xvfb writes it once it accepts clients
        assert number, "Xvfb did not start"
        env = os.environ.copy()
        env.update(DISPLAY=f":{number}", QT_QPA_PLATFORM="xcb")
        # A session bus would let Qt use a StatusNotifier host elsewhere, not this display.
        for name in ("WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
            env.pop(name, None)
        host = subprocess.Popen(
            [trayer, "--edge", "top", "--align", "right", "--widthtype", "request"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        yield env
    finally:
        for proc in (host, server):
            if proc is not None:
                proc.terminate()
                proc.wait(10)


def _driver(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DRIVER), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _facts(report: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]


def test_real_app_embeds_its_tray_icon_and_obeys_clicks_and_menu(
    tray_display: dict[str, str], tmp_path: Path
) -> None:
    # trayer takes a moment to claim the tray; ask a fresh Qt process until it sees one.
    probe = tmp_path / "probe.jsonl"
    deadline = time.monotonic() + 30
    while _driver(tray_display, "tray-available", str(probe), timeout=60).returncode != 0:
        assert time.monotonic() < deadline, _facts(probe)
        time.sleep(0.2)

    project = tmp_path / "project"
    project.mkdir()
    (project / "uploads.py").write_text("def retry_failed_upload():\n    return 3\n")
    report = tmp_path / "tour.jsonl"
    run = _driver(tray_display, "tray-tour", str(report), str(project), timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]

    facts = _facts(report)
    assert facts[0] == {"tray": True, "tray_available": True, "window_visible": True}
    steps = {f["step"]: f for f in facts if "step" in f}
    assert steps["icon embedded"]["icon_visible"] is True
    assert steps["left click"]["window_visible"] is False
    assert steps["left click again"]["window_visible"] is True
    assert steps["window closed"]["window_visible"] is False
    assert steps["show"]["window_visible"] is True
    toggles = [f for f in facts if f.get("step") == "pause toggled"]
    assert [(t["paused"], t["action"]) for t in toggles] == [
        (True, "Resume indexing"),
        (False, "Pause indexing"),
    ]
    assert toggles[0]["look"] == "paused"
    assert steps["right click"]["menu_visible"] is True
    assert steps["tooltip"]["tooltip"].startswith("Codanna Desktop\n")
    # Quit from the menu ended the app normally.
    assert facts[-1] == {"exit_code": 0}
