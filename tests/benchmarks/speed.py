"""Speed and size on the standard library: indexing, embedding, re-indexing, memory, disk,
query latency (hnswlib and pgvector), against ripgrep.

    .venv/bin/python -m tests.benchmarks.speed

Trees (all under bench-work/speed, never in the repo):
- the whole standard library's Python files, indexed lexically (the app's own ignore
  patterns ``*.*`` and ``!*.py`` keep the .py files: about 1,800);
- an embedded tree: the identifier benchmark's subset (188 files, about 5,700 chunks),
  copied. Its embedding cache is seeded from the identifier benchmark's catalog when that
  exists (same texts, same model: embedding it again would take 20 minutes and measure
  nothing new); embedding throughput itself is measured on a few hundred chunks.

Times are medians of several repetitions; comparisons (pipeline vs bare fastembed, app vs
ripgrep, before vs after) are measured in the same run, interleaved.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from codanna_desktop.core.chunking.chunker import Chunker
from codanna_desktop.core.engine import Engine
from codanna_desktop.core.files.filters import SearchFilters
from codanna_desktop.core.indexing import file_reader
from codanna_desktop.core.ranking.lexical_query import build_query
from codanna_desktop.core.semantic.embedder import load_embedder
from codanna_desktop.core.settings import Settings
from codanna_desktop.core.storage.catalog import Catalog
from tests.benchmarks import report
from tests.benchmarks.identifiers import (
    SUBSET_MODULES,
    SUBSET_PACKAGES,
    definitions,
    subset_files,
)
from tests.benchmarks.workspace import (
    COSQA_DIR,
    DOCS_DIR,
    WORK_DIR,
    cli_env,
    folder_size,
    home_paths,
    latency_summary,
    machine,
    open_engine,
    patched,
    percentile,
    share_models_folder,
    stdlib_dir,
    write_json,
)

PY_ONLY = ["*.*", "!*.py"]
QUERY_ALPHAS = (0.1, 0.3, 0.5, 0.7, 0.9)


def py_settings(**overrides: Any) -> Settings:
    return Settings(ignore_patterns=list(PY_ONLY), **overrides)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- trees ---------------------------------------------------------------------------


def copy_tree(files: Sequence[Path], src_root: Path, dst_root: Path) -> None:
    for src in files:
        dst = dst_root / src.relative_to(src_root)
        if dst.exists() and dst.read_bytes() == src.read_bytes():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def seed_cache(engine: Engine, root: Path, seed_catalog: Path) -> int:
    """Copy the vectors of this tree's chunk texts from another catalog's embedding cache."""
    if not seed_catalog.exists():
        return 0
    embedder = engine.load_model()
    if embedder is None:
        return 0
    chunker = Chunker()
    hashes = [
        c.hash
        for p in sorted(root.rglob("*.py"))
        for c in chunker.chunk(p.relative_to(root).as_posix(), p.read_text(errors="replace"))
    ]
    seed = Catalog(seed_catalog, readonly=True)
    try:
        vectors = seed.cached_vectors(embedder.model_id, hashes)
    finally:
        seed.close()
    engine.catalog.cache_vectors(embedder.model_id, vectors)
    return len(vectors)


def embedded_tree(
    work: Path, files: Sequence[Path], stdlib: Path, seed: Path, settings: Settings | None = None
) -> tuple[Path, Path]:
    """The embedded tree and its home, indexed with vectors (from the seeded cache)."""
    root = work / "tree"
    home = work / ("pg-home" if settings and settings.database_url else "home")
    copy_tree(files, stdlib, root)
    with open_engine(home, settings) as engine:
        engine.add_root(root)
        seed_cache(engine, root, home_paths(seed).data_dir / "catalog.sqlite")
        engine.index()
    return root, home


# -- 5. indexing ---------------------------------------------------------------------


def lexical_indexing(stdlib: Path, work: Path, reps: int) -> dict[str, Any]:
    """Fresh index of the whole tree, lexical only: until it is searchable; then the same
    tree again, unchanged. Each repetition also indexes the tree with the reading and
    chunking kept in this process (threads only, as before file_reader.py's worker
    processes), interleaved, so the two compare within one run."""
    runs = []
    again = []
    one_process = []
    for rep in range(reps):
        home = work / f"lexical-{rep}"
        shutil.rmtree(home, ignore_errors=True)
        with open_engine(home, py_settings()) as engine:
            engine.add_root(stdlib)
            t0 = time.perf_counter()
            rep_report = engine.index(embed=False)
            seconds = time.perf_counter() - t0
            status = engine.status()
            t0 = time.perf_counter()
            engine.index(embed=False)
            again.append(time.perf_counter() - t0)
        runs.append((seconds, rep_report.files_indexed, status.chunks))
        print(f"lexical index: {seconds:.1f} s, {status.files} files, {status.chunks} chunks")
        threads_home = work / "lexical-threads"
        shutil.rmtree(threads_home, ignore_errors=True)
        with (
            patched(file_reader, "PROCESS_MIN_FILES", sys.maxsize),
            open_engine(threads_home, py_settings()) as engine,
        ):
            engine.add_root(stdlib)
            t0 = time.perf_counter()
            engine.index(embed=False)
            one_process.append(time.perf_counter() - t0)
        print(f"lexical index, reading on threads: {one_process[-1]:.1f} s")
    seconds = median([r[0] for r in runs])
    files, chunks = runs[0][1], runs[0][2]
    return {
        "reading_on_threads_s_runs": [round(x, 2) for x in one_process],
        "reading_on_threads_s": round(median(one_process), 2),
        "worker_processes": file_reader._worker_count(),
        "tree": f"{stdlib} (ignore patterns {PY_ONLY})",
        "files": files,
        "chunks": chunks,
        "seconds_runs": [round(r[0], 2) for r in runs],
        "seconds": round(seconds, 2),
        "files_per_s": round(files / seconds, 1),
        "chunks_per_s": round(chunks / seconds, 1),
        "second_index_unchanged_s_runs": [round(x, 2) for x in again],
        "second_index_unchanged_s": round(median(again), 2),
        "home": str(work / f"lexical-{reps - 1}"),
    }


def embedding_throughput(
    files: Sequence[Path], stdlib: Path, work: Path, chunks_wanted: int, reps: int
) -> dict[str, Any]:
    """The pipeline (embed_pending: cache look-up, model, vector store, catalog) against
    bare fastembed on the same texts, same batch size and threads. Both ONNX sessions are
    warmed on the texts first (a fresh session grows its memory arena on the first pass,
    measured apart as `pipeline_cold_s`), and the order alternates between repetitions."""
    from fastembed import TextEmbedding

    from codanna_desktop.core.semantic.model_store import default_model_dir

    root = work / "embed-tree"
    chunker = Chunker()
    picked: list[Path] = []
    total = 0
    for p in files:  # files in subset order until there are enough chunks
        if total >= chunks_wanted:
            break
        picked.append(p)
        total += len(chunker.chunk(p.name, p.read_text(errors="replace")))
    copy_tree(picked, stdlib, root)
    settings = Settings()
    paths = home_paths(work / "embed-home-model")
    share_models_folder()
    embedder = load_embedder(settings, paths)
    bare = TextEmbedding(
        "sentence-transformers/all-MiniLM-L6-v2",
        threads=settings.embed_threads,
        specific_model_path=str(default_model_dir(paths)),
    )
    batch = settings.embed_batch_size

    def pipeline(rep: int) -> tuple[float, list[str]]:
        home = work / f"embed-home-{rep}"
        shutil.rmtree(home, ignore_errors=True)
        with Engine(home_paths(home), settings, embedder=embedder) as engine:
            engine.add_root(root)
            engine.index(embed=False)
            pending = [p.text for p in engine.catalog.pending_vectors(10**6)]
            t0 = time.perf_counter()
            done = engine.embed_pending()
            seconds = time.perf_counter() - t0
        assert done.chunks_embedded == len(set(pending)), done
        return seconds, list(dict.fromkeys(pending))

    def bare_pass(texts: list[str]) -> float:
        t0 = time.perf_counter()
        list(bare.passage_embed(texts, batch_size=batch))
        return time.perf_counter() - t0

    cold, texts = pipeline(0)  # also the warm-up of the pipeline's session
    bare_pass(texts)  # and of the bare one
    by_length = sorted(texts, key=len)
    # What sorting inside embed_pending's steps of 64 pending chunks would give.
    in_steps = [t for i in range(0, len(texts), 64) for t in sorted(texts[i : i + 64], key=len)]
    pipeline_s, bare_s, sorted_s, step_sorted_s = [], [], [], []
    for rep in range(1, reps + 1):
        if rep % 2:
            pipeline_s.append(pipeline(rep)[0])
            bare_s.append(bare_pass(texts))
        else:
            bare_s.append(bare_pass(texts))
            pipeline_s.append(pipeline(rep)[0])
        sorted_s.append(bare_pass(by_length))
        step_sorted_s.append(bare_pass(in_steps))
        print(
            f"embed {len(texts)} chunks: pipeline {pipeline_s[-1]:.1f} s (cold {cold:.1f} s), "
            f"bare {bare_s[-1]:.1f} s, bare sorted by length {sorted_s[-1]:.1f} s, "
            f"sorted within steps of 64 {step_sorted_s[-1]:.1f} s"
        )
    n = len(texts)
    return {
        "chunks": n,
        "files": len(picked),
        "mean_chars": round(sum(len(t) for t in texts) / max(n, 1)),
        "batch_size": batch,
        "threads": settings.embed_threads,
        "pipeline_cold_s": round(cold, 2),
        "pipeline_s_runs": [round(x, 2) for x in pipeline_s],
        "bare_s_runs": [round(x, 2) for x in bare_s],
        "bare_sorted_s_runs": [round(x, 2) for x in sorted_s],
        "bare_sorted_in_steps_of_64_s_runs": [round(x, 2) for x in step_sorted_s],
        "pipeline_chunks_per_s": round(n / median(pipeline_s), 1),
        "pipeline_cold_chunks_per_s": round(n / cold, 1),
        "bare_chunks_per_s": round(n / median(bare_s), 1),
        "bare_sorted_chunks_per_s": round(n / median(sorted_s), 1),
        "ratio_pipeline_to_bare": round(median(bare_s) / median(pipeline_s), 3),
        "ratio_sorted_to_unsorted_bare": round(median(bare_s) / median(sorted_s), 3),
        "ratio_step_sorted_to_unsorted_bare": round(median(bare_s) / median(step_sorted_s), 3),
    }


def reindexing(root: Path, home: Path, reps: int) -> dict[str, Any]:
    """Unchanged tree (by stat, and re-reading every file), then 10 files touched (mtime
    only) and 10 files edited (one line appended): what is re-embedded."""
    out: dict[str, Any] = {}
    with open_engine(home) as engine:
        engine.load_model()
        status = engine.status()
        out["files"], out["chunks"], out["embedded"] = status.files, status.chunks, status.embedded
        for name, full in (("unchanged", False), ("unchanged_full_reread", True)):
            times, embedded, cached = [], [], []
            for _ in range(reps):
                t0 = time.perf_counter()
                r = engine.index(full=full)
                times.append(time.perf_counter() - t0)
                embedded.append(r.chunks_embedded)
                cached.append(r.chunks_from_cache)
            out[name] = {
                "seconds_runs": [round(t, 2) for t in times],
                "seconds": round(median(times), 2),
                "chunks_embedded": embedded,
                "chunks_from_cache": cached,
            }
        files = sorted(root.rglob("*.py"))
        rng = random.Random(3)
        chosen = rng.sample(files, min(10, len(files)))
        originals = {p: (p.read_bytes(), p.stat()) for p in chosen}
        for p in chosen:
            os.utime(p, ns=(time.time_ns(), time.time_ns()))
        t0 = time.perf_counter()
        r = engine.index()
        out["touched_10"] = {
            "seconds": round(time.perf_counter() - t0, 2),
            "files_indexed": r.files_indexed,
            "files_unchanged": r.files_unchanged,
            "chunks_embedded": r.chunks_embedded,
        }
        try:
            # A new text on every run: the embedding cache remembers earlier runs' edits.
            nonce = time.time_ns()
            for n, p in enumerate(chosen):
                with p.open("ab") as fh:
                    fh.write(f"\n# edited for the speed benchmark {n} {nonce}\n".encode())
            t0 = time.perf_counter()
            r = engine.index()
            out["edited_10"] = {
                "seconds": round(time.perf_counter() - t0, 2),
                "files_indexed": r.files_indexed,
                "chunks_added": r.chunks_added,
                "chunks_embedded": r.chunks_embedded,
                "chunks_from_cache": r.chunks_from_cache,
            }
        finally:
            for p, (data, st) in originals.items():
                p.write_bytes(data)
                os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
            r = engine.index()
            out["restored"] = {"chunks_embedded": r.chunks_embedded}
    print(f"re-indexing: {out}")
    return out


# -- memory --------------------------------------------------------------------------


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and of its children (the indexer's worker processes)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def peak_rss_of(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run a command; the peak resident memory of it and its children (polled VmRSS) and
    how long it took."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_mb(proc.pid))
        time.sleep(0.02)
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{command} failed: {err.decode(errors='replace')[-2000:]}")
    return {"peak_rss_mb": round(peak, 1), "seconds": round(time.perf_counter() - t0, 1)}


_IDLE_PROBE = """
import sys
from pathlib import Path
from tests.benchmarks.workspace import open_engine, rss_mb
with open_engine(Path(sys.argv[1]), writer=False) as engine:
    opened = rss_mb()
    engine.search("read the configuration file").results(0.9, 20)
    print(opened, rss_mb())
