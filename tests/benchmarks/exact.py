"""Exact search against ripgrep: the same (file, line) pairs, the time per pattern, and
what the trigram index costs.

    .venv/bin/python -m tests.benchmarks.exact [--mirror DIR] [--big 10]

Trees: the standard library, and Flask (Python), Express (JavaScript) and ripgrep (Rust)
at the commits pinned in projects.py (`--mirror DIR`: a folder of bare clones, as there).
`--big N` adds a tree of N copies of the standard library (hard links) for speed alone.
Each tree is indexed lexically into one index (bench-work/exact), twice for the cost
figures: with the content index and with its hooks switched off.

Patterns, per tree (seeded): identifiers sampled from the tree's own text (rare and
common), the same with -w, -i and -S, literals with punctuation (-F, from its lines and
a fixed list), regular expressions (a fixed list) and non-ASCII text. Each runs through
the warm engine (the searcher open in this process, as the window has it) and through
`rg` on the tree with the app's rules given to it: `--hidden --no-require-git` (the app
reads hidden files and every .gitignore), `--follow` (it follows symlinked folders), a
`--glob !DIR/` per default excluded folder and `--max-filesize` at the app's limit.
Every (file, line) pair one finds and the other does not is listed with its reason.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codanna_desktop.core.exact.matcher import PatternOptions
from codanna_desktop.core.exact.pattern import CaseMode
from codanna_desktop.core.exact.search import ExactRequest, ExactSearcher
from codanna_desktop.core.settings import DEFAULT_EXCLUDED_DIRS, Settings
from tests.benchmarks import report
from tests.benchmarks.workspace import (
    DOCS_DIR,
    WORK_DIR,
    cli_env,
    folder_size,
    home_paths,
    latency_summary,
    machine,
    percentile,
    stdlib_dir,
    write_json,
)

SEED = 11
IDENTIFIERS = 30
MODIFIED = 10  # identifiers searched again with -w, and with -i
PUNCTUATED = 20

FIXED_LITERALS = [
    "!==", "===", "->", "=>", "::", "#[derive(", "@app.route", "){", "?.", "&&", "||",
    "**kwargs", "//", "/*", "<<", "%s", "{}", "[]", "...", "self.", "__init__(", "$(",
]  # fmt: skip
REGEXES = [
    r"def \w+\(self", r"^\s*class \w+", r"^import \w+", r"\bfn \w+<", r"function\s+\w+\s*\(",
    r"\d{4,}", r"0x[0-9a-fA-F]+", r"TODO|FIXME|XXX", r"\w+Error\b", r"^\s*#", r"\s+$",
    r"[A-Z]{5,}", r"(foo|bar)baz", r"\bself\.\w+ = ", r"=>\s*\{", r"""require\(['"]\w+['"]\)""",
    r"pub(\(crate\))? fn", r"impl<.*> \w+ for", r"\(\)$", r"^$", r"^.{100,}$", r"[^\x00-\x7F]",
    r"\p{Greek}", r"(?i)https?://", r"[a-z]+_[a-z]+_[a-z]+", r"\b(if|while)\s*\(", r"'[^']*'",
    r'"""', r"(a+)+$", r"\bx\b", r"colou?r", r"\.\.\.", r"\w+\s*=\s*\w+\(\)", r"^\S+$",
    r"return\s+(None|null|nil)\b", r"[Cc]onfig\w*", r"(?x) get _ \w+  # verbose",
]  # fmt: skip
UNICODE = [("é", []), ("ü", []), ("—", []), ("…", []), ("[À-ÿ]", []), ("STRASSE", ["-i"])]

_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]{3,30}\b")
_PUNCT = re.compile(r"[^\s\w]*\w+[^\s\w]+\w*")
_NON_ASCII_WORD = re.compile(r"\w*[^\x00-\x7f]\w*")


def rg_command(rg: str, max_file_size: int) -> list[str]:
    command = [rg, "-n", "--no-heading", "--with-filename", "-0", "--no-messages"]
    command += ["--hidden", "--no-require-git", "--follow", f"--max-filesize={max_file_size}"]
    for folder in DEFAULT_EXCLUDED_DIRS:
        command += ["--glob", f"!{folder}/"]
    return command


