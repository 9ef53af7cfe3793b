"""One writer per data directory, across processes.

A CLI ``index`` while the desktop app indexes must not interleave writes. The lock is an
OS file lock (released by the OS if the holder dies); beside it a small JSON file says
who holds it, so the second process can tell the person which process to wait for.
Readers (search, status) never take it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from codanna_desktop.core.errors import IndexLockedError, user_error

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__name__)


class WriterLock:
    def __init__(self, data_dir: Path) -> None:
        self._lock_path = data_dir / "writer.lock"
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise user_error(exc, data_dir) from exc
        self._lock = FileLock(str(self._lock_path))
        self._holder_file = data_dir / "writer.holder.json"

    def acquire(self, wait: float = 0.0) -> None:
        """Take the lock, waiting up to `wait` seconds (-1: forever)."""
        try:
            self._lock.acquire(timeout=wait)
        except Timeout:
            raise IndexLockedError(self._busy_message()) from None
        except OSError as exc:
            raise user_error(exc, self._lock_path) from exc
        self._write_holder()

    def _write_holder(self) -> None:
        # Only for the message a second writer shows. It must not stop this one: on a
        # full disk `remove` needs the lock to free space, and the note needs a block.
        holder = {"pid": os.getpid(), "command": " ".join(sys.argv[:3]), "since": time.time()}
        tmp = self._holder_file.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(holder), encoding="utf-8")
            os.replace(tmp, self._holder_file)
        except OSError as exc:
            log.info("who holds the writer lock is not recorded: %s", exc)
            tmp.unlink(missing_ok=True)
            self._holder_file.unlink(missing_ok=True)  # a stale note would name another

    def release(self) -> None:
        if self._lock.is_locked:
            self._holder_file.unlink(missing_ok=True)
            self._lock.release(force=True)

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def _busy_message(self) -> str:
        try:
            holder = json.loads(self._holder_file.read_text(encoding="utf-8"))
            since = time.strftime("%H:%M:%S", time.localtime(holder["since"]))
            who = f"process {holder['pid']} ({holder['command']}, since {since})"
        except (OSError, ValueError, KeyError):
            who = "another Codanna Desktop process"
        return (
            f"The index is being written by {who}. Searches still work; wait for it to "
            "finish (or use --wait), or stop that process."
        )
