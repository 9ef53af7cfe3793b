#!/usr/bin/env python3
"""Measures the installers: sizes, cold start of the installed program against the
checkout's, and the idle memory of the tray indexer before and after the model unloads.

    python packaging/measure_installed.py [--program PATH] [--runs 5] [--unload-after 60]
        [--out docs/benchmarks/installed.json]

- Sizes: the .deb and the tarball in dist/, and the .deb's Installed-Size.
- Cold start: wall time from the process's start to a viewable top-level window titled
  "Codanna Desktop" on a private Xvfb display, seen from outside (xwininfo, polled every
  20 ms), with an empty CODANNA_HOME each run; the installed program (PATH, by default the
  bundle build-linux made) and the checkout (`python -m codanna_desktop` with the
  developer's .venv) alternate, median of the runs.
- Idle memory: the program started hidden in the tray (a tray host, trayer, runs on the
  display), with a small folder indexed and embedded; resident memory (the process and
  its children) once it is idle with the model loaded, and again after the model-unload
  timeout, shortened by CODANNA_MODEL_IDLE_UNLOAD_S to --unload-after seconds (the
  shipped default is 600 s; an hour cannot be waited for here), with each process's
  share (the app, the model's process while it runs, multiprocessing's resource tracker).
- The first search after the unload, with the same core code as the app (the model in its
  own process, `Engine(model_process=True)`) and, for comparison, with the model loaded in
  the searching process: the median time of a semantic search with the model loaded and
  of the first one after Engine.unload_model() (which loads it again), alternating.

Needs Xvfb, xwininfo (x11-utils) and trayer (scripts/setup --dev).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's code, not another installed copy
TITLE = "Codanna Desktop"
DEMO = {
    "uploads.py": '''def retry_failed_upload(request, attempts=3):
    """Send the upload again when the server answers with an error."""
    for attempt in range(attempts):
        if request.send():
            return True
    return False
''',
    "files.py": '''def readFileContents(path):
    """Return the text of a file."""
    with open(path, encoding="utf-8") as fh:
        return fh.read()
''',
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--program",
        type=Path,
        default=ROOT / "build/packaging/frozen/codanna-desktop/codanna-desktop",
    )
    parser.add_argument("--python", default=str(ROOT / ".venv/bin/python"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--unload-after", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks/installed.json")
    parser.add_argument(
        "--sizes-only", action="store_true", help="update only the sizes in an existing --out file"
    )
    parser.add_argument(
        "--idle-checkout-only",
        action="store_true",
        help="only the --idle-checkout measures, added to an existing --out file",
    )
    parser.add_argument(
        "--idle-checkout",
        type=Path,
        nargs="*",
        help="also the idle memory of `python -m codanna_desktop` with each checkout's code",
    )
    args = parser.parse_args()
    if args.idle_checkout_only:
        kept = json.loads(args.out.read_text())
        with (
            tempfile.TemporaryDirectory(prefix="codanna-measure-") as tmp,
            private_display(Path(tmp)) as env,
        ):
            kept.update(idle_checkouts(args, env, Path(tmp)))
        args.out.write_text(json.dumps(kept, indent=2) + "\n")
        return 0
    if args.sizes_only:
        kept = json.loads(args.out.read_text())
        kept["sizes"] = sizes()
        args.out.write_text(json.dumps(kept, indent=2) + "\n")
        print(json.dumps(kept["sizes"]))
        return 0
    result: dict[str, object] = {"sizes": sizes()}
    with tempfile.TemporaryDirectory(prefix="codanna-measure-") as tmp:
        work = Path(tmp)
        with private_display(work) as env:
            result["cold_start_s"] = cold_starts(args.program, args.python, env, work, args.runs)
            result["idle_memory"] = idle_memory(
                [str(args.program)], env, work / "installed", args.unload_after
            )
            result.update(idle_checkouts(args, env, work))
    result["first_search_after_unload"] = first_search_after_unload(args.runs)
    result["machine"] = {"cores": os.cpu_count(), "load_avg_1min_at_end": os.getloadavg()[0]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def idle_checkouts(args: argparse.Namespace, env: dict[str, str], work: Path) -> dict[str, object]:
    """The tray app's idle memory run from each checkout's code (`python -m`, in that
    folder: the current folder comes first on `-m`'s path)."""
    out: dict[str, object] = {}
    for code in args.idle_checkout or []:
        commit = subprocess.run(
            ["git", "-C", str(code), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        out[f"idle_memory_checkout_at_{commit}"] = idle_memory(
            [args.python, "-m", "codanna_desktop"],
            dict(env, PYTHONPATH=str(code.resolve())),
            work / f"checkout-{commit}",
            args.unload_after,
            cwd=code.resolve(),
        )
    return out


def sizes() -> dict[str, object]:
    from codanna_desktop import __version__ as v

    deb = ROOT / f"dist/codanna-desktop_{v}_amd64.deb"
    tar = ROOT / f"dist/codanna-desktop-{v}-linux-x86_64.tar.gz"
    out: dict[str, object] = {}
    if deb.exists():
        out["deb_mb"] = round(deb.stat().st_size / 1e6, 1)
        field = subprocess.run(
            ["dpkg-deb", "-f", str(deb), "Installed-Size"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        out["deb_installed_mb"] = round(int(field) * 1024 / 1e6, 1)
    if tar.exists():
        out["tarball_mb"] = round(tar.stat().st_size / 1e6, 1)
    return out


class private_display:
    def __init__(self, work: Path) -> None:
        self.work = work

    def __enter__(self) -> dict[str, str]:
        number = 80 + os.getpid() % 9
        self.xvfb = subprocess.Popen(
            ["Xvfb", f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "QT_QPA_PLATFORM")}
        env.update(DISPLAY=f":{number}", QT_QPA_PLATFORM="xcb")
        self.tray = subprocess.Popen(
            [
                "trayer",
                "--edge",
                "top",
                "--align",
                "right",
                "--widthtype",
                "request",
                "--height",
                "24",
            ],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1)
        return env

    def __exit__(self, *exc: object) -> None:
        for process in (self.tray, self.xvfb):
            process.terminate()
            process.wait(10)


def window_viewable(env: dict[str, str]) -> bool:
    tree = subprocess.run(
        ["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True
    ).stdout
    for line in tree.splitlines():
        if f'"{TITLE}"' in line:
            info = subprocess.run(
                ["xwininfo", "-id", line.split()[0]], env=env, capture_output=True, text=True
            ).stdout
            if "IsViewable" in info:
                return True
    return False


def time_to_window(command: list[str], env: dict[str, str], home: Path) -> float:
    env = dict(env, CODANNA_HOME=str(home))
    started = time.monotonic()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while time.monotonic() - started < 60:
            if window_viewable(env):
                return time.monotonic() - started
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} ended before its window showed")
            time.sleep(0.02)
        raise RuntimeError("no window within 60 s")
    finally:
        process.terminate()
        process.wait(20)


def cold_starts(
    program: Path, python: str, env: dict[str, str], work: Path, runs: int
) -> dict[str, object]:
    checkout_env = dict(env, PYTHONPATH=str(ROOT))
    installed, checkout = [], []
    for run in range(runs):
        installed.append(time_to_window([str(program)], env, work / f"i{run}"))
        checkout.append(
            time_to_window([python, "-m", "codanna_desktop"], checkout_env, work / f"c{run}")
        )
    return {
        "installed_median": round(statistics.median(installed), 2),
        "checkout_median": round(statistics.median(checkout), 2),
        "installed_runs": [round(t, 2) for t in installed],
        "checkout_runs": [round(t, 2) for t in checkout],
        "installed_over_checkout": round(
            statistics.median(installed) / statistics.median(checkout), 2
        ),
    }


def rss_mb(pid: int) -> float:
    return round(sum(processes_rss_mb(pid).values()), 1)


def processes_rss_mb(pid: int) -> dict[str, float]:
    """Resident MB of the process and of each of its children, by what each one is."""
    process = psutil.Process(pid)
    out = {"app": process.memory_info().rss / 1e6}
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # a worker that just ended
            command = " ".join(child.cmdline())
            name = (
                "model process"
                if "model_process" in command or "--embedding-model-process" in command
                else "resource tracker"
                if "resource_tracker" in command
                else f"child {child.pid}"
            )
            out[name] = out.get(name, 0.0) + child.memory_info().rss / 1e6
    return {name: round(mb, 1) for name, mb in out.items()}


def idle_memory(
    program: list[str],
    env: dict[str, str],
    work: Path,
    unload_after: float,
    cwd: Path | None = None,
) -> dict[str, object]:
    work.mkdir(parents=True, exist_ok=True)
    home = work / "tray-home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "settings.toml").write_text("start_hidden = true\n")
    project = work / "project"
    project.mkdir()
    for name, text in DEMO.items():
        (project / name).write_text(text)
    env = dict(env, CODANNA_HOME=str(home), CODANNA_MODEL_IDLE_UNLOAD_S=str(unload_after))
    subprocess.run(
        [*program, "add", "--no-embed", str(project)],
        env=env,
        check=True,
        capture_output=True,
        cwd=cwd,
    )
    started = time.monotonic()
    process = subprocess.Popen(
        program, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd
    )
    try:
        # The tray indexer embeds the two chunks (loading the model), then idles.
        time.sleep(min(20.0, unload_after / 3))
        loaded = processes_rss_mb(process.pid)
        at_loaded = time.monotonic() - started
        time.sleep(max(0.0, unload_after + 15 - (time.monotonic() - started)))
        unloaded = processes_rss_mb(process.pid)
        at_unloaded = time.monotonic() - started
        time.sleep(60)
        later = processes_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(20)
    return {
        "model_unload_timeout_s": unload_after,
        "note": "timeout shortened from the shipped 600 s with CODANNA_MODEL_IDLE_UNLOAD_S",
        "rss_mb_idle_model_loaded": round(sum(loaded.values()), 1),
        "by_process_loaded": loaded,
        "at_s": round(at_loaded, 1),
        "rss_mb_idle_model_unloaded": round(sum(unloaded.values()), 1),
        "by_process_unloaded": unloaded,
        "unloaded_at_s": round(at_unloaded, 1),
        "rss_mb_60s_later": round(sum(later.values()), 1),
    }


def first_search_after_unload(runs: int) -> dict[str, object]:
    return {
        "model_process": search_after_unload(runs, model_process=True),
        "in_process": search_after_unload(runs, model_process=False),
    }


def search_after_unload(runs: int, *, model_process: bool) -> dict[str, object]:
    from codanna_desktop.core.engine import Engine
    from codanna_desktop.core.settings import AppPaths

    with tempfile.TemporaryDirectory(prefix="codanna-unload-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        for name, text in DEMO.items():
            (project / name).write_text(text)
        paths = AppPaths(config_dir=Path(tmp) / "config", data_dir=Path(tmp) / "data")
        engine = Engine(paths, model_process=model_process)
        try:
            engine.index([engine.add_root(project)])
            query = "send it again when the server fails"
            engine.search(query).results(1.0, 5)  # warm
            warm, cold = [], []
            for _ in range(runs):
                t = time.perf_counter()
                engine.search(query).results(1.0, 5)
                warm.append(time.perf_counter() - t)
                engine.unload_model()
                t = time.perf_counter()
                session = engine.search(query)
                found = session.results(1.0, 5)
                cold.append(time.perf_counter() - t)
                # What the first search says must be true: no note, the right file.
                assert not session.notes and found and found[0].path == "uploads.py", found
                assert found[0].semantic_score is not None, found
        finally:
            engine.close()
    return {
        "search_model_loaded_ms_median": round(statistics.median(warm) * 1000, 1),
        "first_search_after_unload_ms_median": round(statistics.median(cold) * 1000, 1),
        "runs": runs,
    }


if __name__ == "__main__":
    if shutil.which("Xvfb") is None or shutil.which("trayer") is None:
        print("measure_installed: needs Xvfb, xwininfo and trayer", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main())