def rg_pairs(base: list[str], root: Path, pattern: str, flags: list[str]) -> set[tuple[str, int]]:
    proc = subprocess.run(
        [*base, *flags, "-e", pattern, "."], cwd=root, capture_output=True, check=False
    )
    pairs = set()
    for line in proc.stdout.split(b"\n"):
        path, _, rest = line.partition(b"\0")
        number = rest.split(b":", 1)[0]
        if number.isdigit():  # not "binary file matches (found NUL…)"
            rel = path.decode("utf-8", "surrogateescape").removeprefix("./")
            pairs.add((rel, int(number)))
    return pairs


def options_for(pattern: str, flags: list[str]) -> PatternOptions:
    case = CaseMode.SENSITIVE
    if "-i" in flags:
        case = CaseMode.IGNORE
    elif "-S" in flags:
        case = CaseMode.SMART
    return PatternOptions(pattern, fixed="-F" in flags, case=case, word="-w" in flags)


def sample_patterns(texts: list[str], seed: int) -> list[tuple[str, str, list[str]]]:
    """(kind, pattern, ripgrep flags) for one tree."""
    rng = random.Random(seed)
    words: Counter[str] = Counter()
    lines: list[str] = []
    non_ascii: Counter[str] = Counter()
    for text in texts:
        words.update(_IDENT.findall(text))
        lines += rng.sample(text.splitlines(), min(3, len(text.splitlines())))
        non_ascii.update(w for w in _NON_ASCII_WORD.findall(text) if 3 <= len(w) <= 20)
    by_count = sorted(words, key=lambda w: (words[w], w))
    # Evenly over the frequency ranks: names used once and names used everywhere.
    step = max(1, len(by_count) // IDENTIFIERS)
    idents = [by_count[i] for i in range(0, len(by_count), step)][:IDENTIFIERS]
    out: list[tuple[str, str, list[str]]] = [("identifier", w, []) for w in idents]
    out += [("identifier -w", w, ["-w"]) for w in rng.sample(idents, MODIFIED)]
    out += [("identifier -i", w, ["-i"]) for w in rng.sample(idents, MODIFIED)]
    out += [("identifier -S", w, ["-S"]) for w in rng.sample(idents, 5)]
    punctuated = sorted({m for line in lines for m in _PUNCT.findall(line) if 3 <= len(m) <= 24})
    out += [
        ("literal -F", p, ["-F"]) for p in rng.sample(punctuated, min(PUNCTUATED, len(punctuated)))
    ]
    out += [("literal -F", p, ["-F"]) for p in FIXED_LITERALS]
    out += [("regex", p, []) for p in REGEXES]
    out += [("unicode", p, f) for p, f in UNICODE]
    common_non_ascii = [w for w, _ in non_ascii.most_common(5)]
    out += [("unicode", w, []) for w in common_non_ascii]
    return out


def index_child(
    home: Path, roots: list[Path], with_texts: bool, source: Path | None = None
) -> dict[str, Any]:
    """Index the roots lexically in a fresh process (with the code of `source`, a checkout
    of an earlier commit, when given); time, peak memory, sizes."""
    code = (
        "import sys, time, json\n"
        "from codanna_desktop.core.exact import sync\n"
        "if sys.argv[1] == '0':\n"
        "    sync.store_texts = lambda *a, **k: None\n"
        "    sync.drop_texts = lambda *a, **k: None\n"
        "from codanna_desktop.core.engine import Engine\n"
        "from tests.benchmarks.workspace import home_paths, peak_rss_mb\n"
        "if __name__ == '__main__':\n"
        "    e = Engine(home_paths(__import__('pathlib').Path(sys.argv[2])))\n"
        "    for r in sys.argv[3:]: e.add_root(r)\n"
        "    t = time.perf_counter(); rep = e.index(embed=False); s = time.perf_counter() - t\n"
        "    n = e.catalog.counts()['files']; e.close()\n"
        "    print(json.dumps({'seconds': round(s, 1), 'files': n,"
        " 'peak_rss_mb': round(peak_rss_mb(), 1)}))\n"
    )
    if home.exists():
        shutil.rmtree(home)
    env = cli_env(home)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    proc = subprocess.run(
        [sys.executable, "-c", code, "1" if with_texts else "0", str(home), *map(str, roots)],
        capture_output=True,
        text=True,
        env=env,
        cwd=source,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    data = home_paths(home).data_dir
    result["sizes_mb"] = {
        "exact (texts + trigrams)": round(folder_size(data / "exact") / 2**20, 1),
        "lexical": round(folder_size(data / "lexical") / 2**20, 1),
        "catalog": round(folder_size(data / "catalog.sqlite") / 2**20, 1),
    }
    return result


def why(
    searcher: ExactSearcher, root: Path, root_id: int, rel: str, line: int, pattern: str
) -> str:
    """The reason one side has a (file, line) pair the other has not."""
    row = searcher.catalog.files_of_root(root_id).get(rel)
    if row is None:
        return "not scanned by the app (ignored or unreadable)"
    if row.state == "skipped":
        return f"skipped by the app: {row.skip_reason}"
    raw = (root / rel).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8: the app searches the decoded text (U+FFFD for bad bytes), rg the bytes"
    lines = text.split("\n")
    shown = lines[line - 1] if 0 < line <= len(lines) else ""
    if ("\\b" in pattern or "\\B" in pattern) and not shown.isascii():
        return "a word boundary beside a non-ASCII character (checked by ripgrep's engine)"
    return "matcher differs"


# A warm searcher of another version of the code (its source tree on PYTHONPATH), asked
# pattern by pattern over a pipe: the time per pattern before a change, in the same run.
_BEFORE_WORKER = """
import json, sys, time
from pathlib import Path
from codanna_desktop.core.exact.search import ExactRequest, ExactSearcher
from tests.benchmarks.exact import options_for
from tests.benchmarks.workspace import home_paths
with ExactSearcher.open(home_paths(Path(sys.argv[1]))) as searcher:
    for line in sys.stdin:
        root, pattern, flags = json.loads(line)
        t0 = time.perf_counter()
        result = searcher.search(ExactRequest(options_for(pattern, flags), paths=[Path(root)]))
        seconds = time.perf_counter() - t0
        pairs = sorted([f.rel_path, n] for f in result.files for n in f.lines.numbers.tolist())
        print(json.dumps([seconds, pairs]), flush=True)
"""


class BeforeSearcher:
    """The searcher of `source` (a checkout of an earlier commit) in a process of its own."""

    def __init__(self, source: Path, home: Path) -> None:
        env = {**cli_env(home), "PYTHONPATH": str(source)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BEFORE_WORKER, str(home)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=source,
            env=env,
        )

    def search(self, root: Path, pattern: str, flags: list[str]) -> tuple[float, set[Any]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([str(root), pattern, flags]) + "\n")
        self.proc.stdin.flush()
        seconds, pairs = json.loads(self.proc.stdout.readline())
        return seconds, {(f, n) for f, n in pairs}

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait()


def before_searcher(args: argparse.Namespace, home: Path, roots: list[Path]) -> BeforeSearcher:
    """The earlier code's searcher, on an index that code built itself beside `home`: its
    format may differ from this one's (which it could not read)."""
    source = args.before.resolve()
    before_home = home.with_name(home.name + "-before")
    index_child(before_home, roots, with_texts=True, source=source)
    return BeforeSearcher(source, before_home)


def compare_tree(
    name: str,
    root: Path,
    searcher: ExactSearcher,
    rg_base: list[str],
    patterns: list[tuple[str, str, list[str]]],
    before: BeforeSearcher | None = None,
    reps: int = 1,
) -> dict[str, Any]:
    """Each pattern `reps` times in turn (rg, then the app and the earlier code in
    alternating order): its times are the medians of its runs."""
    root_row = searcher.catalog.root_by_path(root)
    assert root_row is not None
    rows: list[dict[str, Any]] = []
    for i, (kind, pattern, flags) in enumerate(patterns):
        rg_runs, app_runs, before_runs = [], [], []
        for rep in range(reps):
            t0 = time.perf_counter()
            expected = rg_pairs(rg_base, root, pattern, flags)
            rg_runs.append(time.perf_counter() - t0)
            then = before.search(root, pattern, flags) if before and (i + rep) % 2 else None
            t0 = time.perf_counter()
            result = searcher.search(ExactRequest(options_for(pattern, flags), paths=[root]))
            app_runs.append(time.perf_counter() - t0)
            if before is not None:  # before this version's search or after it, in turn
                before_runs.append(then or before.search(root, pattern, flags))
        rg_s, app_s = statistics.median(rg_runs), statistics.median(app_runs)
        found = {(f.rel_path, n) for f in result.files for n in f.lines.numbers.tolist()}
        extra: dict[str, Any] = {}
        if before_runs:
            before_s = statistics.median(s for s, _ in before_runs)
            same = all(pairs == found for _, pairs in before_runs)
            extra = {"before_ms": round(before_s * 1000, 2), "before_same": same}
        diffs = [
            {
                "file": f,
                "line": n,
                "only": only,
                "why": why(searcher, root, root_row.id, f, n, pattern),
            }
            for only, pairs in (("rg", expected - found), ("app", found - expected))
            for f, n in sorted(pairs)
        ]
        rows.append(
            {
                "kind": kind,
                "pattern": pattern,
                "flags": flags,
                "rg_lines": len(expected),
                "app_lines": len(found),
                "candidates": result.candidates,
                "scan": result.pattern.needs_full_scan,
                "rg_ms": round(rg_s * 1000, 2),
                "app_ms": round(app_s * 1000, 2),
                **extra,
                "differences": diffs[:20],
                "difference_count": len(diffs),
                "difference_reasons": dict(Counter(d["why"] for d in diffs)),
            }
        )
        print(
            f"{name:8s} {kind:14s} {pattern[:30]!s:32s} rg {len(expected):6d} "
            f"app {len(found):6d} diff {len(diffs):3d}  rg {rg_s * 1000:7.1f} ms "
            f"app {app_s * 1000:7.1f} ms",
            flush=True,
        )
    return {"tree": name, "patterns": rows, **speed_summary(rows)}


def speed_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    rg = [r["rg_ms"] / 1000 for r in rows]
    app = [r["app_ms"] / 1000 for r in rows]
    ratios = [r["rg_ms"] / max(r["app_ms"], 0.001) for r in rows]
    before: dict[str, Any] = {}
    if rows and "before_ms" in rows[0]:
        then = [r["before_ms"] / 1000 for r in rows]
        before = {
            "before": {
                "app_warm": latency_summary(then),
                "rg_over_app_median": round(statistics.median(rg) / statistics.median(then), 1),
                "per_pattern_ratio_p50": round(
                    percentile([r["rg_ms"] / max(r["before_ms"], 0.001) for r in rows], 50), 1
                ),
                "same_lines_as_now": sum(1 for r in rows if r["before_same"]),
            }
        }
    return {
        **before,
        "rg": latency_summary(rg),
        "app_warm": latency_summary(app),
        "rg_over_app_median": round(statistics.median(rg) / statistics.median(app), 1),
        "per_pattern_ratio_p50": round(percentile(ratios, 50), 1),
        "patterns_faster_than_rg": sum(1 for r in rows if r["app_ms"] < r["rg_ms"]),
        "same_lines": sum(1 for r in rows if r["difference_count"] == 0),
        "differences": sum(r["difference_count"] for r in rows),
    }


def cli_times(home: Path, root: Path, patterns: list[tuple[str, str, list[str]]]) -> dict[str, Any]:
    seconds = []
    for _, pattern, flags in patterns:
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "codanna_desktop", "grep", *flags, "-e", pattern, str(root)],
            capture_output=True,
            env=cli_env(home),
            check=False,
        )
        seconds.append(time.perf_counter() - t0)
    return latency_summary(seconds)