"""


def memory(work: Path, stdlib: Path, embed_root: Path, home: Path) -> dict[str, Any]:
    py = [sys.executable, "-m", "codanna_desktop"]
    lexical_home = work / "rss-lexical"
    embed_home = work / "rss-embed"
    for h in (lexical_home, embed_home):
        shutil.rmtree(h, ignore_errors=True)
    settings_file = home_paths(lexical_home).settings_file
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    settings_file.write_text('ignore_patterns = ["*.*", "!*.py"]\n')
    out: dict[str, Any] = {
        "lexical_index_whole_tree": peak_rss_of(
            [*py, "add", str(stdlib), "--no-embed"], cli_env(lexical_home)
        ),
        "index_and_embed_small_tree": peak_rss_of(
            [*py, "add", str(embed_root)], cli_env(embed_home)
        ),
    }
    probe = subprocess.run(
        [sys.executable, "-c", _IDLE_PROBE, str(home)],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(Path(__file__).resolve().parents[2]),
        env=cli_env(home),
    )
    opened, searched = (float(x) for x in probe.stdout.split())
    out["idle_engine_open_mb"] = round(opened, 1)
    out["idle_after_model_and_search_mb"] = round(searched, 1)
    print(f"memory: {out}")
    return out


# -- sizes ---------------------------------------------------------------------------


def sizes(home: Path, pg: dict[str, Any] | None) -> dict[str, Any]:
    data = home_paths(home).data_dir
    with open_engine(home, writer=False) as engine:
        chunks = engine.status().chunks
    tantivy_bytes = folder_size(data / "lexical")
    hnsw_bytes = folder_size(data / "vectors")
    catalog_bytes = sum(folder_size(p) for p in data.glob("catalog.sqlite*"))
    per_k = 1000 / chunks if chunks else 0.0
    out: dict[str, Any] = {
        "chunks": chunks,
        "tantivy_bytes": tantivy_bytes,
        "hnswlib_bytes": hnsw_bytes,
        "catalog_sqlite_bytes": catalog_bytes,
        "tantivy_kb_per_1000_chunks": round(tantivy_bytes * per_k / 1024, 1),
        "hnswlib_kb_per_1000_chunks": round(hnsw_bytes * per_k / 1024, 1),
        "catalog_kb_per_1000_chunks": round(catalog_bytes * per_k / 1024, 1),
    }
    if pg is not None:
        out["pgvector_bytes"] = pg["bytes"]
        out["pgvector_rows"] = pg["rows"]
        out["pgvector_kb_per_1000_chunks"] = round(pg["bytes"] * 1000 / pg["rows"] / 1024, 1)
    return out


@contextmanager
def pg_server() -> Iterator[Any]:
    from tests.fixtures_pg import PgTestServer

    server = PgTestServer()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


def pg_size(url: str, home: Path) -> dict[str, Any]:
    import psycopg

    with open_engine(home, Settings(database_url=url), writer=False) as engine:
        store: Any = engine.semantic.store()
        table = store.table
        catalog_id = engine.catalog.catalog_id
    with psycopg.connect(url) as conn:
        size = conn.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()
        rows = conn.execute(f'SELECT count(*) FROM "{table}" WHERE catalog_id = %s', (catalog_id,))
        count = rows.fetchone()
    return {"bytes": int(size[0]) if size else 0, "rows": int(count[0]) if count else 0}


# -- 6. queries ----------------------------------------------------------------------


def query_texts(root: Path, n: int) -> tuple[list[str], list[str]]:
    """n/2 identifier names defined in the tree and n/2 prose questions (CoSQA dev)."""
    names = sorted({d.name for d in definitions(root) if len(d.name) >= 4})
    rng = random.Random(11)
    idents = rng.sample(names, min(n // 2, len(names)))
    prose: list[str] = []
    queries_file = COSQA_DIR / "dev_queries.jsonl"
    if queries_file.exists():
        import json

        with queries_file.open(encoding="utf-8") as fh:
            prose = [json.loads(line)["query"] for line in fh if line.strip()][: n - len(idents)]
    return idents, prose


def lexical_hits(engine: Engine, query: str, depth: int) -> list[Any]:
    """The lexical side alone, the query's construction included (as the engine does it)."""
    return engine.lexical.search(build_query(query), depth)


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def query_latency(
    engine: Engine, queries: Sequence[str], reps: int, depth: int
) -> dict[str, dict[str, Any]]:
    """p50/p95 per kind of work, each a median over `reps` passes over all queries."""
    samples: dict[str, list[list[float]]] = {
        k: [] for k in ("lexical", "semantic", "hybrid", "refusion", "catalog_rows")
    }
    engine.search("warm up the model").results(0.5, 20)
    for _ in range(reps):
        per: dict[str, list[float]] = {k: [] for k in samples}
        for i, q in enumerate(queries):
            per["lexical"].append(timed(partial(lexical_hits, engine, q, depth)))
            semantic = partial(engine.searcher._semantic, q, SearchFilters(), depth, [])
            per["semantic"].append(timed(semantic))
            t0 = time.perf_counter()
            session = engine.search(q)
            session.results(engine.settings.alpha, 20)
            per["hybrid"].append(time.perf_counter() - t0)
            alpha = QUERY_ALPHAS[i % len(QUERY_ALPHAS)]
            per["refusion"].append(timed(partial(session.results, alpha, 20)))
            ids = [c for c, _ in session.lexical] + [c for c, _ in session.semantic]
            per["catalog_rows"].append(timed(partial(engine.catalog.chunk_rows, ids)))
        for k, v in per.items():
            samples[k].append(v)
    return {
        k: {
            "n_per_pass": len(v[0]),
            "passes": len(v),
            "p50_ms": round(median([percentile(p, 50) for p in v]) * 1000, 2),
            "p95_ms": round(median([percentile(p, 95) for p in v]) * 1000, 2),
        }
        for k, v in samples.items()
    }


