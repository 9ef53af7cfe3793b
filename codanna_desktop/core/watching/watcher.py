"""Watch root folders and turn file-system events into debounced change sets.

watchdog (inotify on Linux) reports every step of a save: open, modify, close, the
folder's own change, and the temp-file dance editors do to save safely. ChangeCollector
folds that stream into one ChangeSet per burst of activity; FolderWatcher feeds it from a
watchdog Observer and hands ready sets to a callback from its own small thread.

How a ChangeSet is applied (the indexer's side of the contract): moves first, in order (a
move onto an existing path replaces it), then deletions, then created and modified paths.
A folder in any of the sets stands for its whole subtree: reconcile that subtree with the
disk.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver, EventDispatcher, ObservedWatch

from codanna_desktop.core.errors import CodannaError, RootNotFoundError
from codanna_desktop.core.files.ignore import IgnoreRules
from codanna_desktop.core.files.roots import owning_root_path
from codanna_desktop.core.watching.observer import make_observer

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Sequence

logger = logging.getLogger(__name__)

# How often the delivery thread wakes up, and how often it checks that each root is still
# the folder it started watching (inotify says nothing when a root is moved away).
_TICK_S = 0.05
_ROOT_CHECK_S = 1.0

# Event kinds that can change what a file holds. "closed" is close-after-write;
# "opened", "closed_no_write" and "attrib" (touch, chmod) never change content.
_CONTENT_KINDS = frozenset({"created", "modified", "deleted", "moved", "closed"})

# The only events asked of the kernel (watchdog turns this list into the inotify mask).
# Without it inotify also queues an open and a close-without-write for every file the
# indexer itself reads: indexing the standard library with the watcher on overflowed the
# kernel's queue (16,384 events by default), and edits made meanwhile were lost.
_SUBSCRIBED = [
    FileCreatedEvent,
    DirCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileDeletedEvent,
    DirDeletedEvent,
    FileMovedEvent,
    DirMovedEvent,
]

# watchdog has no public hook for a kernel queue overflow (events dropped); it logs it
# under this logger with this message. FolderWatcher listens there while it runs.
_OVERFLOW_LOGGER = "watchdog.observers.inotify_c"
_OVERFLOW_MESSAGE = "Inotify queue overflowed"
_WATCH_LIMIT_FILE = Path("/proc/sys/fs/inotify/max_user_watches")

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


@dataclass
class _Root:
    path: Path
    identity: tuple[int, int]  # (st_dev, st_ino): a root replaced by another folder differs
    watch: ObservedWatch | None = None
    # Folders outside the watched tree whose ignore files apply to the root (above it in
    # its repository, .git/info): one watch each, not recursive, shared between roots.
    rule_folders: tuple[Path, ...] = ()


class _OverflowListener(logging.Handler):
    """Hears watchdog's warning that the kernel's event queue overflowed."""

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self._on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith(_OVERFLOW_MESSAGE):
            self._on_overflow()


class _EventForwarder(FileSystemEventHandler):
    def __init__(self, receive: Callable[[FileSystemEvent], None]) -> None:
        self._receive = receive

    def on_any_event(self, event: FileSystemEvent) -> None:
        self._receive(event)


class FolderWatcher:
    """Watches root folders recursively and calls ``on_changes`` with debounced change sets.

    watchdog's observer thread feeds events into a ChangeCollector under a lock; a small
    daemon thread delivers ready change sets and notices roots that went away.
    ``on_changes`` and ``on_error`` run on that thread, or on the caller's in ``flush`` and
    ``stop``; one change set is delivered at a time, in order. ``is_ignored(path, is_dir)``
    runs on the observer thread for each event's path and the folders above it.
    """

    def __init__(
        self,
        on_changes: Callable[[ChangeSet], None],
        is_ignored: Callable[[Path, bool], bool],
        *,
        debounce_s: float = 0.3,
        max_delay_s: float = 2.0,
        on_error: Callable[[Path, Exception], None] | None = None,
        on_events_lost: Callable[[], None] | None = None,
        skipped_folder_names: Collection[str] = (),
        rule_folders: Callable[[Path], Sequence[Path]] | None = None,
    ) -> None:
        self._on_changes = on_changes
        # root -> the folders outside its tree whose ignore files apply to it; their
        # changes are delivered too, so the owner can read the rules anew.
        self._rule_folders_of = rule_folders
        # Folders by these names, and folders ``is_ignored`` leaves out, get no watch at
        # all (see watch_observer.py): what is inside them is ignored anyway.
        self.skipped_folder_names = frozenset(skipped_folder_names)
        self._is_ignored = is_ignored
        self._on_error = on_error
        # Called (from the delivery thread) when the kernel dropped events: the owner
        # must compare the roots with the disk, since some changes went unreported.
        self._on_events_lost = on_events_lost
        self._events_lost = False
        self._overflow_listener = _OverflowListener(self._note_events_lost)
        self._collector = ChangeCollector(debounce_s, max_delay_s)
        # _lock guards the collector, _lost and _events_lost and is held only briefly. The
        # observer thread takes it while holding the observer's own lock, so nothing may
        # call the observer while holding it; _roots_lock serialises root bookkeeping and
        # observer calls.
        self._lock = threading.Lock()
        self._roots_lock = threading.RLock()
        self._delivery_lock = threading.RLock()
        self._roots: dict[Path, _Root] = {}
        self._root_paths: tuple[Path, ...] = ()  # replaced whole; read without a lock
        self._rule_folders: frozenset[Path] = frozenset()  # the same
        self._rule_watches: dict[Path, ObservedWatch] = {}
        self._lost: set[Path] = set()
        self._observer: BaseObserver | None = None
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()
        self._handler = _EventForwarder(self._on_event)

    # Roots

    def add_root(self, root: Path) -> None:
        """Watch ``root`` and everything below it. A missing root is reported to
        ``on_error`` and not added."""
        path = Path(root).expanduser().resolve()
        error: CodannaError | None = None
        with self._roots_lock:
            if path in self._roots:
                return
            identity = _folder_identity(path)
            if identity is None:
                error = RootNotFoundError(
                    f"Cannot watch {path}: it does not exist or is not a folder."
                )
            else:
                entry = _Root(path, identity)
                self._roots[path] = entry
                self._root_paths = tuple(self._roots)
                if self._observer is not None:
                    error = self._schedule(self._observer, entry)
        if error is not None:
            self._report(path, error)

    def remove_root(self, root: Path) -> None:
        """Stop watching ``root``; a root that is not watched is ignored."""
        path = Path(root).expanduser().resolve()
        with self._roots_lock:
            entry = self._roots.get(path)
            if entry is not None:
                self._forget(entry)
        with self._lock:
            self._lost.discard(path)

    def roots(self) -> list[Path]:
        return list(self._root_paths)

    # Lifecycle

    def start(self) -> None:
        """Start watching every root added so far (and any added later). Starting a
        running watcher does nothing; a stopped one can be started again."""
        errors: list[tuple[Path, CodannaError]] = []
        with self._roots_lock:
            if self._observer is not None:
                return
            observer = make_observer(self._leaves_unwatched)
            logging.getLogger(_OVERFLOW_LOGGER).addHandler(self._overflow_listener)
            observer.start()
            self._observer = observer
            for entry in list(self._roots.values()):
                error = self._schedule(observer, entry)
                if error is not None:
                    errors.append((entry.path, error))
            self._stopping.clear()
            self._ticker = threading.Thread(
                target=self._run_ticker, name="codanna-watcher", daemon=True
            )
            self._ticker.start()
        for path, error in errors:
            self._report(path, error)

    def stop(self) -> None:
        """Stop watching, join the threads, then deliver whatever is still pending.
        Safe to call twice, and from ``on_changes``."""
        with self._roots_lock:
            observer, self._observer = self._observer, None
            ticker, self._ticker = self._ticker, None
            for entry in self._roots.values():
                entry.watch = None
            self._rule_watches.clear()
        if observer is not None:
            observer.stop()
            observer.join()
            self._drain(observer)
            logging.getLogger(_OVERFLOW_LOGGER).removeHandler(self._overflow_listener)
        self._stopping.set()
        if ticker is not None and ticker is not threading.current_thread():
            ticker.join()
        self.flush()

    def rewatch(
        self, root: Path | None = None, *, skipped_folder_names: Collection[str] | None = None
    ) -> None:
        """Watch ``root`` (None: every root) anew after the rules saying which folders are
        left out changed (new skipped names, ignore patterns or ignore files): folders they
        now let in get watches, folders they leave out lose theirs. Events in the moment
        between are lost, so the owner compares the root with the disk afterwards."""
        if skipped_folder_names is not None:
            self.skipped_folder_names = frozenset(skipped_folder_names)
        errors: list[tuple[Path, CodannaError]] = []
        with self._roots_lock:
            observer = self._observer
            if observer is None:
                return
            for entry in list(self._roots.values()):
                if root is not None and entry.path != root:
                    continue
                if entry.watch is not None:
                    with contextlib.suppress(KeyError):
                        observer.unschedule(entry.watch)
                    entry.watch = None
                error = self._schedule(observer, entry)
                if error is not None:
                    errors.append((entry.path, error))
        for path, error in errors:
            self._report(path, error)

    def flush(self) -> None:
        """Deliver the pending changes now, quiet or not."""
        with self._delivery_lock:
            with self._lock:
                changes = self._collector.take_all()
            if changes is not None:
                self._deliver(changes)

    def has_pending(self) -> bool:
        """True while changes wait for their debounce."""
        with self._lock:
            return self._collector.has_pending()

    # The observer thread

    def _on_event(self, event: FileSystemEvent) -> None:
        try:
            self._feed(event)
        except Exception:  # never let one odd event kill watchdog's dispatcher
            logger.exception("Could not handle file event %r", event)

    def _feed(self, event: FileSystemEvent) -> None:
        kind, is_dir = event.event_type, event.is_directory
        if kind not in _CONTENT_KINDS or (kind == "modified" and is_dir):
            return
        src = Path(os.fsdecode(event.src_path))
        if kind == "deleted" and is_dir and src in self._root_paths:
            self._root_gone(src)
            return
        if kind != "moved":
            if self._is_watched(src, is_dir) or self._is_outside_rule_file(src, is_dir):
                self._add(kind, src, None, is_dir)
            return
        dest = Path(os.fsdecode(event.dest_path))
        src_watched = self._is_watched(src, is_dir) or self._is_outside_rule_file(src, is_dir)
        dest_watched = self._is_watched(dest, is_dir) or self._is_outside_rule_file(dest, is_dir)
        if src_watched and dest_watched:
            self._add("moved", src, dest, is_dir)
        elif src_watched:  # moved out of the roots, or onto an ignored name
            self._add("deleted", src, None, is_dir)
        elif dest_watched:  # moved in, or an ignored temp file renamed onto the real one
            saved = not is_dir and is_save_temp_of(src, dest)
            self._add("modified" if saved else "created", dest, None, is_dir)

    def _add(self, kind: str, path: Path, dest: Path | None, is_dir: bool) -> None:
        with self._lock:
            self._collector.add(kind, path, dest, is_dir=is_dir, now=time.monotonic())

    def _is_watched(self, path: Path, is_dir: bool) -> bool:
        """Inside a root, and neither the path nor a folder above it (below the root) is
        ignored."""
        root = self._root_for(path)
        if root is None:
            return False
        try:
            if path != root and self._is_ignored(path, is_dir):
                return False
            for parent in path.parents:
                if parent == root:
                    break
                if self._is_ignored(parent, True):
                    return False
        except Exception:
            logger.exception("is_ignored failed for %s; treating it as not ignored", path)
        return True

    def _is_outside_rule_file(self, path: Path, is_dir: bool) -> bool:
        """An ignore file of a root that lies outside the root's watched tree."""
        return not is_dir and path.parent in self._rule_folders and IgnoreRules.is_ignore_file(path)

    def _root_for(self, path: Path) -> Path | None:
        """The deepest watched root holding ``path``."""
        return owning_root_path(path, self._root_paths)

    def _root_gone(self, root: Path) -> None:
        with self._lock:
            if root in self._lost:
                return
            self._lost.add(root)
            self._collector.add("deleted", root, is_dir=True, now=time.monotonic())

    # The delivery thread

    def _run_ticker(self) -> None:
        next_root_check = time.monotonic() + _ROOT_CHECK_S
        while not self._stopping.wait(_TICK_S):
            try:
                if time.monotonic() >= next_root_check:
                    self._check_roots()
                    next_root_check = time.monotonic() + _ROOT_CHECK_S
                self._release_lost_roots()
                self._report_lost_events()
                with self._delivery_lock:
                    with self._lock:
                        changes = self._collector.take_ready(time.monotonic())
                    if changes is not None:
                        self._deliver(changes)
            except Exception:
                logger.exception("File watcher tick failed")

    def _check_roots(self) -> None:
        # inotify reports a deleted root but not a root moved away or replaced.
        for path in self._root_paths:
            entry = self._roots.get(path)
            if entry is not None and _folder_identity(path) != entry.identity:
                self._root_gone(path)

    def _release_lost_roots(self) -> None:
        with self._lock:
            lost, self._lost = self._lost, set()
        for path in sorted(lost):
            with self._roots_lock:
                entry = self._roots.get(path)
                if entry is None:
                    continue
                self._forget(entry)
            self._report(
                path,
                RootNotFoundError(
                    f"The folder {path} was deleted or moved away and is no longer watched. "
                    "Add it again once it is back."
                ),
            )

    def _note_events_lost(self) -> None:
        with self._lock:
            self._events_lost = True

    def _report_lost_events(self) -> None:
        with self._lock:
            lost, self._events_lost = self._events_lost, False
        if not lost:
            return
        if self._on_events_lost is None:
            logger.warning("File events were lost; the index may miss some changes")
            return
        try:
            self._on_events_lost()
        except Exception:
            logger.exception("on_events_lost failed")

    def _deliver(self, changes: ChangeSet) -> None:
        try:
            self._on_changes(changes)
        except Exception as exc:
            logger.exception("Handling file changes failed")
            first = min(changes.paths())
            self._report(self._root_for(first) or first, exc)

    def _report(self, path: Path, error: Exception) -> None:
        if self._on_error is None:
            logger.warning("%s", error)
            return
        try:
            self._on_error(path, error)
        except Exception:
            logger.exception("on_error failed for %s", path)

    # Observer bookkeeping (always under _roots_lock, never under _lock)

    def _schedule(self, observer: BaseObserver, entry: _Root) -> CodannaError | None:
        """Watch the root; an error if it cannot be, or if some folders below it cannot
        (the root stays watched then, and the person is told why)."""
        before = _inotify_watch_count()
        try:
            entry.watch = observer.schedule(
                self._handler, str(entry.path), recursive=True, event_filter=_SUBSCRIBED
            )
        except OSError as exc:
            self._forget(entry)
            return _watch_error(entry.path, exc)
        after = _inotify_watch_count()
        self._watch_rule_folders(observer, entry)
        if before is None or after is None:
            return None
        return _unwatched_folders_error(entry.path, after - before, self._leaves_unwatched)

    def _watch_rule_folders(self, observer: BaseObserver, entry: _Root) -> None:
        if self._rule_folders_of is None:
            return
        try:
            entry.rule_folders = tuple(self._rule_folders_of(entry.path))
        except Exception:  # the root's own tree is watched all the same
            logger.exception("Could not find the ignore files above %s", entry.path)
            entry.rule_folders = ()
        self._sync_rule_watches(observer)

    def _sync_rule_watches(self, observer: BaseObserver | None) -> None:
        """One watch per folder some root's rules need (roots in one checkout share them)."""
        wanted = {f for e in self._roots.values() for f in e.rule_folders}
        self._rule_folders = frozenset(wanted)
        if observer is None:
            return
        for folder in set(self._rule_watches) - wanted:
            with contextlib.suppress(KeyError):
                observer.unschedule(self._rule_watches.pop(folder))
        for folder in wanted - set(self._rule_watches):
            try:
                self._rule_watches[folder] = observer.schedule(
                    self._handler, str(folder), recursive=False, event_filter=_SUBSCRIBED
                )
            except OSError as exc:  # rules there count again after a rescan or a restart
                logger.warning("Cannot watch the ignore files in %s: %s", folder, exc)

    def _leaves_unwatched(self, folder: str) -> bool:
        """A folder below a root that gets no watch: a skipped name, or ignored by the rules
        (a folder the person's ``.gitignore`` names). Runs on the observer's thread."""
        if os.path.basename(folder) in self.skipped_folder_names:
            return True
        try:
            return self._is_ignored(Path(folder), True)
        except Exception:  # a watch too many costs less than changes missed
            logger.exception("is_ignored failed for %s; watching it", folder)
            return False

    def _forget(self, entry: _Root) -> None:
        self._roots.pop(entry.path, None)
        self._root_paths = tuple(self._roots)
        if self._observer is not None and entry.watch is not None:
            with contextlib.suppress(KeyError):  # already gone with the observer
                self._observer.unschedule(entry.watch)
        entry.watch = None
        self._sync_rule_watches(self._observer)

    def _drain(self, observer: BaseObserver) -> None:
        """Hand over the events the stopped observer had queued but not dispatched."""
        while True:
            try:
                entry = observer.event_queue.get_nowait()
            except queue.Empty:
                return
            if entry is not EventDispatcher.stop_event:
                event, _watch = entry
                self._on_event(event)


