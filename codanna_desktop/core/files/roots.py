"""Which added folder owns a path: the one answer every part asks for.

Folders may nest (``~/src`` and ``~/src/app`` both added). A path belongs to the
innermost folder holding it: that folder's ignore rules decide about it, its watcher
delivers its changes and its catalog rows hold it. An outer folder's ``.gitignore``
that leaves ``app/`` out does not reach into a folder the person added themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

R = TypeVar("R")


def owning_root(path: Path, roots: Iterable[R], path_of: Callable[[R], Path]) -> R | None:
    """The innermost of `roots` whose folder (``path_of(root)``) is `path` or holds it."""
    best: R | None = None
    best_depth = -1
    for root in roots:
        folder = path_of(root)
        if path == folder or folder in path.parents:
            depth = len(folder.parts)
            if depth > best_depth:
                best, best_depth = root, depth
    return best


def owning_root_path(path: Path, folders: Iterable[Path]) -> Path | None:
    """`owning_root` for plain folder paths."""
    return owning_root(path, folders, lambda folder: folder)
