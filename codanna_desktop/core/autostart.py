"""Start at login: one setting, written the way each desktop expects it.

- Linux (and other XDG desktops): ``$XDG_CONFIG_HOME/autostart/codanna-desktop.desktop``
  (the XDG Autostart specification; GNOME, KDE, Xfce, LXQt and others read it).
- Windows: the value ``Codanna Desktop`` under
  ``HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``.
- macOS: the LaunchAgent ``~/Library/LaunchAgents/dev.codanna.desktop.plist``
  (``RunAtLoad``), loaded by launchd at the next login.

The entry starts the GUI; whether the window shows or only the tray icon comes from the
``start_hidden`` setting, read at start, so changing that needs no new entry. Turning the
setting off removes what turning it on wrote, and nothing else. The Windows and macOS
branches are not run on this project's machines (Linux only); the macOS file is written
and read back by the tests all the same, since plistlib is portable.
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from codanna_desktop.core.atomic_file import write_atomically
from codanna_desktop.core.errors import CodannaError

if TYPE_CHECKING:
    from collections.abc import Sequence

APP_ID = "codanna-desktop"
WINDOWS_RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
WINDOWS_VALUE_NAME = "Codanna Desktop"
MACOS_LABEL = "dev.codanna.desktop"


class AutostartError(CodannaError):
    """The login item could not be written or removed (a read-only folder, a policy)."""


def launch_command() -> list[str]:
    """How this very installation is started again: the frozen executable, the installed
    console script, or the interpreter with ``-m`` (a checkout)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "gui"]
    script = shutil.which(APP_ID)
    if script:
        return [script, "gui"]
    return [sys.executable, "-m", "codanna_desktop", "gui"]


def set_start_at_login(
    enabled: bool, *, command: Sequence[str] | None = None, platform: str = sys.platform
) -> None:
    """Write (enabled) or remove (not enabled) the login item for ``platform``."""
    argv = list(command) if command is not None else launch_command()
    try:
        if platform == "win32":
            _set_windows(enabled, argv)
        elif platform == "darwin":
            _set_macos(enabled, argv)
        else:
            _set_xdg(enabled, argv)
    except OSError as exc:
        verb = "turn on" if enabled else "turn off"
        raise AutostartError(f"Could not {verb} start at login: {exc}") from exc


def is_start_at_login(platform: str = sys.platform) -> bool:
    """Whether a login item of ours is there now (the desktop's truth, not the setting's)."""
    if platform == "win32":
        return _windows_value() is not None
    if platform == "darwin":
        return macos_agent_path().is_file()
    return xdg_autostart_path().is_file()


# -- XDG ----------------------------------------------------------------------------------


def xdg_autostart_path() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "autostart" / f"{APP_ID}.desktop"


def xdg_autostart_entry(command: Sequence[str]) -> str:
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Codanna Desktop\n"
        "Comment=Keep the code search index current in the background\n"
        f"Exec={_desktop_exec(command)}\n"
        f"Icon={APP_ID}\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n"
        # Wait for the panel, so the tray icon has somewhere to go.
        "X-GNOME-Autostart-Delay=5\n"
    )


def _set_xdg(enabled: bool, command: Sequence[str]) -> None:
    path = xdg_autostart_path()
    if not enabled:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, xdg_autostart_entry(command))


def _desktop_exec(command: Sequence[str]) -> str:
    # The Desktop Entry spec's Exec quoting: arguments with reserved characters in double
    # quotes, with ", `, $ and \ escaped by a backslash; a literal % is written %%. Then
    # the key file's own string escaping doubles every backslash (the reader undoes that
    # first, then the quoting).
    reserved = set(" \t\n\"'\\><~|&;$*?#()`")
    parts = []
    for arg in command:
        arg = arg.replace("%", "%%")
        if any(ch in reserved for ch in arg):
            escaped = "".join("\\" + ch if ch in '"`$\\' else ch for ch in arg)
            arg = f'"{escaped}"'
        parts.append(arg)
    return " ".join(parts).replace("\\", "\\\\")


# -- macOS --------------------------------------------------------------------------------


def macos_agent_path() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{MACOS_LABEL}.plist"


def macos_agent(command: Sequence[str]) -> bytes:
    return plistlib.dumps(
        {
            "Label": MACOS_LABEL,
            "ProgramArguments": list(command),
            "RunAtLoad": True,
            # A login item, not a daemon: launchd must not restart it after Quit.
            "KeepAlive": False,
            "ProcessType": "Interactive",
        }
    )


def _set_macos(enabled: bool, command: Sequence[str]) -> None:
    path = macos_agent_path()
    if not enabled:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, macos_agent(command))


# -- Windows ------------------------------------------------------------------------------


def windows_run_value(command: Sequence[str]) -> str:
    return _windows_command_line(command)


def _set_windows(enabled: bool, command: Sequence[str]) -> None:
    if sys.platform != "win32":
        raise AutostartError("The Windows Run key can be written on Windows only.")
    import winreg

    with winreg.OpenKey(winreg.HKEY_CURRENT_USER, WINDOWS_RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
        if enabled:
            winreg.SetValueEx(key, WINDOWS_VALUE_NAME, 0, winreg.REG_SZ, windows_run_value(command))
        else:
            with contextlib.suppress(FileNotFoundError):
                winreg.DeleteValue(key, WINDOWS_VALUE_NAME)


def _windows_value() -> str | None:
    if sys.platform != "win32":
        return None
    import winreg

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, WINDOWS_RUN_KEY) as key:
            value, _ = winreg.QueryValueEx(key, WINDOWS_VALUE_NAME)
            return str(value)
    except OSError:
        return None


def _windows_command_line(command: Sequence[str]) -> str:
    # subprocess.list2cmdline is the quoting Windows' own argument parser undoes.
    import subprocess

    return subprocess.list2cmdline(list(command))


__all__ = [
    "AutostartError",
    "is_start_at_login",
    "launch_command",
    "set_start_at_login",
]
