"""Exact search in a process of its own, kept warm, for the window.

A search of 300,000 lines is Python work between RE2's calls; on a thread of the window's
process it shares Python's lock with the window's thread, and on a loaded machine the
lock's holder waits for a core while the window waits for the lock (stalls of several
hundred milliseconds were measured so). In its own process the search never holds the
window's lock: the window only unpickles its results, in chunks small enough for one
tick of a timer (a few milliseconds each; the lines are arrays, not objects, see
MatchedLines).

The process is spawned once (not forked: the window's process has Qt and threads) and
reads the index read-only, beside the writer in the window's process, as the command
line does. Any message sent while it searches supersedes the search in flight: a new
query cancels the old one. It ends when asked, or when its pipe closes (the window's
process is gone).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from codanna_desktop.core.errors import CodannaError
from codanna_desktop.core.exact.matcher import compiled
from codanna_desktop.core.exact.pattern import PatternError
from codanna_desktop.core.exact.search import ExactRequest, ExactResult, ExactSearcher, FileMatches

if TYPE_CHECKING:
    from collections.abc import Iterator
    from multiprocessing.connection import Connection

    from codanna_desktop.core.settings import AppPaths

log = logging.getLogger(__name__)

# Results go back in chunks of about this many lines (or this many files), each
# unpickled in a few milliseconds by the window.
CHUNK_LINES = 5_000
CHUNK_FILES = 200
# How often a running search looks for a newer message.
CHECK_EVERY_S = 0.01


@dataclass
class _Answer:
    """A search's answer as it arrives in the window's process."""

    request: ExactRequest
    files: list[FileMatches] = field(default_factory=list)


class SearchProcess:
    """The window's side: submit() a request with a ticket, then read() what came back
    (a few messages at a time, without waiting) until the ticket is finished."""

    def __init__(self, paths: AppPaths) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=serve, args=(child, paths), name="codanna-exact-search", daemon=True
        )
        self._process.start()
        child.close()
        self._answers: dict[int, _Answer] = {}

    def submit(self, ticket: int, request: ExactRequest) -> None:
        """Search `request`; any search in flight is dropped."""
        self._answers = {ticket: _Answer(request)}
        self._conn.send(("search", ticket, request))

    def cancel(self) -> None:
        self._answers = {}
        self._conn.send(("cancel",))

    def read(self, budget_s: float) -> Iterator[tuple[int, ExactResult | None, Exception | None]]:
        """(ticket, result, error) of each search finished in what arrived, reading for
        at most about `budget_s` seconds."""
        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            try:
                if not self._conn.poll():
                    return
                message = self._conn.recv()
            except (EOFError, OSError) as exc:
                for ticket in list(self._answers):
                    yield ticket, None, CodannaError(f"its process stopped ({exc})")
                self._answers = {}
                return
            kind, ticket = message[0], message[1]
            answer = self._answers.get(ticket)
            if answer is None:
                continue  # a search superseded since
            if kind == "files":
                answer.files += message[2]
            elif kind == "done":
                del self._answers[ticket]
                _, _, candidates, notes = message
                result = ExactResult(compiled(answer.request.options), answer.files, candidates)
                result.notes = notes
                yield ticket, result, None
            elif kind == "error":
                del self._answers[ticket]
                yield ticket, None, message[2]

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(("stop",))
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()


class _Superseded:
    """The cancel flag of a search in the process: set once a newer message waits."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.waiting: Any = None
        self._checked = 0.0

    def is_set(self) -> bool:
        if self.waiting is not None:
            return True
        now = time.monotonic()
        if now - self._checked < CHECK_EVERY_S:
            return False
        self._checked = now
        try:
            if self.conn.poll():
                self.waiting = self.conn.recv()
        except (EOFError, OSError):
            self.waiting = ("stop",)
        return self.waiting is not None


def serve(conn: Connection, paths: AppPaths) -> None:
    """The process's loop: one search at a time, answered in chunks."""
    searcher = ExactSearcher.open(paths)
    waiting: Any = None
    try:
        while True:
            try:
                message = waiting if waiting is not None else conn.recv()
            except (EOFError, OSError):
                return  # the window's process is gone
            waiting = None
            if message[0] == "stop":
                return
            if message[0] != "search":
                continue
            _, ticket, request = message
            cancel = _Superseded(conn)
            _answer(conn, searcher, ticket, request, cancel)
            waiting = cancel.waiting
    finally:
        searcher.close()


def _answer(
    conn: Connection,
    searcher: ExactSearcher,
    ticket: int,
    request: ExactRequest,
    cancel: _Superseded,
) -> None:
    try:
        result = searcher.search(request, cancel=cancel)
    except (PatternError, CodannaError) as exc:
        conn.send(("error", ticket, exc))
        return
    except Exception as exc:  # the window shows it; the process serves the next query
        log.exception("exact search failed")
        conn.send(("error", ticket, CodannaError(str(exc))))
        return
    if result.cancelled:
        return
    chunk: list[FileMatches] = []
    lines = 0
    for f in result.files:
        _ = f.match_count  # counted here, not by the window
        if cancel.is_set():
            return
        chunk.append(f)
        lines += len(f.lines)
        if lines >= CHUNK_LINES or len(chunk) >= CHUNK_FILES:
            conn.send(("files", ticket, chunk))
            chunk, lines = [], 0
    if chunk:
        conn.send(("files", ticket, chunk))
    conn.send(("done", ticket, result.candidates, result.notes))
