"""The fault campaign's tools: the real CLI in a subprocess (killed with a real SIGKILL),
the verifier process, a corpus whose every file carries a unique token, and the tally.

Nothing here raises on a failure of the code under test: a traceback, a signal, a hang
or a wrong answer is recorded and the campaign goes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.benchmarks.workspace import REPO_ROOT, share_models_folder

EXAMPLES_PER_KIND = 5
TAIL_CHARS = 600


def cli_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a `codanna_desktop` subprocess working on `home`."""
    share_models_folder()
    env = os.environ.copy()
    env["CODANNA_HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.pop("CODANNA_DATABASE_URL", None)
    env.update(extra or {})
    return env


@dataclass
class Run:
    """One CLI process and how it ended."""

    args: list[str]
    returncode: int | None
    seconds: float
    killed: bool = False  # we sent SIGKILL while it ran
    timed_out: bool = False
    stdout: str = ""
    stderr: str = ""
    open_files: list[str] = field(default_factory=list)  # at the moment of the kill

    @property
    def traceback(self) -> bool:
        return "Traceback" in self.stderr

    @property
    def foreign_signal(self) -> int | None:
        """The signal it died of that we did not send (a segfault, an abort)."""
        ours = self.killed or self.timed_out
        if self.returncode is not None and self.returncode < 0 and not ours:
            return -self.returncode
        return None

    @property
    def crashed(self) -> bool:
        return self.traceback or self.foreign_signal is not None or self.timed_out

    def describe(self) -> dict[str, Any]:
        what = (
            "traceback"
            if self.traceback
            else "hang"
            if self.timed_out
            else f"signal {signal.Signals(self.foreign_signal).name}"
            if self.foreign_signal
            else f"exit {self.returncode}"
        )
        return {
            "command": " ".join(self.args),
            "what": what,
            "stderr_tail": _tail(self.stderr),
        }


def _tail(text: str) -> str:
    return text[-TAIL_CHARS:]


def run_cli(
    home: Path,
    args: list[str],
    *,
    kill_after: float | None = None,
    kill_when: Callable[[], bool] | None = None,
    timeout: float = 180.0,
    env_extra: dict[str, str] | None = None,
    during: Callable[[subprocess.Popen[bytes], Path, Callable[[], None]], None] | None = None,
) -> Run:
    """Run `python -m codanna_desktop ARGS` and SIGKILL it: after `kill_after` seconds,
    or (with `kill_when`) the moment that predicate turns true, `kill_after` being then
    the longest wait. `during(proc, stderr_path, kill)` drives a run itself (the
    watcher's edits) and may call kill()."""
    cmd = [sys.executable, "-m", "codanna_desktop", *args]
    home.parent.mkdir(parents=True, exist_ok=True)
    out_path = home.parent / f".{home.name}.out"
    err_path = home.parent / f".{home.name}.err"
    run = Run(args=args, returncode=None, seconds=0.0)
    started = time.monotonic()
    with open(out_path, "w+b") as out, open(err_path, "w+b") as err:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=cli_env(home, env_extra),
            start_new_session=True,  # its worker processes share its group, ours do not
        )

        def kill() -> None:
            if proc.poll() is None:
                run.open_files = open_files(proc.pid)
                os.kill(proc.pid, signal.SIGKILL)
                run.killed = True

        try:
            if during is not None:
                during(proc, err_path, kill)
            if kill_after is not None:
                kill_at = started + kill_after
                while proc.poll() is None and time.monotonic() < kill_at:
                    if kill_when is not None and kill_when():
                        break
                    time.sleep(0.0005 if kill_when is not None else 0.005)
                if kill_when is None or time.monotonic() < kill_at:
                    kill()
            try:
                proc.wait(timeout=max(0.1, started + timeout - time.monotonic()))
            except subprocess.TimeoutExpired:
                run.timed_out = True
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
            _kill_group(proc.pid)
        run.returncode = proc.returncode
        run.seconds = round(time.monotonic() - started, 3)
        out.seek(0)
        err.seek(0)
        run.stdout = out.read().decode("utf-8", "replace")
        run.stderr = err.read().decode("utf-8", "replace")
    out_path.unlink(missing_ok=True)
    err_path.unlink(missing_ok=True)
    return run


