"""Embedding batch size and order against peak memory and time (bare fastembed).

    .venv/bin/python -m tests.benchmarks.embedding_memory

The speed benchmark found a 2 GB peak while embedding a few hundred chunks, against about
260 MB idle with the model loaded. This measures where it comes from: the same chunk texts
as the speed benchmark's throughput test (the first standard-library subset files up to
300 chunks), embedded by bare fastembed (2 threads) at batch sizes 4, 8 and 16, in file
order and sorted by length; each combination in its own process, so its peak resident
memory (VmHWM) is its own. Time: the faster of two warm passes after a warm-up pass
(other work shares the cores: compare rows of one run, not runs).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codanna_desktop.core.chunking.chunker import Chunker
from tests.benchmarks import report
from tests.benchmarks.identifiers import SUBSET_MODULES, SUBSET_PACKAGES, subset_files
from tests.benchmarks.workspace import (
    DOCS_DIR,
    REPO_ROOT,
    WORK_DIR,
    cli_env,
    machine,
    stdlib_dir,
    write_json,
)

BATCHES = (4, 8, 16)


def chunk_texts(
    stdlib: Path, modules: Sequence[str], packages: Sequence[str], wanted: int
) -> list[str]:
    chunker = Chunker()
    texts: list[str] = []
    for path in subset_files(stdlib, modules, packages):
        if len(texts) >= wanted:
            break
        rel = path.relative_to(stdlib).as_posix()
        texts += [c.text for c in chunker.chunk(rel, path.read_text(errors="replace"))]
    return list(dict.fromkeys(texts))


_PROBE = """
import json, sys, time
from pathlib import Path
from fastembed import TextEmbedding
from codanna_desktop.core.semantic.model_store import default_model_dir
from codanna_desktop.core.settings import AppPaths
from tests.benchmarks.workspace import peak_rss_mb
texts = json.loads(Path(sys.argv[1]).read_text())
batch, order = int(sys.argv[2]), sys.argv[3]
if order == "by length":
    texts = sorted(texts, key=len)
model = TextEmbedding(
    "sentence-transformers/all-MiniLM-L6-v2",
    threads=2,
    specific_model_path=str(default_model_dir(AppPaths.default())),
)
loaded = peak_rss_mb()
list(model.passage_embed(texts, batch_size=batch))
passes = []
for _ in range(2):
    t0 = time.perf_counter()
    list(model.passage_embed(texts, batch_size=batch))
    passes.append(time.perf_counter() - t0)
print(json.dumps({"seconds": min(passes), "loaded_mb": loaded, "peak_mb": peak_rss_mb()}))
"""


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stdlib", type=Path, default=stdlib_dir())
    p.add_argument("--modules", nargs="*", default=list(SUBSET_MODULES))
    p.add_argument("--packages", nargs="*", default=list(SUBSET_PACKAGES))
    p.add_argument("--chunks", type=int, default=300)
    p.add_argument("--batches", nargs="+", type=int, default=list(BATCHES))
    p.add_argument("--work", type=Path, default=WORK_DIR / "embedding-memory")
    p.add_argument("--out", type=Path, default=DOCS_DIR)
    p.add_argument("--no-report", action="store_true")
    args = p.parse_args(argv)

    texts = chunk_texts(args.stdlib, args.modules, args.packages, args.chunks)
    args.work.mkdir(parents=True, exist_ok=True)
    texts_file = args.work / "texts.json"
    texts_file.write_text(json.dumps(texts))
    env = cli_env(args.work / "home")
    env.pop("CODANNA_HOME")  # the probe finds the models through CODANNA_MODELS_DIR
    rows: list[dict[str, Any]] = []
    for batch in args.batches:
        for order in ("file order", "by length"):
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", _PROBE, str(texts_file), str(batch), order],
                capture_output=True,
                text=True,
                check=True,
                cwd=str(REPO_ROOT),
                env=env,
            )
            probe = json.loads(proc.stdout.strip().splitlines()[-1])
            row = {
                "batch": batch,
                "order": order,
                "seconds": round(probe["seconds"], 2),
                "chunks_per_s": round(len(texts) / probe["seconds"], 1),
                "peak_rss_mb": round(probe["peak_mb"]),
                "rss_after_load_mb": round(probe["loaded_mb"]),
                "wall_s": round(time.perf_counter() - t0, 1),
            }
            rows.append(row)
            print(row, flush=True)
    result = {
        "benchmark": "embedding_memory",
        "command": "python -m tests.benchmarks.embedding_memory",
        "machine": machine(),
        "chunks": len(texts),
        "mean_chars": round(sum(map(len, texts)) / max(len(texts), 1)),
        "threads": 2,
        "runs": rows,
    }
    write_json(args.out, "embedding_memory", result)
    if not args.no_report:
        report.refresh(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