def _folder_identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISDIR(info.st_mode) else None


def _inotify_watch_count() -> int | None:
    """The inotify watches this process holds (Linux); None where there is no inotify."""
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.is_dir():
        return None
    count = 0
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(fd_dir / fd) != "anon_inode:inotify":
                continue
            with open(f"/proc/self/fdinfo/{fd}", encoding="ascii", errors="replace") as info:
                count += sum(1 for line in info if line.startswith("inotify wd:"))
        except OSError:  # an fd closed meanwhile
            continue
    return count


def _folder_count(root: Path, leaves_unwatched: Callable[[str], bool]) -> int:
    """The root and the folders below it that can be watched, as the observer walks them
    (links not followed, left-out folders not counted; a folder this user cannot read
    cannot be watched either)."""
    count = 0
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                stack.extend(
                    e.path
                    for e in entries
                    if e.is_dir(follow_symlinks=False) and not leaves_unwatched(e.path)
                )
        except OSError:
            continue
        count += 1
    return count


def _unwatched_folders_error(
    root: Path, watches_added: int, leaves_unwatched: Callable[[str], bool]
) -> CodannaError | None:
    """watchdog skips, without a word, the folders it cannot watch (the usual cause: the
    system's limit on inotify watches). Compare what it added with what there is."""
    folders = _folder_count(root, leaves_unwatched)
    missing = folders - watches_added
    if missing <= max(5, folders // 100):  # folders made or removed meanwhile
        return None
    limit = ""
    with contextlib.suppress(OSError, ValueError):
        limit = f" (fs.inotify.max_user_watches = {int(_WATCH_LIMIT_FILE.read_text()):,})"
    return CodannaError(
        f"Only {watches_added:,} of the {folders:,} folders in {root} can be watched: the "
        f"system limit on watched folders is reached{limit}. Changes in the others are "
        "found only when the folder is rescanned. Raise the limit, for example: "
        "sudo sysctl fs.inotify.max_user_watches=524288"
    )


def _missing_root_error(path: Path) -> RootNotFoundError:
    return RootNotFoundError(f"Cannot watch {path}: it does not exist or is not a folder.")


def _watch_error(path: Path, exc: OSError) -> CodannaError:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return _missing_root_error(path)
    if exc.errno in (errno.ENOSPC, errno.EMFILE):
        return CodannaError(
            f"Cannot watch {path}: the system limit on watched folders is reached. "
            "Raise fs.inotify.max_user_watches (Linux) or exclude large folders."
        )
    if exc.errno == errno.EACCES:
        return CodannaError(f"Cannot watch {path}: permission denied.")
    return CodannaError(f"Cannot watch {path}: {exc.strerror or exc}.")
