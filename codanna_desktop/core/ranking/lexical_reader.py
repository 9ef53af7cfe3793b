"""A search by exact words only (the slider at 0) without the engine.

`codanna-desktop search --alpha 0` from a shell is a process of its own: it pays for
every import before it answers. The engine brings the indexer, the scanner, the chunker,
the exact-search index, numpy and hnswlib, none of which a lexical search uses. This
reader opens only the catalog and the tantivy index, read-only, and searches them with
the engine's own `HybridSearcher`, so its answers are the engine's (tests compare them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn, cast

from codanna_desktop.core.errors import known_error
from codanna_desktop.core.ranking.search import HybridSearcher
from codanna_desktop.core.storage.catalog import Catalog
from codanna_desktop.core.storage.lexical.index import LexicalIndex

if TYPE_CHECKING:
    from codanna_desktop.core.files.filters import SearchFilters
    from codanna_desktop.core.ranking.search import SearchSession
    from codanna_desktop.core.semantic.side import SemanticSide
    from codanna_desktop.core.settings import AppPaths, Settings
    from codanna_desktop.core.storage.catalog import RootRow


class LexicalReader:
    """What `Engine(writer=False)` offers a lexical search: `settings`, `catalog`,
    `roots()`, `search(..., semantic=False)`. Searches beside a writer in another process
    and sees its commits, as a reading engine does."""

    def __init__(self, paths: AppPaths, settings: Settings) -> None:
        self.paths = paths
        self.settings = settings
        try:
            paths.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.catalog = Catalog(paths.data_dir / "catalog.sqlite", readonly=True)
        except Exception as exc:
            _raise_known(exc, paths)
        try:
            self.lexical = LexicalIndex(paths.data_dir / "lexical", writable=False)
        except Exception as exc:
            self.catalog.close()
            _raise_known(exc, paths)
        paths.prepare_data_dir()  # as the engine does: the stores hold the user's code
        self.searcher = HybridSearcher(
            self.catalog,
            self.lexical,
            cast("SemanticSide", _NoSemanticSide()),
            fusion=settings.fusion,
            candidates_per_side=settings.candidates_per_side,
        )

    def roots(self) -> list[RootRow]:
        return self.catalog.roots()

    def search(
        self, query: str, filters: SearchFilters | None = None, *, semantic: bool = False
    ) -> SearchSession:
        if semantic:
            raise ValueError("the lexical reader has no semantic side: open the engine")
        self.lexical.reload()
        return self.searcher.search(query, filters, semantic=False)

    def close(self) -> None:
        try:
            self.lexical.close()
        finally:
            self.catalog.close()

    def __enter__(self) -> LexicalReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _NoSemanticSide:
    """Stands for `SemanticSide` (whose module brings numpy and the model's loader) in a
    searcher that is only ever asked at exact words only; asked anyway, it has nothing."""

    problem = "this search reads the word index only"

    def model(self) -> None:
        return None

    def store(self) -> None:
        return None


def _raise_known(exc: Exception, paths: AppPaths) -> NoReturn:
    """The sentence a person can act on (a full disk, a damaged catalog), as the engine
    raises it; anything else as it is."""
    known = known_error(exc, paths.data_dir)
    if known is not None and known is not exc:
        raise known from exc
    raise exc
