"""CoSQA: natural-language queries over 6,267 Python functions, scored by the benchmark's
own eval.py.

    .venv/bin/python -m tests.benchmarks.cosqa [--cosqa ../shared/bench/cosqa]

The corpus is written as files into bench-work/cosqa/corpus (never into the repo), indexed
there by the application's engine (lexical, then embeddings; the embedding cache makes a
second run free), and every dev query goes through `Engine.search` +
`SearchSession.results` for each fusion rule, candidate depth and weight. The batch CLI
(`codanna-desktop search --batch`) is run once at the default settings and scored by
`eval.py --run` in a subprocess, and must agree with the in-process figure.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from codanna_desktop.core.settings import Settings
from tests.benchmarks import report
from tests.benchmarks.relevance import DEPTHS, RULES, Query, run_grid, unique
from tests.benchmarks.workspace import (
    COSQA_DIR,
    DOCS_DIR,
    WORK_DIR,
    cli_env,
    machine,
    open_engine,
    write_json,
)

HEADLINE_K = 100  # deep enough for the full-ranking MRR and Recall@100 of eval.py


def load_eval(cosqa_dir: Path) -> ModuleType:
    """The benchmark's own scorer, imported from its folder (it is not a package)."""
    spec = importlib.util.spec_from_file_location("cosqa_eval", cosqa_dir / "eval.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no eval.py in {cosqa_dir}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def select(
    corpus: list[dict[str, Any]],
    queries: list[dict[str, Any]],
    limit_queries: int | None,
    extra: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """All of it, or (for smoke runs) the first queries, their documents and a few more."""
    if limit_queries is None:
        return corpus, queries
    queries = queries[:limit_queries]
    wanted = {d for q in queries for d in q["relevant"]}
    docs = [d for d in corpus if d["id"] in wanted]
    docs += [d for d in corpus if d["id"] not in wanted][:extra]
    return docs, queries


def materialise(docs: Sequence[dict[str, Any]], root: Path) -> int:
    """Write each document at root/path like eval.py does; unchanged files are left alone
    (same mtime), so re-indexing finds nothing to do. Returns how many were written."""
    written = 0
    for d in docs:
        path = root / d["path"]
        try:
            with path.open(encoding="utf-8", newline="") as fh:
                if fh.read() == d["code"]:
                    continue
        except (OSError, UnicodeDecodeError):
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as fh:
            fh.write(d["code"])
        written += 1
    return written


def index_corpus(home: Path, root: Path) -> dict[str, Any]:
    with open_engine(home) as engine:
        engine.add_root(root)
        t0 = time.perf_counter()
        rep = engine.index()
        seconds = time.perf_counter() - t0
        status = engine.status()
    return {
        "seconds": round(seconds, 1),
        "files": status.files,
        "chunks": status.chunks,
        "embedded": status.embedded,
        "embedded_now": rep.chunks_embedded,
        "from_cache_now": rep.chunks_from_cache,
        "files_indexed_now": rep.files_indexed,
    }


def score(
    evaluator: ModuleType,
    queries: list[dict[str, Any]],
    ranked: dict[str, list[str]],
    path_to_id: dict[str, str],
) -> dict[str, float]:
    """eval.py's aggregate metrics for ranked paths (relative to the corpus folder)."""
    ids = {qid: [path_to_id.get(p, p) for p in unique(paths)] for qid, paths in ranked.items()}
    aggregate, _ = evaluator.evaluate(queries, lambda q: ids.get(q["qid"], []))
    return {k: v for k, v in aggregate.items() if k != "queries"}


def run_cli_batch(
    home: Path, root: Path, work: Path, cosqa_dir: Path, queries: list[dict[str, Any]], alpha: float
) -> dict[str, Any]:
    """The batch CLI at `alpha`, its absolute paths made relative, scored by eval.py --run."""
    qfile, runfile, scored = work / "queries.jsonl", work / "cli_run.jsonl", work / "cli_eval.json"
    with qfile.open("w", encoding="utf-8") as fh:
        for q in queries:
            fh.write(json.dumps({"qid": q["qid"], "query": q["query"]}) + "\n")
    command = [sys.executable, "-m", "codanna_desktop", "search", "--batch", str(qfile)]
    command += ["--alpha", str(alpha), "-k", str(HEADLINE_K)]
    t0 = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=cli_env(home), check=True)
    seconds = time.perf_counter() - t0
    with runfile.open("w", encoding="utf-8") as fh:
        for line in proc.stdout.splitlines():
            item = json.loads(line)
            rel = [Path(p).relative_to(root).as_posix() for p in item["ranked"]]
            fh.write(json.dumps({"qid": item["qid"], "ranked": unique(rel)}) + "\n")
    qsubset = work / "eval_queries.jsonl"
    with qsubset.open("w", encoding="utf-8") as fh:
        for q in queries:
            fh.write(json.dumps(q) + "\n")
    scorer = [sys.executable, str(cosqa_dir / "eval.py"), "--queries", str(qsubset)]
    subprocess.run(
        [*scorer, "--run", str(runfile), "--json", str(scored)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(scored.read_text())["results"][str(qsubset)]["aggregate"]
    return {
        "command": " ".join(["codanna-desktop", *command[3:]]),
        "alpha": alpha,
        "seconds": round(seconds, 1),
        "metrics": {k: round(v, 4) for k, v in result.items() if isinstance(v, float)},
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cosqa", type=Path, default=COSQA_DIR, help="the CoSQA benchmark folder")
    p.add_argument("--work", type=Path, default=WORK_DIR / "cosqa", help="corpus files + index")
    p.add_argument("--out", type=Path, default=DOCS_DIR, help="where cosqa.json goes")
    p.add_argument("--limit-queries", type=int, default=None, help="smoke runs: first N queries")
    p.add_argument("--extra-docs", type=int, default=20, help="with --limit-queries")
    p.add_argument("--rules", nargs="+", default=list(RULES))
    p.add_argument("--depths", nargs="+", type=int, default=list(DEPTHS))
    p.add_argument("--no-report", action="store_true", help="do not rewrite BENCHMARKS.md")
    args = p.parse_args(argv)

    evaluator = load_eval(args.cosqa)
    corpus = evaluator.read_jsonl(str(args.cosqa / "corpus.jsonl"))
    all_queries = evaluator.read_jsonl(str(args.cosqa / "dev_queries.jsonl"))
    docs, queries = select(corpus, all_queries, args.limit_queries, args.extra_docs)
    root, home = args.work / "corpus", args.work / "home"
    written = materialise(docs, root)
    print(f"corpus: {len(docs)} documents in {root} ({written} written)", flush=True)
    indexing = index_corpus(home, root)
    print(f"index: {indexing}", flush=True)

    defaults = Settings()
    path_to_id = {d["path"]: d["id"] for d in docs}
    qs = [Query(q["qid"], q["query"]) for q in queries]

    def rel_path(r: Any) -> str:
        return str(r.path)

    with open_engine(home, writer=False) as engine:
        # The sweep: every rule x depth x weight, top 10 (+ margin for files with 2 chunks).
        runs, grid_time = run_grid(engine, qs, rel_path, rules=args.rules, depths=args.depths, k=15)
        grid = {c.key: score(evaluator, queries, r, path_to_id) for c, r in sorted(runs.items())}
        print(f"grid: {len(grid)} configurations in {grid_time}", flush=True)
        # The headline: the default rule and depth, every weight, top 100.
        head_runs, _ = run_grid(
            engine,
            qs,
            rel_path,
            rules=[defaults.fusion],
            depths=[defaults.candidates_per_side],
            k=HEADLINE_K,
        )
    headline = {
        f"{c.alpha:.1f}": score(evaluator, queries, r, path_to_id)
        for c, r in sorted(head_runs.items())
    }
    cli = run_cli_batch(home, root, args.work, args.cosqa, queries, defaults.alpha)
    in_process = headline[f"{defaults.alpha:.1f}"]
    cli["agrees_with_in_process"] = all(
        abs(cli["metrics"][m] - round(in_process[m], 4)) < 1e-9 for m in ("MRR@10", "Recall@10")
    )
    print(f"cli: {cli}", flush=True)
    bm25 = evaluator.evaluate(queries, _bm25_ranker(evaluator, docs))[0]

    result = {
        "benchmark": "cosqa",
        "command": "python -m tests.benchmarks.cosqa",
        "machine": machine(),
        "corpus": {"documents": len(docs), "queries": len(queries), "dir": str(args.cosqa)},
        "indexing": indexing,
        "defaults": {
            "alpha": defaults.alpha,
            "fusion": defaults.fusion,
            "candidates_per_side": defaults.candidates_per_side,
        },
        "bm25_eval_py": {k: round(v, 4) for k, v in bm25.items() if isinstance(v, float)},
        "headline_k": HEADLINE_K,
        "headline": {a: _rounded(m) for a, m in headline.items()},
        "grid_k": 10,
        "grid": {key: _rounded(m) for key, m in grid.items()},
        "grid_time": grid_time,
        "cli_batch": cli,
    }
    write_json(args.out, "cosqa", result)
    _print_summary(result)
    if not args.no_report:
        report.refresh(args.out)
    return 0


def _bm25_ranker(evaluator: ModuleType, docs: list[dict[str, Any]]) -> Any:
    """eval.py's own BM25 baseline on the same documents (a sanity line for the table)."""
    bm25 = evaluator.BM25([(d["id"], d["code"]) for d in docs], evaluator.tok_code)
    return lambda q: bm25.rank(q["query"], top=100)


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in metrics.items()}


def _print_summary(result: dict[str, Any]) -> None:
    print("alpha  MRR@10  Recall@10  nDCG@10   (default rule and depth, top 100)")
    for alpha, m in result["headline"].items():
        print(f"{alpha:>5}  {m['MRR@10']:.4f}  {m['Recall@10']:.4f}     {m['nDCG@10']:.4f}")
    best = max(result["grid"].items(), key=lambda kv: kv[1]["MRR@10"])
    print(f"best in grid: {best[0]} MRR@10 {best[1]['MRR@10']:.4f}")


if __name__ == "__main__":
    raise SystemExit(main())
