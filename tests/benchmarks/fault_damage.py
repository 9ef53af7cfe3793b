"""Damaged stores, a full disk and a PostgreSQL server killed mid-embedding.

Corruption: a healthy data folder is copied back before each trial, then one store is
damaged at random (the hnswlib file, one of tantivy's files, pages of the SQLite
catalog: truncated, emptied, deleted, bytes flipped, zeroed or overwritten). Then a
CLI search (it must answer or say what is wrong, never crash), one `index` (and the
`repair` it names when it says the catalog is damaged), and the verifier. Repaired: after
that everything verifies. Detected: repaired, or
some run said what was wrong (a message on stderr, no traceback).

Full disk: the data folder on a small tmpfs (mounted here; needs root), filled to a
random number of free bytes before an `index` of edited files; then the space comes
back, one `index`, and the verifier.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.benchmarks.fault_kit import Corpus, Run, Tally, Worker, copy_tree, run_cli

CORRUPTIONS = ("truncate", "empty", "delete", "flip", "zero", "garbage", "header")
SQLITE_CORRUPTIONS = ("page zeroed", "page garbage", "page flip", "truncate page", "header page")


def _corrupt_file(path: Path, how: str, rng: random.Random) -> dict[str, Any]:
    size = path.stat().st_size
    where = rng.randrange(max(1, size))
    if how == "delete":
        path.unlink()
    elif how == "empty":
        os.truncate(path, 0)
    elif how == "truncate":
        os.truncate(path, where)
    else:
        with open(path, "r+b") as fh:
            if how == "header":
                where = 0
                fh.write(rng.randbytes(min(size, 64)))
            elif how == "flip":
                for _ in range(rng.randint(1, 16)):
                    at = rng.randrange(max(1, size))
                    fh.seek(at)
                    byte = fh.read(1) or b"\0"
                    fh.seek(at)
                    fh.write(bytes([byte[0] ^ (1 << rng.randrange(8))]))
            else:
                length = min(size - where, rng.randint(1, 4096))
                fh.seek(where)
                fh.write(b"\0" * length if how == "zero" else rng.randbytes(length))
    return {"file": path.name, "how": how, "size": size, "at": where}


def _corrupt_catalog(path: Path, rng: random.Random) -> dict[str, Any]:
    size = path.stat().st_size
    header = path.read_bytes()[:100]
    page_size = int.from_bytes(header[16:18], "big") or 4096
    if page_size == 1:
        page_size = 65536
    pages = max(1, size // page_size)
    how = rng.choice(SQLITE_CORRUPTIONS)
    page = 0 if how == "header page" else rng.randrange(pages)
    at = page * page_size
    if how == "truncate page":
        os.truncate(path, at)
    else:
        with open(path, "r+b") as fh:
            fh.seek(at)
            data = bytearray(fh.read(page_size))
            if how == "page flip" or how == "header page":
                for _ in range(rng.randint(1, 12)):
                    i = rng.randrange(len(data))
                    data[i] ^= 1 << rng.randrange(8)
            elif how == "page zeroed":
                data = bytearray(len(data))
            else:
                data = bytearray(rng.randbytes(len(data)))
            fh.seek(at)
            fh.write(bytes(data))
    return {"file": path.name, "how": how, "page": page, "pages": pages}


def _damage(store: str, data: Path, rng: random.Random) -> dict[str, Any] | None:
    if store == "catalog":
        return _corrupt_catalog(data / "catalog.sqlite", rng)
    if store == "vectors":
        files = sorted((data / "vectors").glob("*.hnsw"))
    else:
        files = sorted(
            p for p in (data / "lexical").iterdir() if p.is_file() and "lock" not in p.name
        )
    if not files:
        return None
    how = rng.choice(CORRUPTIONS)
    return _corrupt_file(rng.choice(files), how, rng)


# What the CLI says of every lookup (the weight it ranked with): not about any damage.
_WEIGHT_NOTE = "note: ranked as a "


def _verified(
    worker: Worker,
    tally: Tally,
    home: Path,
    corpus: Corpus,
    rng: random.Random,
    context: str,
    *,
    sample: int,
) -> bool:
    """The verifier's answer on the index after a trial, counted in the tally: clean?"""
    expectation = corpus.expectation(rng, 100, sample)
    request = {"op": "verify", "home": str(home), "root": str(corpus.root), "reembed_sample": 1}
    return tally.absorb_verify(worker.call({**request, **expectation}), context)


def _said_something(runs: list[Run]) -> bool:
    return any(
        _what_was_said(r.stderr) and not r.traceback and r.foreign_signal is None for r in runs
    )


