"""How the two default models' cosines are weighed in a query, and what it does on CoSQA.

    .venv/bin/python -m tests.benchmarks.model_weights [--cosqa ../shared/bench/cosqa]

The weights come from no benchmark's labels: each model's cosine is divided by its
spread (the standard deviation of its cosine between random pairs of chunks), measured in
an index's embedding cache. The reference is the identifier benchmark's standard-library
index (run `tests.benchmarks.identifiers` first); CoSQA's own corpus is measured beside it,
to show how far the spread moves with the code. embedder.COSINE_SPREAD holds the
reference's figures.

CoSQA is then ranked exactly (a dot product over every chunk, no store) with the
documents' vectors `tests.benchmarks.models` cached (one text per call, the app's), the
queries embedded by the app's loaded default embedder: its shipped query vector against
the plain mean of the two cosines, paired bootstrap over the 500 queries. A curve of other
weights is written beside it to show whether the shipped weight sits on a plateau or a
peak; it chooses nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from codanna_desktop.core.semantic.embedder import (
    BGE_ID,
    COSINE_SPREAD,
    MINILM_ID,
    FusedEmbedder,
    load_embedder,
)
from codanna_desktop.core.semantic.embedding_model import fuse_parts, fuse_query
from codanna_desktop.core.settings import AppPaths, Settings
from codanna_desktop.core.storage.catalog import Catalog
from tests.benchmarks.cosqa import load_eval
from tests.benchmarks.models import DiskCache, chunk_texts, metrics, rank_files
from tests.benchmarks.workspace import (
    COSQA_DIR,
    DOCS_DIR,
    WORK_DIR,
    machine,
    paired,
    share_models_folder,
    write_json,
)

PAIRS = 20_000
CURVE = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)  # MiniLM's share of the weight


def spreads(
    home: Path, model_ids: Sequence[str], *, seed: int = 0, min_texts: int = 100
) -> dict[str, dict[str, float]]:
    """Per model: mean and standard deviation of the cosine between random pairs of the
    index's chunk texts every one of the models has a cached vector for (the same pairs
    for each model)."""
    hashes = sorted({text_hash for _, text_hash, _ in chunk_texts(home)})
    catalog = Catalog(home / "data" / "catalog.sqlite", readonly=True)
    try:
        vectors = {m: catalog.cached_vectors(m, hashes) for m in model_ids}
    finally:
        catalog.close()
    common = sorted(set.intersection(*(set(vectors[m]) for m in model_ids)))
    if len(common) < min_texts:
        raise SystemExit(f"{home}: {len(common)} texts with every model's vector; index it first")
    rng = np.random.default_rng(seed)
    first, second = rng.integers(0, len(common), PAIRS), rng.integers(0, len(common), PAIRS)
    keep = first != second
    out = {"texts": {"count": float(len(common))}}
    for m in model_ids:
        matrix = np.stack([vectors[m][h] for h in common])
        cosines = (matrix[first[keep]] * matrix[second[keep]]).sum(axis=1)
        out[m] = {"mean": round(float(cosines.mean()), 4), "std": round(float(cosines.std()), 4)}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cosqa", type=Path, default=COSQA_DIR)
    p.add_argument("--reference", type=Path, default=WORK_DIR / "identifiers" / "home")
    p.add_argument("--work", type=Path, default=WORK_DIR / "cosqa", help="the CoSQA index")
    p.add_argument("--cache", type=Path, default=WORK_DIR / "models", help="models' vectors")
    p.add_argument("--out", type=Path, default=DOCS_DIR)
    args = p.parse_args(argv)
    share_models_folder()
    started = machine()
    ids = (MINILM_ID, BGE_ID)
    reference = spreads(args.reference, ids)
    on_cosqa = spreads(args.work / "home", ids)
    print(f"spread, standard library: {reference}\nspread, CoSQA corpus: {on_cosqa}", flush=True)

    evaluator = load_eval(args.cosqa)
    corpus = evaluator.read_jsonl(str(args.cosqa / "corpus.jsonl"))
    queries = evaluator.read_jsonl(str(args.cosqa / "dev_queries.jsonl"))
    path_to_id = {d["path"]: d["id"] for d in corpus}
    chunks = chunk_texts(args.work / "home")
    doc_paths = [rel for rel, _, _ in chunks]
    parts = []
    for name in ("minilm_q_512_b1", "bge_512_b1"):
        cache = DiskCache(args.cache / f"{name}.npz")
        parts.append(np.stack([cache.vectors[h] for _, h, _ in chunks]))
    documents = fuse_parts(parts)

    embedder = load_embedder(Settings(), AppPaths.default())
    assert isinstance(embedder, FusedEmbedder)
    texts = [q["query"] for q in queries]
    shipped = np.stack([embedder.embed_query(t) for t in texts])
    per_part = [np.stack([part.embed_query(t) for t in texts]) for part in embedder.parts]

    results, per_query = {}, {}

    def score(label: str, query_matrix: np.ndarray) -> None:
        ranked = rank_files(documents, doc_paths, query_matrix)
        results[label], per_query[label] = metrics(evaluator, queries, ranked, path_to_id)
        print(f"{label}: {results[label]}", flush=True)

    score("plain mean of the cosines (before)", fuse_parts(per_part))
    score("weighted by COSINE_SPREAD (shipped)", shipped)
    cosqa_weights = [1 / on_cosqa[m]["std"] for m in ids]
    score("weighted by the CoSQA corpus's own spread", fuse_query(per_part, cosqa_weights))
    for share in CURVE:
        score(f"curve: MiniLM {share}", fuse_query(per_part, [share, 1 - share]))
    base = per_query["plain mean of the cosines (before)"]
    compared = ("weighted by COSINE_SPREAD (shipped)", "weighted by the CoSQA corpus's own spread")
    comparisons = {label: paired(per_query[label], base) for label in compared}
    for label, found in comparisons.items():
        print(f"{label} vs the plain mean: {found}", flush=True)
    write_json(
        args.out,
        "model_weights",
        {
            "benchmark": "model_weights",
            "command": "python -m tests.benchmarks.model_weights",
            "machine": started,
            "cosine_spread_shipped": COSINE_SPREAD,
            "query_weights_shipped": dict(zip(ids, embedder.query_weights, strict=True)),
            "spread_standard_library": reference,
            "spread_cosqa_corpus": on_cosqa,
            "chunks": len(chunks),
            "queries": len(queries),
            "results": results,
            "comparisons_with_the_plain_mean": comparisons,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
