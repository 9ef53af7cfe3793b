"""What a drop onto the window means: the folders to add, and what was refused and why.

A dropped file stands for the folder it lives in (people drag a file out of a project as
often as the project itself). Anything that is not on this machine is refused with a
message the window can show as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtCore import QMimeData


@dataclass
class DropResult:
    folders: list[Path] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def classify_drop(mime: QMimeData) -> DropResult:
    """Sort the dropped URLs into folders to add (absolute, deduplicated, in drop order)
    and refusals ("https://x: not a local folder", "/tmp/gone: does not exist")."""
    result = DropResult()
    if not mime.hasUrls():
        text = mime.text().strip() if mime.hasText() else ""
        shown = text if len(text) <= 60 else text[:57] + "…"
        result.refused.append(
            f'"{shown}": not a local folder' if shown else "Nothing to add: drop folders or files."
        )
        return result
    seen: set[Path] = set()
    for url in mime.urls():
        if not url.isLocalFile():
            result.refused.append(f"{url.toString()}: not a local folder")
            continue
        path = Path(url.toLocalFile())
        if not path.exists():
            result.refused.append(f"{path}: does not exist")
            continue
        folder = path if path.is_dir() else path.parent
        folder = folder.resolve()
        if folder not in seen:
            seen.add(folder)
            result.folders.append(folder)
    return result
