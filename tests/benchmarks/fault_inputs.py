"""Bad input, fuzzing and load.

Bad input: a folder of hostile names (newlines, `$(...)`, backticks, invalid UTF-8
bytes), FIFOs, a socket, links to /dev/zero, loops and out of the folder, huge files and
lines, a deep tree, odd encodings, and ignore files with pathological patterns (in a
folder of their own, since one of them is known to make the scanner backtrack for
minutes). Each file that can be read carries a token: found, skipped with a reason, or
silently missing. The token of a file outside the folder, reached only by a symlink,
must find nothing.

Fuzz: hypothesis-driven queries, filters, globs and settings (fault_fuzz.py) in the
worker, then the real CLI with a sample of the fuzzed settings files and odd arguments.

Load: 20 threads searching one read-only engine while another process indexes a
folder of 20,000 tiny files; p50/p95 and errors.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from pathlib import Path
from typing import Any

from tests.benchmarks.fault_kit import Corpus, Run, Tally, Worker, new_token, run_cli

PATHOLOGICAL_IGNORE_LINES: list[str | bytes] = [
    "*" * 12 + "a",
    "*" * 20 + "b",
    "a*" * 12 + "b",
    "**/" * 30 + "x",
    "[",
    "[!",
    "\\",
    "!",
    "/",
    "a" * 100_000,
    "{a,b}*?[z-a]",
    "**/**/**/**/**/**/**/*.py" + "*" * 8,
    b"\xff\xfe not UTF-8\n*.tmp",
]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _hostile_folder(root: Path, outside: Path, rng: random.Random) -> tuple[dict, list]:
    """Returns (token -> (path, description)) for files that should be findable, and a
    list of descriptions of every hostile thing made."""
    made: list[str] = []
    expect: dict[str, tuple[str, str]] = {}

    def source(rel: str, what: str, extra: str = "") -> None:
        token = new_token(rng)
        _write(root / rel, f"def handle_{token}():\n    return '{what}'\n{extra}")
        expect[token] = (str(root / rel), what)
        made.append(what)

    root.mkdir(parents=True)
    source("plain.py", "an ordinary file")
    for rel, what in [
        ("new\nline.py", "a newline in the name"),
        ("$(touch PWNED).py", "$(...) in the name"),
        ("`touch PWNED2`.py", "backticks in the name"),
        ("-rf --help.py", "a name starting with a dash"),
        ("quote'\"semi;amp&pipe|.py", "quotes and shell operators in the name"),
        ("star*quest?.py", "glob characters in the name"),
        ("back\\slash.py", "a backslash in the name"),
        ("ünïcödé 名前.py", "non-ASCII in the name"),
        (" leading and trailing .py ", "spaces around the name"),
        ("x" * 240 + ".py", "a 243-byte name"),
        ("\x1b[31mred\x1b[0m.py", "terminal escapes in the name"),
    ]:
        source(rel, what)
    # Things that are not regular files.
    os.mkfifo(root / "pipe.py")
    made.append("a FIFO named .py")
    (root / "zero.py").symlink_to("/dev/zero")
    made.append("a link to /dev/zero")
    (root / "random.py").symlink_to("/dev/urandom")
    made.append("a link to /dev/urandom")
    (root / "loop").symlink_to(root)
    (root / "sub").mkdir()
    (root / "sub" / "up").symlink_to("..")
    made.append("symlink loops")
    (root / "dangling.py").symlink_to(root / "nowhere.py")
    made.append("a dangling link")
    # Out of the folder: a file and a folder reached only by links.
    out_token = new_token(rng)
    _write(outside / "secret.py", f"def handle_{out_token}():\n    pass\n")
    (root / "escape.py").symlink_to(outside / "secret.py")
    (root / "escape_dir").symlink_to(outside)
    made.append("links out of the folder")
    # Big things.
    with open(root / "huge.py", "wb") as fh:
        fh.truncate(4 << 30)  # sparse: 4 GiB that take no space
    made.append("a 4 GiB file")
    _write(root / "big.py", "x = 1\n" * 400_000)
    made.append("a 2.4 MB file")
    _write(root / "app.min.js", "var a=1;" * 90_000)
    made.append("a 720 KB minified line")
    source("longline.py", "a 900 KB line beside code", "s = '" + "y" * 900_000 + "'\n")
    # A deep tree.
    deep = root.joinpath(*["d"] * 300)
    deep.mkdir(parents=True)
    source(str(deep.relative_to(root) / "bottom.py"), "a file 300 folders deep")
    # Content.
    (root / "nul.py").write_bytes(b"def f():\n    return '\x00\x00\x00'\n" * 50)
    made.append("NUL bytes in a .py file")
    token = new_token(rng)
    (root / "latin1.py").write_bytes(
        f"# caf\xe9 {token}\ndef handle_{token}():\n    pass\n".encode("latin-1")
    )
    expect[token] = (str(root / "latin1.py"), "invalid UTF-8 content")
    made.append("invalid UTF-8 content")
    token = new_token(rng)
    (root / "utf16.py").write_bytes(
        "\ufeff" .encode("utf-16-le") + f"def handle_{token}():\n    pass\n".encode("utf-16-le")
    )  # fmt: skip
    expect[token] = (str(root / "utf16.py"), "UTF-16 with a byte order mark")
    made.append("UTF-16 with a byte order mark")
    source("cr_only.py", "CR-only line ends", "a = 1\rb = 2\rc = 3\r")
    (root / "empty.py").write_bytes(b"")
    made.append("an empty file")
    (root / ".gitignore").write_text("*.tmp\n\n# comment\n!keep.tmp\n  \n")
    return expect, [*made, f"out-of-folder token {out_token}"]


def _bad_name_folder(root: Path, rng: random.Random) -> dict[str, tuple[str, str]]:
    """Invalid UTF-8 bytes in a name (only bytes paths can make one), in a folder of its
    own beside an ordinary file: a crash on it must not hide what the rest does."""
    root.mkdir(parents=True)
    expect = {}
    for name, what in [
        (b"bad\xff\xfename.py", "invalid UTF-8 bytes in the name"),
        (b"ordinary.py", "an ordinary file beside a name of invalid UTF-8"),
    ]:
        token = new_token(rng)
        path = os.fsencode(root) + b"/" + name
        with open(path, "wb") as fh:
            fh.write(f"def handle_{token}():\n    pass\n".encode())
        expect[token] = (os.fsdecode(path), what)
    return expect


def _outcome(run: Run) -> str:
    return run.describe()["what"]


def bad_input(work: Path, rng: random.Random, tally: Tally, worker: Worker, sizes: dict) -> dict:
    home = work / "home"
    root = work / "hostile"
    outside = work / "outside"
    expect, made = _hostile_folder(root, outside, rng)
    out_token = made.pop().split()[-1]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock_path = root / "sock.py"
    try:
        sock.bind(str(sock_path))
        made.append("a socket named .py")
    except OSError:
        pass
    results: dict[str, Any] = {"made": made, "outcomes": {}, "runs": {}}
    try:
        _index_and_check(home, root, expect, out_token, tally, worker, results)
        bad_names = _bad_name_folder(work / "bad-names", rng)
        made.append("invalid UTF-8 bytes in the name")
        _index_and_check(
            work / "home-bad-names", work / "bad-names", bad_names, None, tally, worker, results
        )
    finally:
        sock.close()
    results["pathological_ignore"] = _pathological_ignores(work, rng, tally)
    n = len(made) + len(PATHOLOGICAL_IGNORE_LINES)
    tally.add("bad_inputs_tried", n)
    results["tried"] = n
    return results


def _index_and_check(
    home: Path,
    root: Path,
    expect: dict[str, tuple[str, str]],
    out_token: str | None,
    tally: Tally,
    worker: Worker,
    results: dict[str, Any],
) -> None:
    """Index `root`, then: each expected file found, skipped with a reason, or missing."""
    runs = {"add": run_cli(home, ["add", "--no-embed", str(root)], timeout=180)}
    runs["status --skipped"] = run_cli(home, ["status", "--skipped"], timeout=60)
    runs["search"] = run_cli(home, ["search", "handle", "--json", "-k", "50"], timeout=60)
    runs["index"] = run_cli(home, ["index", "--no-embed"], timeout=180)
    for name, run in runs.items():
        tally.saw(run, f"bad input ({root.name}): {name}")
        results["runs"][f"{name} {root.name}"] = _outcome(run)
    live = {token: path for token, (path, _) in expect.items()}
    answer = worker.call(
        {
            "op": "verify",
            "home": str(home),
            "root": str(root.resolve()),
            "check_vectors": False,
            "list_skipped": True,
            "live": live,
            "dead": [out_token] if out_token else [],
        }
    )
    if not answer.get("ok"):
        tally.absorb_verify(answer, "bad input")
        results[f"verify {root.name}"] = answer
    else:
        lost = set(answer.get("lost_tokens", []))
        skipped = {rel: reason for rel, reason in answer.get("skipped_files", [])}
        outcomes = results["outcomes"]
        for token, (path, what) in expect.items():
            rel = os.path.relpath(path, root)
            # A name that is not UTF-8 is listed with its bad bytes replaced (the catalog
            # stores text): that is the same file, said to be skipped.
            shown = os.fsencode(rel).decode("utf-8", "replace")
            if token not in lost:
                outcomes[what] = "found"
            elif rel in skipped or shown in skipped:
                outcomes[what] = f"skipped: {skipped.get(rel) or skipped[shown]}"
            else:
                outcomes[what] = "silently missing"
                tally.add("lost", example={"context": "bad input", "file": what})
        if out_token is not None:
            followed = answer.get("ghosts", 0)
            outcomes["links out of the folder"] = (
                "followed: a file outside the folder is searchable" if followed else "not followed"
            )
            if followed:
                example = {"context": "bad input", "token": out_token}
                tally.add("followed_links_out", example=example)
        reasons = results.setdefault("skipped_reasons", [])
        reasons += sorted(set(skipped.values()) - set(reasons))


def _pathological_ignores(work: Path, rng: random.Random, tally: Tally) -> list[dict[str, Any]]:
    """One folder per pattern (one hanging must not hide what the others do)."""
    out = []
    for n, line in enumerate(PATHOLOGICAL_IGNORE_LINES):
        root = work / f"ignore-{n}"
        corpus = Corpus(root, rng, functions=(1, 1))
        corpus.populate(20)
        text = line if isinstance(line, bytes) else line.encode()
        (corpus.root / ".gitignore").write_bytes(text + b"\n")
        home = work / f"home-ignore-{n}"
        run = run_cli(home, ["add", "--no-embed", str(corpus.root)], timeout=60)
        shown = line[:60] if isinstance(line, str) else repr(line)
        tally.saw(run, f"ignore pattern {shown[:40]!r}")
        out.append({"pattern": shown, "add": _outcome(run), "seconds": run.seconds})
        print(f"  ignore pattern {shown[:30]!r}: {out[-1]['add']} in {run.seconds} s", flush=True)
    return out


# -- fuzzing ------------------------------------------------------------------------

ODD_ARGS = [
    ["search", "-"],
    ["search", ""],
    ["search", "--path", "[", "x"],
    ["search", "--path", "**/**[!", "x"],
    ["search", "--path", "\\", "x"],
    ["search", "--lang", "", "x"],
    ["search", "--alpha", "nan", "x"],
    ["search", "--alpha", "inf", "x"],
    ["search", "-k", "0", "x"],
    ["search", "-k", "99999999999999999999", "x"],
    ["search", '"unclosed (quote AND'],
    ["search", "\udcff"],
    ["search", "x" * 100_000],
    ["remove", "/nonexistent/folder"],
    ["add", "/dev/null"],
    ["status", "--json", "--skipped"],
]


def fuzz(work: Path, rng: random.Random, tally: Tally, worker: Worker, sizes: dict) -> dict:
    home = work / "home"
    corpus = Corpus(work / "corpus", rng)
    corpus.populate(8)
    tally.saw(run_cli(home, ["add", str(corpus.root)]), "fuzz: first add")
    answer = worker.call(
        {
            "op": "fuzz",
            "home": str(home),
            "examples": sizes["fuzz_examples"],
            "seed": rng.randrange(1 << 30),
            "keep_settings": sizes["cli_settings_checks"],
        }
    )
    results: dict[str, Any] = {}
    if not answer.get("ok"):
        tally.absorb_verify(answer, "fuzz")
        results["worker"] = answer
    else:
        tried = sum(answer["tried"].values())
        failed = sum(answer["failures"].values())
        tally.add("fuzz_examples", tried)
        tally.counts["fuzz_failures"] += failed
        tally.examples.setdefault("fuzz_failures", []).extend(answer["failure_examples"][:5])
        results.update({k: answer[k] for k in ("tried", "failures", "failure_examples")})
    cli: list[dict[str, Any]] = []
    for args in ODD_ARGS:
        run = run_cli(home, args, timeout=60)
        tally.saw(run, "odd CLI arguments")
        cli.append({"args": " ".join(args)[:60], "outcome": _outcome(run)})
    settings_file = home / "config" / "settings.toml"
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    for text in answer.get("settings_samples", []) if answer.get("ok") else []:
        settings_file.write_text(text)
        for args in (["status"], ["search", "upload"]):
            run = run_cli(home, args, timeout=60)
            tally.saw(run, f"fuzzed settings: {text[:80]!r}")
            cli.append({"args": f"{args[0]} with settings {text[:60]!r}", "outcome": _outcome(run)})
    settings_file.unlink(missing_ok=True)
    tally.add("bad_inputs_tried", len(cli))
    results["cli"] = cli
    results["cli_crashes"] = sum(1 for c in cli if c["outcome"] in ("traceback", "hang")
                                 or c["outcome"].startswith("signal"))  # fmt: skip
    return results


# -- load ---------------------------------------------------------------------------


def load(work: Path, rng: random.Random, tally: Tally, worker: Worker, sizes: dict) -> dict:
    home = work / "home"
    small = Corpus(work / "small", rng)
    small.populate(8)
    tally.saw(run_cli(home, ["add", str(small.root)]), "load: first add")
    big = work / "tiny-files"
    tokens: dict[str, str] = {}
    for n in range(sizes["tiny_files"]):
        path = big / f"d{n % 100:02d}" / f"t{n:05d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        if n % 400 == 0:
            token = new_token(rng)
            tokens[token] = str(path.resolve())
            path.write_text(f"def handle_{token}():\n    pass\n")
        else:
            path.write_text(f"v{n} = {n}\n")
    tally.add("bad_inputs_tried", 1)  # 20,000 tiny files
    stop_file = work / "stop"
    writer: dict[str, Run] = {}

    def index_big() -> None:
        writer["run"] = run_cli(home, ["add", "--no-embed", str(big)], timeout=900)
        stop_file.touch()

    thread = threading.Thread(target=index_big)
    started = time.monotonic()
    thread.start()
    queries = [*small.live(), "upload retry", "parse the header", "handle", "v123", "zq"]
    answer = worker.call(
        {
            "op": "load",
            "home": str(home),
            "threads": sizes["load_threads"],
            "stop_file": str(stop_file),
            "queries": queries,
            "max_seconds": 900,
        },
        timeout=1000,
    )
    thread.join()
    run = writer["run"]
    tally.saw(run, "load: indexing 20,000 tiny files")
    result: dict[str, Any] = {
        "files": sizes["tiny_files"],
        "threads": sizes["load_threads"],
        "indexing": _outcome(run),
        "indexing_seconds": round(time.monotonic() - started, 1),
    }
    if answer.get("ok"):
        tally.add("load_errors", answer["errors"], example=(answer["error_examples"] or [None])[0])
        result.update({k: answer[k] for k in ("searches", "errors", "error_examples", "latency")})
    else:
        tally.absorb_verify(answer, "load")
        result["worker"] = answer
    check = worker.call(
        {
            "op": "verify",
            "home": str(home),
            "root": str(big.resolve()),
            "check_vectors": False,
            "live": tokens,
            "dead": [],
        }
    )
    tally.absorb_verify(check, "load: tiny files searchable after indexing")
    result["tiny_file_tokens_found"] = len(tokens) - int(check.get("lost", 0))
    result["tiny_file_tokens"] = len(tokens)
    return result
