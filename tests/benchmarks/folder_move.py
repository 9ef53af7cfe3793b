"""A folder moved under the watcher: what the indexer does with the move, and what a
rename of catalog rows could save.

    .venv/bin/python -m tests.benchmarks.folder_move

A root holds a copy of standard-library files: a folder ``pkg`` of N files and the rest
beside it. The folder is renamed on disk and the engine is handed what the watcher
delivers for that (one change set: ``pkg`` deleted, ``lib`` modified), in three ways,
interleaved:

- ``folder move`` (today): the indexer sees a folder among the touched paths and compares
  the whole root with the disk: a stat per unchanged file, the moved files read, hashed,
  chunked and written to the stores again under their new paths (their vectors come
  from the embedding cache, never from the model), the old rows dropped;
- ``file moves``: the same rename handed over as each file deleted at its old path and
  modified at its new one (as a burst of single renames arrives), so only the N files are
  re-read (no root-wide comparison), but each old path is dropped on its own;
- ``read+chunk``: reading and chunking the N files alone, without touching a store: the
  most a rename of catalog rows could save (the stores would still be rewritten, since
  the path is a field of every lexical document, content text and vector's metadata).

Each is timed from the call until it returns; then the moved files are checked to be
in the catalog under their new paths (the stores are written before the catalog row)
and found by a search. Medians over the repetitions; embedding is off (the
move's vectors would come from the cache after the text is searchable).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codanna_desktop.core.chunking.chunker import Chunker
from codanna_desktop.core.engine import Engine
from codanna_desktop.core.files.filters import SearchFilters
from codanna_desktop.core.files.walk import Scanner
from codanna_desktop.core.watching.changes import ChangeSet
from tests.benchmarks.workspace import (
    DOCS_DIR,
    WORK_DIR,
    machine,
    open_engine,
    stdlib_dir,
    write_json,
)

WAYS = ("folder move", "file moves", "read+chunk")


def build_tree(root: Path, stdlib: Path, moved: int, beside: int) -> None:
    """`moved` files in root/pkg, `beside` files elsewhere in the root (flat names)."""
    shutil.rmtree(root, ignore_errors=True)
    sources = sorted(p for p in stdlib.rglob("*.py") if "test" not in p.parts)[: moved + beside]
    for i, src in enumerate(sources):
        folder = root / "pkg" if i < moved else root / "rest" / f"d{i // 50}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, folder / f"m{i}_{src.name}")


def searchable(engine: Engine, root_id: int, folder: str, count: int) -> bool:
    """Every moved file is in the catalog at its new path (the stores are written before
    the catalog row), and a search limited to that folder finds the first of them."""
    files = engine.catalog.files_under(root_id, folder)
    if len(files) != count:
        return False
    name = files[0].rel_path.rsplit("/", 1)[-1].split("_", 1)[1].removesuffix(".py")
    only_there = SearchFilters(path_glob=f"{folder}/**")
    hits = engine.search(name, only_there, semantic=False).results(0.0, 5)
    return any(h.path == files[0].rel_path for h in hits)


def one_move(engine: Engine, root: Path, way: str, src: str, dest: str, count: int) -> float:
    old, new = root / src, root / dest
    if way == "read+chunk":
        scanner, chunker = Scanner(), Chunker()
        started = time.perf_counter()
        for path in sorted(old.iterdir()):
            chunker.chunk(path.relative_to(root).as_posix(), scanner.read_source(path).text)
        return time.perf_counter() - started
    names = sorted(os.listdir(old))
    os.rename(old, new)
    if way == "folder move":
        changes = ChangeSet(deleted={old}, modified={new})
    else:
        changes = ChangeSet(modified={new / n for n in names}, deleted={old / n for n in names})
    root_id = engine.roots()[0].id
    started = time.perf_counter()
    engine.apply_changes(changes)
    seconds = time.perf_counter() - started
    at_dest = len(engine.catalog.files_under(root_id, dest))
    at_src = len(engine.catalog.files_under(root_id, src))
    if not searchable(engine, root_id, dest, count) or at_src:
        raise SystemExit(f"{way}: {at_dest} of {count} files at {dest}, {at_src} left at {src}")
    return seconds


def measure(work: Path, stdlib: Path, moved: int, beside: int, repeats: int) -> dict[str, Any]:
    root = work / f"tree-{moved}-{beside}"
    build_tree(root, stdlib, moved, beside)
    home = work / f"home-{moved}-{beside}"
    shutil.rmtree(home, ignore_errors=True)
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    with open_engine(home) as engine:
        engine.add_root(root)
        engine.index(embed=False)
        # Dropping a file's vectors opens the store, and opening it loads the model (once
        # per process): loaded here, so no way pays for it in its first run.
        engine.load_model()
        where = "pkg"
        for _ in range(repeats):
            for way in WAYS:  # interleaved: the machine's load falls on all alike
                dest = "lib" if where == "pkg" else "pkg"
                times[way].append(one_move(engine, root, way, where, dest, moved))
                if way != "read+chunk":
                    where = dest
    medians = {way: round(statistics.median(t), 3) for way, t in times.items()}
    seconds = {way: [round(x, 3) for x in t] for way, t in times.items()}
    return {"moved_files": moved, "files_beside": beside, "median_s": medians, "seconds": seconds}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tree", type=Path, default=stdlib_dir(), help="where the files come from")
    p.add_argument("--work", type=Path, default=WORK_DIR / "folder_move")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--sizes", default="20:1000,200:1000", help="moved:beside pairs")
    p.add_argument("--out", type=Path, default=DOCS_DIR)
    args = p.parse_args(argv)
    load = os.getloadavg()[0]
    runs = []
    for pair in args.sizes.split(","):
        moved, beside = (int(n) for n in pair.split(":"))
        run = measure(args.work, args.tree, moved, beside, args.repeats)
        print(run, flush=True)
        runs.append(run)
    data = {
        "machine": machine(),
        "load_average_1min_at_start": round(load, 2),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "repeats": args.repeats,
        "runs": runs,
    }
    print(write_json(args.out, "folder_move", data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
