"""The embedding model in a process of its own, for a program that stays running.

Unloading a model inside the app's process gives back its session and buffers, but not
what loading it brought in: fastembed, onnxruntime and tokenizers stay imported (their
modules and touched library pages), and Python cannot unload a module. Measured in the
tray app: 138 MB resident before the model ever loaded, 226-238 MB after it was loaded
and unloaded (BENCHMARKS.md section 9). So the desktop app loads the model in a child
process: unloading ends the child, and the app's process never imports them at all.

The child is this program again (`child_command`), not a multiprocessing worker: a spawned
worker brings multiprocessing's resource tracker along, a process that outlives it (32 MB
resident in the frozen program) for semaphores nobody here uses. Requests go over the
child's standard input and answers come back on its standard output, pickled: texts in,
float32 vectors out (a batch of 64 chunks is about 100 KB of vectors). The child exits
when its input closes, so a parent killed with SIGKILL leaves no model behind.
Command-line runs load the model in their own process (`load_embedder`): they end soon.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from codanna_desktop.core.errors import CodannaError, ModelUnavailableError
from codanna_desktop.core.semantic.embedder import load_embedder

if TYPE_CHECKING:
    from collections.abc import Sequence

    from codanna_desktop.core.semantic.embedding_model import EmbeddingModel
    from codanna_desktop.core.settings import AppPaths, Settings

log = logging.getLogger(__name__)

STOP_WAIT_S = 5.0  # for the child to leave on its own before it is killed
# The frozen program (packaging/entry.py) becomes the model process when started with this.
MODEL_PROCESS_ARG = "--embedding-model-process"


def child_command() -> list[str]:
    """How to start the model process: the frozen program with its flag, or this Python."""
    if getattr(sys, "frozen", False):
        return [sys.executable, MODEL_PROCESS_ARG]
    return [sys.executable, "-c", f"from {__name__} import serve; raise SystemExit(serve())"]


@dataclass  # not frozen: the protocol's ids are plain attributes
class ModelPart:
    """One of the child's single models, as the embedding cache sees it (ids, no weights).
    Its vectors come from the ModelProcess's `embed_parts`, never from the part itself."""

    model_id: str
    dim: int
    cache_ids: tuple[str, ...]

    @property
    def parts(self) -> tuple[ModelPart, ...]:
        return (self,)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError("a part's vectors come from its ModelProcess.embed_parts")

    def embed_parts(self, texts_per_part: Sequence[Sequence[str]]) -> list[np.ndarray]:
        raise NotImplementedError("a part's vectors come from its ModelProcess.embed_parts")

    def embed_query(self, text: str) -> np.ndarray:
        raise NotImplementedError("a part's vectors come from its ModelProcess.embed_parts")


