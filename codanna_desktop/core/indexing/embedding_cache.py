"""The embedding cache as the indexer sees it: each model's vector, one fused vector out.

The catalog's ``embeddings`` table is keyed by (model id, text hash). A fused model
(`FusedEmbedder`) is never a key of its own: each of its parts caches its vector under
its own id, and the vector a store holds is fused from them. So switching between one
model and two embeds nothing that either model embedded before, and a text one part has
cached is embedded by the other parts only.

A text is ready when every part has its vector. A chunk with only some parts cached (the
others were still being computed when indexing stopped, or a second model was just
switched on) is not stored with a vector from those parts alone: it stays pending until
the missing parts are embedded (only those), and meanwhile ranks on its lexical score,
like any chunk not yet embedded. Measured on CoSQA with half the files given MiniLM's
vector only (BENCHMARKS.md §15): padding the missing half with zeros sinks them (MRR@10
0.34 against 0.53 for MiniLM alone: the two models' cosines sit on different scales),
padding it with the mean bge-small vector of the corpus ranks them as MiniLM alone would
(0.526); that would be the way to store partial vectors, at the price of a vector to
keep per catalog and a second upsert per chunk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codanna_desktop.core.semantic.embedding_model import EmbeddingModel, fuse_parts

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy as np

    from codanna_desktop.core.storage.catalog import Catalog


class EmbeddingCache:
    def __init__(self, catalog: Catalog, model: EmbeddingModel) -> None:
        self.catalog = catalog
        self.model = model

    def ready(self, text_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """The fused vector of every text whose parts are all cached."""
        per_part = [self._cached(part, text_hashes) for part in self.model.parts]
        complete = set(per_part[0]).intersection(*per_part[1:])
        return {h: fuse_parts([vectors[h] for vectors in per_part]) for h in complete}

    def embed(self, texts: Mapping[str, str]) -> tuple[dict[str, np.ndarray], int]:
        """Fused vectors for `texts` (text hash -> text), each part computing only what it
        has not cached, and caching it. Also returns how many texts a model ran on."""
        hashes = list(texts)
        per_part = [self._cached(part, hashes) for part in self.model.parts]
        lacking = [[h for h in hashes if h not in vectors] for vectors in per_part]
        computed: set[str] = set()
        if any(lacking):
            fresh = self.model.embed_parts([[texts[h] for h in part] for part in lacking])
            for part, vectors, missing, rows in zip(
                self.model.parts, per_part, lacking, fresh, strict=True
            ):
                if missing:
                    new = dict(zip(missing, rows, strict=True))
                    self.catalog.cache_vectors(part.model_id, new)
                    vectors.update(new)
                    computed.update(missing)
        fused = {h: fuse_parts([vectors[h] for vectors in per_part]) for h in hashes}
        return fused, len(computed)

    def _cached(self, part: EmbeddingModel, text_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        lacking = list(text_hashes)
        for model_id in part.cache_ids:
            if not lacking:
                break
            found.update(self.catalog.cached_vectors(model_id, lacking))
            lacking = [h for h in lacking if h not in found]
        return found
