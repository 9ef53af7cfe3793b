"""Start at login: real files under a temporary XDG_CONFIG_HOME (and HOME for macOS)."""

from __future__ import annotations

import configparser
import plistlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from codanna_desktop.core import autostart
from codanna_desktop.core.settings import AppPaths, Settings, load_settings, save_settings


@pytest.fixture
def xdg_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "xdg-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return config


def read_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def test_turning_start_at_login_on_writes_an_xdg_autostart_entry(xdg_config: Path) -> None:
    autostart.set_start_at_login(
        True, command=["/opt/codanna/codanna-desktop", "gui"], platform="linux"
    )
    path = xdg_config / "autostart" / "codanna-desktop.desktop"
    entry = read_entry(path)
    assert entry["Type"] == "Application"
    assert entry["Exec"] == "/opt/codanna/codanna-desktop gui"
    assert entry["Icon"] == "codanna-desktop"
    assert autostart.is_start_at_login(platform="linux")


def test_turning_it_off_removes_the_entry_and_nothing_else(xdg_config: Path) -> None:
    other = xdg_config / "autostart" / "someone-else.desktop"
    other.parent.mkdir(parents=True)
    other.write_text("[Desktop Entry]\nType=Application\nExec=true\n")
    autostart.set_start_at_login(True, command=["codanna-desktop", "gui"], platform="linux")
    autostart.set_start_at_login(False, platform="linux")
    assert sorted(p.name for p in other.parent.iterdir()) == ["someone-else.desktop"]
    assert not autostart.is_start_at_login(platform="linux")
    autostart.set_start_at_login(False, platform="linux")  # already off: no error


def test_the_entry_without_xdg_config_home_goes_to_dot_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    autostart.set_start_at_login(True, command=["codanna-desktop"], platform="linux")
    assert (tmp_path / ".config" / "autostart" / "codanna-desktop.desktop").is_file()


def test_a_path_with_spaces_is_quoted_so_the_desktop_starts_the_right_program(
    xdg_config: Path, tmp_path: Path
) -> None:
    # A real program in a folder with a space and a dollar, started through the Exec line
    # as a desktop would split it (the spec's quoting is shell-compatible for these).
    folder = tmp_path / "My Apps $x"
    folder.mkdir()
    program = folder / "codanna-desktop"
    marker = tmp_path / "started"
    program.write_text(f"#!/bin/sh\necho \"$@\" > '{marker}'\n")
    program.chmod(0o755)
    autostart.set_start_at_login(True, command=[str(program), "gui"], platform="linux")
    exec_value = read_entry(xdg_config / "autostart" / "codanna-desktop.desktop")["Exec"]
    # As a desktop reads it: the key file's string escapes first, then the quoting, whose
    # rules are the shell's for double quotes.
    exec_line = re.sub(
        r"\\(.)", lambda m: {"s": " ", "n": "\n", "t": "\t"}.get(m[1], m[1]), exec_value
    )
    subprocess.run(["sh", "-c", f"exec {exec_line}"], check=True, timeout=10)
    assert marker.read_text().strip() == "gui"


def test_macos_gets_a_launch_agent_that_runs_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    command = ["/Applications/Codanna Desktop.app/Contents/MacOS/codanna-desktop", "gui"]
    autostart.set_start_at_login(True, command=command, platform="darwin")
    path = tmp_path / "Library" / "LaunchAgents" / "dev.codanna.desktop.plist"
    agent = plistlib.loads(path.read_bytes())
    assert agent["Label"] == "dev.codanna.desktop"
    assert agent["ProgramArguments"] == command
    assert agent["RunAtLoad"] is True and agent["KeepAlive"] is False
    autostart.set_start_at_login(False, platform="darwin")
    assert not path.exists()


def test_windows_run_value_is_one_quoted_command_line() -> None:
    # The registry write itself runs on Windows only; the value it writes is checked here.
    value = autostart.windows_run_value(
        [r"C:\Program Files\Codanna Desktop\codanna-desktop.exe", "gui"]
    )
    assert value == r'"C:\Program Files\Codanna Desktop\codanna-desktop.exe" gui'


def test_a_read_only_config_folder_is_a_sentence_not_a_traceback(xdg_config: Path) -> None:
    if sys.platform != "linux":
        pytest.skip("POSIX permissions")
    import os

    if os.geteuid() == 0:
        # root ignores permission bits; a file where the folder should be fails for anyone
        xdg_config.mkdir()
        (xdg_config / "autostart").write_text("not a folder")
    else:
        xdg_config.mkdir(mode=0o500)
    with pytest.raises(autostart.AutostartError, match="Could not turn on start at login"):
        autostart.set_start_at_login(True, command=["codanna-desktop"], platform="linux")


def test_launch_command_starts_this_installation_gui() -> None:
    command = autostart.launch_command()
    assert command[-1] == "gui"
    assert Path(command[0]).exists()


def test_start_at_login_is_off_by_default_and_saved(codanna_home: Path) -> None:
    paths = AppPaths.default()
    assert Settings().start_at_login is False
    save_settings(Settings(start_at_login=True), paths)
    assert load_settings(paths).start_at_login is True