class ModelProcess:
    """A loaded model in a child process, used like an `Embedder` (thread-safe)."""

    def __init__(self, settings: Settings, paths: AppPaths) -> None:
        """Start the child and wait until its model is loaded; raises
        ModelUnavailableError with the child's sentence when it cannot load it."""
        self._lock = threading.Lock()
        self._closed = False
        self.documents_embedded = 0
        env = dict(os.environ)
        if not getattr(sys, "frozen", False):
            # The same code as this process, wherever it was imported from.
            env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        try:
            self._process = subprocess.Popen(
                child_command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                # A window program on Windows would flash a console for the child.
                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
            )
        except OSError as exc:  # no processes left to the user, no memory to start one
            raise ModelUnavailableError(
                f"The embedding model's process could not start ({exc})."
            ) from exc
        assert self._process.stdin is not None and self._process.stdout is not None
        self._requests: IO[bytes] = self._process.stdin
        self._answers: IO[bytes] = self._process.stdout
        try:
            ready = self._exchange("loading", ("load", (settings, paths)))
        except BaseException:
            self.close()
            raise
        self.model_id: str = ready["model_id"]
        self.dim: int = ready["dim"]
        self._cache_ids: tuple[str, ...] = tuple(ready["cache_ids"])
        # The child's single models, by their ids: the embedding cache keeps each one's
        # vector, so this side needs to know them, not to load them.
        self._parts: tuple[ModelPart, ...] = tuple(ModelPart(*part) for part in ready["parts"])

    @property
    def parts(self) -> tuple[EmbeddingModel, ...]:
        return self._parts if len(self._parts) > 1 else (self,)

    @property
    def cache_ids(self) -> tuple[str, ...]:
        return self._cache_ids

    def embed_parts(self, texts_per_part: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Each part's vectors for its own texts, computed in the child."""
        if len(self._parts) <= 1:
            return [self.embed_documents(texts_per_part[0])]
        vectors: list[np.ndarray] = self._ask("parts", [list(t) for t in texts_per_part])
        self.documents_embedded += max((len(t) for t in texts_per_part), default=0)
        return vectors

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def alive(self) -> bool:
        """False once the child is gone (closed, or killed by something else)."""
        return not self._closed and self._process.poll() is None

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
                self._requests.close()  # the child reads end-of-file and leaves
            try:
                self._process.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(STOP_WAIT_S)
            self._answers.close()

    def _ask(self, kind: str, payload: object) -> Any:
        with self._lock:
            if self._closed:
                # Only an explicit unload can race a search this way: the idle unload
                # waits until nothing asked for the model for minutes (Engine).
                raise ModelUnavailableError(
                    "The embedding model was unloaded while this search ran: search again."
                )
            return self._exchange(kind, (kind, payload))

    def _exchange(self, doing: str, request: object) -> Any:
        try:
            pickle.dump(request, self._requests, protocol=pickle.HIGHEST_PROTOCOL)
            self._requests.flush()
            status, value = pickle.load(self._answers)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            raise self._stopped(doing) from exc
        if status == "error":
            raise value
        return value

    def _stopped(self, doing: str) -> ModelUnavailableError:
        try:
            code: int | None = self._process.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            code = None
        how = f"exit code {code}" if code is None or code >= 0 else f"signal {-code}"
        return ModelUnavailableError(
            f"The embedding model's process stopped while {_DOING.get(doing, doing)} ({how}); "
            "it is started again on the next search or embedding run."
        )


_DOING = {"loading": "loading the model", "documents": "embedding", "query": "embedding a query"}


def serve() -> int:
    """The child's whole life: load the model, answer requests until its input closes."""
    # Ctrl+C in a terminal reaches the whole process group: the parent decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = os.fdopen(os.dup(0), "rb")
    answers = os.fdopen(os.dup(1), "wb")
    # Whatever a library prints must not land among the answers: standard output is
    # standard error from here on (or nowhere: a window program on Windows has none).
    try:
        os.dup2(2, 1)
    except OSError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)

    def answer(message: tuple[str, object]) -> None:
        pickle.dump(message, answers, protocol=pickle.HIGHEST_PROTOCOL)
        answers.flush()

    try:
        _, (settings, paths) = pickle.load(requests)
    except (EOFError, OSError):
        return 0
    try:
        embedder = load_embedder(settings, paths)
    except Exception as exc:  # the parent raises it
        answer(("error", _portable(exc)))
        return 1
    ready = {
        "model_id": embedder.model_id,
        "dim": embedder.dim,
        "cache_ids": list(embedder.cache_ids),
        "parts": [(part.model_id, part.dim, tuple(part.cache_ids)) for part in embedder.parts],
    }
    answer(("ok", ready))
    while True:
        try:
            kind, payload = pickle.load(requests)
        except (EOFError, OSError):
            return 0  # the parent closed our input, or died
        reply: tuple[str, object]
        try:
            if kind == "documents":
                reply = ("ok", embedder.embed_documents(payload))
            elif kind == "parts":
                reply = ("ok", embedder.embed_parts(payload))
            else:
                reply = ("ok", embedder.embed_query(payload))
        except Exception as exc:
            log.exception("embedding failed in the model process")
            reply = ("error", _portable(exc))
        try:
            answer(reply)
        except OSError:  # the parent is gone
            return 0


def _portable(exc: Exception) -> Exception:
    """An exception the parent can unpickle: ours as they are, others as a
    ModelUnavailableError naming them (onnxruntime's own classes need not unpickle there)."""
    if isinstance(exc, CodannaError):
        return exc if type(exc).__init__ is Exception.__init__ else ModelUnavailableError(str(exc))
    return ModelUnavailableError(f"The embedding model failed ({type(exc).__name__}: {exc}).")
