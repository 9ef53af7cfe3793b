"""How exact search reads its candidates: from the line of the pattern's required literal
on, through a reader that reloads the trigram index when a commit changed it, within the
roots asked for. Each gives the answer a line-by-line search or a fresh reader gives."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from codanna_desktop.core.exact.content_index import ContentFile, ContentIndex, Scope
from codanna_desktop.core.exact.matcher import CompiledPattern, PatternOptions
from codanna_desktop.core.exact.pattern import CaseMode
from codanna_desktop.core.exact.trigrams import ALL, Gram

# (pattern, word, body): the required literal on lines with no match before the match,
# a match on the first or the last line (no newline), a boundary or anchor at the line's
# start, a literal whose rarest byte is inside it or inside a UTF-8 sequence, bytes that
# are not UTF-8, a literal that occurs only in a line the pattern does not match.
CASES: list[tuple[str, bool, bytes]] = [
    (r"^foo_bar", False, b"x foo_bar\nfoo_bar\n  foo_bar\nfoo_bar"),
    (r"^foo_bar", False, b"foo_bar\nx foo_bar\n"),
    ("foo_bar", True, b"foo_bar x\n"),
    (r"\bdef f\(", False, b"a = 1\ndef f(x):\n"),
    (r"foo_bar\b", False, b"foo_barz\nfoo_bar\nzz foo_bar_\n"),
    ("foo_bar", True, b"afoo_bar\nfoo_bar\n(foo_bar)\nfoo_barb\nfoo_bar"),
    (r"def \w+\(self", False, b"(self\ndef f(self):\n  (self)\n    def g(self, x):\n"),
    (r"(foo|bar)baz", False, b"baz\nfoobaz\nxbaz\nbarbaz\n"),
    ("aé=", False, "é=\naé\naé=\nxaé=y".encode()),
    ("Wörld", False, b"W\xf6rld\nW\xc3\xb6rld\n\xff W\xc3\xb6rld \xfe\n"),
    (r"colou?r", False, b"col\ncolor\ncolour\ncolouur\n"),
    (r"x_\d+$", False, b"x_1 \nx_12\nax_3\nx_\n"),
    (r"Message-ID:.*@", False, b"Message-ID: none\nMessage-ID: <a@b>\n"),
    (r"zz_top", False, b"zz_to\nzz_tp\n"),
]


def _per_line(pattern: CompiledPattern, body: bytes) -> list[int]:
    """The numbers of the lines the pattern matches in, each line searched alone."""
    lines = body.split(b"\n")
    if body.endswith(b"\n"):
        lines.pop()
    return [n for n, line in enumerate(lines, 1) if pattern.spans(line)]


@pytest.mark.parametrize(("pattern", "word", "body"), CASES)
def test_lines_before_the_required_literal_are_skipped_and_no_match_is_lost(
    pattern: str, word: bool, body: bytes
) -> None:
    compiled = CompiledPattern(PatternOptions(pattern, word=word))
    found = compiled.find_lines(body)
    assert (found.numbers.tolist() if found is not None else []) == _per_line(compiled, body)


def test_a_pattern_ignoring_case_is_searched_whole_as_before() -> None:
    # No case-sensitive literal is required by it: every line is the pattern's to judge.
    compiled = CompiledPattern(PatternOptions("FOO_bar", case=CaseMode.IGNORE))
    found = compiled.find_lines(b"x\nfoo_BAR\nFoo_Bar y\n")
    assert found is not None and found.numbers.tolist() == [2, 3]


def _file(file_id: int, rel_path: str, text: str) -> ContentFile:
    digest = hashlib.sha256(text.encode()).hexdigest()
    return ContentFile(file_id, rel_path, "python", digest, text)


def _ids(index: ContentIndex, scopes: list[Scope] | None = None) -> list[int]:
    query = Gram("need")
    return sorted(f.file_id for f in index.candidates(query, scopes=scopes or []))


def test_a_reader_sees_each_commit_of_the_writer(tmp_path: Path) -> None:
    writer = ContentIndex(tmp_path / "exact")
    reader = ContentIndex(tmp_path / "exact", writable=False)
    try:
        for step, (put, drop, expected) in enumerate(
            [([1], [], [1]), ([2], [], [1, 2]), ([], [1], [2]), ([3], [2], [3])]
        ):
            writer.put(1, [_file(i, f"f{i}.py", f"needle {i}\n") for i in put])
            writer.delete_files(drop)
            writer.commit()
            reader.reload()
            reader.reload()  # nothing new: the same files
            assert _ids(reader) == expected, step
    finally:
        reader.close()
        writer.close()


def test_scopes_limit_the_candidates_to_their_roots_and_paths(tmp_path: Path) -> None:
    index = ContentIndex(tmp_path / "exact")
    try:
        index.put(1, [_file(1, "a/x.py", "needle"), _file(2, "b/y.py", "needle")])
        index.put(2, [_file(3, "a/z.py", "needle"), _file(4, "c/w.py", "no")])
        index.put(7, [_file(5, "a/v.py", "needle")])
        index.commit()
        assert _ids(index) == [1, 2, 3, 5]
        assert _ids(index, [Scope(1)]) == [1, 2]
        assert _ids(index, [Scope(2)]) == [3]
        assert _ids(index, [Scope(1), Scope(7)]) == [1, 2, 5]
        assert _ids(index, [Scope(1, "a/.*"), Scope(2)]) == [1, 3]
        assert _ids(index, [Scope(3)]) == []
        assert sorted(f.file_id for f in index.candidates(ALL, scopes=[Scope(2)])) == [3, 4]
    finally:
        index.close()
