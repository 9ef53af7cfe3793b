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

    def unload_model(self) -> bool:
        """Drop the loaded model (an idle tray indexer need not hold its ~100 MB); the next
        search or embedding run loads it again. A model that failed to load stays failed.
        A search holding the old model finishes with it; the store stays open. True when
        one was dropped."""
        with self._lock:
            if self._model is None or self._injected_model:
                return False
            self._model = None
            self._model_tried = False
        gc.collect()
        release_freed_memory()
        log.info("embedding model unloaded after %.0f s unused", self.model_idle_seconds())
        return True

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
