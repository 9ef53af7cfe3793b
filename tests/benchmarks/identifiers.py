"""Identifier lookup: names of functions, classes, methods and constants from the standard
library, typed the ways people type them.

    .venv/bin/python -m tests.benchmarks.identifiers

A fixed subset of the running Python's standard library (SUBSET_PACKAGES and
SUBSET_MODULES, 188 files, 5,700 chunks: embedding the whole tree would take about an hour) is
copied into bench-work/identifiers/stdlib and indexed by the engine. Queries come from
Python's own `ast` (not from the app's chunker): a definition is a query when its name
(or spaced form, or Class.method pair) is defined exactly once in the subset, so there
is one right answer. Forms:

- single: ``urlsplit``, ``HTTPConnection``, ``DEFAULT_BUFFER_SIZE``;
- dotted: ``HTTPConnection.request``;
- spaced: the words of the name, lower case: ``make archive``, ``http connection``.

The relevant result is the chunk that defines the name: a chunk of that file whose line
span holds the ``def``/``class`` line (or the constant's line) and encloses no other such
chunk, so for a method the class chunk around it does not count. Reported: success@1 and MRR@10.
"""

from __future__ import annotations

import argparse
import ast
import random
import re
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.ranking.search import SearchResult
from codanna_desktop.core.settings import Settings
from tests.benchmarks import report
from tests.benchmarks.relevance import DEPTHS, RULES, Query, run_grid
from tests.benchmarks.workspace import (
    DOCS_DIR,
    WORK_DIR,
    machine,
    open_engine,
    stdlib_dir,
    write_json,
)

SUBSET_PACKAGES = (
    "http", "urllib", "json", "logging", "collections", "concurrent", "wsgiref", "html",
    "tomllib", "zoneinfo", "sqlite3", "dbm", "re", "email", "importlib", "curses", "ctypes",
)  # fmt: skip
SUBSET_MODULES = (
    "shutil", "os", "posixpath", "genericpath", "tempfile", "fnmatch", "glob", "textwrap",
    "string", "base64", "csv", "gzip", "shlex", "copy", "heapq", "bisect", "queue", "socket",
    "uuid", "random", "secrets", "hashlib", "hmac", "getopt", "netrc", "mimetypes", "timeit",
    "functools", "contextlib", "reprlib", "warnings", "linecache", "tokenize", "keyword",
    "token", "stat", "fileinput", "filecmp", "pprint", "fractions", "types", "abc", "copyreg",
    "sysconfig", "runpy", "pkgutil", "py_compile", "compileall", "cmd", "code", "codeop",
    "signal", "sched", "graphlib", "colorsys", "quopri", "lzma", "bz2", "_compression",
    "zipapp", "selectors", "weakref", "traceback", "statistics", "dataclasses",
)  # fmt: skip
PER_FORM = {"single": 100, "dotted": 100, "spaced": 100}
SEED = 20240601
_CONSTANT = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$|^[A-Z]{4,}[0-9]*$")
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


@dataclass(frozen=True)
class Definition:
    name: str  # as written: make_archive, HTTPConnection.request
    kind: str  # function | class | method | constant
    path: str  # relative to the subset root
    line: int  # the def / class / assignment line


@dataclass(frozen=True)
class IdentQuery:
    qid: str
    text: str
    form: str  # single | dotted | spaced
    target: Definition


def subset_files(
    stdlib: Path,
    modules: Sequence[str] = SUBSET_MODULES,
    packages: Sequence[str] = SUBSET_PACKAGES,
) -> list[Path]:
    """The subset's .py files, without test folders, in a stable order."""
    files = [stdlib / f"{m}.py" for m in modules if (stdlib / f"{m}.py").is_file()]
    for package in packages:
        files += sorted(
            p
            for p in (stdlib / package).rglob("*.py")
            if not {"test", "tests", "__pycache__"} & set(p.relative_to(stdlib).parts)
        )
    return files


def copy_subset(stdlib: Path, files: Sequence[Path], root: Path) -> int:
    """Copy the files (with their mtimes, so a second run re-reads nothing)."""
    copied = 0
    for src in files:
        dst = root / src.relative_to(stdlib)
        if dst.exists() and dst.read_bytes() == src.read_bytes():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        copied += 1
    return copied


