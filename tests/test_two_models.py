"""Two models, one vector: per-model caching, switching, migrating, and a chunk that has
only one model's vector so far. Real models, real hnswlib files, a real catalog."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.indexing.embedding_cache import EmbeddingCache
from codanna_desktop.core.semantic.embedder import (
    BGE_ID,
    LEGACY_MINILM_ID,
    MINILM_ID,
    Embedder,
    FusedEmbedder,
)
from codanna_desktop.core.settings import Settings
from codanna_desktop.core.storage.vectors.hnsw import dim_in_file

FILES = {
    "sorting.py": "def bubble_sort(items):\n    return sorted(items)\n",
    "upload.py": "def retry_failed_upload(upload):\n    return upload.send() or upload.send()\n",
    "files.py": "def read_lines(path):\n    return open(path).read().splitlines()\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    for name, text in FILES.items():
        (root / name).write_text(text)
    return root


def counts(embedder: FusedEmbedder) -> tuple[int, int]:
    minilm, bge = embedder.parts
    return minilm.documents_embedded, bge.documents_embedded


def test_switching_between_one_model_and_both_embeds_nothing_twice(
    embedder: FusedEmbedder, fast_embedder: Embedder, project: Path
) -> None:
    with Engine(embedder=embedder) as both:
        both.add_root(project)
        first = both.index()
        chunks = both.catalog.counts()["chunks"]
    assert first.chunks_embedded == chunks
    before = counts(embedder)

    with Engine(settings=Settings(embedding_models="fast"), embedder=fast_embedder) as fast:
        to_fast = fast.index()
        assert fast.search("order a list").results(1.0, 1)[0].symbol == "bubble_sort"
    with Engine(embedder=embedder) as both:
        back = both.index()
        assert both.search("order a list").results(1.0, 1)[0].symbol == "bubble_sort"
        vectors = both.paths.data_dir / "vectors"

    assert counts(embedder) == before
    assert (to_fast.chunks_embedded, to_fast.chunks_from_cache) == (0, chunks)
    assert (back.chunks_embedded, back.chunks_from_cache) == (0, chunks)
    # One store per model id and dimension.
    assert sorted(dim_in_file(p) for p in vectors.glob("*.hnsw")) == [384, 768]


def test_the_cache_keeps_each_models_vector_and_the_store_the_fused_one(
    embedder: FusedEmbedder, project: Path
) -> None:
    with Engine(embedder=embedder) as engine:
        engine.add_root(project)
        engine.index(embed=False)
        text_hash = engine.catalog.pending_vectors(1)[0].text_hash
        engine.embed_pending()
        minilm = engine.catalog.cached_vectors(MINILM_ID, [text_hash])[text_hash]
        bge = engine.catalog.cached_vectors(BGE_ID, [text_hash])[text_hash]

        assert minilm.shape == bge.shape == (384,)
        assert engine.catalog.cached_vectors(embedder.model_id, [text_hash]) == {}
        np.testing.assert_allclose(
            EmbeddingCache(engine.catalog, embedder).ready([text_hash])[text_hash],
            np.concatenate([minilm, bge]) / np.sqrt(2),
            rtol=1e-6,
        )


def test_an_index_of_the_old_minilm_file_migrates_without_re_embedding_minilm(
    embedder: FusedEmbedder, fast_embedder: Embedder, project: Path
) -> None:
    with Engine(embedder=fast_embedder) as engine:
        engine.add_root(project)
        engine.index(embed=False)
        pending = engine.catalog.pending_vectors(100)
        # What the old default left in the cache: vectors under its model id only.
        old = fast_embedder.embed_documents([p.text for p in pending])
        engine.catalog.cache_vectors(
            LEGACY_MINILM_ID, {p.text_hash: v for p, v in zip(pending, old, strict=True)}
        )
    minilm_before, bge_before = counts(embedder)

    with Engine(embedder=embedder) as engine:
        report = engine.index()
        assert engine.search("send the upload again").results(1.0, 1)[0].path == "upload.py"

    minilm_after, bge_after = counts(embedder)
    assert minilm_after == minilm_before
    assert bge_after - bge_before == len(pending)
    assert report.chunks_embedded == len(pending)  # bge only


def test_a_chunk_with_one_models_vector_waits_for_the_other_and_ranks_lexically(
    embedder: FusedEmbedder, fast_embedder: Embedder, project: Path
) -> None:
    with Engine(embedder=embedder) as engine:
        engine.add_root(project)
        engine.index(embed=False)
        pending = {p.text_hash: p for p in engine.catalog.pending_vectors(100)}
        upload = next(p for p in pending.values() if p.rel_path == "upload.py")
        # MiniLM finished this chunk; bge had not started when indexing stopped.
        engine.catalog.cache_vectors(
            MINILM_ID, {upload.text_hash: fast_embedder.embed_documents([upload.text])[0]}
        )
        cache = EmbeddingCache(engine.catalog, embedder)

        assert cache.ready(list(pending)) == {}
        session = engine.search("retry_failed_upload")
        # Not in the vector store: found, and ranked, by its lexical score alone.
        assert session.results(0.8, 1)[0].path == "upload.py"
        assert session.results(0.8, 1)[0].semantic_score is None
        minilm_before, bge_before = counts(embedder)

        report = engine.embed_pending()

        minilm_after, bge_after = counts(embedder)
        assert (minilm_after - minilm_before, bge_after - bge_before) == (2, 3)
        assert report.chunks_embedded == 3
        top = engine.search("send the upload again").results(1.0, 1)[0]
        assert top.path == "upload.py" and top.semantic_score is not None
