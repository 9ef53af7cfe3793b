"""What the default models cost: embedding throughput and peak memory of the pipeline,
query latency of the search box, and index size, for today's file, "fast" and "both".

    .venv/bin/python -m tests.benchmarks.models_cost

- Pipeline: the same chunks of the standard library through `Engine.embed_pending` (cache
  look-up, models, vector store, catalog), each configuration in its own process: model
  loaded, one warm-up pass, then the timed pass, each pass into a fresh CODANNA_HOME (so
  nothing comes from the cache); the process's peak RSS (VmHWM) is the memory figure.
  "today" is the previous release's own code (``git archive`` of ``--today-ref``, main
  before this change, into the work folder) with its default model: the packaged MiniLM
  file (int8 storage, fp32 kernels), its batches and sessions; configurations are
  interleaved per repetition.
- Latency and size: the CoSQA index of `tests.benchmarks.models` (its cache holds both
  models' vectors, so building the stores embeds nothing), as 384-d ("fast") and 768-d
  ("both") stores, hnswlib and pgvector (a real PostgreSQL + pgvector server); the
  halved pgvector alternative (``halfvec``) is built from the same rows and its ranking
  compared on the CoSQA queries.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codanna_desktop.core.chunking.chunker import Chunker
from codanna_desktop.core.settings import Settings
from tests.benchmarks.speed import (
    SUBSET_MODULES,
    SUBSET_PACKAGES,
    copy_tree,
    median,
    pg_server,
    subset_files,
)
from tests.benchmarks.workspace import (
    COSQA_DIR,
    DOCS_DIR,
    REPO_ROOT,
    WORK_DIR,
    folder_size,
    home_paths,
    latency_summary,
    machine,
    open_engine,
    share_models_folder,
    stdlib_dir,
    write_json,
)

CONFIGS = ("today", "fast", "both")

_PIPELINE = """
import json, os, shutil, sys, time
from pathlib import Path
from codanna_desktop.core.semantic.embedder import load_embedder
from codanna_desktop.core.engine import Engine
from codanna_desktop.core.settings import AppPaths, Settings
from tests.benchmarks.workspace import home_paths, peak_rss_mb
tree, work, config = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
settings = Settings() if config == "today" else Settings(embedding_models=config)
embedder = load_embedder(settings, AppPaths.default())
loaded = peak_rss_mb()
seconds, cpu = [], []
for name in ("warm-up", "timed"):
    home = work / f"{config}-{name}"
    shutil.rmtree(home, ignore_errors=True)
    with Engine(home_paths(home), settings, embedder=embedder) as engine:
        engine.add_root(tree)
        engine.index(embed=False)
        t0, c0 = time.perf_counter(), time.process_time()
        report = engine.embed_pending()
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    shutil.rmtree(home, ignore_errors=True)
print(json.dumps({"seconds": seconds[-1], "warm_up_s": seconds[0], "cpu_s": cpu[-1],
                  "chunks": report.chunks_embedded, "loaded_mb": loaded, "peak_mb": peak_rss_mb(),
                  "load_average": os.getloadavg()[0]}))
