"""Results say what they have of the query, a lookup with no real match says so first,
a real lexical match is never scored as if it had none, and the weight shown is the one
used."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.ranking.fusion import fuse
from codanna_desktop.core.ranking.matching import Match, match_of
from codanna_desktop.core.ranking.search import _snippet, query_weight
from codanna_desktop.core.semantic.embedder import Embedder

FILES = {
    "src/alpha.py": "def frobnicate(items):\n    return sorted(items)\n",
    "src/beta.py": "def helper(values):\n    # we frobnicate the values here, once\n"
    "    return list(values)\n",
    "web/style.css": "body { margin: 0; color: #333; }\n",
    "web/index.html": "<html><body><p>Hello, sorted lists of items</p></body></html>\n",
    "notes/hello.txt": "Sort the items and return them in order.\n",
    "tests/test_certs.py": "def test_run_cert_import_not_here():\n    assert True\n",
}


@pytest.fixture
def engine(tmp_path: Path, embedder: Embedder) -> Engine:
    root = tmp_path / "proj"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    eng = Engine(embedder=embedder)
    eng.add_root(root)
    eng.index()
    return eng


def test_a_lookup_no_chunk_contains_says_so_before_anything_similar(engine: Engine) -> None:
    session = engine.search("zzqqxx_not_here")
    assert session.not_found_note is not None
    assert "No code contains “zzqqxx_not_here”" in session.not_found_note
    results = session.results(0.0, 10)
    assert results  # shares "not" and "here" with a test...
    assert all(r.match is Match.SIMILAR for r in results)  # ...and says it is only similar
    engine.close()


def test_a_lookup_that_is_there_is_found_and_labelled(engine: Engine) -> None:
    session = engine.search("frobnicate")
    assert session.not_found_note is None
    by_path = {r.path: r.match for r in session.results(0.8, 10)}
    assert by_path["src/alpha.py"] is Match.NAME
    assert by_path["src/beta.py"] is Match.EXACT
    assert by_path["web/style.css"] is Match.SIMILAR
    engine.close()


def test_every_chunk_containing_the_word_ranks_first_at_exact_words_only(
    engine: Engine,
) -> None:
    results = engine.search("frobnicate").results(0.0, 10)
    top = [r.path for r in results[:2]]
    assert sorted(top) == ["src/alpha.py", "src/beta.py"]
    assert all(r.score > 0 for r in results[:2])  # the weaker match is not scored as none
    engine.close()


def test_a_real_lexical_match_keeps_a_lexical_part_at_every_weight() -> None:
    lexical = [(1, 9.0), (2, 2.0)]  # two chunks contain the word
    semantic = [(3, 0.9), (4, 0.8), (2, 0.1), (1, 0.2)]
    for alpha in (0.0, 0.3, 0.5, 0.8, 0.95):
        parts = {f.chunk_id: f.lexical_part for f in fuse(lexical, semantic, alpha)}
        assert parts[2] > 0.0
        assert parts[3] == 0.0


def test_the_weight_label_says_when_a_lookup_bends_the_slider(engine: Engine) -> None:
    session = engine.search("signed cookie")
    assert session.weight(0.8) == pytest.approx(query_weight("signed cookie", 0.8))
    assert session.weight(0.8) < 0.2
    assert session.weight_label(0.8).startswith("lookup: ")
    assert session.weight(0.8, bend=False) == pytest.approx(0.8)
    assert session.weight_label(0.8, bend=False) == "20% words · 80% meaning"
    sentence = engine.search("return the items in sorted order please")
    assert sentence.weight_label(0.8) == "20% words · 80% meaning"
    engine.close()


def test_a_lexical_part_is_the_share_of_the_best_matchs_score_however_deep_the_search() -> None:
    """BM25 is normalised from its own zero (none of the words), not from the weakest
    candidate fetched: fetching more candidates changes no chunk's lexical part."""
    semantic = [(1, 0.5), (2, 0.4)]
    shallow = [(1, 10.0), (2, 5.0)]
    deep = [*shallow, (3, 4.0), (4, 1.0)]
    for lexical in (shallow, deep):
        norms = {f.chunk_id: f.lexical_norm for f in fuse(lexical, semantic, 0.8)}
        assert norms[1] == pytest.approx(1.0)
        assert norms[2] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("query", "text", "symbol", "expected"),
    [
        ("readFile", "def readFile(path): ...", "readFile", Match.NAME),
        ("HTTPConnection.request", "def request(self): ...", "HTTPConnection.request", Match.NAME),
        ("url_for", "return url_for('index')", None, Match.EXACT),
        ("signed cookie", "sign the cookie and keep it signed", None, Match.WORDS),
        ("zzqqxx_not_here", "def test_run_cert_import_not_here(): ...", None, Match.SIMILAR),
        ("signed cookie", "sign the cookie", None, Match.SIMILAR),
        # The text's word is ΛΟΓΟΣ lowercased alone, with a final sigma (λογος); the whole
        # text lowercases it to λογοσa, so a word missing from the lowercased text can
        # still be one of its words (why that shortcut is taken for ASCII texts only).
        ("λογος", "ΛΟΓΟΣA", None, Match.WORDS),
    ],
)
def test_match_kinds(query: str, text: str, symbol: str | None, expected: Match) -> None:
    assert match_of(query, text, symbol) is expected


def test_overlapping_windows_of_one_text_show_once(tmp_path: Path, embedder: Embedder) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    # A long text file: chunked into overlapping line windows, each with the word.
    (root / "config.txt").write_text(
        "".join(f"line {i}: the zebra setting number {i}\n" for i in range(400))
    )
    with Engine(embedder=embedder) as engine:
        engine.add_root(root)
        engine.index()
        rows = engine.search("zebra setting").rows
        spans = sorted((r.start_line, r.end_line) for r in rows.values())
        assert any(a[1] >= b[0] for a, b in itertools.pairwise(spans))  # they overlap
        for alpha in (0.0, 0.5, 1.0):
            results = engine.search("zebra setting").results(alpha, 50)
            shown = sorted((r.start_line, r.end_line) for r in results)
            assert shown
            assert all(a[1] < b[0] for a, b in itertools.pairwise(shown))


@pytest.mark.parametrize(
    ("text", "query", "expected"),
    [
        # Windows line ends, a form feed alone on a line and one inside a line (Python's
        # splitlines breaks there too): the snippet opens a line above the first match.
        (
            "import os\r\n\x0c\nx = 1\x0cy = 2\r\ndef read_file(p):\n  return p\nz\nw\nv\nu\n",
            "read_file",
            ("y = 2\ndef read_file(p):\n  return p\nz\nw\nv", 14),
        ),
        (
            "import os\r\n\x0c\nx = 1\x0cy = 2\r\ndef read_file(p):\n",
            "nothing",
            ("import os\n\n\nx = 1\ny = 2\ndef read_file(p):", 10),
        ),
        (
            "a\u2028b\u2028c\u2028d\u2028e\u2028f\u2028g\u2028h read",
            "read",
            ("c\nd\ne\nf\ng\nh read", 12),
        ),
    ],
)
def test_the_snippet_opens_just_above_the_first_line_that_matches(
    text: str, query: str, expected: tuple[str, int]
) -> None:
    assert _snippet(text, query, 10) == expected
