"""Binary files in exact search: searched as ripgrep searches a file it finds by walking a
folder, up to the fill of its 64 KiB buffer that holds the first NUL byte, with its
warning; kept live, rebuilt and repaired like the texts of indexed files."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.exact.binary_prefix import searched_part
from codanna_desktop.core.exact.matcher import PatternOptions
from codanna_desktop.core.exact.search import ExactRequest
from codanna_desktop.core.settings import AppPaths
from codanna_desktop.core.watching.changes import ChangeSet
from tests.test_exact import index_then_crash, indexed_engine

RG = shutil.which("rg")
CLI = [sys.executable, "-m", "codanna_desktop"]
LINE = 11  # bytes in each line of `_lines`: "foo 000000\n"


def _lines(count: int) -> bytes:
    return b"".join(b"foo %06d\n" % k for k in range(count))


def _with_nul(data: bytes, at: int) -> bytes:
    return data[:at] + b"\x00" + data[at + 1 :]


def _corpus(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    # The NUL in the second 64 KiB: ripgrep searches the first fill, the lines up to the
    # last newline in its first 65,536 bytes (5,957 lines of 11 bytes), and stops.
    (root / "data/late-nul.log").write_bytes(_with_nul(_lines(7000), 70_000))
    # The NUL in the first fill, as in most binary files: nothing is searched.
    (root / "data/early-nul.bin").write_bytes(_with_nul(_lines(7000), 100))
    # A NUL within the first fill, after a first line short enough for rg's first read.
    (root / "data/image.ppm").write_bytes(b"P6\n16 16\n255\n\x00\x00\x07\xff" * 4)
    (root / "notes.txt").write_bytes(b"foo 999999 in a text file\n")
    return root


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return _corpus(tmp_path / "corpus")


@pytest.fixture
def engine(corpus: Path) -> Engine:
    eng = indexed_engine(corpus)
    yield eng
    eng.close()


def _numbers(eng: Engine, pattern: str, rel: str) -> list[int]:
    result = eng.grep(ExactRequest(PatternOptions(pattern)))
    return [n for f in result.files if f.rel_path == rel for n in f.lines.numbers.tolist()]


def test_a_binary_file_is_searched_up_to_the_fill_that_holds_its_nul(engine: Engine) -> None:
    assert _numbers(engine, "foo", "data/late-nul.log") == list(range(1, 5958))
    # Line 5,958 lies before the NUL (at 70,000) but in the fill that holds it.
    assert _numbers(engine, "foo 005957", "data/late-nul.log") == []
    assert _numbers(engine, "foo", "data/early-nul.bin") == []
    result = engine.grep(ExactRequest(PatternOptions("foo 00595")))
    late = next(f for f in result.files if f.rel_path == "data/late-nul.log")
    assert late.binary_offset == 70_000
    # For everything else the files stay skipped as binary: no chunks, no ranked results.
    assert engine.catalog.skip_counts()["binary"] == 3
    assert _numbers(engine, r"^\S+$", "data/image.ppm") == [1]
    assert engine.catalog.counts()["files"] == 1


@pytest.mark.skipif(RG is None, reason="ripgrep is not installed (scripts/setup --dev)")
def test_binary_files_give_the_lines_ripgrep_gives(engine: Engine, corpus: Path) -> None:
    assert RG is not None
    for pattern in ("foo", "foo 0000", r"9$", "^foo 00595", r"^\S+$", "16"):
        proc = subprocess.run(
            [RG, "-n", "--no-heading", "--with-filename", "-0", "-e", pattern, "."],
            cwd=corpus,
            capture_output=True,
            check=False,
        )
        expected = set()
        for line in proc.stdout.splitlines():
            path, nul, rest = line.partition(b"\0")
            if nul:
                expected.add((path.decode().removeprefix("./"), int(rest.split(b":")[0])))
        result = engine.grep(ExactRequest(PatternOptions(pattern)))
        found = {(f.rel_path, n) for f in result.files for n in f.lines.numbers.tolist()}
        assert found == expected, pattern


def test_long_lines_grow_the_buffer_as_ripgreps_does() -> None:
    # ripgrep 13 searches line 1 only of the first file, and 12,077 lines of the second
    # (checked with `rg -n '^'` on these bytes): a fill without a newline reads on into a
    # buffer three times as large, and the NUL at 150,000 falls in that fill.
    data = (
        b"a" * 100
        + b"\n"
        + b"b" * 100_000
        + b"\n"
        + b"".join(b"c %05d\n" % k for k in range(30_000))
    )
    assert searched_part(_with_nul(data, 150_000), 150_000).count(b"\n") == 1
    assert searched_part(_with_nul(data, 250_000), 250_000).count(b"\n") == 12_077
    assert searched_part(_with_nul(data, 60_000), 60_000) == b""


def test_a_short_first_line_is_searched_as_ripgreps_first_read_gives_it() -> None:
    # ripgrep's first read is the 3 bytes it looks at for a byte-order mark: a PPM
    # image's "P6\n" is a fill of its own, so rg lists line 1 of the image (and only it).
    image = b"P6\n16 16\n255\n\x00\x00\x07"
    assert searched_part(image, 13) == b"P6\n"
    assert searched_part(b"P6x\n" + image[3:], 14) == b""
    assert searched_part(image, 13, first_read=0) == b""  # after a UTF-8 mark: a full fill


def _grep(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CLI, "grep", *args], cwd=cwd, capture_output=True, env=os.environ.copy(), check=False
    )


def test_grep_says_what_ripgrep_says_of_a_binary_file(engine: Engine, corpus: Path) -> None:
    warning = (
        'data/late-nul.log: WARNING: stopped searching binary file after match (found "\\0" '
        "byte around offset 70000)"
    )
    plain = _grep("-n", "foo 00595[56]", cwd=corpus).stdout.decode().splitlines()
    assert plain == [
        "data/late-nul.log:5956:foo 005955",
        "data/late-nul.log:5957:foo 005956",
        warning,
    ]
    vim = _grep("--vimgrep", "foo 005956", cwd=corpus).stdout.decode().splitlines()
    assert vim == ["data/late-nul.log:5957:1:foo 005956", warning]
    # ripgrep squashes a binary file's count, and lists it with -l.
    assert _grep("-c", "foo", cwd=corpus).stdout == b"notes.txt:1\n"
    assert _grep("-l", "foo", cwd=corpus).stdout.decode().splitlines() == [
        "data/late-nul.log",
        "notes.txt",
    ]
    objects = [json.loads(x) for x in _grep("--json", "foo 005956", cwd=corpus).stdout.splitlines()]
    assert [o["type"] for o in objects] == ["match", "end", "summary"]
    assert objects[1]["data"] == {"path": {"text": "data/late-nul.log"}, "binary_offset": 70000}


def test_changes_to_a_binary_file_reach_exact_search(engine: Engine, corpus: Path) -> None:
    late = corpus / "data/late-nul.log"
    late.write_bytes(_with_nul(_lines(20_000), 140_000))  # the NUL in the third fill now
    engine.apply_changes(ChangeSet(modified={late}))
    assert _numbers(engine, "foo", "data/late-nul.log") == list(range(1, 11_915))
    late.write_bytes(_lines(10))  # no NUL: a text file, indexed
    engine.apply_changes(ChangeSet(modified={late}))
    assert _numbers(engine, "foo", "data/late-nul.log") == list(range(1, 11))
    assert engine.catalog.skip_counts()["binary"] == 2
    late.write_bytes(_with_nul(_lines(7000), 70_000))
    engine.apply_changes(ChangeSet(modified={late}))
    assert len(_numbers(engine, "foo", "data/late-nul.log")) == 5957
    late.write_bytes(_with_nul(_lines(7000), 10))  # its NUL in the first fill: nothing
    engine.apply_changes(ChangeSet(modified={late}))
    assert _numbers(engine, "foo", "data/late-nul.log") == []
    late.write_bytes(_with_nul(_lines(7000), 70_000))
    engine.apply_changes(ChangeSet(modified={late}))
    late.unlink()
    engine.apply_changes(ChangeSet(deleted={late}))
    assert _numbers(engine, "foo", "data/late-nul.log") == []
    assert engine.content.binary_count() == 1  # the image's first line only


def test_a_rebuilt_exact_index_holds_binary_files_again(corpus: Path) -> None:
    with Engine() as eng:
        eng.add_root(corpus)
        eng.index(embed=False)
    shutil.rmtree(AppPaths.default().data_dir / "exact")
    with Engine() as eng:
        eng.index(embed=False)
        assert len(_numbers(eng, "foo", "data/late-nul.log")) == 5957
        assert not eng.grep(ExactRequest(PatternOptions("foo"))).notes


def test_an_index_made_before_binary_files_were_searched_reads_them_again(corpus: Path) -> None:
    with Engine() as eng:
        eng.add_root(corpus)
        eng.index(embed=False)
    # As the previous version left it: no binary table, no text, no hash for the file.
    data = AppPaths.default().data_dir
    with sqlite3.connect(data / "exact/texts.sqlite") as db:
        db.execute("DROP TABLE binary_files")
        db.execute("DELETE FROM texts WHERE rel_path = 'data/late-nul.log'")
    with sqlite3.connect(data / "catalog.sqlite") as db:
        db.execute("UPDATE files SET content_hash = NULL WHERE state = 'skipped'")
    with Engine() as eng:
        eng.index(embed=False)
        assert len(_numbers(eng, "foo", "data/late-nul.log")) == 5957


def test_a_crash_while_storing_a_binary_file_leaves_no_ghost_and_is_redone(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = indexed_engine(corpus)
    late = corpus / "data/late-nul.log"
    late.write_bytes(_with_nul(_lines(7000).replace(b"foo 000001", b"ghost_line"), 70_000))
    index_then_crash(eng, monkeypatch)

    with Engine() as again:
        # The part stored before the crash is not named by the catalog: gone.
        assert _numbers(again, "ghost_line", "data/late-nul.log") == []
        again.index(embed=False)
        assert _numbers(again, "ghost_line", "data/late-nul.log") == [2]
        assert len(_numbers(again, "foo", "data/late-nul.log")) == 5956
