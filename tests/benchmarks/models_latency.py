"""The search box's latency with the default models, and what the query embedding takes
of it, on the CoSQA index, with the embedded store (hnswlib) and with PostgreSQL.

    .venv/bin/python -m tests.benchmarks.models_latency --cosqa-home bench-work/cosqa/home

Each configuration ("fast": MiniLM alone, "both": the default) gets a copy of the CoSQA
index whose embedding cache holds both models' vectors (`tests.benchmarks.models`), so
filling its stores embeds nothing. A query is what the search box runs per text:
`Engine.search` + `SearchSession.results` at the default weight, on 100 CoSQA questions
and 100 function names, each new to the engine (each pass runs in a new process: a text
asked before is answered from the query-vector cache, which would measure nothing of the
models). The configurations and stores are interleaved per pass, the order alternating
(each pass after one warm-up search); per query the wall time of the whole search, of
the query embedding, the vector store's search and the lexical search inside it (each
timed where the search calls it), and the process's CPU time.

`--before-ref REF` runs every pass twice, with this code and with the code of REF
(extracted with `git archive`, never checked out), interleaved, each code with stores it
filled itself: so before and after are measured in one run. The PostgreSQL tables are
searched as they are just after the fill (autovacuum is off for them, so it cannot
analyse them during the run) unless `--analyse` analyses them first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.benchmarks.models_cost import cosqa_queries, identifier_queries, today_tree
from tests.benchmarks.speed import median, pg_server
from tests.benchmarks.workspace import (
    COSQA_DIR,
    DOCS_DIR,
    REPO_ROOT,
    WORK_DIR,
    latency_summary,
    machine,
    share_models_folder,
    write_json,
)

CONFIGS = ("fast", "both")
STORES = ("hnswlib", "pgvector")
PARTS = ("search", "embed_query", "vector_search", "lexical_search", "cpu")

# Run in a process of its own, in the code tree being measured (this one or --before-ref):
# only the engine's public calls, which both trees have.
_SETTINGS = """
import json, os, sys, time
from pathlib import Path
from codanna_desktop.core.engine import Engine
from codanna_desktop.core.settings import AppPaths, Settings
home, config, url = Path(sys.argv[1]), sys.argv[2], sys.argv[3] or None
paths = AppPaths(config_dir=home / "config", data_dir=home / "data")
settings = Settings(embedding_models=config, database_url=url)
"""

_FILL = (
    _SETTINGS
    + """
import psycopg
from psycopg import sql
autovacuum, analyse = sys.argv[4] == "1", sys.argv[5] == "1"
with Engine(paths, settings) as engine:
    store = engine.semantic.store()
    store.count()  # creates the table before the fill
    if url is not None and not autovacuum:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false)")
                         .format(sql.Identifier(store.table)))
    report = engine.index()
    assert report.chunks_embedded == 0, report  # all from the cache
    if url is not None and analyse:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(store.table)))
print(json.dumps({"table": getattr(store, "table", None)}))
"""
)

_PASS = (
    _SETTINGS
    + """
queries = json.loads(Path(sys.argv[4]).read_text())
parts = {"embed_query": [], "vector_search": [], "lexical_search": []}

def timing(obj, method, seconds):
    real = getattr(obj, method)
    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - t0)
    setattr(obj, method, timed)

with Engine(paths, settings, writer=False) as engine:
    engine.search("warm up the model and the store").results(0.8, 20)
    timing(engine.load_model(), "embed_query", parts["embed_query"])
    timing(engine.semantic.store(), "search", parts["vector_search"])
    timing(engine.lexical, "search", parts["lexical_search"])
    wall, cpu = [], []
    for q in queries:
        t0, c0 = time.perf_counter(), time.process_time()
        engine.search(q).results(engine.settings.alpha, 20)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
print(json.dumps({"search": wall, "cpu": cpu, **parts, "load": os.getloadavg()[0]}))
"""
)


def run_script(script: str, tree: Path, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=str(tree),
        env={**os.environ, "PYTHONPATH": str(tree)},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{tree}: {proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        **{part: latency_summary(raw[part]) for part in PARTS},
        "load_average": round(raw["load"], 2),
    }


def command(argv: Sequence[str]) -> str:
    """The command as run, with the folders it was given as placeholders (they name
    this machine's paths)."""
    words, folder = ["python -m tests.benchmarks.models_latency"], False
    for arg in argv:
        words.append(f"<{words[-1].lstrip('-')}>" if folder else arg)
        folder = arg in ("--cosqa", "--cosqa-home", "--work", "--out")
    return " ".join(words)


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
    p.add_argument("--before-ref", help="also measure the code of this git ref, interleaved")
    p.add_argument(
        "--analyse",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="ANALYZE each pgvector table once filled (what autovacuum does in time)",
    )
    p.add_argument(
        "--autovacuum",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="leave autovacuum on for the tables (then when it analyses them is chance)",
    )
    args = p.parse_args(argv)
    share_models_folder()
    started = machine()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    queries = cosqa_queries(args.cosqa, args.queries)
    queries += identifier_queries(args.cosqa_home, args.queries)
    queries_file = work / "queries.json"
    queries_file.write_text(json.dumps(queries))
    trees = {"after": REPO_ROOT}
    if args.before_ref:
        before_work = work / "before"
        before_work.mkdir(exist_ok=True)
        trees = {"before": today_tree(before_work, args.before_ref), **trees}
    runs: dict[str, list[dict[str, Any]]] = {}
    with pg_server() as server:
        setups: dict[str, tuple[Path, Path, str, str]] = {}
        for code, tree in trees.items():
            for config in args.configs:
                home = work / f"cosqa-{config}-{code}"
                shutil.rmtree(home, ignore_errors=True)
                shutil.copytree(args.cosqa_home, home)
                for store in args.stores:
                    url = server.create_database() if store == "pgvector" else ""
                    flags = ("1" if args.autovacuum else "0", "1" if args.analyse else "0")
                    run_script(_FILL, tree, str(home), config, url, *flags)
                    key = f"{config}/{store}" + (f" {code}" if args.before_ref else "")
                    setups[key] = (tree, home, config, url)
                    runs[key] = []
        for n in range(args.passes):
            order = list(setups) if n % 2 == 0 else list(reversed(setups))
            for key in order:
                tree, home, config, url = setups[key]
                raw = run_script(_PASS, tree, str(home), config, url, str(queries_file))
                runs[key].append(summarise(raw))
                last = runs[key][-1]
                print(
                    f"{key} pass {n}: search p50 {last['search']['p50_ms']} p95 "
                    f"{last['search']['p95_ms']} ms, embed_query p50 "
                    f"{last['embed_query']['p50_ms']} vector p50 "
                    f"{last['vector_search']['p50_ms']} ms, load {last['load_average']}",
                    flush=True,
                )
    summary = {
        key: {
            part: {
                stat: round(median([r[part][stat] for r in items]), 2)
                for stat in ("p50_ms", "p95_ms")
            }
            for part in PARTS
        }
        | {"search_p95_per_pass_ms": [r["search"]["p95_ms"] for r in items]}
        for key, items in runs.items()
    }
    write_json(
        args.out,
        args.name,
        {
            "benchmark": "models_latency",
            "command": command(argv if argv is not None else sys.argv[1:]),
            "machine": started,
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "queries": len(queries),
            "passes": args.passes,
            "before_ref": args.before_ref,
            "pgvector_tables_analysed_by_the_benchmark": args.analyse,
            "pgvector_autovacuum": args.autovacuum,
            "summary": summary,
            "runs": runs,
        },
    )
    for key, s in summary.items():
        print(key, s, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
