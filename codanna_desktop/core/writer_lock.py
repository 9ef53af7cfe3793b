"""One writer per data directory, across processes.

A CLI ``index`` while the desktop app indexes must not interleave writes. The lock is an
OS file lock (released by the OS if the holder dies); beside it a small JSON file says
who holds it, so the second process can tell the person which process to wait for.
Readers (search, status) never take it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from filelock import FileLock, Timeout

from codanna_desktop.core.errors import IndexLockedError


class WriterLock:
    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(data_dir / "writer.lock"))
        self._holder_file = data_dir / "writer.holder.json"

    def acquire(self, wait: float = 0.0) -> None:
        """Take the lock, waiting up to `wait` seconds (-1: forever)."""
        try:
            self._lock.acquire(timeout=wait)
        except Timeout:
            raise IndexLockedError(self._busy_message()) from None
        holder = {"pid": os.getpid(), "command": " ".join(sys.argv[:3]), "since": time.time()}
        tmp = self._holder_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(holder), encoding="utf-8")
        os.replace(tmp, self._holder_file)

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
