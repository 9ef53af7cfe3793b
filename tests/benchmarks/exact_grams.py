"""What the content index's gram windows cost to build: tantivy alone over the standard
library's stored texts, one writer thread, for each window range the index could use.

    .venv/bin/python -m tests.benchmarks.exact_grams --work bench-work/exact [--reps 2]

Reads the texts of the exact benchmark's index (run `tests.benchmarks.exact` first) and
builds, interleaved `--reps` times, a gram field of windows of 3-4, 2-4 and 1-4 characters
(the app's) and of 2-4 characters with a field of each file's non-ASCII characters; prints
the median seconds and the folder's size of each.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import tantivy

from tests.benchmarks.workspace import folder_size, home_paths

VARIANTS = {
    "3-4": (3, False),
    "2-4": (2, False),
    "1-4 (the app's)": (1, False),
    "2-4 + chars": (2, True),
}


def build(texts: list[str], shortest: int, chars: bool, folder: Path) -> tuple[float, int]:
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("file_id", stored=True, indexed=True, fast=True)
    sb.add_text_field("grams", tokenizer_name="grams", index_option="basic")
    if chars:
        sb.add_text_field("chars", tokenizer_name="chars", index_option="basic")
    index = tantivy.Index(sb.build(), path=str(folder))
    lower = tantivy.Filter.lowercase()
    index.register_tokenizer(
        "grams",
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.ngram(shortest, 4, False))
        .filter(lower)
        .build(),
    )
    index.register_tokenizer(
        "chars", tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).filter(lower).build()
    )
    writer = index.writer(heap_size=64_000_000, num_threads=1)
    t0 = time.perf_counter()
    for i, text in enumerate(texts):
        doc = tantivy.Document()
        doc.add_unsigned("file_id", i)
        doc.add_text("grams", text)
        if chars:
            doc.add_text("chars", " ".join({c for c in text if not c.isascii()}))
        writer.add_document(doc)
    writer.commit()
    writer.wait_merging_threads()
    return time.perf_counter() - t0, folder_size(folder)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, required=True, help="the exact benchmark's --work")
    p.add_argument("--reps", type=int, default=2)
    args = p.parse_args(argv)
    db_path = home_paths(args.work / "home").data_dir / "exact" / "texts.sqlite"
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        # The standard library is the root with the most files.
        rows = db.execute(
            "SELECT body FROM texts WHERE root_id = (SELECT root_id FROM texts"
            " GROUP BY root_id ORDER BY COUNT(*) DESC LIMIT 1)"
        ).fetchall()
    texts = [bytes(body).decode("utf-8", "replace") for (body,) in rows]
    print(f"{len(texts)} texts, {sum(map(len, texts)) / 1e6:.1f} M characters")
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    sizes: dict[str, int] = {}
    for _ in range(args.reps):
        for name, (shortest, chars) in VARIANTS.items():
            with tempfile.TemporaryDirectory() as folder:
                took, size = build(texts, shortest, chars, Path(folder))
            seconds[name].append(took)
            sizes[name] = size
    for name, runs in seconds.items():
        print(
            f"{name:16s} {statistics.median(runs):6.2f} s  {sizes[name] / 2**20:5.1f} MB  "
            f"runs {', '.join(f'{r:.2f}' for r in runs)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
