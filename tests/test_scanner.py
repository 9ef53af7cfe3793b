"""The scanner and the ignore rules, on real folders built in tmp_path."""

from __future__ import annotations

import codecs
import hashlib
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from codanna_desktop.core.errors import RootNotFoundError
from codanna_desktop.core.files.ignore import IgnoreRules
from codanna_desktop.core.files.skips import FileSkipped, SkipReason
from codanna_desktop.core.files.walk import Scanner, ScanResult
from codanna_desktop.core.settings import DEFAULT_EXCLUDED_DIRS, Settings


def write(root: Path, rel: str, content: str | bytes = "x = 1\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def rules(root: Path, *extra: str) -> IgnoreRules:
    return IgnoreRules(root, DEFAULT_EXCLUDED_DIRS, extra)


def scanned_paths(result: ScanResult) -> list[str]:
    return [scanned.rel_path for scanned in result.files]


def skipped_reasons(result: ScanResult) -> dict[str, SkipReason]:
    return {skipped.rel_path: skipped.reason for skipped in result.skipped}


def skip_reason(read: Callable[[], object]) -> SkipReason:
    with pytest.raises(FileSkipped) as caught:
        read()
    return caught.value.reason


# -- ignore rules --------------------------------------------------------------------------


def test_nested_gitignore_applies_to_its_subtree_and_negation_reincludes(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.log\n")
    write(tmp_path, "sub/.gitignore", "!keep.log\n/local.txt\n")
    ignore = rules(tmp_path)

    assert ignore.is_ignored(tmp_path / "a.log", is_dir=False)
    assert ignore.is_ignored(tmp_path / "keep.log", is_dir=False)  # negation is below
    assert ignore.is_ignored(tmp_path / "other/deep/a.log", is_dir=False)
    assert not ignore.is_ignored(tmp_path / "sub/keep.log", is_dir=False)
    assert not ignore.is_ignored(tmp_path / "sub/x/y/keep.log", is_dir=False)
    assert ignore.is_ignored(tmp_path / "sub/x/other.log", is_dir=False)
    # "/local.txt" is anchored to the folder of the .gitignore that says it.
    assert ignore.is_ignored(tmp_path / "sub/local.txt", is_dir=False)
    assert not ignore.is_ignored(tmp_path / "sub/x/local.txt", is_dir=False)
    assert not ignore.is_ignored(tmp_path / "local.txt", is_dir=False)


def test_deeper_gitignore_can_ignore_what_the_root_one_reincludes(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.gen.py\n!api.gen.py\n")
    write(tmp_path, "pkg/.gitignore", "api.gen.py\n")
    ignore = rules(tmp_path)

    assert not ignore.is_ignored(tmp_path / "api.gen.py", is_dir=False)
    assert ignore.is_ignored(tmp_path / "pkg/api.gen.py", is_dir=False)
    assert ignore.is_ignored(tmp_path / "pkg/models.gen.py", is_dir=False)


def test_nothing_inside_an_ignored_folder_can_be_reincluded(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "logs/\n!logs/important.txt\ndata/*\n!data/keep.txt\n")
    ignore = rules(tmp_path)

    assert ignore.is_ignored(tmp_path / "logs", is_dir=True)
    assert ignore.is_ignored(tmp_path / "logs/important.txt", is_dir=False)
    assert ignore.is_ignored(tmp_path / "logs/a/b/c.py", is_dir=False)
    # "data/*" ignores what is in data, not data itself: its children can come back.
    assert not ignore.is_ignored(tmp_path / "data", is_dir=True)
    assert ignore.is_ignored(tmp_path / "data/other.txt", is_dir=False)
    assert not ignore.is_ignored(tmp_path / "data/keep.txt", is_dir=False)


def test_folder_pattern_ignores_folders_but_not_files_of_that_name(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "generated/\n")
    ignore = rules(tmp_path)

    assert ignore.is_ignored(tmp_path / "generated", is_dir=True)
    assert ignore.is_ignored(tmp_path / "a/b/generated", is_dir=True)
    assert ignore.is_ignored(tmp_path / "a/generated/x.py", is_dir=False)
    assert not ignore.is_ignored(tmp_path / "a/generated", is_dir=False)


def test_git_info_exclude_ignores_and_a_gitignore_negation_overrides_it(tmp_path: Path) -> None:
    write(tmp_path, ".git/info/exclude", "# local only\nscratch/\n*.bak\n")
    write(tmp_path, "docs/.gitignore", "!notes.bak\n")
    ignore = rules(tmp_path)

    assert ignore.is_ignored(tmp_path / "scratch", is_dir=True)
    assert ignore.is_ignored(tmp_path / "src/scratch/try.py", is_dir=False)
    assert ignore.is_ignored(tmp_path / "old.bak", is_dir=False)
    assert not ignore.is_ignored(tmp_path / "docs/notes.bak", is_dir=False)
    assert not ignore.is_ignored(tmp_path / "src/main.py", is_dir=False)


def test_codannaignore_works_at_every_level_and_overrides_gitignore(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "fixtures/\n")
    write(tmp_path, ".codannaignore", "*.snap\n!fixtures/\n")
    write(tmp_path, "web/.codannaignore", "stories/\n")
    ignore = rules(tmp_path)

    assert ignore.is_ignored(tmp_path / "a/b.snap", is_dir=False)
    assert not ignore.is_ignored(tmp_path / "fixtures", is_dir=True)
    assert not ignore.is_ignored(tmp_path / "fixtures/data.json", is_dir=False)
    assert ignore.is_ignored(tmp_path / "web/stories", is_dir=True)
    assert ignore.is_ignored(tmp_path / "web/stories/button.tsx", is_dir=False)
    assert not ignore.is_ignored(tmp_path / "stories/button.tsx", is_dir=False)


def test_excluded_folder_names_match_at_any_depth_but_not_files(tmp_path: Path) -> None:
    ignore = rules(tmp_path)

    assert ignore.is_ignored(tmp_path / "node_modules", is_dir=True)
    assert ignore.is_ignored(tmp_path / "web/app/node_modules/react/index.js", is_dir=False)
    assert ignore.is_ignored(tmp_path / "lib/__pycache__/site.pyc", is_dir=False)
    assert ignore.is_ignored(tmp_path / "a/.git", is_dir=True)
    assert not ignore.is_ignored(tmp_path / "scripts/build", is_dir=False)  # a file
    assert not ignore.is_ignored(tmp_path / "src/app.py", is_dir=False)
    assert not ignore.is_ignored(tmp_path, is_dir=True)
    assert not ignore.is_ignored(tmp_path.parent / "elsewhere.log", is_dir=False)


def test_extra_patterns_are_root_relative_and_beat_the_repository_rules(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "gen/\n")
    ignore = rules(tmp_path, "*.sql", "/top-only.txt", "!gen/")

    assert ignore.is_ignored(tmp_path / "db/schema.sql", is_dir=False)
    assert ignore.is_ignored(tmp_path / "top-only.txt", is_dir=False)
    assert not ignore.is_ignored(tmp_path / "sub/top-only.txt", is_dir=False)
    assert not ignore.is_ignored(tmp_path / "gen/api.py", is_dir=False)


def test_malformed_lines_and_unreadable_ignore_files_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", b"[z-a]\n!\n\\\n\xff\xfe broken\n*.tmp\n")
    (tmp_path / "sub" / ".codannaignore").mkdir(parents=True)  # a folder: cannot be read
    ignore = rules(tmp_path, "[z-a]", "*.out")

    assert ignore.is_ignored(tmp_path / "sub/a.tmp", is_dir=False)
    assert ignore.is_ignored(tmp_path / "b.out", is_dir=False)
    assert not ignore.is_ignored(tmp_path / "sub/a.py", is_dir=False)


@pytest.mark.timeout(120)  # before: 30 stars backtracked for longer than anyone waits
def test_a_line_of_thirty_stars_and_a_letter_is_matched_without_hanging(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*" * 30 + "a\n")
    name = "x" * 40 + ".py"
    write(tmp_path, name)
    write(tmp_path, "data")

    assert scanned_paths(Scanner().scan(tmp_path)) == [".gitignore", name]


@pytest.mark.timeout(120)
def test_stars_between_letters_are_matched_in_linear_time(tmp_path: Path) -> None:
    # No run of stars to collapse here: only a linear-time engine (RE2) keeps this fast.
    write(tmp_path, ".gitignore", "*a" * 14 + "b\n")
    write(tmp_path, "a" * 40 + ".py")

    assert not rules(tmp_path).is_ignored(tmp_path / ("a" * 40 + ".py"), is_dir=False)


@pytest.mark.timeout(120)
def test_a_pathological_line_above_a_root_does_not_hang_adding_it(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    write(tmp_path, ".gitignore", "*" * 30 + "a\n")
    root = tmp_path / ("x" * 40)
    write(root, "code.py")

    assert scanned_paths(Scanner().scan(root)) == ["code.py"]


STAR_LINES = ["a/***/b", "***/deep.txt", "x***y", "x**y", "/***", "!***/keep.txt", "**a", "s**/"]
STAR_PATHS = ["a/b", "a/m/b", "a/m/n/b", "q/deep.txt", "q/r/deep.txt", "xmy", "xy", "sa/f"]


@pytest.mark.skipif(not shutil.which("git"), reason="git is not installed")
@pytest.mark.parametrize("line", STAR_LINES)
def test_runs_of_stars_mean_what_they_mean_to_git(tmp_path: Path, line: str) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    write(tmp_path, ".gitignore", ("*\n" if line.startswith("!") else "") + line + "\n")
    for rel in STAR_PATHS:
        write(tmp_path, rel)
    checked = subprocess.run(
        ["git", "-C", str(tmp_path), "check-ignore", "--stdin"],
        input="\n".join(STAR_PATHS),
        capture_output=True,
        text=True,
    )
    by_git = set(checked.stdout.split())
    ignore = rules(tmp_path)

    by_us = {rel for rel in STAR_PATHS if ignore.is_ignored(tmp_path / rel, is_dir=False)}

    assert by_us == by_git


def test_changed_ignore_file_counts_after_invalidate(tmp_path: Path) -> None:
    ignore = rules(tmp_path)
    target = tmp_path / "sub/secret.txt"
    assert not ignore.is_ignored(target, is_dir=False)

    gitignore = write(tmp_path, "sub/.gitignore", "secret.txt\n")
    assert not ignore.is_ignored(target, is_dir=False)  # parsed files are cached
    ignore.invalidate(tmp_path / "sub")
    assert ignore.is_ignored(target, is_dir=False)

    gitignore.write_text("other.txt\n")
    ignore.invalidate(gitignore)  # the file's own path works too
    assert not ignore.is_ignored(target, is_dir=False)

    exclude = write(tmp_path, ".git/info/exclude", "sub/\n")
    assert not ignore.is_ignored(target, is_dir=False)
    ignore.invalidate(exclude)
    assert ignore.is_ignored(target, is_dir=False)

    exclude.write_text("")
    ignore.invalidate()
    assert not ignore.is_ignored(target, is_dir=False)


def test_is_ignore_file_recognises_the_three_kinds(tmp_path: Path) -> None:
    assert IgnoreRules.is_ignore_file(tmp_path / "a/.gitignore")
    assert IgnoreRules.is_ignore_file(tmp_path / ".codannaignore")
    assert IgnoreRules.is_ignore_file(tmp_path / ".git/info/exclude")
    assert not IgnoreRules.is_ignore_file(tmp_path / "info/exclude")
    assert not IgnoreRules.is_ignore_file(tmp_path / "gitignore.py")


# -- scanning ------------------------------------------------------------------------------


def test_scan_lists_files_in_order_with_slash_paths_sizes_and_times(tmp_path: Path) -> None:
    write(tmp_path, "b.py", "print(1)\n")
    write(tmp_path, "a/z.py")
    write(tmp_path, "a/b/c.rs", "fn main() {}\n")

    result = Scanner().scan(tmp_path)

    assert scanned_paths(result) == ["a/b/c.rs", "a/z.py", "b.py"]
    c_rs = result.files[0]
    assert c_rs.abs_path == tmp_path / "a/b/c.rs"
    assert c_rs.size == len("fn main() {}\n")
    assert c_rs.mtime_ns == os.stat(tmp_path / "a/b/c.rs").st_mtime_ns
    assert result.skipped == []
    assert not result.cancelled


def test_scan_applies_gitignore_and_never_enters_excluded_folders(tmp_path: Path) -> None:
    write(tmp_path, "src/app.py")
    write(tmp_path, "scripts/build", "#!/bin/sh\n")
    write(tmp_path, ".gitignore", "*.log\n")
    write(tmp_path, "debug.log", "noise\n")
    write(tmp_path, ".venv/pyvenv.cfg", "home = /usr/bin\n")
    for folder in ("node_modules/react", ".venv/lib", ".git/objects"):
        write(tmp_path, f"{folder}/index.js")
        # Entering any of these folders would report the fifo as "not a regular file".
        os.mkfifo(tmp_path / folder / "pipe")

    result = Scanner().scan(tmp_path)

    assert scanned_paths(result) == [".gitignore", "scripts/build", "src/app.py"]
    # Each folder left out is said, with why (not what is inside it).
    assert [(s.rel_path, s.reason, s.detail) for s in result.skipped] == [
        (".git", SkipReason.FOLDER_LEFT_OUT, "a skipped folder name (.git)"),
        (".venv", SkipReason.FOLDER_LEFT_OUT, "a Python virtualenv (pyvenv.cfg)"),
        ("node_modules", SkipReason.FOLDER_LEFT_OUT, "a skipped folder name (node_modules)"),
    ]


def test_folders_named_build_env_target_or_vendor_are_source_unless_marked(
    tmp_path: Path,
) -> None:
    for rel in ("src/build/compile_assets.py", "src/env/loader.py", "vendor/lib.py",
                "dist/setup.py", "target/debug/app.d", "out/report.py"):  # fmt: skip
        write(tmp_path, rel)
    # What marks a folder as output is what it holds, not its name.
    write(tmp_path, "target/CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n")
    write(tmp_path, "out/CACHEDIR.TAG", "not the signature\n")
    write(tmp_path, "env2/pyvenv.cfg", "home = /usr\n")
    write(tmp_path, "env2/lib/site.py")
    write(tmp_path, ".gitignore", "dist/\n")

    result = Scanner().scan(tmp_path)

    assert scanned_paths(result) == [
        ".gitignore",
        "out/CACHEDIR.TAG",
        "out/report.py",
        "src/build/compile_assets.py",
        "src/env/loader.py",
        "vendor/lib.py",
    ]
    left_out = {s.rel_path: s.detail for s in result.skipped}
    assert left_out == {
        "dist": "an ignore file in the folder",
        "env2": "a Python virtualenv (pyvenv.cfg)",
        "target": "a cache or build output (CACHEDIR.TAG)",
    }


def test_scan_uses_extra_patterns_and_excluded_dirs_from_settings(tmp_path: Path) -> None:
    write(tmp_path, "keep/a.py")
    write(tmp_path, "node_modules/lib.js")
    write(tmp_path, "private/notes.md")
    write(tmp_path, "data.csv", "a,b\n")
    settings = Settings(excluded_dirs=["private"], ignore_patterns=["*.csv"])

    result = Scanner.from_settings(settings).scan(tmp_path)

    assert scanned_paths(result) == ["keep/a.py", "node_modules/lib.js"]


def test_too_large_file_is_reported_at_scan_and_at_read(tmp_path: Path) -> None:
    write(tmp_path, "small.txt", "x" * 2048)
    big = write(tmp_path, "big.txt", "x" * 2049)
    scanner = Scanner(max_file_size=2048)

    result = scanner.scan(tmp_path)

    assert scanned_paths(result) == ["small.txt"]
    assert skipped_reasons(result) == {"big.txt": SkipReason.TOO_LARGE}
    assert "2,049 bytes" in result.skipped[0].detail
    assert skip_reason(lambda: scanner.read_source(big)) == SkipReason.TOO_LARGE


def test_symlink_loops_are_reported_once_and_the_walk_ends(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, "a/code.py")
    write(tmp_path, "outside/lib.py")
    (root / "a/back").symlink_to("..")  # points at root: a loop
    (root / "up").symlink_to(tmp_path)  # points above root: would walk into root again
    (root / "self").symlink_to("self")  # a link to itself
    (root / "shared").symlink_to(tmp_path / "outside")  # no loop: followed when allowed
    (root / "alias.py").symlink_to(root / "a/code.py")  # a link to a file: included
    (root / "dangling.py").symlink_to(root / "missing.py")

    result = Scanner(follow_links_outside=True).scan(root)

    assert scanned_paths(result) == ["a/code.py", "alias.py", "shared/lib.py"]
    assert skipped_reasons(result) == {
        "a/back": SkipReason.SYMLINK_LOOP,
        "dangling.py": SkipReason.NOT_A_FILE,
        "self": SkipReason.SYMLINK_LOOP,
        "up": SkipReason.SYMLINK_LOOP,
    }
    assert len(result.skipped) == 4
    details = {skipped.rel_path: skipped.detail for skipped in result.skipped}
    assert "missing.py" in details["dangling.py"]


def test_a_link_out_of_the_folder_is_not_followed_unless_the_settings_say_so(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    write(root, "a/code.py")
    write(tmp_path, "outside/lib.py")
    secret = write(tmp_path, "outside/passwd", "root:x:0:0\n")
    (root / "passwd").symlink_to(secret)
    (root / "shared").symlink_to(tmp_path / "outside")
    (root / "alias.py").symlink_to("a/code.py")  # stays inside: followed
    (root / "a/up.py").symlink_to("../a/code.py")

    result = Scanner().scan(root)

    assert scanned_paths(result) == ["a/code.py", "a/up.py", "alias.py"]
    assert skipped_reasons(result) == {
        "passwd": SkipReason.LINK_OUTSIDE,
        "shared": SkipReason.LINK_OUTSIDE,
    }
    assert SkipReason.LINK_OUTSIDE.value == "link outside the folder"
    assert str(secret) in {s.rel_path: s.detail for s in result.skipped}["passwd"]
    followed = Scanner.from_settings(Settings(follow_links_outside=True)).scan(root)
    assert scanned_paths(followed) == [
        "a/code.py",
        "a/up.py",
        "alias.py",
        "passwd",
        "shared/lib.py",
        "shared/passwd",
    ]


def test_a_root_reached_through_a_link_still_indexes_its_own_files(tmp_path: Path) -> None:
    write(tmp_path, "real/code.py")
    (tmp_path / "real/self.py").symlink_to(tmp_path / "real/code.py")
    (tmp_path / "via").symlink_to(tmp_path / "real")

    assert scanned_paths(Scanner().scan(tmp_path / "via")) == ["code.py", "self.py"]


def test_fifo_and_socket_are_reported_and_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "sock"))
        write(tmp_path, "real.py")
        scanner = Scanner()

        result = scanner.scan(tmp_path)

        assert scanned_paths(result) == ["real.py"]
        assert skipped_reasons(result) == {
            "pipe": SkipReason.NOT_A_FILE,
            "sock": SkipReason.NOT_A_FILE,
        }
        # Opening a fifo for reading blocks until a writer comes. If read_source ever did,
        # the thread below would hang: the join's timeout only keeps the suite from hanging.
        reasons: list[SkipReason] = []
        reader = threading.Thread(
            target=lambda: reasons.append(skip_reason(lambda: scanner.read_source(fifo))),
            daemon=True,
        )
        reader.start()
        reader.join(timeout=60)
        if reader.is_alive():
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # release it
        assert reasons == [SkipReason.NOT_A_FILE]
    finally:
        server.close()


def test_unreadable_file_and_folder_are_reported_and_the_rest_is_scanned(
    tmp_path: Path,
) -> None:
    write(tmp_path, "ok.py")
    locked_file = write(tmp_path, "locked.py")
    write(tmp_path, "locked_dir/inner.py")
    locked_file.chmod(0)
    (tmp_path / "locked_dir").chmod(0)
    scanner = Scanner()
    try:
        result = scanner.scan(tmp_path)
        permissions_enforced = not os.access(locked_file, os.R_OK)
        if permissions_enforced:
            read_reason = skip_reason(lambda: scanner.read_source(locked_file))
    finally:
        (tmp_path / "locked_dir").chmod(0o755)
        locked_file.chmod(0o644)

    assert "ok.py" in scanned_paths(result)
    if not permissions_enforced:
        pytest.skip(
            f"running with euid {os.geteuid()}, which chmod 000 does not stop from reading "
            "(root); the unreadable folder and file cannot be provoked here"
        )
    assert skipped_reasons(result) == {"locked_dir": SkipReason.UNREADABLE}
    assert read_reason == SkipReason.UNREADABLE


def test_file_name_that_is_not_utf8_is_reported_not_indexed(tmp_path: Path) -> None:
    write(tmp_path, "good.py")
    with open(os.path.join(os.fsencode(tmp_path), b"bad\xff.py"), "wb") as fh:
        fh.write(b"x = 1\n")

    result = Scanner().scan(tmp_path)

    assert scanned_paths(result) == ["good.py"]
    assert skipped_reasons(result) == {"bad\ufffd.py": SkipReason.UNREADABLE}


def test_cancelled_scan_stops_and_says_so(tmp_path: Path) -> None:
    write(tmp_path, "a/b.py")
    cancel = threading.Event()
    cancel.set()

    result = Scanner().scan(tmp_path, cancel=cancel)

    assert result.cancelled
    assert result.files == []


def test_scan_of_a_missing_folder_or_a_file_raises_root_not_found(tmp_path: Path) -> None:
    with pytest.raises(RootNotFoundError):
        Scanner().scan(tmp_path / "missing")
    with pytest.raises(RootNotFoundError):
        Scanner().scan(write(tmp_path, "file.py"))


def test_skip_counts_groups_by_the_reason_shown_to_users(tmp_path: Path) -> None:
    write(tmp_path, "big1.txt", "x" * 2000)
    write(tmp_path, "big2.txt", "x" * 2000)
    os.mkfifo(tmp_path / "pipe")
    write(tmp_path, "ok.txt")

    result = Scanner(max_file_size=1024).scan(tmp_path)

    assert result.skip_counts() == {"too large": 2, "not a regular file": 1}


def test_rules_are_made_once_per_root(tmp_path: Path) -> None:
    scanner = Scanner()
    assert scanner.rules_for(tmp_path) is scanner.rules_for(tmp_path / "sub" / "..")
    assert scanner.rules_for(tmp_path) is not scanner.rules_for(tmp_path / "other")


# -- reading -------------------------------------------------------------------------------


def test_read_source_returns_text_and_the_hash_of_the_raw_bytes(tmp_path: Path) -> None:
    raw = "def héllo():\n    return 'wörld'\n".encode()
    path = write(tmp_path, "a.py", raw)

    source = Scanner().read_source(path)

    assert source.text == raw.decode("utf-8")
    assert source.content_hash == hashlib.sha256(raw).hexdigest()
    assert source.size == len(raw)
    assert source.mtime_ns == os.stat(path).st_mtime_ns


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"\x7fELF\x02\x01\x01\x00\x00\x00",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
        b"text at first\n" * 50 + b"\x00 then a NUL",
    ],
    ids=["png", "elf", "zip", "late-nul"],
)
def test_binary_content_is_skipped(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, "blob.dat", content)
    assert skip_reason(lambda: Scanner().read_source(path)) == SkipReason.BINARY


def test_invalid_utf8_is_decoded_with_replacement_not_skipped(tmp_path: Path) -> None:
    raw = b"name = 'caf\xe9'\nok = 1\n"  # Latin-1 é
    path = write(tmp_path, "legacy.py", raw)

    source = Scanner().read_source(path)

    assert source.text == "name = 'caf\ufffd'\nok = 1\n"
    assert source.content_hash == hashlib.sha256(raw).hexdigest()


@pytest.mark.parametrize(
    "encoding",
    ["utf-8-sig", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"],
)
def test_byte_order_mark_selects_the_encoding(tmp_path: Path, encoding: str) -> None:
    text = "// Grüße, 世界\nint main() { return 0; }\n"
    marks = {
        "utf-8-sig": b"",  # the codec writes its own mark
        "utf-16-le": codecs.BOM_UTF16_LE,
        "utf-16-be": codecs.BOM_UTF16_BE,
        "utf-32-le": codecs.BOM_UTF32_LE,
        "utf-32-be": codecs.BOM_UTF32_BE,
    }
    path = write(tmp_path, "main.c", marks[encoding] + text.encode(encoding))

    assert Scanner().read_source(path).text == text


def test_utf16_mark_followed_by_garbage_is_binary(tmp_path: Path) -> None:
    path = write(tmp_path, "odd.bin", codecs.BOM_UTF16_LE + b"\x00\xd8\x41")  # lone surrogate
    assert skip_reason(lambda: Scanner().read_source(path)) == SkipReason.BINARY


def test_minified_javascript_is_skipped_but_long_ordinary_code_is_not(tmp_path: Path) -> None:
    statements = ";".join(f"var a{i}=function(b){{return b+{i}}}" for i in range(400))
    minified = write(tmp_path, "bundle.js", statements + "\n")
    by_name = write(tmp_path, "vendor.min.js", "var a = 1;\n")
    by_name_css = write(tmp_path, "site.min.css", "a { color: red; }\n")
    ordinary = write(
        tmp_path,
        "long.js",
        "".join(f"function f{i}(x) {{\n  return x + {i};\n}}\n" for i in range(3000)),
    )
    # One very long line (an inlined data URL) in otherwise ordinary code.
    with_data_line = write(
        tmp_path,
        "icons.js",
        "const ICON = 'data:image/png;base64,"
        + "A" * 5000
        + "';\n"
        + "".join(f"export const n{i} = {i};\n" for i in range(200)),
    )
    scanner = Scanner()

    assert skip_reason(lambda: scanner.read_source(minified)) == SkipReason.MINIFIED
    assert skip_reason(lambda: scanner.read_source(by_name)) == SkipReason.MINIFIED
    assert skip_reason(lambda: scanner.read_source(by_name_css)) == SkipReason.MINIFIED
    assert scanner.read_source(ordinary).text.count("function") == 3000
    assert scanner.read_source(with_data_line).text.startswith("const ICON")


def test_vanished_file_is_reported_as_vanished(tmp_path: Path) -> None:
    path = write(tmp_path, "temp.py")
    scanner = Scanner()
    scanned = scanner.scan(tmp_path).files[0]
    path.unlink()

    assert skip_reason(lambda: scanner.read_source(scanned.abs_path)) == SkipReason.VANISHED


def test_file_whose_folder_was_replaced_by_a_file_is_reported_as_vanished(
    tmp_path: Path,
) -> None:
    write(tmp_path, "pkg/mod.py")
    scanner = Scanner()
    scanned = scanner.scan(tmp_path).files[0]
    (tmp_path / "pkg/mod.py").unlink()
    (tmp_path / "pkg").rmdir()
    write(tmp_path, "pkg", "now a file\n")

    assert skip_reason(lambda: scanner.read_source(scanned.abs_path)) == SkipReason.VANISHED


def append_on_each_stat(monkeypatch: pytest.MonkeyPatch, path: Path, times: int) -> list[int]:
    """Make a writer append a line to `path` just before each os.stat of it, `times` times.

    A writer thread racing the reader hits the window between read_source's stats only by
    luck of scheduling; this puts the same real write inside that window every time. The
    writes and the stat results stay real.
    """
    real_stat = os.stat
    writes: list[int] = []

    def stat_after_a_write(target: object, *args: object, **kwargs: object) -> os.stat_result:
        if Path(str(target)) == path and len(writes) < times:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(f"line {len(writes)}\n")
            writes.append(1)
        return real_stat(target, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", stat_after_a_write)
    return writes


def test_file_that_keeps_changing_while_read_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "growing.log", "start\n")
    append_on_each_stat(monkeypatch, path, times=1000)

    assert skip_reason(lambda: Scanner().read_source(path)) == SkipReason.CHANGING


def test_file_that_settles_is_read_again_and_returns_its_final_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "settling.log", "start\n")
    append_on_each_stat(monkeypatch, path, times=2)

    source = Scanner().read_source(path)

    assert source.text == "start\nline 0\nline 1\n"  # the text after the last change
    assert source.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_root_inside_a_repository_follows_the_ignore_files_above_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, ".git/HEAD", "ref: refs/heads/main\n")
    write(repo, ".git/info/exclude", "*.local\n")
    write(repo, ".gitignore", "*.log\nsecret/\n!keep.log\n")
    write(repo, "packages/.gitignore", "dist/\n")
    write(repo, "packages/app/.gitignore", "!debug.log\n")
    root = repo / "packages" / "app"
    ignore = rules(root)

    assert ignore.is_ignored(root / "run.log", is_dir=False)
    assert ignore.is_ignored(root / "settings.local", is_dir=False)
    assert ignore.is_ignored(root / "secret", is_dir=True)
    assert ignore.is_ignored(root / "dist/bundle.js", is_dir=False)
    assert not ignore.is_ignored(root / "keep.log", is_dir=False)
    assert not ignore.is_ignored(root / "debug.log", is_dir=False)  # the root's own file wins
    assert not ignore.is_ignored(root / "main.py", is_dir=False)
    write(root, "main.py")
    write(root, "run.log")
    assert scanned_paths(Scanner().scan(root)) == [".gitignore", "main.py"]


def test_ignore_files_above_a_root_count_only_inside_a_repository(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.log\n")
    root = tmp_path / "plain"
    assert not rules(root).is_ignored(root / "run.log", is_dir=False)


def test_a_folder_the_repository_ignores_is_indexed_when_added_itself(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, ".git/HEAD", "ref: refs/heads/main\n")
    write(repo, ".gitignore", "vendor/\n*.tmp\n")
    root = repo / "vendor" / "lib"
    ignore = rules(root)
    # The person chose this folder: the pattern that would hide all of it is set aside.
    assert not ignore.is_ignored(root / "util.py", is_dir=False)
    assert ignore.is_ignored(root / "scratch.tmp", is_dir=False)


def test_the_folders_whose_ignore_files_apply_from_outside_a_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, ".git/info/exclude", "*.local\n")
    root = repo / "packages" / "app"
    root.mkdir(parents=True)
    # Above a root inside a checkout: each folder up to the top, and the top's .git/info.
    assert rules(root).folders_with_rules_outside() == [
        repo / "packages",
        repo,
        repo / ".git" / "info",
    ]
    # A checkout's top: only its .git/info, as .git gets no watch.
    assert rules(repo).folders_with_rules_outside() == [repo / ".git" / "info"]
    plain = tmp_path / "plain"
    plain.mkdir()
    assert rules(plain).folders_with_rules_outside() == []  # no repository: nothing above
    assert IgnoreRules.folder_governed_by(repo / ".git/info/exclude") == repo
    assert IgnoreRules.folder_governed_by(repo / "packages/.gitignore") == repo / "packages"
