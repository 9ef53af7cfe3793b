"""What the watcher asks about the folders it holds, as one named seam.

The watcher holds the folders (roots) it watches; a path belongs to the innermost of them
(core/files/roots.py). Which paths under a root count, which folders there get no watch,
and which folders outside the root's tree hold ignore files that apply to it: the root's
own ignore rules answer, the same rules the scanner walks by. `Scanner` is a `WatchRules`
as it is (`rules_for` gives a root's `IgnoreRules`), so the watcher and the scan cannot
disagree about a path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


class FolderRules(Protocol):
    """The ignore rules of one watched root (`IgnoreRules` is one)."""

    def is_ignored(self, abs_path: Path, is_dir: bool) -> bool:
        """True if the path below the root, or a folder between it and the root, is left
        out of the index; the root itself and paths outside it are not."""
        ...

    def folders_with_rules_outside(self) -> list[Path]:
        """Folders outside the root's tree whose ignore files apply to the root."""
        ...


class WatchRules(Protocol):
    """The rules of each folder the watcher holds, and the folder names never watched."""

    @property
    def excluded_dirs(self) -> Sequence[str]:
        """Folder names left out wherever they are (``node_modules``, ``.git``...)."""
        ...

    def rules_for(self, root: Path) -> FolderRules:
        """The rules of a watched root; called on the observer's thread, often."""
        ...