def catalog_rows_plan(catalog_file: Path, ids: Sequence[int], reps: int) -> dict[str, Any]:
    """The catalog's chunk_rows query as written, against the same query with the files
    state index made unusable (``+f.state``): SQLite then starts from the chunk ids."""
    marks = ",".join("?" * len(ids))
    select = (
        "SELECT c.id, c.file_id, f.root_id, r.path, f.rel_path, COALESCE(f.language, ''),"
        " c.start_line, c.end_line, c.symbol, c.kind, c.text, c.text_hash"
        " FROM chunks c JOIN files f ON f.id = c.file_id JOIN roots r ON r.id = f.root_id"
        f" WHERE c.id IN ({marks}) AND c.lexical_state = 'done' AND "
    )
    variants = {
        "as_written": select + "f.state = 'indexed'",
        "plus_f_state": select + "+f.state = 'indexed'",
    }
    db = sqlite3.connect(f"file:{catalog_file}?mode=ro", uri=True)
    out: dict[str, Any] = {"ids": len(ids)}
    try:
        for name, sql in variants.items():
            plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, list(ids))]
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                db.execute(sql, list(ids)).fetchall()
                times.append(time.perf_counter() - t0)
            out[name] = {"median_ms": round(median(times) * 1000, 2), "plan": plan}
    finally:
        db.close()
    return out