def new_file_in(folder: Path, suffix: str = "") -> Callable[[], bool]:
    """A kill trigger: true once a file not there now appears in `folder` (a vector
    save's temporary file, a tantivy segment being written)."""
    before = set(_names(folder))

    def appeared() -> bool:
        return any(n.endswith(suffix) and n not in before for n in _names(folder))

    return appeared


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _kill_group(pgid: int) -> None:
    """Worker processes the run started (its own session) die with it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def open_files(pid: int) -> list[str]:
    """What the process has open now (evidence of the phase a kill landed in)."""
    out = []
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("/") and not target.startswith(("/dev/", "/proc/")):
                out.append(target)
    except OSError:
        pass
    return out


def phase_of(run: Run, data_dir: Path, corpus_root: Path | None) -> str:
    """Where a kill landed, from the files the process had open at that moment."""
    files = run.open_files
    vectors = str(data_dir / "vectors")
    if any(f.startswith(vectors) and f.endswith(".tmp") for f in files):
        return "vector save"
    if corpus_root is not None and any(f.startswith(str(corpus_root) + "/") for f in files):
        return "reading files"
    if any(f.endswith(".onnx") for f in files):
        return "model loading"
    return "other"


class Worker:
    """The verifier and fuzzer in a child process (tests/benchmarks/fault_worker.py): a
    garbled store that crashes it is a finding, and the campaign starts a new one."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.deaths: list[dict[str, Any]] = []
        self._starts = 0

    def _start(self) -> subprocess.Popen[bytes]:
        share_models_folder()
        self._starts += 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = os.environ.copy()
        env["PYTHONPATH"] = str(REPO_ROOT)
        self._stderr = open(self.log_dir / f"worker-{self._starts}.err", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.benchmarks.fault_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            start_new_session=True,
        )
        return self.proc

    def call(self, request: dict[str, Any], timeout: float = 600.0) -> dict[str, Any]:
        proc = self.proc if self.proc is not None and self.proc.poll() is None else self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write((json.dumps(request) + "\n").encode())
            proc.stdin.flush()
        except BrokenPipeError:
            pass
        line = b""
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                break
            chunk = proc.stdout.readline()
            if not chunk:
                break
            line += chunk
        sel.close()
        if line.endswith(b"\n"):
            answer: dict[str, Any] = json.loads(line)
            return answer
        # Died or hung: the request crashed it.
        hung = proc.poll() is None
        if hung:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        self.proc = None
        self._stderr.close()
        err = (self.log_dir / f"worker-{self._starts}.err").read_text(errors="replace")
        death = {
            "op": request.get("op"),
            "what": "hang" if hung else f"exit {proc.returncode}",
            "stderr_tail": _tail(err),
        }
        self.deaths.append(death)
        return {"ok": False, "crashed": True, **death}

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


class Tally:
    """Counters and a few examples of each kind, for the headline."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[Any]] = {}

    def add(self, key: str, n: int = 1, example: Any = None) -> None:
        if n <= 0:
            return
        self.counts[key] += n
        if example is not None:
            shelf = self.examples.setdefault(key, [])
            if len(shelf) < EXAMPLES_PER_KIND:
                shelf.append(example)

    def saw(self, run: Run, context: str) -> bool:
        """Count one CLI run; True if it crashed (traceback, foreign signal, hang)."""
        self.counts["cli_runs"] += 1
        if run.traceback:
            self.add("tracebacks", example={"context": context, **run.describe()})
        if run.foreign_signal is not None:
            self.add("foreign_signals", example={"context": context, **run.describe()})
        if run.timed_out:
            self.add("hangs", example={"context": context, **run.describe()})
        return run.crashed

    def absorb_verify(self, result: dict[str, Any], context: str) -> bool:
        """Count a verification's failures; True if it found none."""
        if not result.get("ok"):
            key = "verifier_crashes" if result.get("crashed") else "verifier_errors"
            self.add(key, example={"context": context, **_short(result)})
            return False
        clean = True
        for key in (
            "lost",
            "ghosts",
            "wrong_vectors",
            "missing_vectors",
            "unembedded",
            "store_ghosts",
            "cache_wrong",
            "stuck_files",
            "search_errors",
        ):
            n = int(result.get(key, 0))
            if n:
                clean = False
                examples = result.get("examples", {}).get(key) or [None]
                self.add(key, n, example={"context": context, "sample": examples[:2]})
        # A cached vector lost or refused as damaged is not a missing vector (the stored
        # one was checked against the model), but the catalog still holds the damage.
        lost = int(result.get("cache_lost", 0))
        if lost:
            clean = False
            examples = result.get("examples", {}).get("cache_lost") or [None]
            self.add("cache_lost", lost, example={"context": context, "sample": examples[:2]})
        self.counts["tokens_checked"] += int(result.get("tokens_checked", 0))
        self.counts["vectors_checked"] += int(result.get("vectors_checked", 0))
        self.counts["cache_rechecked"] += int(result.get("cache_rechecked", 0))
        return clean

    def to_json(self) -> dict[str, Any]:
        return {"counts": dict(sorted(self.counts.items())), "examples": self.examples}


def _short(result: dict[str, Any]) -> dict[str, Any]:
    return {k: (v[-TAIL_CHARS:] if isinstance(v, str) else v) for k, v in result.items()}


# -- the corpus ---------------------------------------------------------------------

