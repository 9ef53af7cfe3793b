"""Reading and chunking files for the indexer, off its writer thread.

tree-sitter's parser and the chunker's Python code hold the GIL (py-tree-sitter 0.26 does
not release it while parsing), so threads gain nothing on them: indexing Python's
standard library used 1.1 of 2 cores. A big run of files is therefore read and chunked
in worker processes, started for that run and stopped after it (starting one costs about
0.1 s here; a spawned worker imports the main module of the program, so a script that
drives the engine needs the `if __name__ == "__main__":` guard). Fewer files, as in a
watcher's change set, are read on a thread: no process to start, no chunks to send
across. Both paths run the same function, `read_and_chunk`.
If the worker processes fail (killed, or they cannot start), their files are read on the
thread instead, and so is every later run of this reader: slower, never lost.
A worker exits as soon as its parent dies, however it dies: a killed parent's idle
workers otherwise waited for work forever, and busy ones first chunked what was queued.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.process
import os
import signal
import threading
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from codanna_desktop.core.exact.binary_prefix import BinaryPrefix, read_prefix
from codanna_desktop.core.files.skips import FileSkipped, SkipReason
from codanna_desktop.core.files.walk import ScannedFile, Scanner

if TYPE_CHECKING:
    from collections.abc import Sequence

    from codanna_desktop.core.chunking.chunker import Chunker
    from codanna_desktop.core.chunking.chunks import Chunk

log = logging.getLogger(__name__)

# From this many files on, a run is chunked in worker processes: two of the indexer's
# batches (FILES_PER_BATCH), so the writer stores one batch while the workers chunk the
# next. A single batch has nothing to overlap, and sending its chunks across made the full
# re-read of 188 files in BENCHMARKS.md section 5 slower: 1.9 s against 1.4 s on a thread.
PROCESS_MIN_FILES = 400


class ReadStamp(NamedTuple):
    """What the writer keeps of a file it read (its text travels in the chunks)."""

    content_hash: str  # sha256 hex of the raw bytes
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class FileRead:
    scanned: ScannedFile
    stamp: ReadStamp | None  # None: the file is skipped (skip_reason says why)
    language: str = ""
    chunks: Sequence[Chunk] = ()
    skip_reason: str = ""
    skip_detail: str = ""
    text: str = ""  # the whole text, for exact search (chunks need not cover every line)
    # A binary file's lines before its first NUL that ripgrep would search: exact search
    # keeps them (the file stays skipped for everything else).
    binary: BinaryPrefix | None = None


def read_and_chunk(scanner: Scanner, chunker: Chunker, scanned: ScannedFile) -> FileRead:
    try:
        source = scanner.read_source(scanned.abs_path)
    except FileSkipped as skip:
        binary = None
        if skip.reason is SkipReason.BINARY:
            binary = read_prefix(scanned.abs_path, scanner.max_file_size)
        return FileRead(
            scanned, None, skip_reason=skip.reason.value, skip_detail=skip.detail, binary=binary
        )
    try:
        chunks = chunker.chunk(scanned.rel_path, source.text)
    except Exception as exc:  # a chunker bug must not stop the whole folder
        log.exception("chunking %s failed", scanned.abs_path)
        return FileRead(scanned, None, skip_reason="chunking failed", skip_detail=str(exc))
    language = chunks[0].language if chunks else "text"
    stamp = ReadStamp(source.content_hash, source.size, source.mtime_ns)
    return FileRead(scanned, stamp, language, chunks, text=source.text)


class FileReader:
    """Reads and chunks files for one writer; see the module's docstring."""

    def __init__(self, scanner: Scanner, chunker: Chunker, *, threads: int = 2) -> None:
        self.scanner = scanner
        self.chunker = chunker
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="codanna-read")
        self._processes: ProcessPoolExecutor | None = None
        self._processes_failed = False

    def start_run(self, file_count: int) -> None:
        """A run of `file_count` files begins: start worker processes if it is big."""
        if file_count < PROCESS_MIN_FILES or self._processes_failed:
            return
        try:
            self._processes = ProcessPoolExecutor(
                max_workers=_worker_count(),
                # Not fork: the app's process has Qt and other threads running.
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.chunker, self.scanner.max_file_size),
            )
        except (OSError, RuntimeError) as exc:
            self._give_up_processes(exc)

    def end_run(self) -> None:
        """Stop the worker processes of the run (idle, they would only hold memory)."""
        processes, self._processes = self._processes, None
        if processes is not None:
            processes.shutdown(wait=True, cancel_futures=True)

    def submit(self, files: Sequence[ScannedFile]) -> list[Future[FileRead]]:
        if self._processes is not None:
            try:
                return [self._processes.submit(_read_in_worker, f) for f in files]
            except (BrokenProcessPool, RuntimeError, OSError) as exc:
                # The processes start on the first submit: a system without working
                # semaphores or process limits reached fails here, not in start_run.
                self._give_up_processes(exc)
        return [self._threads.submit(read_and_chunk, self.scanner, self.chunker, f) for f in files]

    def results(
        self, files: Sequence[ScannedFile], futures: list[Future[FileRead]]
    ) -> list[FileRead]:
        """The reads, in order; a file whose worker process died is read here instead."""
        out = []
        for scanned, future in zip(files, futures, strict=True):
            try:
                out.append(future.result())
            except (BrokenProcessPool, CancelledError) as exc:  # cancelled: by a give-up
                self._give_up_processes(exc)
                out.append(read_and_chunk(self.scanner, self.chunker, scanned))
        return out

    def close(self) -> None:
        self.end_run()
        self._threads.shutdown(wait=True, cancel_futures=True)

    def _give_up_processes(self, exc: BaseException) -> None:
        if not self._processes_failed:
            log.warning("Worker processes failed (%s); reading files on a thread instead", exc)
        self._processes_failed = True
        processes, self._processes = self._processes, None
        if processes is not None:
            processes.shutdown(wait=False, cancel_futures=True)


def _worker_count() -> int:
    # The writer's own process needs a core too (catalog, tantivy documents and commits).
    return max(1, min(4, (os.cpu_count() or 2) - 1))


# -- inside a worker process -------------------------------------------------------------

_worker_scanner: Scanner | None = None
_worker_chunker: Chunker | None = None


def _start_worker(chunker: Chunker, max_file_size: int) -> None:
    global _worker_scanner, _worker_chunker
    _exit_with_parent()
    # Ctrl+C in a terminal reaches the whole process group: the writer decides what stops
    # (it shuts the workers down), so a worker does not die with a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_scanner = Scanner(max_file_size)
    _worker_chunker = chunker


def _read_in_worker(scanned: ScannedFile) -> FileRead:
    assert _worker_scanner is not None and _worker_chunker is not None
    return read_and_chunk(_worker_scanner, _worker_chunker, scanned)


def _exit_with_parent() -> None:
    """Exit this worker the moment its parent process is gone.

    multiprocessing gives a spawned child a sentinel for its parent: the read end of a
    pipe whose write end only the parent holds (on Windows, a handle to the parent
    process). It becomes ready when the parent dies, SIGKILL and crashes included, so a
    thread waiting on it needs no polling and works on every platform. (Linux's
    PR_SET_PDEATHSIG was not used: it fires when the parent *thread* that started the
    worker ends, not the process.)
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    threading.Thread(
        target=_wait_then_exit, args=(parent,), name="codanna-parent-watch", daemon=True
    ).start()


def _wait_then_exit(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns once the parent is dead (already dead: at once)
    os._exit(1)