def _what_was_said(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    return "\n".join(line for line in lines if not line.startswith(_WEIGHT_NOTE))


# Tried in every campaign after the drawn ones (so a seed still replays those): an emptied
# catalog was once opened as a new index that forgot the folders, and page 0 of
# "truncate page" is drawn rarely.
CATALOG_LOSSES = ("empty", "delete")


def _trials(per_store: int) -> Iterator[tuple[str, str | None]]:
    """(store, how) per trial; how None: drawn at random when the trial runs."""
    for store in ("vectors", "lexical", "catalog"):
        for _ in range(per_store):
            yield store, None
    for how in CATALOG_LOSSES:
        yield "catalog", how


def corruption(work: Path, rng: random.Random, tally: Tally, worker: Worker, sizes: dict) -> dict:
    home = work / "home"
    corpus = Corpus(work / "corpus", rng)
    corpus.populate(12)
    tally.saw(run_cli(home, ["add", str(corpus.root)]), "corruption: first add")
    snapshot = work / "snapshot"
    copy_tree(home / "data", snapshot)
    token, _ = next(iter(corpus.live().items()))
    trials: list[dict[str, Any]] = []
    for store, how in _trials(sizes["corruptions_per_store"]):
        copy_tree(snapshot, home / "data")
        if how is None:
            damage = _damage(store, home / "data", rng)
        else:
            damage = _corrupt_file(home / "data" / "catalog.sqlite", how, rng)
        if damage is None:
            continue
        context = f"corruption {store}: {damage['how']} {damage['file']}"
        search = run_cli(home, ["search", token, "--json"], timeout=60)
        crashed = tally.saw(search, f"search after {context}")
        repair = run_cli(home, ["index"], timeout=180)
        crashed = tally.saw(repair, f"index after {context}") or crashed
        if repair.returncode == 4 and "codanna-desktop repair" in repair.stderr:
            # The way out the sentence names: a person runs it, then the index is
            # verified as for every other store.
            way_out = run_cli(home, ["repair"], timeout=300)
            crashed = tally.saw(way_out, f"repair after {context}") or crashed
        clean = _verified(worker, tally, home, corpus, rng, context, sample=50)
        repaired = clean and not crashed
        detected = repaired or _said_something([search, repair])
        trials.append(
            {
                "seconds": round(search.seconds + repair.seconds, 1),
                "store": store,
                **damage,
                "search": search.describe()["what"],
                "index": repair.describe()["what"],
                "detected": detected,
                "repaired": repaired,
                "said": (_what_was_said(search.stderr) or _what_was_said(repair.stderr))[-300:],
            }
        )
        outcome = f"detected {detected}, repaired {repaired}"
        print(f"  {store} {damage['how']} {damage['file']}: {outcome}", flush=True)
    per_store = {
        store: {
            "tried": sum(1 for t in trials if t["store"] == store),
            "detected": sum(1 for t in trials if t["store"] == store and t["detected"]),
            "repaired": sum(1 for t in trials if t["store"] == store and t["repaired"]),
        }
        for store in ("vectors", "lexical", "catalog")
    }
    tally.add("corruptions_tried", len(trials))
    return {
        "tried": len(trials),
        "detected": sum(1 for t in trials if t["detected"]),
        "repaired": sum(1 for t in trials if t["repaired"]),
        "per_store": per_store,
        "trials": trials,
    }


# -- a full disk ----------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(folder: Path, size_kb: int) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
        check=True,
        capture_output=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def _fill(folder: Path, leave_bytes: int) -> Path:
    """A file taking all the space but `leave_bytes`."""
    filler = folder / "filler"
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    with open(filler, "wb") as fh:
        left = max(0, free - leave_bytes)
        block = b"\0" * (1 << 20)
        while left > 0:
            try:
                left -= fh.write(block[: min(left, len(block))])
            except OSError:
                break
    return filler


def disk_full(work: Path, rng: random.Random, tally: Tally, worker: Worker, sizes: dict) -> dict:
    if os.geteuid() != 0:
        return {"skipped": "not root: a tmpfs cannot be mounted, the full-disk part did not run"}
    corpus = Corpus(work / "corpus", rng)
    corpus.populate(12)
    trials: list[dict[str, Any]] = []
    try:
        mount = tmpfs(work / "tmpfs", 16 * 1024)
        disk = mount.__enter__()
    except (subprocess.CalledProcessError, OSError) as exc:
        return {"skipped": f"tmpfs could not be mounted ({exc}); the full-disk part did not run"}
    try:
        home = disk / "home"
        for n in range(sizes["disk_full_trials"]):
            leave = rng.choice(
                [0, rng.randrange(4096), rng.randrange(200_000), rng.randrange(800_000)]
            )
            if n == 0:
                args = ["add", str(corpus.root)]
            else:
                corpus.mutate(rng.randint(0, 2), rng.randint(1, 4), rng.randint(0, 2))
                args = ["index"]
            filler = _fill(disk, leave)
            full_run = run_cli(home, args, timeout=180)
            context = f"full disk ({leave} bytes free): {args[0]}"
            crashed = tally.saw(full_run, context)
            token = next(iter(corpus.live()))
            search = run_cli(home, ["search", token], timeout=60)
            crashed = tally.saw(search, f"search on {context}") or crashed
            filler.unlink()
            repair = run_cli(home, ["index"] if n else ["add", str(corpus.root)], timeout=180)
            crashed = tally.saw(repair, f"index after {context}") or crashed
            clean = _verified(worker, tally, home, corpus, rng, context, sample=100)
            trials.append(
                {
                    "crashed": crashed,
                    "free_bytes": leave,
                    "command": args[0],
                    "while_full": full_run.describe()["what"],
                    "said": full_run.stderr.strip()[-300:],
                    "search_while_full": search.describe()["what"],
                    "after_space_freed": repair.describe()["what"],
                    "clean_after": clean,
                }
            )
            print(f"  disk full, {leave} bytes free: {trials[-1]['while_full']}, "
                  f"clean after: {clean}", flush=True)  # fmt: skip
    finally:
        mount.__exit__(None, None, None)
    return {
        "trials": len(trials),
        "clean_after": sum(1 for t in trials if t["clean_after"]),
        "crashed": sum(1 for t in trials if t["crashed"]),
        "runs": trials,
    }


# -- PostgreSQL killed mid-embedding ----------------------------------------------------


def _cluster_pids(data_dir: Path) -> list[int]:
    """The postmaster (from postmaster.pid, as root can read it) and its children."""
    try:
        postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    pids = [postmaster]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == postmaster:
            pids.append(int(entry))
    return pids


def _kill_cluster(data_dir: Path, socket_dir: Path | None) -> None:
    """SIGKILL the server, as a crash would, and wait until its processes are dead. A
    killed postmaster is an orphan, which init must reap; where init does not (this
    sandbox's does not), it stays a zombie, whose pid in postmaster.pid makes the next
    start refuse ("another server might be running"): those stale lock files (the data
    folder's and the socket's) go, as an administrator would remove them after a crash."""
    pids = _cluster_pids(data_dir)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_state(pid) not in (None, "Z") for pid in pids):
        time.sleep(0.05)
    if pids and _state(pids[0]) == "Z":
        (data_dir / "postmaster.pid").unlink(missing_ok=True)
        for lock in socket_dir.glob(".s.PGSQL.*.lock") if socket_dir is not None else ():
            lock.unlink(missing_ok=True)