WORDS = [
    "upload",
    "retry",
    "buffer",
    "socket",
    "parse",
    "token",
    "cache",
    "index",
    "merge",
    "split",
    "queue",
    "worker",
    "config",
    "render",
    "report",
    "batch",
    "stream",
    "chunk",
    "vector",
    "query",
    "score",
    "filter",
    "select",
    "insert",
    "delete",
    "update",
    "commit",
    "rollback",
    "signal",
    "thread",
    "lock",
    "timer",
    "window",
    "panel",
    "cursor",
    "frame",
    "packet",
    "header",
    "payload",
    "decode",
    "encode",
    "compress",
    "archive",
    "folder",
    "branch",
    "remote",
    "pull",
    "push",
    "fetch",
    "clone",
    "patch",
    "diff",
    "blame",
    "tag",
    "release",
    "build",
    "deploy",
    "monitor",
    "alert",
    "metric",
    "trace",
    "span",
    "sample",
    "ratio",
    "budget",
    "limit",
    "quota",
    "invoice",
    "customer",
    "order",
    "ledger",
    "account",
    "balance",
    "refund",
    "coupon",
    "basket",
    "price",
    "shipping",
    "address",
    "postal",
    "route",
    "map",
    "tile",
    "layer",
]


def new_token(rng: random.Random) -> str:
    """A word no file contains by chance; one token for tantivy's code tokenizer."""
    return "zq" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(10))


def module_text(rng: random.Random, token: str, functions: int) -> str:
    """A Python module whose first function names `token`; fresh words each time, so
    every rewrite has texts the model has not embedded before."""
    parts = []
    for n in range(functions):
        words = rng.sample(WORDS, 6)
        name = f"{words[0]}_{words[1]}" + (f"_{token}" if n == 0 else f"_{n}")
        doc = " ".join(rng.sample(WORDS, 8))
        if n == 0:
            doc += f" (see {token})"
        body = "\n".join(
            f"    {w} = {rng.randint(0, 9999)} + len({rng.choice(WORDS)!r})" for w in words[2:]
        )
        parts.append(f'def {name}(data):\n    """{doc.capitalize()}."""\n{body}\n    return data\n')
    return "\n\n".join(parts)


class Corpus:
    """Files on disk, each with its current unique token; tokens of deleted files and of
    replaced versions are dead and must find nothing."""

    def __init__(self, root: Path, rng: random.Random, *, functions: tuple[int, int] = (1, 3)):
        self.root = root.resolve() if root.exists() else root
        self.rng = rng
        self.functions = functions
        self.tokens: dict[str, str] = {}  # rel path -> live token
        self.dead: list[str] = []
        self._serial = 0

    def populate(self, files: int) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root = self.root.resolve()
        for _ in range(files):
            self._write(self._new_path())

    def _new_path(self) -> str:
        self._serial += 1
        folder = self.rng.choice(["", "core/", "app/", "lib/deep/", "tests/"])
        return f"{folder}m{self._serial:05d}_{self.rng.choice(WORDS)}.py"

    def _write(self, rel: str) -> None:
        token = new_token(self.rng)
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(module_text(self.rng, token, self.rng.randint(*self.functions)))
        old = self.tokens.get(rel)
        if old is not None:
            self.dead.append(old)
        self.tokens[rel] = token

    def mutate(self, deletes: int, rewrites: int, adds: int) -> dict[str, int]:
        """Delete, rewrite and add files (the edits between two runs)."""
        rels = sorted(self.tokens)
        self.rng.shuffle(rels)
        deletes = min(deletes, max(0, len(rels) - 5))
        for rel in rels[:deletes]:
            (self.root / rel).unlink(missing_ok=True)
            self.dead.append(self.tokens.pop(rel))
        for rel in rels[deletes : deletes + rewrites]:
            self._write(rel)
        for _ in range(adds):
            self._write(self._new_path())
        return {"deleted": deletes, "rewritten": min(rewrites, len(rels) - deletes), "added": adds}

    def delete(self, rel: str) -> None:
        if rel in self.tokens:
            (self.root / rel).unlink(missing_ok=True)
            self.dead.append(self.tokens.pop(rel))

    def live(self) -> dict[str, str]:
        """Token -> absolute path of the file that holds it."""
        return {token: str(self.root / rel) for rel, token in self.tokens.items()}

    def expectation(self, rng: random.Random, live_max: int, dead_max: int) -> dict[str, Any]:
        live = self.live()
        if len(live) > live_max:
            live = dict(rng.sample(sorted(live.items()), live_max))
        dead = self.dead if len(self.dead) <= dead_max else rng.sample(self.dead, dead_max)
        return {"live": live, "dead": list(dead)}

    def forget_all(self) -> None:
        """The root was removed from the index: every token is dead there."""
        self.dead += list(self.tokens.values())


def copy_tree(src: Path, dst: Path) -> None:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, symlinks=True)
