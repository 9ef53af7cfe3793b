"""The engine: scanning, chunking, indexing and search. Never imports Qt.

The package is grouped by responsibility, so the tree is a picture of the architecture:

- ``files/``: walking an added folder, its ignore rules, which folder owns a path, filters;
- ``chunking/``: splitting a text into symbol-sized chunks, one spec per language;
- ``indexing/``: the indexer, its worker processes, its state in words;
- ``storage/``: the catalog (the one source of truth), ``lexical/`` (tantivy) and
  ``vectors/`` (hnswlib, pgvector);
- ``semantic/``: the embedding model, provisioned and loaded lazily;
- ``ranking/``: a query's shape and weight, the lexical query and its boosts, fusion of
  the two sides, how a result matches and where it shows the query;
- ``watching/``: following the disk (watchdog) as change sets;
- ``exact/``: every matching line, as ripgrep gives it, from a trigram index;
- at the top: ``Engine`` (ties the parts together), ``IndexingService`` (the one writer
  loop both faces drive), settings and errors.

The public names below are re-exported lazily: importing ``codanna_desktop.core`` (which
every submodule import does) must stay free, since a lexical search from the shell must not
pay for tantivy, the model runtime or the database driver before it needs them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codanna_desktop.core.atomic_file import write_atomically
    from codanna_desktop.core.chunking.chunks import Chunk
    from codanna_desktop.core.engine import Engine
    from codanna_desktop.core.errors import CodannaError, user_error
    from codanna_desktop.core.exact.search import ExactSearcher
    from codanna_desktop.core.files.roots import owning_root
    from codanna_desktop.core.indexing.indexer import IndexReport, Phase, Progress
    from codanna_desktop.core.indexing_status import IndexingStatus
    from codanna_desktop.core.ranking.search import HybridSearcher, SearchResult
    from codanna_desktop.core.semantic.embedding_model import EmbeddingModel
    from codanna_desktop.core.service import IndexingService
    from codanna_desktop.core.settings import Settings, load_settings
    from codanna_desktop.core.storage.vectors.store import VectorStore

_HOMES = {
    "Chunk": "chunking.chunks",
    "Engine": "engine",
    "CodannaError": "errors",
    "user_error": "errors",
    "ExactSearcher": "exact.search",
    "owning_root": "files.roots",
    "IndexReport": "indexing.indexer",
    "Phase": "indexing.indexer",
    "Progress": "indexing.indexer",
    "IndexingStatus": "indexing_status",
    "HybridSearcher": "ranking.search",
    "SearchResult": "ranking.search",
    "EmbeddingModel": "semantic.embedding_model",
    "IndexingService": "service",
    "Settings": "settings",
    "load_settings": "settings",
    "write_atomically": "atomic_file",
    "VectorStore": "storage.vectors.store",
}

__all__ = [
    "Chunk",
    "CodannaError",
    "EmbeddingModel",
    "Engine",
    "ExactSearcher",
    "HybridSearcher",
    "IndexReport",
    "IndexingService",
    "IndexingStatus",
    "Phase",
    "Progress",
    "SearchResult",
    "Settings",
    "VectorStore",
    "load_settings",
    "owning_root",
    "user_error",
    "write_atomically",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)