def definitions(root: Path) -> list[Definition]:
    """Module-level functions, classes, constants and the methods of those classes,
    including those under module-level if/try blocks (os.py defines many that way)."""
    found: list[Definition] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in _module_level(tree.body):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append(Definition(node.name, "function", rel, node.lineno))
            elif isinstance(node, ast.ClassDef):
                found.append(Definition(node.name, "class", rel, node.lineno))
                for member in node.body:
                    if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                        name = f"{node.name}.{member.name}"
                        found.append(Definition(name, "method", rel, member.lineno))
            else:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]  # type: ignore[attr-defined]
                for target in targets:
                    if isinstance(target, ast.Name) and _CONSTANT.match(target.id):
                        found.append(Definition(target.id, "constant", rel, node.lineno))
    return found


def _module_level(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    for node in body:
        if isinstance(
            node,
            ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Assign | ast.AnnAssign,
        ):
            yield node
        elif isinstance(node, ast.If | ast.Try):
            for block in (node.body, node.orelse, *(h.body for h in getattr(node, "handlers", []))):
                yield from _module_level(block)


def spaced(name: str) -> str:
    return " ".join(w.lower() for w in _WORDS.findall(name))


def make_queries(defs: Sequence[Definition], per_form: dict[str, int]) -> list[IdentQuery]:
    """Queries with exactly one defining place in the subset, sampled with a fixed seed."""
    bare = Counter(d.name.rsplit(".", 1)[-1] for d in defs)
    dotted = Counter(d.name for d in defs if d.kind == "method")
    spaced_forms = Counter(spaced(d.name.rsplit(".", 1)[-1]) for d in defs)

    def plain(d: Definition) -> bool:
        name = d.name.rsplit(".", 1)[-1]
        return len(name) >= 4 and not name.startswith("__")

    singles = [d for d in defs if d.kind != "method" and plain(d) and bare[d.name] == 1]
    methods = [d for d in defs if d.kind == "method" and plain(d) and dotted[d.name] == 1]
    multiword = [
        d for d in singles if len(_WORDS.findall(d.name)) >= 2 and spaced_forms[spaced(d.name)] == 1
    ]
    rng = random.Random(SEED)
    out: list[IdentQuery] = []
    pools = {"single": singles, "dotted": methods, "spaced": multiword}
    for form, pool in pools.items():
        for i, d in enumerate(rng.sample(pool, min(per_form.get(form, 0), len(pool)))):
            text = spaced(d.name) if form == "spaced" else d.name
            out.append(IdentQuery(f"{form}-{i:03d}", text, form, d))
    return out


def relevant_chunks(
    engine: Engine, root: Path, queries: Sequence[IdentQuery]
) -> dict[str, set[int]]:
    """qid -> the chunks that define the name: those whose line span holds the definition's
    line, without the ones enclosing another such chunk (the class chunk around a method).
    Overlapping windows of one long definition both hold the line, and both count."""
    catalog = engine.catalog
    row = catalog.root_by_path(root.resolve())
    assert row is not None, f"{root} is not indexed"
    spans: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for path, f in catalog.files_of_root(row.id).items():
        for chunk in catalog.chunk_rows(catalog.chunk_ids_of_files([f.id])).values():
            spans[path].append((chunk.start_line, chunk.end_line, chunk.id))
    out: dict[str, set[int]] = {}
    for q in queries:
        holding = [s for s in spans[q.target.path] if s[0] <= q.target.line <= s[1]]
        innermost = {
            s[2]
            for s in holding
            if not any(o is not s and s[0] <= o[0] and o[1] <= s[1] for o in holding)
        }
        if innermost:
            out[q.qid] = innermost
    return out


def score(
    runs: dict[str, list[int]], relevant: dict[str, set[int]], queries: Sequence[IdentQuery]
) -> dict[str, Any]:
    """success@1 and MRR@10 over all queries, and per form and kind."""
    groups: dict[str, list[float]] = defaultdict(list)
    firsts: dict[str, list[float]] = defaultdict(list)
    for q in queries:
        targets = relevant.get(q.qid, set())
        rank = next((i for i, c in enumerate(runs.get(q.qid, [])[:10], 1) if c in targets), None)
        for group in ("all", f"form:{q.form}", f"kind:{q.target.kind}"):
            groups[group].append(1.0 / rank if rank else 0.0)
            firsts[group].append(1.0 if rank == 1 else 0.0)
    out: dict[str, Any] = {
        "success@1": _mean(firsts["all"]),
        "MRR@10": _mean(groups["all"]),
    }
    out["by_group"] = {
        g: {"n": len(v), "success@1": _mean(firsts[g]), "MRR@10": _mean(v)}
        for g, v in sorted(groups.items())
        if g != "all"
    }
    return out


def _mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def index_subset(home: Path, root: Path, settings: Settings | None = None) -> dict[str, Any]:
    with open_engine(home, settings) as engine:
        engine.add_root(root)
        t0 = time.perf_counter()
        rep = engine.index()
        status = engine.status()
    return {
        "seconds": round(time.perf_counter() - t0, 1),
        "files": status.files,
        "chunks": status.chunks,
        "embedded": status.embedded,
        "embedded_now": rep.chunks_embedded,
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stdlib", type=Path, default=stdlib_dir())
    p.add_argument("--work", type=Path, default=WORK_DIR / "identifiers")
    p.add_argument("--out", type=Path, default=DOCS_DIR)
    p.add_argument("--modules", nargs="*", default=list(SUBSET_MODULES), help="top-level modules")
    p.add_argument("--packages", nargs="*", default=list(SUBSET_PACKAGES), help="packages")
    p.add_argument("--per-form", type=int, default=None, help="queries per form (default 100)")
    p.add_argument("--rules", nargs="+", default=list(RULES))
    p.add_argument("--depths", nargs="+", type=int, default=list(DEPTHS))
    p.add_argument("--no-report", action="store_true")
    args = p.parse_args(argv)

    files = subset_files(args.stdlib, args.modules, args.packages)
    root, home = args.work / "stdlib", args.work / "home"
    copied = copy_subset(args.stdlib, files, root)
    print(f"subset: {len(files)} files in {root} ({copied} copied)", flush=True)
    indexing = index_subset(home, root)
    print(f"index: {indexing}", flush=True)
    per_form = dict.fromkeys(PER_FORM, args.per_form) if args.per_form else PER_FORM
    queries = make_queries(definitions(root), per_form)
    defaults = Settings()

    def chunk_id(r: SearchResult) -> int:
        return r.chunk_id

    with open_engine(home, writer=False) as engine:
        relevant = relevant_chunks(engine, root, queries)
        qs = [Query(q.qid, q.text) for q in queries]
        runs, grid_time = run_grid(engine, qs, chunk_id, rules=args.rules, depths=args.depths, k=10)
    grid = {c.key: score(r, relevant, queries) for c, r in sorted(runs.items())}
    result = {
        "benchmark": "identifiers",
        "command": "python -m tests.benchmarks.identifiers",
        "machine": machine(),
        "subset": {
            "stdlib": str(args.stdlib),
            "packages": list(args.packages),
            "modules": list(args.modules),
            "files": len(files),
        },
        "indexing": indexing,
        "queries": len(queries),
        "queries_without_relevant_chunk": sorted(q.qid for q in queries if q.qid not in relevant),
        "query_examples": {
            form: [q.text for q in queries if q.form == form][:8] for form in PER_FORM
        },
        "defaults": {
            "alpha": defaults.alpha,
            "fusion": defaults.fusion,
            "candidates_per_side": defaults.candidates_per_side,
        },
        "grid": grid,
        "grid_time": grid_time,
        "query_list": [
            {"qid": q.qid, "text": q.text, "form": q.form, **asdict(q.target)} for q in queries
        ],
    }
    write_json(args.out, "identifiers", result)
    default_key = f"{defaults.fusion}/{defaults.candidates_per_side}/{defaults.alpha:.1f}"
    for key, m in grid.items():
        if key.startswith(f"{defaults.fusion}/{defaults.candidates_per_side}/"):
            mark = "  <- default" if key == default_key else ""
            print(f"{key:16s} success@1 {m['success@1']:.3f}  MRR@10 {m['MRR@10']:.3f}{mark}")
    if not args.no_report:
        report.refresh(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