def rg_versus_app(
    engine: Engine, root: Path, names: Sequence[str], *, hybrid: bool
) -> dict[str, Any]:
    """Literal identifier queries: ripgrep listing the files against the app's lexical
    search (and its full hybrid search), interleaved in one run."""
    rg = shutil.which("rg")
    if rg is None:
        return {"skipped": "ripgrep is not installed"}
    rg_t, lex_t, hyb_t = [], [], []
    for name in names:
        cmd = [rg, "-w", "-l", "-F", "--", name, str(root)]
        rg_t.append(timed(partial(subprocess.run, cmd, capture_output=True)))
        lex_t.append(timed(partial(lexical_hits, engine, name, 100)))
        if hybrid:
            t0 = time.perf_counter()
            engine.search(name).results(engine.settings.alpha, 20)
            hyb_t.append(time.perf_counter() - t0)
    out: dict[str, Any] = {
        "queries": len(names),
        "rg": latency_summary(rg_t),
        "app_lexical": latency_summary(lex_t),
        "rg_p50_over_app_lexical_p50": round(percentile(rg_t, 50) / percentile(lex_t, 50), 1),
    }
    if hybrid:
        out["app_hybrid"] = latency_summary(hyb_t)
        out["rg_p50_over_app_hybrid_p50"] = round(percentile(rg_t, 50) / percentile(hyb_t, 50), 2)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stdlib", type=Path, default=stdlib_dir())
    p.add_argument("--work", type=Path, default=WORK_DIR / "speed")
    p.add_argument("--out", type=Path, default=DOCS_DIR)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--embed-chunks", type=int, default=300)
    p.add_argument("--modules", nargs="*", default=list(SUBSET_MODULES), help="embedded tree")
    p.add_argument("--packages", nargs="*", default=list(SUBSET_PACKAGES), help="embedded tree")
    p.add_argument(
        "--seed-home",
        type=Path,
        default=WORK_DIR / "identifiers" / "home",
        help="a CODANNA_HOME whose embedding cache seeds the embedded tree's",
    )
    p.add_argument("--name", default="speed", help="results file name (speed_before: a baseline)")
    p.add_argument("--no-report", action="store_true")
    args = p.parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)

    stdlib = args.stdlib.resolve()
    files = subset_files(stdlib, args.modules, args.packages)
    result: dict[str, Any] = {
        "benchmark": "speed",
        "command": "python -m tests.benchmarks.speed",
        "machine": machine(),
        "reps": args.reps,
    }
    result["lexical_indexing"] = lexical_indexing(stdlib, work, args.reps)
    result["embedding_throughput"] = embedding_throughput(
        files, stdlib, work, args.embed_chunks, args.reps
    )
    root, home = embedded_tree(work, files, stdlib, args.seed_home)
    result["embedded_tree"] = {"root": str(root), "files": len(list(root.rglob("*.py")))}
    result["reindexing"] = reindexing(root, home, args.reps)
    result["memory"] = memory(work, stdlib, work / "embed-tree", home)

    idents, prose = query_texts(root, args.queries)
    queries = idents + prose
    settings = Settings()
    with pg_server() as server:
        url = server.create_database()
        pg_settings = Settings(database_url=url)
        _, pg_home = embedded_tree(work, files, stdlib, args.seed_home, pg_settings)
        pg = pg_size(url, pg_home)
        result["sizes"] = sizes(home, pg)
        latency: dict[str, Any] = {"queries": {"identifiers": len(idents), "prose": len(prose)}}
        with open_engine(home, writer=False) as engine:
            latency["hnswlib"] = query_latency(
                engine, queries, args.reps, settings.candidates_per_side
            )
            session = engine.search(prose[0] if prose else idents[0])
            ids = [c for c, _ in session.lexical] + [c for c, _ in session.semantic]
            latency["catalog_rows_plan"] = catalog_rows_plan(
                home_paths(home).data_dir / "catalog.sqlite", ids, 20
            )
            latency["ripgrep_embedded_tree"] = rg_versus_app(engine, root, idents, hybrid=True)
        with open_engine(pg_home, pg_settings, writer=False) as engine:
            latency["pgvector"] = query_latency(
                engine, queries, args.reps, settings.candidates_per_side
            )
    lexical_home = Path(result["lexical_indexing"]["home"])
    with open_engine(lexical_home, py_settings(), writer=False) as engine:
        latency["ripgrep_whole_tree"] = rg_versus_app(engine, stdlib, idents, hybrid=False)
    result["query_latency"] = latency
    write_json(args.out, args.name, result)
    print(f"latency: {latency}")
    if not args.no_report:
        report.refresh(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
