"""Which added folder owns a path: the one answer every part asks for.

Folders may nest (``~/src`` and ``~/src/app`` both added). A path belongs to the
innermost folder holding it: that folder's ignore rules decide about it, its watcher
delivers its changes and its catalog rows hold it. An outer folder's ``.gitignore``
that leaves ``app/`` out does not reach into a folder the person added themselves.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

R = TypeVar("R")


def owning_root(path: Path, roots: Iterable[R], path_of: Callable[[R], Path]) -> R | None:
    """The innermost of `roots` whose folder (``path_of(root)``) is `path` or holds it."""
    text = _key(path)
    best: R | None = None
    best_length = -1
    for root in roots:
        folder = _key(path_of(root))
        # Every folder holding the path is a prefix of it: the longest is the innermost.
        if (text == folder or text.startswith(_inside(folder))) and len(folder) > best_length:
            best, best_length = root, len(folder)
    return best


def folders_inside(path: Path, folders: Iterable[R], path_of: Callable[[R], Path]) -> list[R]:
    """The `folders` strictly inside `path`."""
    prefix = _inside(_key(path))
    return [f for f in folders if _key(path_of(f)).startswith(prefix)]


# Compared as strings: a search asks for every PATH it is given, and pathlib's `parents`
# made each question about 10 µs a folder. normcase: as pathlib compares on Windows.
def _key(path: Path) -> str:
    return os.path.normcase(str(path))


def _inside(folder: str) -> str:
    """The prefix of every path inside `folder` (absolute, as the app's folders are)."""
    return folder if folder.endswith(os.sep) else folder + os.sep


def owning_root_path(path: Path, folders: Iterable[Path]) -> Path | None:
    """`owning_root` for plain folder paths."""
    return owning_root(path, folders, lambda folder: folder)
