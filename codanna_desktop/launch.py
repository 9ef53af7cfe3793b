"""The program's entry point: the desktop window, or a command of the command line.

Both faces sit above ``core`` and neither imports the other (an import contract says so):
this module alone knows both. The command line reads the arguments (``codanna-desktop``
with no command, with ``gui``, or with a folder as its first word, as the desktop entry and
file managers call it, means the window) and calls the ``run_gui`` given here to open it.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from codanna_desktop import cli
from codanna_desktop.core.errors import CodannaError

if TYPE_CHECKING:
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    if getattr(sys, "frozen", False):
        # A frozen app (installers) starts its indexing worker processes through this
        # entry. Imported only there: the command line's every start would pay for it.
        import multiprocessing

        multiprocessing.freeze_support()
    return cli.main(argv, run_gui=run_gui)


def run_gui(folders: list[str]) -> int:
    problem = no_display()
    if problem is not None:
        print(f"codanna-desktop: {problem}", file=sys.stderr)
        return CodannaError.exit_code
    try:
        from codanna_desktop.app.main import run_app
    except ImportError as exc:
        print(f"codanna-desktop: the desktop app cannot start ({exc}).", file=sys.stderr)
        print("The command line works without it: codanna-desktop --help", file=sys.stderr)
        return CodannaError.exit_code
    return run_app(folders)


def no_display() -> str | None:
    """Why the window cannot open here, or None. Without a display Qt aborts the process
    with a message about xcb plugins that sends people looking for missing libraries."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "There is no display here (neither DISPLAY nor WAYLAND_DISPLAY is set), so the "
        "window cannot open. The command line works without one: `codanna-desktop add "
        "PATH`, `codanna-desktop search QUERY`, `codanna-desktop watch` (see --help)."
    )
