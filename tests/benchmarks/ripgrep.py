"""Lexical completeness against ripgrep: does the lexical search find every file that
`rg -w -l NAME` finds?

    .venv/bin/python -m tests.benchmarks.ripgrep

The whole standard library tree is indexed lexically only (`codanna-desktop add --no-embed`,
in bench-work/ripgrep), and 50 names defined in it (sampled with a fixed seed from Python's
own `ast`, rare and common alike) are searched with a k as large as the index. ripgrep runs
on the same tree with the same folders left out (the app's default excluded folders).
Every file ripgrep lists and the app does not is a miss, with its reason: the file was
skipped (and why), or it was indexed and the name is not among its words.
"""

from __future__ import annotations

import argparse
import ast
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.ranking.lexical_query import build_query
from codanna_desktop.core.settings import DEFAULT_EXCLUDED_DIRS
from tests.benchmarks import report
from tests.benchmarks.workspace import DOCS_DIR, WORK_DIR, cli_env, machine, stdlib_dir, write_json

NAMES = 50
SEED = 7
_WORD_RE = re.compile(r"\w+")


def sample_names(root: Path, n: int, limit_files: int | None = None) -> list[str]:
    """Names of functions, classes and module constants defined under root, sampled so
    that rare and common names are both represented."""
    names: Counter[str] = Counter()
    files = sorted(p for p in root.rglob("*.py") if not _excluded(p.relative_to(root)))
    for path in files[:limit_files]:
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names[node.name] += 1
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Name) and t.id.isupper():
                        names[t.id] += 1
    # Test names (test_*, *Test) are most of the definitions and nearly all unique: leave
    # them out so the sample has names used across many files as well.
    pool = sorted(
        name
        for name in names
        if len(name) >= 4
        and not name.startswith("__")
        and not name.lower().startswith("test")
        and not name.endswith(("Test", "Tests", "TestCase"))
    )
    rng = random.Random(SEED)
    return sorted(rng.sample(pool, min(n, len(pool))))


def _excluded(rel: Path) -> bool:
    return bool(set(rel.parts[:-1]) & set(DEFAULT_EXCLUDED_DIRS))


def rg_files(rg: str, root: Path, name: str) -> set[Path]:
    """Files where ripgrep finds `name` as a whole word, skipping the app's excluded folders."""
    command = [rg, "-w", "-l", "-F", "--no-messages", "--no-ignore"]
    for folder in DEFAULT_EXCLUDED_DIRS:
        command += ["--glob", f"!{folder}/"]
    command += ["--", name, str(root)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    return {Path(line) for line in proc.stdout.splitlines() if line}


def chunk_files(engine: Engine) -> dict[int, Path]:
    """chunk id -> absolute path of its file, for every indexed chunk."""
    out: dict[int, Path] = {}
    for root in engine.catalog.roots():
        for rel, f in engine.catalog.files_of_root(root.id).items():
            for chunk_id in engine.catalog.chunk_ids_of_files([f.id]):
                out[chunk_id] = root.path / rel
    return out


def app_files(engine: Engine, files_of: dict[int, Path], name: str) -> set[Path]:
    """Files of every chunk the lexical search returns for `name`, with k = the whole index."""
    hits = engine.lexical.search(build_query(name), engine.lexical.doc_count())
    return {files_of[h.chunk_id] for h in hits if h.chunk_id in files_of}


def why_missed(engine: Engine, root: Path, path: Path, name: str) -> str:
    """The reason a file ripgrep found is not among the app's results."""
    rel = path.relative_to(root).as_posix()
    skipped = {p: (reason, detail) for _, p, reason, detail in engine.catalog.skipped_files()}
    if rel in skipped:
        reason, detail = skipped[rel]
        return f"skipped: {reason}" + (f" ({detail})" if detail else "")
    row = engine.catalog.root_by_path(root)
    files = engine.catalog.files_of_root(row.id) if row else {}
    if rel not in files:
        return "not in the index (not scanned: hidden, ignored or unreadable)"
    chunk_ids = engine.catalog.chunk_ids_of_files([files[rel].id])
    texts = [c.text for c in engine.catalog.chunk_rows(chunk_ids).values()]
    if not any(name.lower() in (w.lower() for w in _WORD_RE.findall(t)) for t in texts):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            return f"unreadable now: {exc.strerror}"
        if name.encode() in raw and not texts:
            return "indexed without chunks (the chunker kept no text of it)"
        return "indexed, but the name is not a word of its chunks (chunk text differs from file)"
    return "indexed and the name is in a chunk, yet not returned (ranking cut or tokenizer)"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=stdlib_dir(), help="the tree to index")
    p.add_argument("--work", type=Path, default=WORK_DIR / "ripgrep")
    p.add_argument("--out", type=Path, default=DOCS_DIR)
    p.add_argument("--names", type=int, default=NAMES)
    p.add_argument("--limit-files", type=int, default=None, help="smoke runs: names from N files")
    p.add_argument("--no-report", action="store_true")
    args = p.parse_args(argv)

    rg = shutil.which("rg")
    if rg is None:
        raise SystemExit("ripgrep is missing: apt-get install ripgrep")
    root = args.root.resolve()
    home = args.work / "home"
    t0 = time.perf_counter()
    added = subprocess.run(
        [sys.executable, "-m", "codanna_desktop", "add", str(root), "--no-embed"],
        capture_output=True,
        text=True,
        env=cli_env(home),
        check=True,
    )
    index_s = time.perf_counter() - t0
    print(added.stdout.strip(), f"({index_s:.1f} s)", flush=True)
    names = sample_names(root, args.names, args.limit_files)

    from tests.benchmarks.workspace import open_engine

    rows: list[dict[str, Any]] = []
    with open_engine(home, writer=False) as engine:
        status = engine.status()
        files_of = chunk_files(engine)
        skipped = [
            {"path": rel, "reason": reason, "detail": detail}
            for _, rel, reason, detail in engine.catalog.skipped_files()
            if reason != "binary"
        ]
        for name in names:
            expected = rg_files(rg, root, name)
            found = app_files(engine, files_of, name)
            missed = sorted(expected - found)
            rows.append(
                {
                    "name": name,
                    "rg_files": len(expected),
                    "app_files": len(found),
                    "found_of_rg": len(expected & found),
                    "missed": [
                        {"path": str(m.relative_to(root)), "why": why_missed(engine, root, m, name)}
                        for m in missed
                    ],
                    "app_only": len(found - expected),
                }
            )
            print(f"{name:32s} rg {len(expected):4d}  app {len(found):5d}  missed {len(missed)}")
    total_rg = sum(r["rg_files"] for r in rows)
    total_found = sum(r["found_of_rg"] for r in rows)
    result = {
        "benchmark": "ripgrep",
        "command": "python -m tests.benchmarks.ripgrep",
        "machine": machine(),
        "root": str(root),
        "index": {
            "cli_output": added.stdout.strip(),
            "seconds": round(index_s, 1),
            "files": status.files,
            "chunks": status.chunks,
            "skipped": status.skip_counts,
            "skipped_text_files": skipped,
        },
        "names": len(rows),
        "rg_file_hits": total_rg,
        "app_found_of_rg": total_found,
        "recall": round(total_found / total_rg, 4) if total_rg else 1.0,
        "missed_by_reason": dict(
            Counter(m["why"] for r in rows for m in r["missed"]).most_common()
        ),
        "per_name": rows,
    }
    write_json(args.out, "ripgrep", result)
    print(f"recall {result['recall']}  misses by reason {result['missed_by_reason']}")
    if not args.no_report:
        report.refresh(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
