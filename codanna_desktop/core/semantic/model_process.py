"""The embedding model in a process of its own, for a program that stays running.

Unloading a model inside the app's process gives back its session and buffers, but not
what loading it brought in: fastembed, onnxruntime and tokenizers stay imported (their
modules and touched library pages), and Python cannot unload a module. Measured in the
tray app: 138 MB resident before the model ever loaded, 226-238 MB after it was loaded
and unloaded (BENCHMARKS.md section 9). So the desktop app loads the model in a spawned
child: unloading ends the child, and the app's process never imports them at all.

The child serves one request at a time over a pipe: texts in, float32 vectors out (a
batch of 64 chunks is about 100 KB of vectors, nothing beside the model's work). It
exits when the pipe closes, so a parent killed with SIGKILL leaves no model behind.
Command-line runs load the model in their own process (`load_embedder`): they end soon.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from codanna_desktop.core.errors import CodannaError, ModelUnavailableError
from codanna_desktop.core.semantic.embedder import load_embedder
from codanna_desktop.core.settings import AppPaths, Settings

log = logging.getLogger(__name__)

STOP_WAIT_S = 5.0  # for the child to leave on its own before it is killed


class ModelProcess:
    """A loaded model in a child process, used like an `Embedder` (thread-safe)."""

    def __init__(self, settings: Settings, paths: AppPaths) -> None:
        """Start the child and wait until its model is loaded; raises
        ModelUnavailableError with the child's sentence when it cannot load it."""
        # Not fork: the app's process has Qt and other threads running.
        context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child_end, settings, paths), name="codanna-model", daemon=True
        )
        self._lock = threading.Lock()
        self._closed = False
        self.documents_embedded = 0
        try:
            self._process.start()
        except OSError as exc:  # no processes left to the user, no memory to start one
            self._conn.close()
            raise ModelUnavailableError(
                f"The embedding model's process could not start ({exc})."
            ) from exc
        finally:
            child_end.close()  # only the child holds it now: its death ends our reads
        try:
            ready = self._receive("loading")
        except BaseException:
            self.close()
            raise
        self.model_id: str = ready["model_id"]
        self.dim: int = ready["dim"]
        self.batch_size: int = ready["batch_size"]

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def alive(self) -> bool:
        """False once the child is gone (closed, or killed by something else)."""
        return not self._closed and self._process.is_alive()

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of shape (len(texts), dim), in the order of `texts`."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors: np.ndarray = self._ask("documents", list(texts))
        self.documents_embedded += len(texts)
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        """A vector of shape (dim,). Uses the model's query form where it has one."""
        vector: np.ndarray = self._ask("query", text)
        return vector

    def close(self) -> None:
        """End the child once the request in flight (if any) has its answer. Safe twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(OSError):
                self._conn.close()  # the child reads end-of-file and leaves
            self._process.join(STOP_WAIT_S)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(STOP_WAIT_S)

    def _ask(self, kind: str, payload: object) -> Any:
        with self._lock:
            if self._closed:
                # Only an explicit unload can race a search this way: the idle unload
                # waits until nothing asked for the model for minutes (Engine).
                raise ModelUnavailableError(
                    "The embedding model was unloaded while this search ran: search again."
                )
            try:
                self._conn.send((kind, payload))
            except (OSError, ValueError) as exc:
                raise self._stopped(kind) from exc
            return self._receive(kind)

    def _receive(self, doing: str) -> Any:
        try:
            status, value = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise self._stopped(doing) from exc
        if status == "error":
            raise value
        return value

    def _stopped(self, doing: str) -> ModelUnavailableError:
        self._process.join(STOP_WAIT_S)
        code = self._process.exitcode
        how = f"exit code {code}" if code is None or code >= 0 else f"signal {-code}"
        return ModelUnavailableError(
            f"The embedding model's process stopped while {_DOING.get(doing, doing)} ({how}); "
            "it is started again on the next search or embedding run."
        )


_DOING = {"loading": "loading the model", "documents": "embedding", "query": "embedding a query"}


def _serve(conn: Connection, settings: Settings, paths: AppPaths) -> None:
    """The child's whole life: load the model, answer requests until the pipe closes."""
    # Ctrl+C in a terminal reaches the whole process group: the parent decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        embedder = load_embedder(settings, paths)
    except Exception as exc:  # the parent raises it; a plain exception said as one
        conn.send(("error", _portable(exc)))
        return
    conn.send(
        (
            "ok",
            {"model_id": embedder.model_id, "dim": embedder.dim, "batch_size": embedder.batch_size},
        )
    )
    while True:
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            return  # the parent closed the pipe, or died
        answer: tuple[str, object]
        try:
            if kind == "documents":
                answer = ("ok", embedder.embed_documents(payload))
            else:
                answer = ("ok", embedder.embed_query(payload))
        except Exception as exc:
            log.exception("embedding failed in the model process")
            answer = ("error", _portable(exc))
        try:
            conn.send(answer)
        except (OSError, ValueError):
            return


def _portable(exc: Exception) -> Exception:
    """An exception the parent can unpickle: ours as they are, others as a ModelUnavailableError
    naming them (onnxruntime's and tokenizers' own classes need not unpickle there)."""
    if isinstance(exc, CodannaError):
        return exc if type(exc).__init__ is Exception.__init__ else ModelUnavailableError(str(exc))
    return ModelUnavailableError(f"The embedding model failed ({type(exc).__name__}: {exc}).")
