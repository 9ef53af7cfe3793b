"""A copy of the list of added folders beside the catalog, so that rebuilding a damaged
catalog (`codanna-desktop repair`) knows which folders to index again.

The catalog is the source of truth; this small JSON file follows it. It is written
atomically (temporary file, fsync, rename) whenever the folders change, and only then,
so opening the index writes nothing when the list is the same.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from codanna_desktop.core.atomic_file import write_atomically

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger(__name__)

FILE_NAME = "roots.json"


def roots_backup_path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def load_roots_backup(data_dir: Path) -> list[Path]:
    """The folders last saved, or [] if there is no readable copy."""
    try:
        data = json.loads(roots_backup_path(data_dir).read_text(encoding="utf-8"))
        return [Path(p) for p in data["roots"] if isinstance(p, str)]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def save_roots_backup(data_dir: Path, roots: Sequence[Path]) -> None:
    """Record the folders. A failure (a full disk) is logged, not raised: the catalog
    holds the list, and its own writes report the disk."""
    paths = sorted(str(p) for p in roots)
    if [str(p) for p in load_roots_backup(data_dir)] == paths:
        return
    try:
        write_atomically(roots_backup_path(data_dir), json.dumps({"roots": paths}, indent=1))
    except OSError as exc:
        log.info("the copy of the folder list was not saved: %s", exc)
