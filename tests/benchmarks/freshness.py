"""Freshness: from a file write to the new text being found, with the watcher running.

    .venv/bin/python -m tests.benchmarks.freshness

A copy of 20 standard-library files (bench-work/freshness) is indexed and embedded, then
`IndexingService` (the desktop app's background indexer) runs with its watcher. Each edit
appends a new function with a unique name and a unique docstring to one file; the clock
starts when the write is closed and stops when the lexical search finds the name, and when
a semantic search for the docstring's sentence ranks the new chunk first. 20 edits, p50
and p95. The files are restored afterwards.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.files.filters import SearchFilters
from codanna_desktop.core.ranking.lexical_query import build_query
from codanna_desktop.core.service import IndexingService, ServiceEvent
from tests.benchmarks import report
from tests.benchmarks.identifiers import SUBSET_MODULES, SUBSET_PACKAGES, subset_files
from tests.benchmarks.speed import copy_tree, seed_cache
from tests.benchmarks.workspace import (
    DOCS_DIR,
    WORK_DIR,
    home_paths,
    latency_summary,
    machine,
    open_engine,
    stdlib_dir,
    write_json,
)

EDITS = 20
FILES = 20
TIMEOUT_S = 60.0
_ANIMALS = ["otter", "heron", "lynx", "marmot", "ibis", "walrus", "gecko", "tapir", "koala"]
_THINGS = ["invoices", "glaciers", "violins", "lanterns", "orchards", "satellites", "tulips"]


def found_lexically(engine: Engine, name: str) -> bool:
    """The top lexical hit is the new function (its words alone match older chunks)."""
    hits = engine.lexical.search(build_query(name), 1)
    if not hits:
        return False
    row = engine.catalog.chunk_rows([hits[0].chunk_id]).get(hits[0].chunk_id)
    return row is not None and name in row.text


def found_semantically(engine: Engine, sentence: str, name: str) -> bool:
    hits, available, _ = engine.searcher._semantic(sentence, SearchFilters(), 5, [])
    if not available or not hits:
        return False
    row = engine.catalog.chunk_rows([hits[0][0]]).get(hits[0][0])
    return row is not None and name in row.text


def wait_until(check: Any, start: float) -> float | None:
    """Seconds from `start` until check() holds, polling every 5 ms; None on timeout."""
    while time.perf_counter() - start < TIMEOUT_S:
        if check():
            return time.perf_counter() - start
        time.sleep(0.005)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stdlib", type=Path, default=stdlib_dir())
    p.add_argument("--work", type=Path, default=WORK_DIR / "freshness")
    p.add_argument("--out", type=Path, default=DOCS_DIR)
    p.add_argument("--edits", type=int, default=EDITS)
    p.add_argument("--files", type=int, default=FILES)
    p.add_argument("--modules", nargs="*", default=list(SUBSET_MODULES))
    p.add_argument("--packages", nargs="*", default=list(SUBSET_PACKAGES))
    p.add_argument("--seed-home", type=Path, default=WORK_DIR / "identifiers" / "home")
    p.add_argument("--no-report", action="store_true")
    args = p.parse_args(argv)

    root, home = args.work / "tree", args.work / "home"
    small = [
        f
        for f in subset_files(args.stdlib, args.modules, args.packages)
        if f.stat().st_size < 40_000
    ]
    files = small[: args.files]
    copy_tree(files, args.stdlib, root)
    targets = sorted(root.rglob("*.py"))
    originals = {f: f.read_bytes() for f in targets}
    rng = random.Random(5)
    lexical_s: list[float] = []
    semantic_s: list[float] = []
    timeouts = 0
    events: list[ServiceEvent] = []
    with open_engine(home) as engine:
        engine.add_root(root)
        seed_cache(engine, root, home_paths(args.seed_home).data_dir / "catalog.sqlite")
        engine.index()
        service = IndexingService(engine, events.append, watch=True)
        service.start()
        try:
            service.wait_idle(120)
            for i in range(args.edits):
                target = targets[i % len(targets)]
                name = f"freshness_probe_{i}_{rng.randrange(10**9)}"
                sentence = (
                    f"count the {rng.choice(_ANIMALS)} that guard the "
                    f"{rng.choice(_THINGS)} of audit {i}"
                )
                text = f'\n\ndef {name}():\n    """{sentence.capitalize()}."""\n    return {i}\n'
                with target.open("a", encoding="utf-8") as fh:
                    fh.write(text)
                start = time.perf_counter()
                lex = wait_until(lambda n=name: found_lexically(engine, n), start)
                sem = wait_until(lambda s=sentence, n=name: found_semantically(engine, s, n), start)
                if lex is None or sem is None:
                    timeouts += 1
                if lex is not None:
                    lexical_s.append(lex)
                if sem is not None:
                    semantic_s.append(sem)
                print(f"edit {i}: lexical {lex}, semantic {sem}", flush=True)
                service.wait_idle(60)
        finally:
            for f, data in originals.items():
                f.write_bytes(data)
            time.sleep(0.5)  # let the watcher see the restores before waiting for idle
            service.wait_idle(60)
            service.stop()
    result = {
        "benchmark": "freshness",
        "command": "python -m tests.benchmarks.freshness",
        "machine": machine(),
        "files": len(targets),
        "edits": args.edits,
        "timeouts": timeouts,
        "write_to_lexical": latency_summary(lexical_s),
        "write_to_semantic": latency_summary(semantic_s),
        "errors": [e.message for e in events if e.kind == "error"],
    }
    write_json(args.out, "freshness", result)
    print(result)
    if not args.no_report:
        report.refresh(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
