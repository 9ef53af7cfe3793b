"""The default models on CoSQA: each file alone, the fused pair, token limits, a chunk
with one model's vector, and throughput, all in one run.

    .venv/bin/python -m tests.benchmarks.models [--cosqa ../shared/bench/cosqa]

The CoSQA corpus is indexed by the engine (lexical only) in the CoSQA benchmark's own
folder, and every chunk text the app would embed is embedded by each model variant
directly (no store), with vectors cached on disk per (variant, text hash) in
``bench-work/models/``: a second run embeds nothing. The vectors of the shipped variants
are also written into that index's embedding cache, so `tests.benchmarks.cosqa` then
embeds nothing either. Ranking is exact (a dot product over every chunk), a file's chunks
count once, scored by the benchmark's own eval.py; differences carry a paired bootstrap
over the queries. Throughput: the same sample of chunk texts through each variant, the
variants interleaved in every repetition.

Variants ending in ``_b1`` are embedded as the app embeds them since one text per model
call (embedder.DEFAULT_TEXTS_PER_CALL): by the app's own loaded models, each document and
each query alone. The others go through fastembed in batches of ``--batch`` sorted by
length (documents) and of all queries at once, as before: dynamic int8 moves a text's
vector with its batch-mates, so the two differ a little (the fp32-kernel file does not).
``bge_512_b1`` is also scored with bge-small's query instruction before each query
(fastembed does not add it).
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from codanna_desktop.core.semantic.embedder import (
    BGE_ID,
    LEGACY_MINILM_ID,
    MINILM_ID,
    Embedder,
    load_embedder,
    set_max_tokens,
)
from codanna_desktop.core.semantic.model_store import (
    BGE_SMALL,
    LEGACY_MINILM_DIRNAME,
    MINILM,
    install_default_models,
    model_dir,
)
from codanna_desktop.core.settings import AppPaths, Settings
from tests.benchmarks.cosqa import load_eval, materialise
from tests.benchmarks.workspace import (
    COSQA_DIR,
    DOCS_DIR,
    WORK_DIR,
    machine,
    open_engine,
    paired,
    share_models_folder,
    write_json,
)

TOP = 10


# Embedded over the whole corpus (the shipped files at their limit); the others over the
# sub-corpus only (every labelled answer and other functions up to SUB_CORPUS): the
# machine's 2 cores would need hours for every variant over all 6,292 chunks.
FULL_VARIANTS = ("minilm_q_512", "bge_512", "minilm_q_512_b1", "bge_512_b1", "minilm_old_512")
SUB_CORPUS = 1200
# bge-small-en-v1.5's instruction for retrieval queries (its model card: optional for v1.5).
BGE_QUERY_INSTRUCTION = "Represent this sentence for searching relevant passages: "


def variants(paths: AppPaths) -> dict[str, tuple[str, Path, int]]:
    """name -> (fastembed architecture, folder, max tokens), in the order they embed."""
    minilm = MINILM.name
    return {
        "minilm_q_512": (minilm, model_dir(paths, MINILM), 512),
        "bge_512": (BGE_SMALL.name, model_dir(paths, BGE_SMALL), 512),
        "minilm_old_512": (minilm, paths.models_dir / LEGACY_MINILM_DIRNAME, 512),
        "minilm_q_256": (minilm, model_dir(paths, MINILM), 256),
        "bge_256": (BGE_SMALL.name, model_dir(paths, BGE_SMALL), 256),
        "minilm_q_512_b1": (minilm, model_dir(paths, MINILM), 512),
        "bge_512_b1": (BGE_SMALL.name, model_dir(paths, BGE_SMALL), 512),
    }


class OneTextPerCall:
    """One of the app's default models as `load` gives a fastembed model: each text in a
    call of its own, on the app's workers (both cores), queries one at a time."""

    def __init__(self, part: Embedder) -> None:
        self.part = part
        self.model = part._model.model  # the tokenizer, for the token counts

    def passage_embed(self, texts: Sequence[str], batch_size: int = 1) -> list[np.ndarray]:
        return list(self.part.embed_documents(list(texts)))

    def query_embed(self, queries: Sequence[str]) -> list[np.ndarray]:
        return [self.part.embed_query(q) for q in queries]


_app_parts: dict[str, Embedder] = {}


