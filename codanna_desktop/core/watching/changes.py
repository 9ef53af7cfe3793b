"""Coalescing file-system events into change sets: pure logic, no I/O, no threads.

watchdog (inotify on Linux) reports every step of a save: open, modify, close, the
folder's own change, and the temp-file dance editors do to save safely. ChangeCollector
folds that stream into one ChangeSet per burst of activity, with time passed in, so every
rule here is tested without a watcher, a timer or a disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

# Names editors give the temporary or backup copy of a file they save: f.tmp, f~, .f.swp,
# .#f (Emacs), f___jb_tmp___ (JetBrains).
_TEMP_SUFFIXES = ("~", ".tmp", ".swp", ".swx", ".swo", ".bak", "___jb_tmp___", "___jb_old___")


def looks_like_save_temp(path: Path) -> bool:
    """True if ``path`` is named like an editor's temporary or backup file (``f.py.tmp``,
    ``f.py~``, ``.f.py.swp``, ``.#f.py``)."""
    return path.name.startswith(".#") or path.name.endswith(_TEMP_SUFFIXES)


def _inside(folder: Path) -> Callable[[Path], bool]:
    """A test for "strictly inside ``folder``". A string prefix, not Path.is_relative_to:
    it runs over every pending entry each time a folder is deleted or moved."""
    prefix = str(folder) if str(folder).endswith(os.sep) else str(folder) + os.sep
    return lambda path: str(path).startswith(prefix)


@dataclass
class ChangeSet:
    """The paths whose state on disk may differ from the index since the last change set.

    The contract, as the indexer (its only consumer) applies it: every path in
    ``paths()`` is looked at on disk now, and the disk decides: a file there is indexed
    (unchanged content costs a hash, moved content a re-read and re-chunk but never an
    embedding: vectors are cached by text), a path that is gone has its rows, and every
    row below it, dropped; a folder stands for its whole subtree (the root is compared
    with the disk). So the three sets only keep a burst of events small and its outcome
    right; which of them a path is in does not change what the indexer does:

    - ``created``: did not exist when the set began, as a create event says (watchdog
      reports a file moved in from outside the watched folders as created too);
    - ``modified``: exists now and may have existed before, with other content: written
      to, or the destination of a move (which may have replaced a file there);
    - ``deleted``: existed before, is gone (or moved away) now.

    A move is its source deleted and its destination modified. The set keeps no moves:
    renaming catalog rows instead of re-reading the moved files was measured to save at
    most the read and chunking (BENCHMARKS.md, folder moves), since the path is in every
    store's rows and they are rewritten either way.
    """

    created: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    deleted: set[Path] = field(default_factory=set)

    def is_empty(self) -> bool:
        return not (self.created or self.modified or self.deleted)

    def paths(self) -> set[Path]:
        """Every path touched."""
        return self.created | self.modified | self.deleted

    def merge(self, other: ChangeSet) -> None:
        """Fold ``other`` into this set as if its changes happened after ours."""
        # Sorted so a folder comes before the files in it.
        for path in sorted(other.deleted):
            self._record_deleted(path)
        for path in sorted(other.created):
            self._record_created(path)
        for path in sorted(other.modified):
            self._record_modified(path)

    # The coalescing rules. ``is_dir=None`` means "not known": look for entries below.

    def _record_created(self, path: Path) -> None:
        if self._is_gone(path):
            return
        if path in self.deleted:  # deleted then created: the same path with new content
            self.deleted.discard(path)
            self.modified.add(path)
        elif path not in self.modified:
            self.created.add(path)

    def _record_modified(self, path: Path) -> None:
        if self._is_gone(path) or path in self.created:
            return
        self.deleted.discard(path)
        self.modified.add(path)

    def _record_deleted(self, path: Path, is_dir: bool | None = None) -> None:
        if self._is_gone(path):
            return
        if is_dir is not False:
            self._collapse_into_deleted(path)
        if path in self.created:  # created then deleted: nothing happened
            self.created.discard(path)
            return
        self.modified.discard(path)
        self.deleted.add(path)

    def _record_moved(self, src: Path, dest: Path, is_dir: bool | None = None) -> None:
        if src == dest:
            return
        self._record_deleted(src, is_dir)
        self._record_modified(dest)

    def _is_gone(self, path: Path) -> bool:
        """True if a folder above ``path`` was deleted or moved away (and not re-created):
        the event is stale, the folder's entry already covers it."""
        return any(parent in self.deleted for parent in path.parents)

    def _collapse_into_deleted(self, folder: Path) -> None:
        inside = _inside(folder)
        for entries in (self.created, self.modified, self.deleted):
            entries.difference_update([path for path in entries if inside(path)])


class ChangeCollector:
    """Pure, threadless coalescing and debounce: feed events with ``add``, poll
    ``take_ready``. Time is passed in, so the logic is testable without timers."""

    def __init__(self, debounce_s: float = 0.3, max_delay_s: float = 2.0) -> None:
        self._debounce_s = debounce_s
        self._max_delay_s = max_delay_s
        self._pending = ChangeSet()
        self._first_at: float | None = None
        self._last_at = 0.0
        # Folder moves seen in this set: watchdog follows each with one synthetic move per
        # file inside, which the folder's own move already covers.
        self._folder_moves: list[tuple[Path, Path]] = []

    def add(
        self,
        kind: str,
        path: Path,
        dest: Path | None = None,
        *,
        is_dir: bool = False,
        now: float,
    ) -> None:
        """Record one event. ``kind`` is a watchdog event type; kinds that cannot change
        content (opened, closed_no_write, attrib) and folder "modified" are dropped."""
        if kind == "created":
            self._pending._record_created(path)
        elif kind in ("modified", "closed"):
            if is_dir:  # a folder's listing changed: its entries' own events say how
                return
            self._pending._record_modified(path)
        elif kind == "deleted":
            self._pending._record_deleted(path, is_dir)
        elif kind == "moved":
            if dest is None:
                raise ValueError(f"a move of {path} needs a destination")
            if self._is_inside_folder_move(path, dest):
                return
            self._pending._record_moved(path, dest, is_dir)
            if is_dir:
                self._folder_moves.append((path, dest))
        else:
            return
        if self._first_at is None:
            self._first_at = now
        self._last_at = now

    def has_pending(self) -> bool:
        return not self._pending.is_empty()

    def take_ready(self, now: float) -> ChangeSet | None:
        """The pending change set once events have been quiet for ``debounce_s``, or once
        ``max_delay_s`` has passed since the first of them (a file written constantly
        still gets indexed). None when nothing is ready."""
        if self._first_at is None:
            return None
        quiet = now - self._last_at >= self._debounce_s and not self._awaits_rename()
        overdue = now - self._first_at >= self._max_delay_s
        return self.take_all() if quiet or overdue else None

    def take_all(self) -> ChangeSet | None:
        """The pending change set now, ready or not (flush, shutdown)."""
        changes = self._pending
        self._pending = ChangeSet()
        self._first_at = None
        self._folder_moves = []
        return None if changes.is_empty() else changes

    def _awaits_rename(self) -> bool:
        # A fresh temp file is usually renamed onto the real one a moment later; watchdog
        # holds renames back for half a second to pair them. Waiting (up to max_delay_s)
        # keeps the temp file out of the change sets altogether.
        return any(looks_like_save_temp(path) for path in self._pending.created)

    def _is_inside_folder_move(self, src: Path, dest: Path) -> bool:
        return any(
            _inside(old)(src) and dest == new / src.relative_to(old)
            for old, new in self._folder_moves
        )
