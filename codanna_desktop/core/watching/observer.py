"""A watchdog observer that does not watch left-out folders (``node_modules``, ``.git``,
folders a ``.gitignore`` names...).

watchdog's inotify observer puts one watch on every folder below a root, left out or not.
A JavaScript project's ``node_modules`` alone can hold tens of thousands of folders, and
every watch counts against the system's limit (``fs.inotify.max_user_watches``, 8,192 on
older kernels), while nothing inside those folders is ever indexed; a build writing into an
ignored folder can also flood the kernel's event queue. This observer prunes the folders a
predicate names from watchdog's walk, also when such a folder appears later.

It extends watchdog's inotify classes (watchdog 7), which are not a public API: where they
are missing (another platform, another watchdog), `make_observer` falls back to watchdog's
own observer, which watches everything and loses nothing but watches.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import TYPE_CHECKING

from watchdog.observers import Observer

if TYPE_CHECKING:
    from collections.abc import Callable

    from watchdog.observers.api import BaseObserver

log = logging.getLogger(__name__)

try:
    from watchdog.observers.inotify import InotifyEmitter, InotifyObserver, InotifyWatchGroup
except ImportError:  # not Linux
    InotifyObserver = None  # type: ignore[assignment,misc]


def make_observer(leaves_unwatched: Callable[[str], bool]) -> BaseObserver:
    """An observer that puts no watch on a folder below a root for which
    `leaves_unwatched(path)` is true, nor below it (inotify); watchdog's default observer
    where that cannot be done. The predicate runs on the observer's thread and must not
    raise."""
    if InotifyObserver is None or not _internals_as_expected():
        return Observer()
    return _pruning_observer(leaves_unwatched)


def _internals_as_expected() -> bool:
    try:
        fields = {f.name for f in dataclasses.fields(InotifyWatchGroup)}
    except TypeError:  # no longer a dataclass
        fields = set()
    ok = (
        {"_inotify_fd", "path", "event_mask", "is_recursive", "follow_symlink"} <= fields
        and hasattr(InotifyWatchGroup, "_add_all_callbacks")
        and hasattr(InotifyWatchGroup, "_add_callback")
        and hasattr(InotifyEmitter, "get_event_mask_from_filter")
    )
    if not ok:
        log.info("watchdog's inotify internals differ; left-out folders are watched too")
    return ok


def _pruning_observer(leaves_unwatched: Callable[[str], bool]) -> BaseObserver:
    def pruned(path: bytes) -> bool:
        return leaves_unwatched(os.fsdecode(path))

    class PruningWatchGroup(InotifyWatchGroup):
        def _add_all_callbacks(self, path: bytes) -> None:
            # watchdog calls this for the root, for each new or moved-in folder, and after
            # an overflow; a left-out folder and everything below it get no watch.
            if path != self.path and pruned(path):
                return
            self._add_callback(path)
            if not (self.is_recursive and os.path.isdir(path)):
                return
            for parent, dirnames, _ in os.walk(path, followlinks=self.follow_symlink):
                kept = []
                for name in dirnames:
                    full = os.path.join(parent, name)
                    if (not self.follow_symlink and os.path.islink(full)) or pruned(full):
                        continue
                    kept.append(name)
                    self._add_callback(full)
                dirnames[:] = kept  # os.walk descends only into these

    class PruningEmitter(InotifyEmitter):
        def on_thread_start(self) -> None:
            self._inotify = PruningWatchGroup(
                self._inotify_fd,
                os.fsencode(self.watch.path),
                is_recursive=self.watch.is_recursive,
                event_mask=self.get_event_mask_from_filter(),
                follow_symlink=self.watch.follow_symlink,
            )

    class PruningObserver(InotifyObserver):
        def __init__(self) -> None:
            super().__init__()
            self._emitter_class = PruningEmitter

    return PruningObserver()
