"""The unit of indexing: a symbol-sized piece of one file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


def text_hash(text: str) -> str:
    """Stable hash of a chunk's text; the embedding cache is keyed by it (with the model id)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Chunk:
    """A piece of a file: a function, method, class, module part, section or line window.

    Lines are 1-based and inclusive. `symbol` is the qualified name where one exists
    (``HTTPConnection.request``), else None. `kind` is one of: function, method, class,
    module, section, window.

    `names` are the names this chunk defines, for lookups by name: a definition's own name
    (only on the window that holds its signature line) and the constants, variables and
    enum members declared in a module or class chunk (``HTTPS_PORT = 443``). They are
    derived from the text, so they do not take part in comparisons.

    The one home of a chunk's fields: the catalog's row (`ChunkRow`) and a search result
    (`SearchResult`) extend it, and the lexical index's document is made from it.
    """

    path: str  # path relative to its root, with "/" separators
    language: str
    start_line: int
    end_line: int
    symbol: str | None
    kind: str
    text: str
    hash: str = field(default="", compare=False)
    names: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not self.hash:
            object.__setattr__(self, "hash", text_hash(self.text))