"""


def embed_tree(work: Path, chunks_wanted: int) -> tuple[Path, int]:
    """Files of the standard-library subset, in order, until there are enough chunks."""
    stdlib = stdlib_dir()
    chunker = Chunker()
    files = subset_files(stdlib, SUBSET_MODULES, SUBSET_PACKAGES)
    picked, total = [], 0
    for p in files:
        if total >= chunks_wanted:
            break
        picked.append(p)
        total += len(chunker.chunk(p.name, p.read_text(errors="replace")))
    root = work / "embed-tree"
    shutil.rmtree(root, ignore_errors=True)
    copy_tree(picked, stdlib, root)
    return root, total


def today_tree(work: Path, ref: str) -> Path:
    """The source tree of `ref` (the code before this change), extracted, never checked out."""
    tree = work / "today-code"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", ref, "codanna_desktop", "tests"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def pipeline(
    work: Path, chunks: int, reps: int, today_ref: str, configs: Sequence[str] = CONFIGS
) -> dict[str, Any]:
    started = machine()
    tree, total = embed_tree(work, chunks)
    code = {"today": today_tree(work, today_ref)}
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in configs}
    for rep in range(reps):
        order = tuple(configs) if rep % 2 == 0 else tuple(reversed(configs))
        for config in order:
            source = code.get(config, REPO_ROOT)
            proc = subprocess.run(
                [sys.executable, "-c", _PIPELINE, str(tree), str(work), config],
                capture_output=True,
                text=True,
                check=True,
                cwd=str(source),
                env={**os.environ, "PYTHONPATH": str(source)},
            )
            runs[config].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"pipeline {config}: {runs[config][-1]}", flush=True)
    out: dict[str, Any] = {
        "chunks": total,
        "reps": reps,
        "today_ref": today_ref,
        "date": started["date"],
        "load_average_at_start": started["load_average_at_start"],
        "runs": runs,
    }
    for config, items in runs.items():
        seconds = median([r["seconds"] for r in items])
        out[config] = {
            "seconds": round(seconds, 2),
            "cpu_s": round(median([r["cpu_s"] for r in items]), 2),
            "chunks_per_s": round(items[0]["chunks"] / seconds, 1),
            "peak_rss_mb": round(median([r["peak_mb"] for r in items]), 1),
            "rss_after_load_mb": round(median([r["loaded_mb"] for r in items]), 1),
        }
    today = out["today"]["seconds"]
    out["throughput_vs_today"] = {c: round(today / out[c]["seconds"], 3) for c in configs}
    return out


def per_1000(size: int, chunks: int) -> float:
    """KiB per 1,000 chunks."""
    return round(size * 1000 / chunks / 1024, 1)


def cosqa_queries(cosqa: Path, n: int) -> list[str]:
    lines = (cosqa / "dev_queries.jsonl").read_text().splitlines()
    return [json.loads(line)["query"] for line in lines[:n]]


def identifier_queries(home: Path, n: int) -> list[str]:
    import sqlite3

    db = sqlite3.connect(f"file:{home_paths(home).data_dir / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        names = [r[0] for r in db.execute("SELECT symbol FROM chunks WHERE symbol IS NOT NULL")]
    finally:
        db.close()
    return sorted(set(names))[:: max(1, len(set(names)) // n)][:n]


def latency(engine: Any, queries: Sequence[str], reps: int) -> dict[str, Any]:
    """The search box: Engine.search + results at the default weight, per query."""
    engine.search("warm up the model").results(0.8, 20)
    passes = []
    for _ in range(reps):
        seconds = []
        for q in queries:
            t0 = time.perf_counter()
            engine.search(q).results(engine.settings.alpha, 20)
            seconds.append(time.perf_counter() - t0)
        passes.append(latency_summary(seconds))
    return {
        "p50_ms": round(median([p["p50_ms"] for p in passes]), 2),
        "p95_ms": round(median([p["p95_ms"] for p in passes]), 2),
        "passes": passes,
    }


def halfvec(url: str, table: str, dim: int) -> dict[str, Any]:
    """A halfvec copy of a pgvector table with its own HNSW index: its size."""
    import psycopg

    half = f"{table}_half"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{half}"')
        conn.execute(
            f'CREATE TABLE "{half}" AS SELECT catalog_id, chunk_id, root_key, path, language,'
            f' embedding::halfvec({dim}) AS embedding FROM "{table}"'
        )
        conn.execute(f'ALTER TABLE "{half}" ADD PRIMARY KEY (catalog_id, chunk_id)')
        conn.execute(
            f'CREATE INDEX ON "{half}" (catalog_id, root_key);'
            f' CREATE INDEX ON "{half}" USING hnsw (embedding halfvec_cosine_ops)'
        )
        sizes = {}
        for name in (table, half):
            row = conn.execute("SELECT pg_total_relation_size(%s)", (name,)).fetchone()
            sizes[name] = int(row[0]) if row else 0
    return {"table": table, "half_table": half, "bytes": sizes[table], "half_bytes": sizes[half]}


def halfvec_agreement(
    url: str, tables: tuple[str, str], engine: Any, queries: Sequence[str]
) -> dict[str, Any]:
    """Top-10 chunks of each query from the vector and the halfvec table: overlap."""
    import numpy as np
    import psycopg
    from pgvector.psycopg import register_vector

    embedder = engine.load_model()
    overlaps, same_first = [], 0
    with psycopg.connect(url) as conn:
        register_vector(conn)
        conn.execute("SET hnsw.ef_search = 100")
        for q in queries:
            vector = np.asarray(embedder.embed_query(q), dtype=np.float32)
            tops = []
            for table, cast in ((tables[0], "vector"), (tables[1], f"halfvec({len(vector)})")):
                rows = conn.execute(
                    f'SELECT chunk_id FROM "{table}" ORDER BY embedding <=> %s::{cast} LIMIT 10',
                    (vector,),
                ).fetchall()
                tops.append([r[0] for r in rows])
            overlaps.append(len(set(tops[0]) & set(tops[1])) / 10)
            same_first += tops[0][:1] == tops[1][:1]
    return {
        "queries": len(queries),
        "mean_top10_overlap": round(sum(overlaps) / len(overlaps), 4),
        "same_first_result": same_first,
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cosqa", type=Path, default=COSQA_DIR)
    p.add_argument("--work", type=Path, default=WORK_DIR / "models-cost")
    p.add_argument("--cosqa-home", type=Path, default=WORK_DIR / "cosqa" / "home")
    p.add_argument("--out", type=Path, default=DOCS_DIR)
    p.add_argument("--chunks", type=int, default=100)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--queries", type=int, default=100, help="per kind")
    p.add_argument("--skip-pipeline", action="store_true")
    p.add_argument("--pipeline-only", action="store_true", help="no latency or sizes")
    p.add_argument("--name", default="models_cost", help="the JSON's name in --out")
    p.add_argument("--today-ref", default="main", help="the code to compare with (a git ref)")
    args = p.parse_args(argv)
    share_models_folder()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "benchmark": "models_cost",
        "command": "python -m tests.benchmarks.models_cost",
        "machine": machine(),
    }
    if not args.skip_pipeline:
        result["pipeline"] = pipeline(work, args.chunks, args.reps, args.today_ref)
    if args.pipeline_only:
        write_json(args.out, args.name, result)
        print(json.dumps(result, indent=1))
        return 0

    queries = cosqa_queries(args.cosqa, args.queries)
    queries += identifier_queries(args.cosqa_home, args.queries)
    stores: dict[str, Any] = {}
    sizes: dict[str, Any] = {}
    with pg_server() as server:
        for config in ("fast", "both"):
            home = work / f"cosqa-{config}"
            shutil.rmtree(home, ignore_errors=True)
            shutil.copytree(args.cosqa_home, home)  # the catalog and cache; stores built here
            for store in ("hnswlib", "pgvector"):
                url = server.create_database() if store == "pgvector" else None
                settings = Settings(embedding_models=config, database_url=url)
                with open_engine(home, settings) as engine:
                    report = engine.index()
                    assert report.chunks_embedded == 0, report
                    chunks = engine.status().chunks
                stores[f"{config}/{store}"] = (home, settings)
                if store == "hnswlib":
                    vectors = home_paths(home).data_dir / "vectors"
                    newest = max(vectors.glob("*.hnsw"), key=lambda f: f.stat().st_mtime)
                    sizes[f"{config}/hnswlib"] = {
                        "bytes": folder_size(newest),
                        "kb_per_1000_chunks": per_1000(folder_size(newest), chunks),
                    }
                else:
                    with open_engine(home, settings, writer=False) as engine:
                        table = engine._get_vectors().table
                        dim = engine.load_model().dim
                    half = halfvec(url, table, dim)
                    sizes[f"{config}/pgvector"] = {
                        "bytes": half["bytes"],
                        "kb_per_1000_chunks": per_1000(half["bytes"], chunks),
                        "halfvec_bytes": half["half_bytes"],
                        "halfvec_kb_per_1000_chunks": per_1000(half["half_bytes"], chunks),
                    }
                    with open_engine(home, settings, writer=False) as engine:
                        sizes[f"{config}/pgvector"]["halfvec_ranking"] = halfvec_agreement(
                            url, (table, half["half_table"]), engine, queries[: args.queries]
                        )
                print(f"sizes {config}/{store}: {sizes[f'{config}/{store}']}", flush=True)
        # Latency: every store in turn, repeated, the order alternating.
        timings: dict[str, list[dict[str, Any]]] = {k: [] for k in stores}
        for rep in range(args.reps):
            order = list(stores) if rep % 2 == 0 else list(reversed(stores))
            for key in order:
                home, settings = stores[key]
                with open_engine(home, settings, writer=False) as engine:
                    timings[key].append(latency(engine, queries, 1))
                print(f"latency {key}: {timings[key][-1]['p95_ms']} ms p95", flush=True)
        result["query_latency"] = {
            key: {
                "queries": len(queries),
                "p50_ms": round(median([t["p50_ms"] for t in runs]), 2),
                "p95_ms": round(median([t["p95_ms"] for t in runs]), 2),
                "p95_runs_ms": [t["p95_ms"] for t in runs],
            }
            for key, runs in timings.items()
        }
    result["sizes"] = {"chunks": chunks, **sizes}
    write_json(args.out, args.name, result)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
