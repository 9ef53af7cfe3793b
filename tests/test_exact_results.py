"""Exact search results as the window gets them: lines held as arrays (no object per line
for the garbage collector to walk), match ranges made when a line is asked for, and the
search process that answers the window: the latest query only, errors with their place."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.exact.matcher import CompiledPattern, PatternOptions
from codanna_desktop.core.exact.pattern import CaseMode, PatternError
from codanna_desktop.core.exact.search import ExactRequest, ExactResult
from codanna_desktop.core.exact.worker import SearchProcess

MANY = 20_000


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    root = tmp_path / "tree"
    root.mkdir()
    lines = [f"value_{i} = compute(value_{i - 1})  # café" for i in range(MANY)]
    (root / "many.py").write_text("\n".join(lines) + "\n")
    (root / "few.txt").write_text("no match here\nonly compute once\n")
    eng = Engine()
    eng.add_root(root)
    eng.index(embed=False)
    yield eng
    eng.close()


def test_matching_lines_are_not_objects_the_garbage_collector_walks(engine: Engine) -> None:
    gc.collect()
    before = len(gc.get_objects())
    result = engine.grep(ExactRequest(PatternOptions("compute")))
    gc.collect()
    held = len(gc.get_objects()) - before
    assert result.line_count == MANY + 1
    # 20,001 lines as tuples were 20,001 tracked objects, each walked by every full
    # collection while the window's thread waited for Python's lock.
    assert held < 200


def test_lines_give_their_text_and_match_ranges_when_asked() -> None:
    body = "zero\nab ab\r\nnaïve ab\n\nlast ab".encode()
    for options in (
        PatternOptions("ab"),
        PatternOptions("AB", case=CaseMode.IGNORE),
        PatternOptions("a[b]"),
        PatternOptions("ab", word=True),
    ):
        lines = CompiledPattern(options).find_lines(body)
        assert lines is not None, options
        assert [(m.line, m.offset, m.text) for m in lines] == [
            (2, 5, b"ab ab\r"),
            (3, 12, "naïve ab".encode()),
            (5, 23, b"last ab"),
        ], options
        assert [m.spans for m in lines] == [((0, 2), (3, 5)), ((7, 9),), ((5, 7),)], options
        assert lines.match_count() == 4, options
        assert list(lines.numbers) == [2, 3, 5]


def test_unicode_classes_apply_to_texts_that_are_not_ascii() -> None:
    # ASCII texts are matched with ASCII classes (faster); a text that is not ASCII gets
    # ripgrep's Unicode ones, in the same pattern.
    pattern = CompiledPattern(PatternOptions(r"\w+ve\b"))
    ascii_lines = pattern.find_lines(b"a naive one\n")
    unicode_lines = pattern.find_lines("a naïve one\n".encode())
    assert ascii_lines is not None and ascii_lines[0].spans == ((2, 7),)
    assert unicode_lines is not None and unicode_lines[0].spans == ((2, 8),)
    word = CompiledPattern(PatternOptions("ve", word=True))
    assert word.find_lines("naïve ve\n".encode()) is not None
    assert word.find_lines("naïve\n".encode()) is None  # "ï" is a letter: no word edge


def test_match_counts_are_the_lines_match_ranges_counted() -> None:
    # Counted in one pass over the matching lines (matcher._count_through): the same
    # matches as each line's ranges, empty ones and ones that reach the line's end too.
    text = "ab ab\n\nééa\n\tx\t\nlast a".encode()
    for pattern in ("a", "^", "$", "^$", r"a|$", "é*", "x?", r"\b", r"\p{Cc}", r"b\s*"):
        for case in (CaseMode.SENSITIVE, CaseMode.IGNORE):
            lines = CompiledPattern(PatternOptions(pattern, case=case)).find_lines(text)
            assert lines is not None, pattern
            assert lines.match_count() == sum(len(m.spans) for m in lines), pattern


def test_word_boundaries_and_bracket_classes_are_unicode_as_in_ripgrep() -> None:
    # The two lines of the standard library where RE2's ASCII \b differed from ripgrep's:
    # "é" is a word character, and so is U+E0100 (a mark) after "x".
    text = "'author_email': 'éxéxé',\n    x\U000e0100 = 4\nx é x\nab\n\u00a0x\n".encode()

    def lines(pattern: str, **kw: object) -> list[tuple[int, tuple[tuple[int, int], ...]]]:
        found = CompiledPattern(PatternOptions(pattern, **kw)).find_lines(text)  # type: ignore[arg-type]
        return [(m.line, m.spans) for m in found or ()]

    # (line, byte ranges) as `rg --vimgrep` gives them (its columns are these plus one).
    assert lines(r"\bx\b") == [(3, ((0, 1), (5, 6))), (5, ((2, 3),))]
    assert lines(r"\Bx\B") == [(1, ((19, 20), (22, 23)))]
    assert lines(r"é\b") == [(1, ((23, 25),)), (3, ((2, 4),))]
    assert lines(r"\bX\b", case=CaseMode.IGNORE) == [(3, ((0, 1), (5, 6))), (5, ((2, 3),))]
    assert lines(r"\bab\b") == [(4, ((0, 2),))]  # an ASCII line: RE2 decides
    # Inside brackets \W and \S are Unicode too (U+00A0 is a space, "é" a letter).
    assert [n for n, _ in lines(r"[\S]x")] == [1]  # not line 5: U+00A0 is a space
    assert [n for n, _ in lines(r"[\W]x")] == [2, 3, 5]
    assert [n for n, _ in lines(r"[^\W]x")] == [1]


def _answers(process: SearchProcess, wanted: int) -> dict[int, tuple[object, object]]:
    got: dict[int, tuple[object, object]] = {}
    deadline = time.monotonic() + 60
    while wanted not in got and time.monotonic() < deadline:
        for ticket, result, exc in process.read(0.05):
            got[ticket] = (result, exc)
        time.sleep(0.01)
    return got


def test_search_process_answers_the_latest_query_as_the_engine_does(engine: Engine) -> None:
    process = SearchProcess(engine.paths)
    try:
        process.submit(1, ExactRequest(PatternOptions(r"value_\d+")))
        wanted = ExactRequest(PatternOptions("once|compute\\(value_19"))
        process.submit(2, wanted)
        got = _answers(process, 2)
        assert set(got) == {2}  # the first query was superseded, never answered
        result, exc = got[2]
        assert exc is None and isinstance(result, ExactResult)
        expected = engine.grep(wanted)
        pairs = {(f.rel_path, m.line) for f in result.files for m in f.lines}
        assert pairs == {(f.rel_path, m.line) for f in expected.files for m in f.lines}
        assert len(pairs) == 1111  # value_19, value_190…199, … and "once"
        assert result.match_count == expected.match_count
        assert result.files[0].lines[0].spans == expected.files[0].lines[0].spans
    finally:
        process.close()
    assert not process.alive


def test_a_bad_pattern_comes_back_from_the_search_process_with_its_place(
    engine: Engine,
) -> None:
    process = SearchProcess(engine.paths)
    try:
        process.submit(7, ExactRequest(PatternOptions("compute(")))
        result, exc = _answers(process, 7)[7]
        assert result is None and isinstance(exc, PatternError)
        assert exc.position == 7 and "unclosed group" in exc.reason
        process.submit(8, ExactRequest(PatternOptions("once")))  # and it serves on
        result, exc = _answers(process, 8)[8]
        assert exc is None and isinstance(result, ExactResult) and result.line_count == 1
    finally:
        process.close()


def test_grep_answers_without_loading_the_model_or_its_libraries_or_numpy(engine: Engine) -> None:
    code = (
        "import sys\n"
        "from codanna_desktop.launch import main\n"
        "code = main(['grep', '-c', 'once'])\n"
        "heavy = sorted(m for m in ('fastembed', 'onnxruntime', 'hnswlib', 'tokenizers', 'numpy')"
        " if m in sys.modules)\n"
        "print(code, heavy)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert proc.stdout.splitlines()[-1] == "0 []"
    assert proc.stdout.splitlines()[0].endswith("few.txt:1")
