"""Opening a result in the person's editor.

`settings.editor_command` is a command line with `{path}`, `{line}` and (optionally)
`{column}` placeholders, for example `code -g {path}:{line}:{column}` or
`subl {path}:{line}`. It is split with shlex first and the placeholders are filled in
each argument afterwards, so a path with spaces stays one argument and is never seen by
a shell. The editor runs detached: closing Codanna Desktop
does not close it. Without a command the system's handler for the file opens it (no line).
"""

from __future__ import annotations

import shlex
import shutil
from typing import TYPE_CHECKING

from PySide6.QtCore import QProcess, QUrl
from PySide6.QtGui import QDesktopServices

from codanna_desktop.core.errors import CodannaError

if TYPE_CHECKING:
    from pathlib import Path


class EditorLaunchError(CodannaError):
    """The editor command could not be started; the message says which and why."""


def editor_argv(command: str, path: Path, line: int, column: int = 1) -> list[str]:
    """The argument vector for `command` with {path}, {line} and {column} filled in."""
    try:
        parts = shlex.split(command)
    except ValueError as exc:  # an unclosed quote
        raise EditorLaunchError(f"The editor command cannot be read: {exc}.") from exc
    if not parts:
        raise EditorLaunchError("The editor command is empty.")
    return [
        p.replace("{path}", str(path)).replace("{line}", str(line)).replace("{column}", str(column))
        for p in parts
    ]


def open_in_editor(command: str, path: Path, line: int, column: int = 1) -> None:
    """Start the editor on `path` at `line`, or hand the file to the system's handler."""
    if not command.strip():
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            raise EditorLaunchError(
                f"No application opens {path.name}. Set an editor command in Settings."
            )
        return
    argv = editor_argv(command, path, line, column)
    program = shutil.which(argv[0]) or argv[0]
    started, _pid = QProcess.startDetached(program, argv[1:], str(path.parent))
    if not started:
        raise EditorLaunchError(
            f"Could not start the editor {argv[0]!r}. Check the editor command in Settings."
        )
