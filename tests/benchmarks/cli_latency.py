"""The command line's latency: `codanna-desktop` commands timed as whole processes.

    .venv/bin/python -m tests.benchmarks.cli_latency [--runs 15]

What a person waits for at the shell: the interpreter starting, the imports, opening the
index, the search, printing. Each command runs as its own process (`python -m
codanna_desktop ...`, as the installed `codanna-desktop` script does), N times,
interleaved with the other commands of the same phase, after one warm-up run each.
With `--before DIR` each command also runs with the code in DIR (the same servers answer
both), interleaved. Three phases, one after the other:

- no server: nothing else runs, the command line opens the index itself;
- app: the desktop app runs (offscreen) and answers over its local socket;
- watch: `codanna-desktop watch` runs and answers the same way.

The corpus is a copy of this repository's ``codanna_desktop/core`` (bench-work/cli_latency,
indexed and embedded once, kept between runs). For each command the modules it imports
are counted from ``-X importtime`` and the heavy ones named, since what a process imports
before it answers is most of its time. The load average is recorded with each phase: the
machine is shared, so compare figures of one run, not across runs. Beside the wall time,
the CPU time of the command's process and of the server meanwhile: on a loaded machine the
wall time is mostly waiting for a turn, and their sum is about what an idle one takes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from codanna_desktop.core import app_link
from tests.benchmarks.workspace import (
    DOCS_DIR,
    REPO_ROOT,
    WORK_DIR,
    cli_env,
    home_paths,
    latency_summary,
    machine,
    write_json,
)

CLI = [sys.executable, "-m", "codanna_desktop"]
CORPUS = REPO_ROOT / "codanna_desktop" / "core"
LEXICAL_QUERY = "resolve_languages"
HYBRID_QUERY = "how the lexical and semantic scores are combined into one ranking"
# What a fast path must not pay for; named in the report when a command imports them.
HEAVY = (
    "tantivy",
    "numpy",
    "fastembed",
    "onnxruntime",
    "hnswlib",
    "psycopg",
    "PySide6",
    "watchdog",
    "tree_sitter",
    "pygments",
    "codanna_desktop.core.engine",
)


def commands(lexical_query: str = LEXICAL_QUERY) -> dict[str, list[str]]:
    return {
        "version": ["--version"],
        "search --alpha 0": ["search", "--alpha", "0", lexical_query],
        "search (hybrid)": ["search", HYBRID_QUERY],
    }


def prepare(work: Path, source: Path = CORPUS) -> tuple[Path, dict[str, str]]:
    """The corpus and the environment of a CODANNA_HOME that has it indexed and embedded."""
    corpus, home = work / "corpus", work / "home"
    env = cli_env(home)
    env.pop("QT_QPA_PLATFORM", None)
    # PYTHONPATH alone says which code runs (this checkout's, not an editable install's):
    # PYTHONSAFEPATH keeps `python -m` from looking in the working folder first.
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONSAFEPATH"] = "1"
    if not corpus.exists():
        shutil.copytree(
            source,
            corpus,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    status = _status(env)
    if not status.get("roots"):
        print(f"indexing and embedding {corpus} (once) …", file=sys.stderr)
        subprocess.run([*CLI, "add", str(corpus)], env=env, check=True, stdout=subprocess.DEVNULL)
        status = _status(env)
    if status.get("embedded") != status.get("chunks"):
        subprocess.run([*CLI, "index"], env=env, check=True, stdout=subprocess.DEVNULL)
    return corpus, env


def _status(env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [*CLI, "status", "--json"], env=env, capture_output=True, text=True, check=True
    )
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def run_once(args: list[str], env: dict[str, str], server: int | None) -> tuple[float, ...]:
    """Wall time, the process's CPU time and the server's CPU time meanwhile (seconds).
    On a loaded machine the wall time waits for the other processes' turns; the CPU
    times add up to about what an idle machine would take."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    served = server_cpu(server)
    started = time.perf_counter()
    proc = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"{args} exited {proc.returncode}: {proc.stderr.strip()}")
    own = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, own, server_cpu(server) - served


def server_cpu(pid: int | None) -> float:
    """CPU seconds the server process has used (all its threads), from /proc."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def imports_of(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """How many modules the command imports, and which of the heavy ones."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "codanna_desktop", *args],
        env=env,
        capture_output=True,
        text=True,
    )
    names = imported_modules(proc.stderr)
    heavy = sorted(h for h in HEAVY if any(n == h or n.startswith(h + ".") for n in names))
    return {"modules": len(names), "heavy": heavy}


def imported_modules(importtime_stderr: str) -> set[str]:
    """The module names `python -X importtime` reported on standard error."""
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                names.add(name)
    return names


