"""The semantic side of the index: the embedding model and the vector store opened for it.

Both load on first use (a search at weight 0 and a lexical-only index run never pay for
them) and are shared by the indexer and the searcher, which receive this one object.

Opening a store never writes to the catalog: whether the store agrees with the catalog is
the writer's question, answered by the indexer before its own first use of the store
(`Indexer.reconcile_vectors`), never as a side effect of whichever search came first.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codanna_desktop.core.errors import CodannaError, VectorStoreUnavailableError
from codanna_desktop.core.semantic.embedder import release_freed_memory
from codanna_desktop.core.semantic.model_process import ModelProcess

if TYPE_CHECKING:
    from codanna_desktop.core.semantic.embedding_model import EmbeddingModel
    from codanna_desktop.core.storage.vectors.store import VectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedStore:
    store: VectorStore
    # Which store this is ("hnsw:<file>", "pgvector:<url>"): the catalog remembers the
    # last one a writer filled, so a writer knows when every vector must be redone.
    where: str


ModelLoader = Callable[[], "EmbeddingModel"]  # raises CodannaError when there is none
StoreOpener = Callable[["EmbeddingModel"], OpenedStore]  # raises VectorStoreUnavailableError


class SemanticSide:
    """The lazily loaded model and vector store. Thread-safe: searches and the writer
    thread ask for them at the same time."""

    def __init__(
        self,
        load_model: ModelLoader,
        open_store: StoreOpener,
        *,
        model: EmbeddingModel | None = None,
    ) -> None:
        self._load_model = load_model
        self._open_store = open_store
        self._lock = threading.Lock()
        self._model: EmbeddingModel | None = model
        self._model_tried = model is not None
        # A model handed in (tests, benchmarks) belongs to the caller: never unloaded.
        self._injected_model = model is not None
        self._model_used_at = time.monotonic()
        self.model_problem: str | None = None
        self.model_loads = 0  # how often the model was loaded (tests of unload/reload)
        self._opened: OpenedStore | None = None
        # Why the store cannot be had: set when opening it failed, and by its users when
        # it went away after it opened (a database server stopped).
        self.store_problem: str | None = None

    # -- the model ------------------------------------------------------------------

    def model(self) -> EmbeddingModel | None:
        """The model, loaded now if it was not; None (see `model_problem`) if it cannot be."""
        with self._lock:
            gone = self._model
            if isinstance(gone, ModelProcess) and not gone.alive:
                # Killed from outside (the OOM killer, a person): start a new one.
                log.warning("the embedding model's process ended; starting it again")
                gone.close()
                self._model, self._model_tried = None, False
            if not self._model_tried:
                self._model_tried = True
                try:
                    self._model = self._load_model()
                    self.model_loads += 1
                except CodannaError as exc:
                    self.model_problem = str(exc)
                    log.warning("no embedding model: %s", exc)
            self._model_used_at = time.monotonic()
            return self._model

    @property
    def model_loaded(self) -> bool:
        return self._model is not None

    def model_idle_seconds(self) -> float:
        """Seconds since the model was last asked for (by a search or the indexer)."""
        return time.monotonic() - self._model_used_at

    def unload_model(self, idle_for: float = 0.0) -> bool:
        """Drop the loaded model if nothing asked for it in the last `idle_for` seconds (an
        idle tray indexer need not hold its ~170 MB); the next search or embedding run
        loads it again. A model that failed to load stays failed. In-process, a search
        holding the old model finishes with it; a model process ends once the request in
        flight has its answer. The store stays open. True when one was dropped."""
        with self._lock:
            # Checked under the lock: a search that just took the model keeps it.
            if self._model is None or self._injected_model or self.model_idle_seconds() < idle_for:
                return False
            dropped, self._model = self._model, None
            self._model_tried = False
        idle = self.model_idle_seconds()
        if isinstance(dropped, ModelProcess):
            dropped.close()
        del dropped
        gc.collect()
        release_freed_memory()
        log.info("embedding model unloaded after %.0f s unused", idle)
        return True

    def close_model(self) -> None:
        """End the model's process, if the model has one (the engine closes)."""
        model = self._model
        if isinstance(model, ModelProcess):
            model.close()

    # -- the vector store -----------------------------------------------------------

    def store(self) -> VectorStore | None:
        """The vector store for the model, opened now if it was not (which loads the
        model); None (see `problem`) if either cannot be had. Writes nothing anywhere."""
        model = self.model()
        if model is None:
            return None
        with self._lock:
            if self._opened is None:
                try:
                    self._opened = self._open_store(model)
                    self.store_problem = None
                except VectorStoreUnavailableError as exc:
                    self.store_problem = str(exc)
                    return None
            return self._opened.store

    @property
    def opened(self) -> OpenedStore | None:
        """The store if something opened it already (never opens one)."""
        return self._opened

    @property
    def opened_store(self) -> VectorStore | None:
        opened = self._opened
        return None if opened is None else opened.store

    @property
    def problem(self) -> str | None:
        """Why there is no semantic side, for the person; None when there may be one."""
        return self.model_problem or self.store_problem
