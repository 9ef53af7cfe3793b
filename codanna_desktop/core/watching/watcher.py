"""Watch root folders and hand their changes on as debounced change sets.

FolderWatcher feeds the events of a watchdog Observer (inotify on Linux) into a
ChangeCollector (changes.py, where the coalescing rules live) and hands ready sets to a
callback from its own small thread. Which paths count, and which folders get no watch at
all, it asks the rules of the folder that owns the path (WatchRules, rules.py).
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
from dataclasses import dataclass
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
from codanna_desktop.core.watching.changes import ChangeCollector, ChangeSet
from codanna_desktop.core.watching.observer import make_observer

if TYPE_CHECKING:
    from collections.abc import Callable

    from codanna_desktop.core.watching.rules import WatchRules

logger = logging.getLogger(__name__)

# How often the delivery thread wakes up while changes wait for their debounce, and how
# often it checks that each root is still the folder it started watching (inotify says
# nothing when a root is moved away). With nothing waiting it sleeps until the next check
# or the next event: an idle app in the tray does not wake twenty times a second.
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
    ``stop``; one change set is delivered at a time, in order. ``rules`` answers, for the
    root that owns a path (the innermost), whether the path counts; it is asked on the
    observer thread for each event's path.
    """

    def __init__(
        self,
        on_changes: Callable[[ChangeSet], None],
        rules: WatchRules,
        *,
        debounce_s: float = 0.3,
        max_delay_s: float = 2.0,
        on_error: Callable[[Path, Exception], None] | None = None,
        on_events_lost: Callable[[], None] | None = None,
    ) -> None:
        self._on_changes = on_changes
        # Folders the rules leave out get no watch at all (see observer.py): what is inside
        # them is ignored anyway. Names left out everywhere are looked at first, without
        # finding the owning root: the walk meets every folder of the tree.
        self._rules = rules
        self._skipped_names = frozenset(rules.excluded_dirs)
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
        self._wake = threading.Event()  # something for the delivery thread: an event, a stop
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
            self._skipped_names = frozenset(self._rules.excluded_dirs)
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
        self._wake.set()
        if ticker is not None and ticker is not threading.current_thread():
            ticker.join()
        self.flush()

    def rewatch(self, root: Path | None = None) -> None:
        """Watch ``root`` (None: every root) anew after the rules saying which folders are
        left out changed (new skipped names, ignore patterns or ignore files): folders they
        now let in get watches, folders they leave out lose theirs. Events in the moment
        between are lost, so the owner compares the root with the disk afterwards."""
        self._skipped_names = frozenset(self._rules.excluded_dirs)
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
            # A file "modified", not "created": it may have replaced one that was there (a
            # folder can replace only an empty folder, which had nothing indexed).
            self._add("created" if is_dir else "modified", dest, None, is_dir)

    def _add(self, kind: str, path: Path, dest: Path | None, is_dir: bool) -> None:
        with self._lock:
            idle = not self._collector.has_pending()
            self._collector.add(kind, path, dest, is_dir=is_dir, now=time.monotonic())
        if idle:  # once changes wait, the delivery thread ticks until they are delivered
            self._wake.set()

    def _is_watched(self, path: Path, is_dir: bool) -> bool:
        """Inside a root, and neither the path nor a folder above it (below the root) is
        ignored by that root's rules."""
        root = self._root_for(path)
        if root is None:
            return False
        try:
            return not self._rules.rules_for(root).is_ignored(path, is_dir)
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
        self._wake.set()

    # The delivery thread

    def _run_ticker(self) -> None:
        next_root_check = time.monotonic() + _ROOT_CHECK_S
        while not self._stopping.is_set():
            with self._lock:
                waiting = self._collector.has_pending() or self._lost or self._events_lost
            # Cleared before the work below reads what it is for: an event recorded after
            # that read sets it again, and the next wait returns at once.
            self._wake.wait(_TICK_S if waiting else next_root_check - time.monotonic())
            self._wake.clear()
            if self._stopping.is_set():
                break
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
        self._wake.set()

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
        # Their changes are delivered too, so the owner can read the root's rules anew.
        try:
            rules = self._rules.rules_for(entry.path)
            entry.rule_folders = tuple(rules.folders_with_rules_outside())
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
        if os.path.basename(folder) in self._skipped_names:
            return True
        path = Path(folder)
        root = self._root_for(path)
        if root is None:  # its root was removed meanwhile
            return True
        try:
            return self._rules.rules_for(root).is_ignored(path, True)
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