def measure_phase(
    envs: dict[str, dict[str, str]],
    runs: int,
    todo: dict[str, list[str]],
    server: int | None = None,
) -> dict[str, Any]:
    """Every command with every code (`envs`: "after", and "before" when given) N times,
    interleaved, after one warm-up run each."""
    cases = [(f"{name} [{code}]", args, env) for name, args in todo.items()
             for code, env in envs.items()]  # fmt: skip
    times: dict[str, list[tuple[float, ...]]] = {label: [] for label, _, _ in cases}
    for _, args, env in cases:
        run_once(args, env, server)
    load_before = os.getloadavg()
    for _ in range(runs):
        for label, args, env in cases:
            times[label].append(run_once(args, env, server))
    load_after = os.getloadavg()
    commands = {}
    for label, args, env in cases:
        wall, own, served = zip(*times[label], strict=True)
        commands[label] = {
            **latency_summary(wall),
            "cpu_p50_ms": round(statistics.median(own) * 1000, 1),
            "server_cpu_p50_ms": round(statistics.median(served) * 1000, 1),
            **imports_of(args, env),
        }
    return {
        "load_average": [round(load_before[0], 2), round(load_after[0], 2)],
        "commands": commands,
    }


def start_server(kind: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The desktop app (offscreen) or `watch`, once it answers a hybrid search itself (so
    its model is loaded: a person's app has been running for a while)."""
    server_env = dict(env)
    if kind == "app":
        server_env["QT_QPA_PLATFORM"] = "offscreen"
    args = ["gui"] if kind == "app" else ["watch"]
    proc = subprocess.Popen(
        [*CLI, *args], env=server_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    data_dir = home_paths(Path(env["CODANNA_HOME"])).data_dir
    deadline = time.monotonic() + 300
    request = {"request": "search", "query": HYBRID_QUERY, "alpha": None, "k": 10}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} exited {proc.returncode} before it answered")
        try:
            reply = app_link.send(data_dir, request, timeout=120)
        except app_link.AppNotAnswering:
            time.sleep(0.5)
            continue
        if reply.get("ok"):
            return proc
        time.sleep(0.5)
    stop_server(proc)
    raise RuntimeError(f"{kind} did not answer a search within 300 s (does it serve the socket?)")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(
    runs: int,
    work: Path,
    before: Path | None,
    source: Path = CORPUS,
    lexical_query: str = LEXICAL_QUERY,
) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    _, env = prepare(work, source)
    envs = {"after": env}
    if before is not None:
        envs["before"] = {**env, "PYTHONPATH": str(before)}
    status = _status(env)
    result: dict[str, Any] = {
        "machine": machine(),
        "runs": runs,
        "corpus": {"files": status["files"], "chunks": status["chunks"]},
        "phases": {},
    }
    todo = commands(lexical_query)
    result["phases"]["no server"] = measure_phase(envs, runs, todo)
    for kind in ("app", "watch"):
        try:
            proc = start_server(kind, env)
        except RuntimeError as exc:
            result["phases"][kind] = {"error": str(exc)}
            continue
        try:
            result["phases"][kind] = measure_phase(envs, runs, todo, proc.pid)
        finally:
            stop_server(proc)
    return result


def print_table(result: dict[str, Any]) -> None:
    corpus = result["corpus"]
    print(f"corpus: {corpus['files']} files, {corpus['chunks']} chunks; {result['runs']} runs")
    print(
        f"{'phase':10} {'command':18} {'p50 ms':>7} {'p95 ms':>7} {'cpu ms':>7} "
        f"{'server':>7} {'modules':>7}  heavy imports"
    )
    for phase, data in result["phases"].items():
        if "error" in data:
            print(f"{phase:10} {data['error']}")
            continue
        for name, c in data["commands"].items():
            heavy = ", ".join(c["heavy"]) or "-"
            print(
                f"{phase:10} {name:27} {c['p50_ms']:7.0f} {c['p95_ms']:7.0f} "
                f"{c['cpu_p50_ms']:7.0f} {c['server_cpu_p50_ms']:7.0f} {c['modules']:7d}  {heavy}"
            )
        print(f"{'':10} load average (1 min) before/after: {data['load_average']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--corpus", type=Path, default=CORPUS, help="the folder copied and searched"
    )
    parser.add_argument("--work", type=Path, default=WORK_DIR / "cli_latency")
    parser.add_argument("--out", type=Path, default=DOCS_DIR, help="where the JSON goes")
    parser.add_argument("--label", default="", help="a suffix for the JSON file's name")
    parser.add_argument(
        "--before",
        type=Path,
        help="a checkout of the code to compare with (`git archive REV | tar -x -C DIR`): "
        "its command line runs interleaved with this one, against the same servers",
    )
    args = parser.parse_args(argv)
    out = args.out.resolve()
    before = args.before and args.before.resolve()
    result = run(args.runs, args.work.resolve(), before, args.corpus.resolve())
    print_table(result)
    name = "cli_latency" + (f"_{args.label}" if args.label else "")
    print(f"written {write_json(out, name, result)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
