"""What checking the lexical index's files costs: the checksum check at open against
tantivy's own open, and a reader's check on reload (files already checked are not read).

    .venv/bin/python -m tests.benchmarks.lexical_check

Indexes Python's standard library lexically (once, into bench-work/lexical-check), then
times each step (median of 7).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import tantivy

from codanna_desktop.core.storage.lexical.files import IndexFileChecker
from codanna_desktop.core.storage.lexical.index import LexicalIndex
from tests.benchmarks.workspace import WORK_DIR, open_engine, stdlib_dir

RUNS = 7


def median_ms(step: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    home = WORK_DIR / "lexical-check"
    with open_engine(home) as engine:
        if not engine.roots():
            engine.add_root(stdlib_dir())
            engine.index(embed=False)
        directory = engine.lexical.directory
        chunks = engine.lexical.doc_count()
    files = [f for f in directory.iterdir() if f.is_file()]
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    check = median_ms(lambda: IndexFileChecker(directory).check())
    tantivy_open = median_ms(lambda: tantivy.Index.open(str(directory)))
    reader_open = median_ms(lambda: LexicalIndex(directory, writable=False))
    reader = LexicalIndex(directory, writable=False)
    reload = median_ms(reader.reload)
    print(f"{chunks:,} chunks, {size_mb:.1f} MB in {len(files)} files")
    print(f"checksum check of every file: {check:.1f} ms")
    print(f"tantivy's own open:           {tantivy_open:.1f} ms")
    print(f"read-only LexicalIndex open:  {reader_open:.1f} ms (check included)")
    print(f"reader reload (files known):  {reload:.2f} ms")


if __name__ == "__main__":
    main()
