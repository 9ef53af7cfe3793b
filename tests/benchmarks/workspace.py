"""Where benchmarks keep their work, how they open the engine, and how they write results.

Every benchmark indexes into its own CODANNA_HOME under ``bench-work/`` (git-ignored), so
indexes and the embedding cache survive between runs and embedding happens once. The
model folder is shared with the user's own installation (CODANNA_MODELS_DIR), never
downloaded again.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sysconfig
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.settings import AppPaths, Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS_DIR = REPO_ROOT / "docs" / "benchmarks"
WORK_DIR = REPO_ROOT / "bench-work"
COSQA_DIR = (REPO_ROOT / ".." / "shared" / "bench" / "cosqa").resolve()


def stdlib_dir() -> Path:
    """The standard library of the running Python."""
    return Path(sysconfig.get_paths()["stdlib"])


def share_models_folder() -> None:
    """Point CODANNA_MODELS_DIR at the user's provisioned models unless already set, so a
    benchmark's own CODANNA_HOME does not provision the model a second time."""
    if "CODANNA_MODELS_DIR" in os.environ:
        return
    saved = os.environ.pop("CODANNA_HOME", None)
    try:
        os.environ["CODANNA_MODELS_DIR"] = str(AppPaths.default().models_dir)
    finally:
        if saved is not None:
            os.environ["CODANNA_HOME"] = saved


def home_paths(home: Path) -> AppPaths:
    """The config and data folders CODANNA_HOME=home gives (see AppPaths.default)."""
    home = home.resolve()
    return AppPaths(config_dir=home / "config", data_dir=home / "data")


@contextmanager
def open_engine(
    home: Path, settings: Settings | None = None, *, writer: bool = True
) -> Iterator[Engine]:
    share_models_folder()
    engine = Engine(home_paths(home), settings or Settings(), writer=writer)
    try:
        yield engine
    finally:
        engine.close()


def cli_env(home: Path) -> dict[str, str]:
    """Environment for a `codanna-desktop` subprocess working on `home`."""
    share_models_folder()
    env = os.environ.copy()
    env["CODANNA_HOME"] = str(home.resolve())
    env.pop("CODANNA_DATABASE_URL", None)
    return env


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "os": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def write_json(out_dir: Path, name: str, data: dict[str, Any]) -> Path:
    """Results as JSON, with paths inside and beside the checkout written relative to it
    and the standard library's folder as {stdlib} (the files are committed: no one's
    home folder belongs in them)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    text = json.dumps(data, indent=1, ensure_ascii=False)
    text = text.replace(f"{REPO_ROOT}/", "").replace(f"{REPO_ROOT.parent}/", "../")
    text = text.replace(str(stdlib_dir()), "{stdlib}")
    path.write_text(text + "\n", encoding="utf-8")
    return path


def read_json(out_dir: Path, name: str) -> dict[str, Any] | None:
    path = out_dir / f"{name}.json"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between the nearest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / mean in milliseconds."""
    return {
        "n": len(seconds),
        "p50_ms": round(percentile(seconds, 50) * 1000, 3),
        "p95_ms": round(percentile(seconds, 95) * 1000, 3),
        "mean_ms": round(statistics.fmean(seconds) * 1000, 3) if seconds else float("nan"),
    }


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size now, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident set size of the process so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def folder_size(path: Path) -> int:
    """Bytes of every file under `path` (or of the file itself)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@contextmanager
def patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    """`obj.name` set to `value` for the duration (a benchmark's before/after switch)."""
    saved = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, saved)


PAIRED_SAMPLES = 2000


def paired(
    a: np.ndarray,
    b: np.ndarray,
    seed: int = 7,
    *,
    rng: np.random.Generator | None = None,
    samples: int = PAIRED_SAMPLES,
) -> dict[str, Any]:
    """a - b per query (the same queries, in the same order): the mean, its 95 % bootstrap
    interval over the queries, and how many queries are better and worse. `rng`, when
    given, is drawn from instead of a new generator from `seed` (several comparisons in
    one stream)."""
    rng = rng if rng is not None else np.random.default_rng(seed)
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    picks = rng.integers(0, len(diff), size=(samples, len(diff)))
    means = diff[picks].mean(axis=1)
    return {
        "delta": round(float(diff.mean()), 4),
        "ci95": [
            round(float(np.percentile(means, 2.5)), 4),
            round(float(np.percentile(means, 97.5)), 4),
        ],
        "better": int((diff > 0).sum()),
        "worse": int((diff < 0).sum()),
    }
