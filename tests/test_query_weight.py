"""The search behaviours the benchmarks chose (core/ranking/search.py query_weight, the lexical
boosts), pinned on small real indexes."""

from __future__ import annotations

from pathlib import Path

import pytest

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.ranking.query_shape import is_identifier_query
from codanna_desktop.core.ranking.search import query_weight
from codanna_desktop.core.semantic.embedder import Embedder


@pytest.mark.parametrize(
    "query",
    ["urlsplit", "HTTPConnection.request", "make archive", "where is read_file_contents called"],
)
def test_names_and_keywords_are_identifier_queries(query: str) -> None:
    assert is_identifier_query(query)


@pytest.mark.parametrize(
    "query", ["python check if a variable is iterable", "upgrade to python 3.11 syntax here"]
)
def test_sentences_are_not_identifier_queries(query: str) -> None:
    assert not is_identifier_query(query)


def test_identifier_queries_bend_the_weight_towards_lexical_but_keep_the_ends() -> None:
    for alpha in (0.2, 0.5, 0.8, 0.9):
        assert query_weight("urlsplit", alpha) < alpha
        assert query_weight("how do I split a url into its parts", alpha) == alpha
    assert query_weight("urlsplit", 0.0) == 0.0
    assert query_weight("urlsplit", 1.0) == 1.0
    bent = [query_weight("urlsplit", a / 10) for a in range(11)]
    assert bent == sorted(bent)


@pytest.fixture
def engine(tmp_path: Path, embedder: Embedder) -> Engine:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "stdin.py").write_text(
        "import sys\n\n\ndef read(n):\n    return sys.stdin.buffer.read(n)\n"
    )
    (root / "text.py").write_text(
        "def load_text(path):\n"
        '    """Return the whole contents of a text file as one string."""\n'
        "    with open(path, encoding='utf-8') as fh:\n"
        "        return fh.read()\n"
    )
    (root / "archive.py").write_text(
        "def make_archive(base_name, fmt, root_dir):\n"
        '    """Create an archive (zip or tar) of every file under root_dir."""\n'
        "    return base_name + '.' + fmt\n"
    )
    for i in range(6):
        (root / f"filler{i}.py").write_text(
            f"def helper_{i}(value):\n"
            f'    """Format the value as a string for the file {i}."""\n'
            "    return str(value)\n"
        )
    eng = Engine(embedder=embedder)
    eng.add_root(root)
    eng.index()
    return eng


def test_a_name_typed_as_words_finds_its_definition_at_the_default_weight(
    engine: Engine,
) -> None:
    with engine:
        top = engine.search("make archive").results(engine.settings.alpha, 3)[0]
        assert top.symbol == "make_archive"


def test_one_common_word_in_a_sentence_does_not_pull_a_function_named_just_that(
    engine: Engine,
) -> None:
    # With the original boosts (symbol_ident 4, symbol 2.5) `read`, named by one common
    # word of the question, had the top lexical score.
    with engine:
        session = engine.search("how to read the contents of a file as a string")
        assert session.results(0.0, 3)[0].symbol == "load_text"
