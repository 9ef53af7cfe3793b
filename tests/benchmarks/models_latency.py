"""The search box's latency with the default models, and what the query embedding takes
of it, on the CoSQA index, with the embedded store (hnswlib) and with PostgreSQL.

    .venv/bin/python -m tests.benchmarks.models_latency --cosqa-home bench-work/cosqa/home

Each configuration ("fast": MiniLM alone, "both": the default) gets a copy of the CoSQA
index whose embedding cache holds both models' vectors (`tests.benchmarks.models`), so
filling its stores embeds nothing. A query is what the search box runs per text:
`Engine.search` + `SearchSession.results` at the default weight, on 100 CoSQA questions
and 100 function names, each new to the engine (each pass opens the engine again: a text
asked before is answered from the query-vector cache, which would measure nothing of the
models). The configurations and stores are interleaved per pass, the order alternating
(each pass after one warm-up search); per query the wall time of the
whole search, of the query embedding, the vector store's search and the lexical search
inside it (each timed where the search calls it), and the process's CPU time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codanna_desktop.core.settings import Settings
from tests.benchmarks.models_cost import cosqa_queries, identifier_queries
from tests.benchmarks.speed import median, pg_server
from tests.benchmarks.workspace import (
    COSQA_DIR,
    DOCS_DIR,
    WORK_DIR,
    latency_summary,
    machine,
    open_engine,
    write_json,
)

CONFIGS = ("fast", "both")
STORES = ("hnswlib", "pgvector")


def analyse(url: str, store: Any) -> None:
    """Table statistics, as autovacuum gathers them some time after a fill. Without them
    the planner takes the freshly filled table for a few rows and ranks every row of the
    catalog exactly instead of walking the HNSW index (BENCHMARKS.md §15)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(store.table)))


def timing(obj: Any, method: str, seconds: list[float]) -> None:
    """Time every call of `obj.method` into `seconds` (an instance attribute, for one pass)."""
    real = getattr(obj, method)

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - t0)

    setattr(obj, method, timed)


def one_pass(engine: Any, queries: Sequence[str]) -> dict[str, Any]:
    """Every query once, on an engine that has seen none of them; with the wall time of
    the parts the search calls: the query embedding, the vector store's and the lexical
    index's searches (what is left is the catalog's rows and the ranking)."""
    parts: dict[str, list[float]] = {"embed_query": [], "vector_search": [], "lexical_search": []}
    timing(engine.load_model(), "embed_query", parts["embed_query"])
    timing(engine.semantic.store(), "search", parts["vector_search"])
    timing(engine.lexical, "search", parts["lexical_search"])
    wall, cpu = [], []
    for q in queries:
        t0, c0 = time.perf_counter(), time.process_time()
        engine.search(q).results(engine.settings.alpha, 20)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {
        "search": latency_summary(wall),
        **{name: latency_summary(seconds) for name, seconds in parts.items()},
        "cpu": latency_summary(cpu),
        "load_average": round(os.getloadavg()[0], 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cosqa", type=Path, default=COSQA_DIR)
    p.add_argument("--cosqa-home", type=Path, default=WORK_DIR / "cosqa" / "home")
    p.add_argument("--work", type=Path, default=WORK_DIR / "models-latency")
    p.add_argument("--out", type=Path, default=DOCS_DIR)
    p.add_argument("--name", default="models_latency", help="the JSON's name in --out")
    p.add_argument("--queries", type=int, default=100, help="per kind")
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--configs", nargs="*", default=list(CONFIGS))
    p.add_argument("--stores", nargs="*", default=list(STORES))
    p.add_argument(
        "--analyse",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ANALYZE each pgvector table once filled (what autovacuum does in time)",
    )
    args = p.parse_args(argv)
    started = machine()
    queries = cosqa_queries(args.cosqa, args.queries)
    queries += identifier_queries(args.cosqa_home, args.queries)
    work = args.work.resolve()
    runs: dict[str, list[dict[str, Any]]] = {}
    with pg_server() as server:
        setups: dict[str, tuple[Path, Settings]] = {}
        for config in args.configs:
            home = work / f"cosqa-{config}"
            shutil.rmtree(home, ignore_errors=True)
            shutil.copytree(args.cosqa_home, home)
            for store in args.stores:
                url = server.create_database() if store == "pgvector" else None
                settings = Settings(embedding_models=config, database_url=url)
                with open_engine(home, settings) as engine:
                    report = engine.index()
                    assert report.chunks_embedded == 0, report  # all from the cache
                    if url is not None and args.analyse:
                        analyse(url, engine.semantic.store())
                setups[f"{config}/{store}"] = (home, settings)
                runs[f"{config}/{store}"] = []
        for n in range(args.passes):
            order = list(setups) if n % 2 == 0 else list(reversed(setups))
            for key in order:
                home, settings = setups[key]
                # A new engine each pass: its model and its query-vector cache are new.
                with open_engine(home, settings, writer=False) as engine:
                    engine.search("warm up the model and the store").results(0.8, 20)
                    runs[key].append(one_pass(engine, queries))
                last = runs[key][-1]
                print(
                    f"{key} pass {n}: search p50 {last['search']['p50_ms']} p95 "
                    f"{last['search']['p95_ms']} ms, embed_query p50 "
                    f"{last['embed_query']['p50_ms']} p95 {last['embed_query']['p95_ms']}"
                    f" ms, load {last['load_average']}",
                    flush=True,
                )
    summary = {
        key: {
            part: {
                stat: round(median([r[part][stat] for r in items]), 2)
                for stat in ("p50_ms", "p95_ms")
            }
            for part in ("search", "embed_query", "vector_search", "lexical_search", "cpu")
        }
        | {"search_p95_per_pass_ms": [r["search"]["p95_ms"] for r in items]}
        for key, items in runs.items()
    }
    write_json(
        args.out,
        args.name,
        {
            "benchmark": "models_latency",
            "command": "python -m tests.benchmarks.models_latency",
            "machine": started,
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "queries": len(queries),
            "passes": args.passes,
            "pgvector_tables_analysed": args.analyse,
            "summary": summary,
            "runs": runs,
        },
    )
    for key, s in summary.items():
        print(key, s, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
