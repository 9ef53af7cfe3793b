"""The standing fault campaign: kills, corruptions, a full disk, a dying database, bad
input, fuzzing and load, against the real CLI and the real stores.

    .venv/bin/python -m tests.benchmarks.faults            (about 15-20 minutes)
    .venv/bin/python -m tests.benchmarks.faults --quick    (about a minute)

Every process is real: `python -m codanna_desktop ...` in a subprocess with its own
CODANNA_HOME, killed with SIGKILL; the stores are the real tantivy, hnswlib, SQLite and
PostgreSQL + pgvector. A verifier in a child process (fault_worker.py) checks after each
fault that every live file's unique token finds exactly that file, that no deleted
file's token finds anything, and that every chunk's stored vector is the embedding of
its current text (from the catalog's embedding cache, itself re-checked against the
model on a sample).

A failure found is a result, never the end of the run: the JSON (docs/benchmarks/
faults.json) counts each kind with examples, and the headline says how many kills were
survived, corruptions detected and repaired, bad inputs tried, files lost, ghosts, wrong
vectors, and every process that printed a traceback or died of a signal it was not sent.
The seed is in the JSON; the same seed replays the same choices.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sysconfig
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.benchmarks import report
from tests.benchmarks.fault_kit import Tally, Worker
from tests.benchmarks.workspace import DOCS_DIR, REPO_ROOT, WORK_DIR, machine, write_json

FULL = {
    "quick": False,
    "embedded_files": 40,
    "embedded_kills": 34,
    "lexical_files": 400,
    "lexical_kills": 17,
    "corruptions_per_store": 20,
    "disk_full_trials": 6,
    "pg_kills": 5,
    "tiny_files": 20_000,
    "fuzz_examples": 200,
    "cli_settings_checks": 10,
    "load_threads": 20,
}
QUICK = {
    "quick": True,
    "embedded_files": 8,
    "embedded_kills": 2,
    "lexical_files": 60,
    "lexical_kills": 1,
    "corruptions_per_store": 1,
    "disk_full_trials": 1,
    "pg_kills": 1,
    "tiny_files": 300,
    "fuzz_examples": 25,
    "cli_settings_checks": 2,
    "load_threads": 4,
}
PARTS = ("kills", "corruption", "disk_full", "pgvector", "bad_input", "fuzz", "load")


def headline(tally: Tally, parts: dict[str, Any]) -> dict[str, Any]:
    c = tally.counts
    corruption = parts.get("corruption") or {}
    crashes = c["tracebacks"] + c["foreign_signals"] + c["hangs"] + c["verifier_crashes"]
    return {
        "kills_sent": c["kills_sent"],
        "kills_survived": c["kills_survived"],
        "corruptions_tried": corruption.get("tried", 0),
        "corruptions_detected": corruption.get("detected", 0),
        "corruptions_repaired": corruption.get("repaired", 0),
        "bad_inputs_tried": c["bad_inputs_tried"],
        "fuzz_examples": c["fuzz_examples"],
        "files_lost": c["lost"],
        "ghosts": c["ghosts"],
        "wrong_vectors": c["wrong_vectors"],
        "missing_vectors": c["missing_vectors"],
        "store_ghosts": c["store_ghosts"],
        "cache_wrong": c["cache_wrong"],
        "cache_entries_lost": c["cache_lost"],
        "process_crashes": crashes,
        "tracebacks": c["tracebacks"],
        "died_of_a_signal_not_sent": c["foreign_signals"],
        "hangs": c["hangs"],
        "verifier_crashes": c["verifier_crashes"],
        "api_exceptions": c["fuzz_failures"] + c["load_errors"] + c["search_errors"],
        "cli_runs": c["cli_runs"],
        "harness_errors": c["harness_errors"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=None, help="replay a run (default: random)")
    p.add_argument("--quick", action="store_true", help="a handful of each (the test suite)")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    p.add_argument("--work", type=Path, default=WORK_DIR / "faults")
    p.add_argument("--out", type=Path, default=DOCS_DIR)
    p.add_argument("--name", default="faults", help="JSON file name (without .json)")
    p.add_argument("--label", default="", help='what the code is, e.g. "before the fixes"')
    p.add_argument("--no-report", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep --work at the end (to look into it)")
    p.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        metavar="JSON",
        help="combine the results of parts run in parallel processes into --name",
    )
    args = p.parse_args(argv)
    if args.merge:
        path = write_json(args.out, args.name, merge(args.merge))
        print(f"wrote {path}")
        if not args.no_report and args.name == "faults":
            report.refresh(args.out)
        return 0
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    sizes = dict(QUICK if args.quick else FULL)
    args.work = args.work.resolve()  # expected paths are compared with the CLI's absolute ones
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True, exist_ok=True)
    tally = Tally()
    worker = Worker(args.work / "worker-logs")
    parts: dict[str, Any] = {}
    started = time.monotonic()
    commit, code_commit = _commit(), _code_commit()  # the code that runs, not the code after
    print(f"fault campaign, seed {seed}, parts {' '.join(args.parts)}", flush=True)
    try:
        for name in args.parts:
            print(f"== {name}", flush=True)
            part_started = time.monotonic()
            # Each part gets its own generator, so a replay of one part alone is the same.
            part_rng = random.Random(f"{seed}:{name}")
            try:
                parts[name] = _part(name)(args.work / name, part_rng, tally, worker, sizes)
            except Exception as exc:  # the harness's own fault: recorded, the rest goes on
                tally.add(
                    "harness_errors",
                    example={
                        "part": name,
                        "error": repr(exc),
                        "tb": traceback.format_exc()[-1500:],
                    },
                )
                parts[name] = {"harness_error": repr(exc)}
            parts[name]["seconds"] = round(time.monotonic() - part_started, 1)
    finally:
        worker.close()
    result = {
        "benchmark": "faults",
        "command": "python -m tests.benchmarks.faults" + (" --quick" if args.quick else ""),
        "seed": seed,
        "commit": commit,
        "code_commit": code_commit,
        "label": args.label,
        "machine": machine(),
        "sizes": sizes,
        "seconds": round(time.monotonic() - started, 1),
        "headline": headline(tally, parts),
        "tally": tally.to_json(),
        "worker_deaths": worker.deaths,
        "parts": parts,
    }
    path = write_json(args.out, args.name, _printable(result))
    print(f"headline: {result['headline']}")
    print(f"wrote {path}")
    if not args.no_report and args.name == "faults":
        report.refresh(args.out)
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    return 0


def merge(paths: Sequence[Path]) -> dict[str, Any]:
    """One result from runs of different parts (each part taken from the run that ran it;
    a part another run skipped with a harness error is not counted as one)."""
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    ran = {name for r in runs for name, part in r["parts"].items() if "harness_error" not in part}
    tally = Tally()
    parts: dict[str, Any] = {}
    for r in runs:
        for name, part in r["parts"].items():
            if "harness_error" not in part or name not in ran:
                parts[name] = part
        counts = r["tally"]["counts"]
        for key, n in counts.items():
            if key != "harness_errors":
                tally.counts[key] += n
        for key, shelf in r["tally"]["examples"].items():
            for example in shelf:
                if key == "harness_errors" and example.get("part") in ran:
                    continue
                tally.examples.setdefault(key, []).append(example)
    first = runs[0]
    return {
        **{
            k: first.get(k)
            for k in ("benchmark", "seed", "commit", "code_commit", "label", "sizes")
        },
        "command": first["command"] + " (parts in parallel processes, merged with --merge)",
        "machine": first["machine"],
        "seconds": max(r["seconds"] for r in runs),
        "headline": headline(tally, parts),
        "tally": tally.to_json(),
        "worker_deaths": [d for r in runs for d in r["worker_deaths"]],
        "parts": {name: parts[name] for name in PARTS if name in parts},
        "merged_from": [
            {"command": r["command"], "parts": sorted(r["parts"]), "seconds": r["seconds"]}
            for r in runs
        ],
    }


def _printable(value: Any) -> Any:
    """Strings as JSON can hold them: hostile file names carry lone surrogates."""
    if isinstance(value, str):
        # Tracebacks name the virtualenv; no machine's path belongs in a committed file.
        value = value.replace(sysconfig.get_paths()["purelib"], "{site-packages}")
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


def _part(name: str) -> Callable[..., dict[str, Any]]:
    from tests.benchmarks import fault_damage, fault_inputs, fault_kills

    return {
        "kills": fault_kills.run,
        "corruption": fault_damage.corruption,
        "disk_full": fault_damage.disk_full,
        "pgvector": fault_damage.pg_kills,
        "bad_input": fault_inputs.bad_input,
        "fuzz": fault_inputs.fuzz,
        "load": fault_inputs.load,
    }[name]


def _code_commit() -> str:
    """The last commit that changed the code under test (codanna_desktop/)."""
    out = subprocess.run(
        ["git", "log", "-1", "--format=%h", "--", "codanna_desktop"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    return out.stdout.strip() or "unknown"


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            check=False,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "codanna_desktop"],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            check=False,
        )
        return out.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