def app_part(model_id: str) -> Embedder:
    if not _app_parts:
        for part in load_embedder(Settings(), AppPaths.default()).parts:
            assert isinstance(part, Embedder)
            _app_parts[part.model_id] = part
    return _app_parts[model_id]


def load(name: str, folder: Path, max_tokens: int) -> Any:
    from fastembed import TextEmbedding

    model = TextEmbedding(name, threads=2, specific_model_path=str(folder))
    set_max_tokens(model, max_tokens)
    return model


def chunk_texts(home: Path) -> list[tuple[str, str, str]]:
    """(relative path, text hash, text) of every chunk in the index."""
    db = sqlite3.connect(f"file:{home / 'data' / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT f.rel_path, c.text_hash, c.text FROM chunks c JOIN files f ON f.id = c.file_id"
            " ORDER BY c.id"
        ).fetchall()
    finally:
        db.close()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


class DiskCache:
    """Vectors of one variant by text hash, in one .npz, saved as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path.exists():
            with np.load(path) as data:
                self.vectors = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    def save(self) -> None:
        keys = list(self.vectors)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=np.stack([self.vectors[k] for k in keys]))
        tmp.replace(self.path)


def normalised(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)


def embed_all(model: Any, cache: DiskCache, texts: dict[str, str], batch: int) -> float:
    """Embed what the cache lacks, by length; returns the seconds it took."""
    lacking = sorted((h for h in texts if h not in cache.vectors), key=lambda h: len(texts[h]))
    t0 = time.perf_counter()
    for i in range(0, len(lacking), 256):
        part = lacking[i : i + 256]
        rows = normalised(
            np.array(list(model.passage_embed([texts[h] for h in part], batch_size=batch)))
        )
        cache.vectors.update(zip(part, rows, strict=True))
        cache.save()
        clock = time.strftime("%H:%M:%S")
        print(f"  {clock} {cache.path.stem}: {i + len(part)}/{len(lacking)}", flush=True)
    return time.perf_counter() - t0


def rank_files(
    doc_matrix: np.ndarray, doc_paths: Sequence[str], query_matrix: np.ndarray
) -> list[list[str]]:
    """Per query, file paths best first (a file once), the first TOP."""
    scores = query_matrix @ doc_matrix.T
    out = []
    for row in scores:
        order = np.argsort(-row, kind="stable")
        seen: dict[str, None] = {}
        for i in order:
            seen.setdefault(doc_paths[i], None)
            if len(seen) >= TOP:
                break
        out.append(list(seen))
    return out


def metrics(
    evaluator: Any,
    queries: list[dict[str, Any]],
    ranked: list[list[str]],
    path_to_id: dict[str, str],
) -> tuple[dict[str, float], np.ndarray]:
    by_qid = {q["qid"]: [path_to_id[p] for p in r] for q, r in zip(queries, ranked, strict=True)}
    aggregate, per_query = evaluator.evaluate(queries, lambda q: by_qid[q["qid"]])
    keep = ("MRR@10", "Recall@10", "nDCG@10")
    return {k: round(aggregate[k], 4) for k in keep}, np.array([m["rr@10"] for m in per_query])


def throughput(loaded: dict[str, Any], texts: list[str], reps: int, batch: int) -> dict[str, Any]:
    """Seconds for the same texts (sorted by length, as the pipeline feeds them) through
    each variant, interleaved; each session warmed on them first."""
    ordered = sorted(texts, key=len)
    for model in loaded.values():
        list(model.passage_embed(ordered, batch_size=batch))
    runs: dict[str, list[float]] = {name: [] for name in loaded}
    for rep in range(reps):
        names = list(loaded) if rep % 2 == 0 else list(reversed(loaded))
        for name in names:
            t0 = time.perf_counter()
            list(loaded[name].passage_embed(ordered, batch_size=batch))
            runs[name].append(round(time.perf_counter() - t0, 2))
    medians = {name: float(np.median(r)) for name, r in runs.items()}
    return {
        "texts": len(texts),
        "batch": batch,
        "runs_s": runs,
        "median_s": {k: round(v, 2) for k, v in medians.items()},
        "chunks_per_s": {k: round(len(texts) / v, 1) for k, v in medians.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cosqa", type=Path, default=COSQA_DIR)
    p.add_argument("--work", type=Path, default=WORK_DIR / "cosqa", help="the CoSQA index")
    p.add_argument("--cache", type=Path, default=WORK_DIR / "models")
    p.add_argument("--out", type=Path, default=DOCS_DIR)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--throughput-texts", type=int, default=200)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--only", nargs="*", help="variants to embed (default: all)")
    args = p.parse_args(argv)
    share_models_folder()
    started = machine()
    paths = AppPaths.default()
    install_default_models(paths, log=lambda message: None)

    evaluator = load_eval(args.cosqa)
    corpus = evaluator.read_jsonl(str(args.cosqa / "corpus.jsonl"))
    queries = evaluator.read_jsonl(str(args.cosqa / "dev_queries.jsonl"))
    root, home = args.work / "corpus", args.work / "home"
    materialise(corpus, root)
    with open_engine(home) as engine:
        engine.add_root(root)
        engine.index(embed=False)
    chunks = chunk_texts(home)
    texts = {h: t for _, h, t in chunks}
    doc_paths = [rel for rel, _, _ in chunks]
    path_to_id = {d["path"]: d["id"] for d in corpus}
    print(f"{len(chunks)} chunks, {len(texts)} distinct texts", flush=True)
    answers = {d for q in queries for d in q["relevant"]}
    sub_ids = [d["id"] for d in corpus if d["id"] in answers]
    sub_ids += [d["id"] for d in corpus if d["id"] not in answers][: SUB_CORPUS - len(sub_ids)]
    sub_paths = {d["path"] for d in corpus if d["id"] in set(sub_ids)}
    in_sub = np.array([rel in sub_paths for rel in doc_paths])
    sub_texts = {h: t for rel, h, t in chunks if rel in sub_paths}

    args.cache.mkdir(parents=True, exist_ok=True)
    table = variants(paths)
    docs: dict[str, np.ndarray] = {}
    qs: dict[str, np.ndarray] = {}
    loaded: dict[str, Any] = {}
    tokens: dict[str, int] = {}
    embed_seconds: dict[str, float] = {}
    for name, (arch, folder, max_tokens) in table.items():
        if name.endswith("_b1"):
            model: Any = OneTextPerCall(app_part(MINILM_ID if "minilm" in name else BGE_ID))
        else:
            model = load(arch, folder, max_tokens)
        loaded[name] = model
        cache = DiskCache(args.cache / f"{name}.npz")
        longer = name.replace("_256", "_512")
        if longer != name and (args.cache / f"{longer}.npz").exists():
            # A text of at most 256 tokens is not cut by either limit: reuse its vector.
            full = DiskCache(args.cache / f"{longer}.npz").vectors
            tokenizer = model.model.tokenizer
            padding = tokenizer.padding
            tokenizer.no_truncation()
            tokenizer.no_padding()  # counts of each text, not of the batch's longest
            hashes = list(texts)
            counts = [len(e.ids) for e in tokenizer.encode_batch([texts[h] for h in hashes])]
            set_max_tokens(model, max_tokens)
            if padding:
                tokenizer.enable_padding(**padding)
            for h, count in zip(hashes, counts, strict=True):
                if count <= 256 and h in full:
                    cache.vectors.setdefault(h, full[h])
        wanted = texts if name in FULL_VARIANTS else sub_texts
        if not args.only or name in args.only:
            embed_seconds[name] = round(embed_all(model, cache, wanted, args.batch), 1)
        if not all(h in cache.vectors for h in wanted):
            print(f"  {name}: not embedded yet, skipped", flush=True)
            continue
        zero = np.zeros(384, dtype=np.float32)
        docs[name] = np.stack([cache.vectors.get(h, zero) for _, h, _ in chunks])
        qs[name] = normalised(np.array(list(model.query_embed([q["query"] for q in queries]))))
        if name == "bge_512_b1":
            instructed = [BGE_QUERY_INSTRUCTION + q["query"] for q in queries]
            docs["bge_512_b1_instructed"] = docs[name]
            qs["bge_512_b1_instructed"] = normalised(np.array(model.query_embed(instructed)))
        if name.endswith("_512"):
            tokenizer = model.model.tokenizer
            padding = tokenizer.padding
            tokenizer.no_padding()
            counts = [len(e.ids) for e in tokenizer.encode_batch(list(texts.values()))]
            if padding:
                tokenizer.enable_padding(**padding)
            tokens[name] = sum(1 for c in counts if c >= 512)
            tokens[name.replace("_512", "_over_256")] = sum(1 for c in counts if c > 256)

    results: dict[str, dict[str, float]] = {}
    per_query: dict[str, np.ndarray] = {}

    sub_doc_paths = [rel for rel, keep in zip(doc_paths, in_sub, strict=True) if keep]

    def score(label: str, doc_matrix: np.ndarray, query_matrix: np.ndarray, full: bool) -> None:
        """Scored over the sub-corpus, and over the whole corpus when every vector is there."""
        scopes = [("sub", doc_matrix[in_sub], sub_doc_paths)]
        if full:
            scopes.append(("full", doc_matrix, doc_paths))
        for scope, matrix, scope_paths in scopes:
            ranked = rank_files(matrix, scope_paths, query_matrix)
            key = f"{scope}: {label}"
            results[key], per_query[key] = metrics(evaluator, queries, ranked, path_to_id)
            print(f"{key}: {results[key]}", flush=True)

    for name in docs:
        score(name, docs[name], qs[name], name.removesuffix("_instructed") in FULL_VARIANTS)

    def fused(a: str, b: str, weight: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        wa, wb = np.sqrt(weight), np.sqrt(1 - weight)
        return (
            np.concatenate([wa * docs[a], wb * docs[b]], axis=1),
            np.concatenate([wa * qs[a], wb * qs[b]], axis=1),
        )

    findings: dict[str, Any] = {}
    pairs = (
        ("minilm_q_512", "bge_512"),
        ("minilm_q_256", "bge_512"),
        ("minilm_q_256", "bge_256"),
        ("minilm_old_512", "bge_512"),
        ("minilm_q_512_b1", "bge_512_b1"),
        ("minilm_old_512", "bge_512_b1"),
        ("minilm_q_512_b1", "bge_512_b1_instructed"),
        ("minilm_old_512", "bge_512_b1_instructed"),
    )
    for a, b in pairs:
        if a in docs and b in docs:
            full = a in FULL_VARIANTS and b.removesuffix("_instructed") in FULL_VARIANTS
            score(f"fused {a}+{b}", *fused(a, b), full)
    if "minilm_q_512" in docs and "bge_512" in docs:
        for w in (0.3, 0.7):
            label = f"fused minilm_q_512+bge_512 weight {w}"
            score(label, *fused("minilm_q_512", "bge_512", w), True)
    if "minilm_old_512" in docs and "minilm_q_512" in docs:
        # The migration: documents cached with the old file, queries by the new one.
        label = "old documents, new queries (minilm 512)"
        score(label, docs["minilm_old_512"], qs["minilm_q_512"], False)

    # A chunk with only MiniLM's vector among fused ones: half the chunks (every other
    # file), stored the way a store would hold it (cosine: the vector is normalised).
    a, b = "minilm_q_512", "bge_512"
    if a in docs and b in docs:
        files = sorted(set(doc_paths))
        half = {f for i, f in enumerate(files) if i % 2 == 0}
        only_a = np.array([path in half for path in doc_paths])
        full_docs, full_queries = fused(a, b)
        mean_b = docs[b].mean(axis=0)
        for label, fill in (("zeros", np.zeros_like(mean_b)), ("mean bge vector", mean_b)):
            partial = np.concatenate([docs[a], np.tile(fill, (len(docs[a]), 1))], axis=1)
            mixed = np.where(only_a[:, None], normalised(partial), full_docs)
            score(f"half MiniLM only, filled with {label}", mixed, full_queries, True)
        cos_a = qs[a] @ docs[a].T
        cos_b = qs[b] @ docs[b].T
        findings["cosine_scales"] = {
            "minilm_mean_top10": round(float(np.mean(np.sort(cos_a, axis=1)[:, -10:])), 3),
            "bge_mean_top10": round(float(np.mean(np.sort(cos_b, axis=1)[:, -10:])), 3),
            "minilm_mean_all": round(float(cos_a.mean()), 3),
            "bge_mean_all": round(float(cos_b.mean()), 3),
        }

    comparisons = {}
    for x, y in (
        ("full: fused minilm_q_512+bge_512", "full: minilm_q_512"),
        ("sub: fused minilm_q_512+bge_512", "sub: minilm_old_512"),
        ("sub: minilm_q_512", "sub: minilm_old_512"),
        ("sub: minilm_q_256", "sub: minilm_q_512"),
        ("sub: bge_256", "sub: bge_512"),
        ("sub: fused minilm_q_256+bge_512", "sub: fused minilm_q_512+bge_512"),
        ("sub: fused minilm_q_256+bge_256", "sub: fused minilm_q_512+bge_512"),
        ("sub: old documents, new queries (minilm 512)", "sub: minilm_q_512"),
        ("full: half MiniLM only, filled with zeros", "full: minilm_q_512"),
        ("full: half MiniLM only, filled with mean bge vector", "full: minilm_q_512"),
        # One text per call against batches, each model and fused.
        ("full: minilm_q_512_b1", "full: minilm_q_512"),
        ("full: bge_512_b1", "full: bge_512"),
        ("full: fused minilm_q_512_b1+bge_512_b1", "full: fused minilm_q_512+bge_512"),
        # What integer kernels cost MiniLM (the fp32-kernel file is batch-independent).
        ("full: minilm_q_512", "full: minilm_old_512"),
        ("full: minilm_q_512_b1", "full: minilm_old_512"),
        ("full: fused minilm_q_512+bge_512", "full: fused minilm_old_512+bge_512"),
        ("full: fused minilm_q_512_b1+bge_512_b1", "full: fused minilm_old_512+bge_512_b1"),
        # bge-small's query instruction.
        ("full: bge_512_b1_instructed", "full: bge_512_b1"),
        (
            "full: fused minilm_q_512_b1+bge_512_b1_instructed",
            "full: fused minilm_q_512_b1+bge_512_b1",
        ),
        (
            "full: fused minilm_old_512+bge_512_b1_instructed",
            "full: fused minilm_old_512+bge_512_b1",
        ),
    ):
        if x in per_query and y in per_query:
            comparisons[f"{x} vs {y}"] = paired(per_query[x], per_query[y])
            print(f"{x} vs {y}: {comparisons[f'{x} vs {y}']}", flush=True)

    sample = [t for _, _, t in chunks][:: max(1, len(chunks) // args.throughput_texts)][
        : args.throughput_texts
    ]
    speed_models = {
        k: loaded[k] for k in ("minilm_old_512", "minilm_q_512", "bge_512") if k in loaded
    }
    speed = throughput(speed_models, sample, args.reps, batch=4)
    if {"minilm_q_512", "bge_512", "minilm_old_512"} <= set(speed["median_s"]):
        both = speed["median_s"]["minilm_q_512"] + speed["median_s"]["bge_512"]
        speed["both_over_old_time"] = round(both / speed["median_s"]["minilm_old_512"], 3)
    print(f"throughput: {speed}", flush=True)

    # Seed the CoSQA index's embedding cache with the shipped variants.
    # The app's own vectors (one text per call) where they are embedded.
    shipped = {"minilm_old_512": LEGACY_MINILM_ID, "minilm_q_512": MINILM_ID, "bge_512": BGE_ID}
    shipped |= {"minilm_q_512_b1": MINILM_ID, "bge_512_b1": BGE_ID}
    with open_engine(home) as engine:
        for name, model_id in shipped.items():  # later names replace earlier ones
            if name in docs:
                cache = DiskCache(args.cache / f"{name}.npz")
                vectors = {h: cache.vectors[h] for h in texts if h in cache.vectors}
                engine.catalog.cache_vectors(model_id, vectors)

    write_json(
        args.out,
        "models",
        {
            "benchmark": "models",
            "command": "python -m tests.benchmarks.models",
            "machine": started,
            "chunks": len(chunks),
            "sub_corpus": {"functions": len(sub_ids), "chunks": int(in_sub.sum())},
            "texts": len(texts),
            "queries": len(queries),
            "batch": args.batch,
            "texts_at_512_tokens_or_more": tokens,
            "embed_seconds_this_run": embed_seconds,
            "results": results,
            "comparisons": comparisons,
            "findings": findings,
            "throughput": speed,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
