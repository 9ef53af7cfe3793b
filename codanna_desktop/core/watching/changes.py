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


def is_save_temp_of(temp: Path, real: Path) -> bool:
    """True if ``temp`` is the name an editor gives a temporary or backup copy of ``real``."""
    if temp.parent != real.parent:
        return False
    name, real_name = temp.name, real.name
    if name == ".#" + real_name or name.startswith(real_name + ".tmp"):
        return True
    return any(name in (real_name + suffix, "." + real_name + suffix) for suffix in _TEMP_SUFFIXES)


def looks_like_save_temp(path: Path) -> bool:
    """True if ``path`` is named like an editor's temporary or backup file."""
    return path.name.startswith(".#") or path.name.endswith(_TEMP_SUFFIXES)


def _inside(folder: Path) -> Callable[[Path], bool]:
    """A test for "strictly inside ``folder``". A string prefix, not Path.is_relative_to:
    it runs over every pending entry each time a folder is deleted or moved."""
    prefix = str(folder) if str(folder).endswith(os.sep) else str(folder) + os.sep
    return lambda path: str(path).startswith(prefix)


def _is_below(path: Path, folder: Path) -> bool:
    return _inside(folder)(path)


@dataclass
class ChangeSet:
    """What changed on disk since the last change set, already coalesced."""

    created: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    deleted: set[Path] = field(default_factory=set)
    moved: dict[Path, Path] = field(default_factory=dict)  # old -> new, files or folders

    def is_empty(self) -> bool:
        return not (self.created or self.modified or self.deleted or self.moved)

    def paths(self) -> set[Path]:
        """Every path touched, old and new sides of moves included."""
        return (
            self.created | self.modified | self.deleted | set(self.moved) | set(self.moved.values())
        )

    def merge(self, other: ChangeSet) -> None:
        """Fold ``other`` into this set as if its changes happened after ours."""
        # Replayed in the order a change set is applied; sorted so a folder comes before
        # the files in it.
        for src, dest in list(other.moved.items()):
            self._record_moved(src, dest)
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
        source = self._source_of(path)
        if source is not None:
            # Moved here and now deleted: the file that was at the source is gone.
            del self.moved[source]
            self._lose(source)
            if is_save_temp_of(path, source):  # Vim: f -> f~, write f, delete f~
                return
        self.deleted.add(path)

    def _record_moved(self, src: Path, dest: Path, is_dir: bool | None = None) -> None:
        if src == dest or (self.moved.get(src) == dest and src not in self.created):
            return  # the same move reported twice (nested roots)
        if self._is_gone(src):
            self._record_created(dest)
            return
        dest_was_created, dest_was_deleted = dest in self.created, dest in self.deleted
        self._clear_for_overwrite(dest)
        if is_dir is not False:
            self._rebase_below(src, dest)
        save_by_rename = is_save_temp_of(src, dest)
        if src in self.created:  # a file new in this set just changes its name
            self.created.discard(src)
            if dest_was_created:
                self.created.add(dest)
            elif save_by_rename or dest_was_deleted:
                self.modified.add(dest)
            else:
                self.created.add(dest)
            return
        origin = self._source_of(src) or src  # a -> b then b -> c is a -> c
        carries_change = src in self.modified
        self.modified.discard(src)
        if save_by_rename:
            # A temp file from an earlier change set replaces the real one.
            self.moved.pop(origin, None)
            self._lose(origin)
            (self.created if dest_was_created else self.modified).add(dest)
        elif origin == dest:  # moved back where it came from
            del self.moved[origin]
            if carries_change:
                self.modified.add(dest)
        else:
            self.moved[origin] = dest
            if carries_change:
                self.modified.add(dest)

    def _is_gone(self, path: Path) -> bool:
        """True if a folder above ``path`` was deleted or moved away (and not re-created):
        the event is stale, the folder's entry already covers it."""
        for parent in path.parents:
            if parent in self.deleted:
                return True
            if parent in self.moved and parent not in self.created and parent not in self.modified:
                return True
        return False

    def _source_of(self, dest: Path) -> Path | None:
        return next((src for src, new in self.moved.items() if new == dest), None)

    def _lose(self, origin: Path) -> None:
        """The file that was at ``origin`` when this set began exists nowhere any more."""
        if origin in self.created:  # re-created after it was moved away: changed in place
            self.created.discard(origin)
            self.modified.add(origin)
        elif origin not in self.modified:
            self.deleted.add(origin)

    def _clear_for_overwrite(self, dest: Path) -> None:
        """A move lands on ``dest``: whatever was pending for it is replaced."""
        self.created.discard(dest)
        self.modified.discard(dest)
        self.deleted.discard(dest)
        source = self._source_of(dest)
        if source is not None:
            del self.moved[source]
            self._lose(source)

    def _collapse_into_deleted(self, folder: Path) -> None:
        inside = _inside(folder)
        for src, dest in list(self.moved.items()):
            if inside(dest):
                del self.moved[src]
                if not inside(src):
                    self._lose(src)
            elif inside(src):
                del self.moved[src]
                self.created.add(dest)
        for entries in (self.created, self.modified, self.deleted):
            entries.difference_update([path for path in entries if inside(path)])

    def _rebase_below(self, src: Path, dest: Path) -> None:
        """A folder moved: pending entries below it now live below its new path."""
        inside = _inside(src)
        for entries in (self.created, self.modified, self.deleted):
            below = [path for path in entries if inside(path)]
            entries.difference_update(below)
            entries.update(dest / path.relative_to(src) for path in below)
        for old, new in list(self.moved.items()):
            if inside(new):
                self.moved[old] = dest / new.relative_to(src)


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
            _is_below(src, old) and dest == new / src.relative_to(old)
            for old, new in self._folder_moves
        )