def _state(pid: int) -> str | None:
    """A process's state letter (R, S, Z, …), None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def pg_kills(work: Path, rng: random.Random, tally: Tally, worker: Worker, sizes: dict) -> dict:
    if not sizes["pg_kills"]:
        return {"skipped": "no PostgreSQL kills asked for"}
    from tests.fixtures_pg import PgServerStartError, PgTestServer

    try:
        server = PgTestServer()
        server.start()
    except (PgServerStartError, OSError, subprocess.CalledProcessError) as exc:
        return {"skipped": f"the test PostgreSQL server did not start: {exc}"[:500]}
    trials: list[dict[str, Any]] = []
    try:
        url = server.create_database()
        env = {"CODANNA_DATABASE_URL": url}
        home = work / "home"
        corpus = Corpus(work / "corpus", rng, functions=(2, 3))
        corpus.populate(10)
        tally.saw(run_cli(home, ["add", str(corpus.root)], env_extra=env), "pgvector: first add")
        for _ in range(sizes["pg_kills"]):
            corpus.mutate(0, 10, 2)  # about 30 new chunks: 1.5 s of embedding
            delay = rng.uniform(1.2, 2.6)

            def kill_server(proc: Any, _err: Path, _kill: Any, delay: float = delay) -> None:
                time.sleep(delay)
                _kill_cluster(server.data_dir, server.base_dir)
                server.running = False

            killed_run = run_cli(home, ["index"], env_extra=env, during=kill_server, timeout=120)
            context = "pgvector killed mid-embedding"
            crashed = tally.saw(killed_run, context)
            time.sleep(0.5)
            server.start()
            repair = run_cli(home, ["index"], env_extra=env, timeout=180)
            crashed = tally.saw(repair, f"index after {context}") or crashed
            result = worker.call(
                {
                    "op": "verify",
                    "home": str(home),
                    "root": str(corpus.root),
                    "database_url": url,
                    "reembed_sample": 1,
                    **corpus.expectation(rng, 100, 100),
                }
            )
            clean = tally.absorb_verify(result, context)
            tally.add("pg_kills")
            trials.append(
                {
                    "crashed": crashed,
                    "server_killed_after_s": round(delay, 2),
                    "cli_while_killed": killed_run.describe()["what"],
                    "said": killed_run.stderr.strip()[-300:],
                    "cli_seconds": killed_run.seconds,
                    "clean_after": clean,
                }
            )
            print(f"  pg killed after {delay:.2f}s: {trials[-1]['cli_while_killed']}, "
                  f"clean after: {clean}", flush=True)  # fmt: skip
    finally:
        server.cleanup()
    return {
        "kills": len(trials),
        "clean_after": sum(1 for t in trials if t["clean_after"]),
        "crashed": sum(1 for t in trials if t["crashed"]),
        "runs": trials,
    }