WINDOW_QUERIES = ["self", "/def \\w+\\(/", "return", "/[a-z]+_[a-z]+/", '"import "']
TICK_MS = 10
IDLE_S = 5.0


def window_stall(home: Path, queries: Sequence[str], root: Path) -> dict[str, Any]:
    """The real window in exact mode answering queries with thousands of matches: the
    longest time its event loop could not run (a 10 ms timer's late ticks), from typing
    through the answer to scrolling to the last line and back."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from codanna_desktop.app.context import AppContext
    from codanna_desktop.app.main_window import MainWindow
    from codanna_desktop.core.engine import Engine

    app = QApplication.instance() or QApplication([])
    engine = Engine(home_paths(home), Settings(), writer=False)
    context = AppContext(engine=engine)
    window = MainWindow(context)
    window.resize(1200, 760)
    window.show()
    # The window restores the last query, which may have checked the switch by its text
    # (a quoted query): the person's choice is made explicitly, from the ranked side.
    window.search_box.setText("")
    window.path_filter.setText("")
    window.exact.ranked_button.setChecked(True)
    window.exact.exact_button.setChecked(True)
    clock = QElapsedTimer()
    clock.start()
    gaps: list[float] = []
    last = [clock.elapsed()]

    def tick() -> None:
        now = clock.elapsed()
        gaps.append(float(now - last[0] - TICK_MS))
        last[0] = now

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    timer.start()

    # The window's own work on the answers (reading the search process's chunks, showing
    # the result), per timer tick: wall time, and the CPU time of the window's thread
    # (the part not spent waiting for a core on a loaded machine).
    work: list[tuple[float, float]] = []
    mode = window.exact
    read_answers = mode._read_answers

    def timed_read() -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        read_answers()
        work.append(((time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000))

    mode._drain.timeout.disconnect()
    mode._drain.timeout.connect(timed_read)

    def spin(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.001)

    # The same window left idle as long: what the machine's load alone costs the loop.
    gaps.clear()
    last[0] = clock.elapsed()
    spin(IDLE_S)
    idle = {
        "seconds": IDLE_S,
        "longest_stall_ms": round(max(gaps, default=0.0), 1),
        "stalls_over_100ms": sum(g > 100 for g in gaps),
    }
    print("window idle", idle, flush=True)
    per_query = []
    for query in queries:
        gaps.clear()
        work.clear()
        last[0] = clock.elapsed()
        window.search_box.setText(query)
        window.run_search()
        ticket = window.exact.latest
        started = time.monotonic()
        while window.exact.answered != ticket and time.monotonic() - started < 120:
            app.processEvents()
            time.sleep(0.001)
        answer_s = time.monotonic() - started
        spin(0.3)
        window.exact.view.scrollToBottom()
        spin(0.3)
        window.exact.view.scrollToTop()
        spin(0.3)
        result = window.exact.result
        per_query.append(
            {
                "query": query,
                "matches": result.match_count if result else 0,
                "files": len(result.files) if result else 0,
                "answer_s": round(answer_s, 2),
                "longest_stall_ms": round(max(gaps, default=0.0), 1),
                "stalls_over_100ms": sum(g > 100 for g in gaps),
                "longest_tick_wall_ms": round(max((w for w, _ in work), default=0.0), 1),
                "longest_tick_cpu_ms": round(max((c for _, c in work), default=0.0), 1),
            }
        )
        print("window", per_query[-1], flush=True)
    timer.stop()
    window.close()
    context.shutdown()
    return {"root": str(root), "idle": idle, "queries": per_query}


def trees(args: argparse.Namespace) -> dict[str, Path]:
    if args.root is not None:
        return {args.root.name: args.root.resolve()}
    out = {"stdlib": stdlib_dir()}
    from tests.benchmarks.projects import materialise

    try:
        out.update(materialise(args.work / "src", args.mirror))
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"projects not available ({exc}); the standard library only", file=sys.stderr)
    return out


def make_big_tree(big: Path, searcher: ExactSearcher, root: Path, copies: int) -> Path:
    """`copies` copies of the files the app indexed under `root` (real code, ten times)."""
    stamp = big / ".copies"
    if stamp.exists() and stamp.read_text() == str(copies):
        return big
    shutil.rmtree(big, ignore_errors=True)
    row = searcher.catalog.root_by_path(root)
    assert row is not None
    files = [
        rel for rel, f in searcher.catalog.files_of_root(row.id).items() if f.state == "indexed"
    ]
    for i in range(copies):
        for rel in files:
            target = big / f"copy{i}" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / rel, target)
    stamp.write_text(str(copies))
    return big


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=None, help="one tree only (smoke runs)")
    p.add_argument("--mirror", type=Path, default=None, help="folder of bare clones")
    p.add_argument("--big", type=int, default=0, help="N copies of the standard library")
    p.add_argument("--work", type=Path, default=WORK_DIR / "exact")
    p.add_argument("--out", type=Path, default=DOCS_DIR)
    p.add_argument("--cli-patterns", type=int, default=15)
    p.add_argument("--reps", type=int, default=3, help="runs of each pattern (medians)")
    p.add_argument("--no-report", action="store_true")
    p.add_argument("--window-only", action="store_true", help="only the window's stalls, again")
    p.add_argument(
        "--before",
        type=Path,
        default=None,
        help="source tree of an earlier version: its warm search timed beside this one's",
    )
    args = p.parse_args(argv)
    if args.window_only:
        return _window_again(args)
    rg = shutil.which("rg")
    if rg is None:
        raise SystemExit("ripgrep is missing: apt-get install ripgrep")
    args.work.mkdir(parents=True, exist_ok=True)
    roots = trees(args)
    print("indexing", ", ".join(roots), flush=True)
    without = index_child(args.work / "home-without", list(roots.values()), with_texts=False)
    home = args.work / "home"
    with_texts = index_child(home, list(roots.values()), with_texts=True)
    print("cost", with_texts, without, flush=True)
    shutil.rmtree(args.work / "home-without", ignore_errors=True)
    rg_base = rg_command(rg, Settings().max_file_size)
    results = []
    before = None if args.before is None else before_searcher(args, home, list(roots.values()))
    with ExactSearcher.open(home_paths(home)) as searcher:
        for name, root in roots.items():
            root_row = searcher.catalog.root_by_path(root)
            assert root_row is not None
            texts = [
                (root / rel).read_text("utf-8", "replace")
                for rel, f in sorted(searcher.catalog.files_of_root(root_row.id).items())
                if f.state == "indexed"
            ]
            patterns = sample_patterns(texts, SEED)
            tree = compare_tree(name, root, searcher, rg_base, patterns, before, args.reps)
            tree["files"] = len(texts)
            tree["cli"] = cli_times(home, root, patterns[: args.cli_patterns])
            results.append(tree)
    if before is not None:
        before.close()
    window = window_stall(home, WINDOW_QUERIES, roots[next(iter(roots))])
    big_result = None
    if args.big:
        with ExactSearcher.open(home_paths(home)) as searcher:
            first = next(iter(roots.values()))
            big = make_big_tree(args.work / "big", searcher, first, args.big)
        big_home = args.work / "home-big"
        big_index = index_child(big_home, [big], with_texts=True)
        before = None if args.before is None else before_searcher(args, big_home, [big])
        with ExactSearcher.open(home_paths(big_home)) as searcher:
            patterns = [x for t in results if t["tree"] == "stdlib" for x in t["patterns"]]
            chosen = [(r["kind"], r["pattern"], r["flags"]) for r in patterns]
            tree = compare_tree("big", big.resolve(), searcher, rg_base, chosen, before, args.reps)
        if before is not None:
            before.close()
        tree["index"] = big_index
        tree["cli"] = cli_times(big_home, big.resolve(), chosen[: args.cli_patterns])
        big_result = tree
    all_rows = [r for t in results for r in t["patterns"]]
    data = {
        "benchmark": "exact",
        "command": "python -m tests.benchmarks.exact" + (f" --big {args.big}" if args.big else ""),
        "reps": args.reps,
        "machine": machine(),
        "rg": subprocess.run([rg, "--version"], capture_output=True, text=True).stdout.split("\n")[
            0
        ],
        "rg_flags": " ".join(rg_base[1:10]) + " --glob !DIR/ per excluded folder",
        "trees": {name: str(root) for name, root in roots.items()},
        "cost": {"with_content_index": with_texts, "without": without},
        "patterns": len(all_rows),
        "same_lines": sum(1 for r in all_rows if r["difference_count"] == 0),
        "differences": sum(r["difference_count"] for r in all_rows),
        "differences_by_reason": dict(
            sum((Counter(r["difference_reasons"]) for r in all_rows), Counter()).most_common()
        ),
        "per_tree": results,
        "window": window,
        "big": big_result,
    }
    write_json(args.out, "exact", data)
    print(
        f"{data['patterns']} patterns, {data['same_lines']} with ripgrep's lines, "
        f"{data['differences']} differences {data['differences_by_reason']}"
    )
    if not args.no_report:
        report.refresh(args.out)
    return 0


def _window_again(args: argparse.Namespace) -> int:
    """Measure the window again on the index of the last run and update its results."""
    from tests.benchmarks.workspace import read_json

    data = read_json(args.out, "exact")
    if data is None:
        raise SystemExit("run the whole benchmark first")
    home = args.work / "home"
    root = Path(next(iter(data["trees"].values())).replace("{stdlib}", str(stdlib_dir())))
    data["window"] = window_stall(home, WINDOW_QUERIES, root)
    write_json(args.out, "exact", data)
    if not args.no_report:
        report.refresh(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
