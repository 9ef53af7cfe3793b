"""The lexical index: code-aware matching, ranking, filters, durability and locking, on a
real tantivy index in tmp_path."""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codanna_desktop.core.errors import (
    CodannaError,
    IndexLockedError,
    LexicalIndexDamagedError,
    PathFilterError,
)
from codanna_desktop.core.files.filters import SearchFilters
from codanna_desktop.core.ranking.lexical_query import build_query, query_terms
from codanna_desktop.core.ranking.snippets import highlight_ranges
from codanna_desktop.core.storage.lexical import analysis
from codanna_desktop.core.storage.lexical.index import LexicalDoc, LexicalIndex

REPO_ROOT = Path(__file__).resolve().parents[1]


def doc(
    chunk_id: int,
    text: str,
    *,
    symbol: str | None = None,
    path: str = "src/module.py",
    language: str = "python",
    file_id: int | None = None,
    root_id: int = 1,
    kind: str = "function",
    names: tuple[str, ...] = (),
) -> LexicalDoc:
    return LexicalDoc(
        chunk_id=chunk_id,
        file_id=chunk_id if file_id is None else file_id,
        root_id=root_id,
        path=path,
        language=language,
        symbol=symbol,
        kind=kind,
        text=text,
        names=names,
    )


@pytest.fixture
def index(tmp_path: Path) -> Iterator[LexicalIndex]:
    ix = LexicalIndex(tmp_path / "lexical")
    yield ix
    ix.close()


def indexed(ix: LexicalIndex, *docs: LexicalDoc) -> LexicalIndex:
    ix.add(docs)
    ix.commit()
    return ix


def ids(ix: LexicalIndex, query: str, limit: int = 10, **filters: object) -> list[int]:
    flt = SearchFilters(**filters) if filters else None  # type: ignore[arg-type]
    return [hit.chunk_id for hit in ix.search(build_query(query), limit, flt)]


# -- analysis ------------------------------------------------------------------------


def test_python_word_splitting_agrees_with_the_tantivy_analyzer() -> None:
    # Query terms and highlights are computed in Python; documents are analysed by
    # tantivy. Any disagreement would make a word unfindable.
    rng = random.Random(7)
    alphabet = "aAbBzZxXhHtTpP019_-. /éÉü(" + "aeiou" * 3
    samples = ["HTTPConnection", "readFileContents", "HTTP_TIMEOUT", "ABCdef", "x2y", "über"]
    samples += [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))) for _ in range(500)
    ]
    for text in samples:
        python_words = [token for token, _, _ in analysis.split_tokens(text)]
        tantivy_words = analysis.SPLIT_ANALYZER.analyze(analysis.mark_acronym_ends(text))
        assert python_words == tantivy_words, text
        python_idents = [token for token, _, _ in analysis.ident_tokens(text)]
        assert python_idents == analysis.IDENT_ANALYZER.analyze(text), text


def test_query_terms_are_identifiers_and_their_words() -> None:
    assert query_terms("readFileContents") == ["readfilecontents", "read", "file", "contents"]
    assert query_terms("HTTP_TIMEOUT") == ["http_timeout", "http", "timeout"]
    assert query_terms("HTTPConnection") == ["httpconnection", "http", "connection"]
    assert query_terms("sha256") == ["sha256", "sha", "256"]
    assert query_terms("retry -upload") == ["retry"]
    assert query_terms("!!!") == []


# -- matching and ranking ------------------------------------------------------------


def test_camel_case_query_finds_snake_case_code_and_the_reverse(index: LexicalIndex) -> None:
    indexed(
        index,
        doc(1, "def read_file_contents(path): ..."),
        doc(2, "function readFileContents(path) { }", language="javascript"),
        doc(3, "def unrelated(): pass"),
    )
    assert set(ids(index, "readFileContents")) == {1, 2}
    assert set(ids(index, "read_file_contents")) == {1, 2}
    assert set(ids(index, "read-file-contents")) == {1, 2}


def test_acronym_is_split_from_the_word_that_follows_it(index: LexicalIndex) -> None:
    indexed(
        index,
        doc(1, "conn = HTTPConnection(host)"),
        doc(2, "HTTP_TIMEOUT = 30"),
        doc(3, "class Connection: pass"),
    )
    assert ids(index, "http")[:2] and set(ids(index, "http")) == {1, 2}
    assert set(ids(index, "connection")) == {1, 3}
    assert ids(index, "timeout") == [2]
    assert ids(index, "http connection")[0] == 1


def test_exact_identifier_ranks_above_chunks_sharing_only_its_words(index: LexicalIndex) -> None:
    indexed(
        index,
        doc(1, "def read_file(path):\n    # read the file contents\n    return contents"),
        doc(2, "data = readFileContents(path)"),
        doc(3, "def read(): file = contents = None"),
    )
    hits = ids(index, "readFileContents")
    assert hits[0] == 2
    assert set(hits) == {1, 2, 3}


def test_symbol_match_ranks_above_a_body_mention(index: LexicalIndex) -> None:
    indexed(
        index,
        doc(1, "x = parse_config(text)\ny = parse_config(other)", symbol="load_all"),
        doc(2, "def parse_config(text):\n    return toml.loads(text)", symbol="parse_config"),
    )
    assert ids(index, "parse_config") == [2, 1]


def test_dotted_query_finds_the_qualified_method(index: LexicalIndex) -> None:
    indexed(
        index,
        doc(1, "class HTTPConnection:\n    pass", symbol="HTTPConnection", kind="class"),
        doc(
            2,
            "def request(self, method, url):\n    self.send(method)",
            symbol="HTTPConnection.request",
        ),
        doc(3, "def request(self, url):\n    return self.get(url)", symbol="Session.request"),
        doc(4, "conn = HTTPConnection(host)\nconn.request('GET', '/')", symbol="fetch"),
    )
    assert ids(index, "HTTPConnection.request")[0] == 2


def test_a_name_typed_alone_finds_the_chunk_defining_it_before_its_users(
    index: LexicalIndex,
) -> None:
    indexed(
        index,
        doc(1, "class Error(Exception):\n    pass", symbol="Error", kind="class", names=("Error",)),
        doc(2, "def fail():\n    log(ERROR, 'failed')\n    log(ERROR, 'again')", symbol="fail"),
        doc(
            3,
            "CRITICAL = 50\nERROR = 40\nWARNING = 30\nINFO = 20\nDEBUG = 10",
            kind="module",
            names=("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"),
        ),
    )
    # The module defining the constant, in the case typed, beats a class named Error and
    # a function that uses ERROR twice.
    assert ids(index, "ERROR")[0] == 3
    assert ids(index, "Error")[0] == 1


def test_spaced_words_find_the_name_they_spell(index: LexicalIndex) -> None:
    indexed(
        index,
        doc(
            1, "def connect(host, port=HTTPS_PORT):\n    return open(host, port)", symbol="connect"
        ),
        doc(
            2, "HTTP_PORT = 80\nHTTPS_PORT = 443", kind="module", names=("HTTP_PORT", "HTTPS_PORT")
        ),
    )
    assert ids(index, "https port")[0] == 2


def test_defined_names_do_not_pull_a_sentence_towards_one_word_functions(
    index: LexicalIndex,
) -> None:
    indexed(
        index,
        doc(1, "def read(self):\n    return self.buffer", symbol="read", names=("read",)),
        doc(
            2,
            'def load_text(path):\n    """Read the whole file and return its contents."""\n'
            "    with open(path) as fh:\n        return fh.read()",
            symbol="load_text",
            names=("load_text",),
        ),
    )
    assert ids(index, "read")[0] == 1  # a lookup: the definition of read
    assert ids(index, "how do I read the whole file and return the contents")[0] == 2


def test_an_index_built_with_another_schema_is_rebuilt_without_a_backup(tmp_path: Path) -> None:
    import tantivy

    directory = tmp_path / "lexical"
    directory.mkdir()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("body")
    old = tantivy.Index(builder.build(), path=str(directory))
    writer = old.writer()
    writer.commit()
    del writer, old
    ix = LexicalIndex(directory)
    try:
        assert ix.recreated and ix.corrupt_backup is None
        assert not list(tmp_path.glob("lexical.corrupt-*"))
        indexed(ix, doc(1, "def fresh(): pass", symbol="fresh", names=("fresh",)))
        assert ids(ix, "fresh") == [1]
    finally:
        ix.close()


def test_dotted_module_query_finds_the_function_in_that_module(index: LexicalIndex) -> None:
    indexed(
        index,
        doc(1, "def join(a, *p):\n    return a + sep", symbol="join", path="lib/os/path.py"),
        doc(2, "def join(items):\n    return ','.join(items)", symbol="join", path="lib/csv.py"),
        doc(3, "def split(p):\n    return p.rsplit(sep)", symbol="split", path="lib/os/path.py"),
    )
    assert ids(index, "os.path.join")[0] == 1


def test_terms_are_or_ed_and_more_matching_terms_rank_higher(index: LexicalIndex) -> None:
    indexed(
        index,
        doc(1, "retry the upload when it failed"),
        doc(2, "retry the download"),
        doc(3, "nothing relevant"),
    )
    assert ids(index, "retry failed upload") == [1, 2]


def test_query_operators_are_honoured(index: LexicalIndex) -> None:
    indexed(
        index,
        doc(1, "retry upload"),
        doc(2, "retry download"),
        doc(3, "upload only"),
    )
    assert ids(index, "retry -download") == [1]
    assert ids(index, "+retry +upload") == [1]
    assert set(ids(index, '"retry upload"')) == {1}
    assert ids(index, "retry AND download") == [2]


@pytest.mark.parametrize(
    "query",
    ["foo(", '"unclosed', "AND OR", "a:b", "*", "((", ")", "title:", "^2", "\\", "x:[1 TO",
     "std::vector<int>", "NOT", "-", "+", '"', "~", "a~2", "[z-a]", "read*", "\x00", "\ud800"],
)  # fmt: skip
def test_malformed_queries_never_raise(index: LexicalIndex, query: str) -> None:
    indexed(index, doc(1, "foo bar unclosed and or a b std vector int read"))
    index.search(build_query(query), 10)
    highlight_ranges(query, "foo bar")


def test_malformed_queries_search_their_words_literally(index: LexicalIndex) -> None:
    indexed(
        index,
        doc(1, "def foo(x): return x"),
        doc(2, "the string is unclosed"),
        doc(3, "with a and b"),
        doc(4, "std::vector<int> values;", language="cpp"),
    )
    assert ids(index, "foo(") == [1]
    assert ids(index, '"unclosed') == [2]
    assert 3 in ids(index, "a:b")
    assert ids(index, "std::vector<int>")[0] == 4


@pytest.mark.parametrize("query", ["", "   ", "*", "!!!", "()", "-", "-foo"])
def test_empty_or_punctuation_only_query_returns_nothing(index: LexicalIndex, query: str) -> None:
    indexed(index, doc(1, "foo ! * ()"))
    assert index.search(build_query(query), 10) == []


# -- filters -------------------------------------------------------------------------


def many_docs_mostly_filtered_out() -> list[LexicalDoc]:
    """200 chunks match `parse`; only 20 pass each filter below, and those score lowest
    (they say `parse` once, the rest say it three times), so filtering after a top-k
    search would return almost nothing."""
    docs = []
    for i in range(200):
        wanted = i % 10 == 0
        docs.append(
            doc(
                i + 1,
                "parse input" if wanted else "parse parse parse input",
                path=f"src/core/m{i}.py" if wanted else f"lib/m{i}.rs",
                language="python" if wanted else "rust",
                root_id=7 if wanted else 8,
            )
        )
    return docs


@pytest.mark.parametrize(
    "filters",
    [
        {"languages": ("python",)},
        {"languages": ("Python", "go")},
        {"root_ids": (7, 99)},
        {"path_glob": "*.py"},
        {"path_glob": "src/**"},
        {"path_glob": "src/core"},
        {"languages": ("python",), "root_ids": (7,), "path_glob": "src/**/*.py"},
    ],
)
def test_filters_return_limit_results_when_most_chunks_are_filtered_out(
    index: LexicalIndex, filters: dict[str, object]
) -> None:
    indexed(index, *many_docs_mostly_filtered_out())
    assert len(ids(index, "parse", 10)) == 10
    hits = ids(index, "parse", 10, **filters)
    assert len(hits) == 10
    assert all(chunk_id % 10 == 1 for chunk_id in hits)  # the wanted ones: i % 10 == 0


def test_filter_matching_nothing_returns_nothing(index: LexicalIndex) -> None:
    indexed(index, *many_docs_mostly_filtered_out())
    assert ids(index, "parse", 10, languages=("go",)) == []
    assert ids(index, "parse", 10, path_glob="docs/**") == []
    with pytest.raises(PathFilterError):  # a range running backwards: said, not "no path"
        ids(index, "parse", 10, path_glob="[z-a].py")
    # Too many wildcards for tantivy's regex automaton: said, not searched as "no path"
    # (or, after !, as leaving nothing out).
    for glob in ("**/*a*/**/*b*/**/*c*", "!**/*a*/**/*b*/**/*c*"):
        with pytest.raises(PathFilterError, match="too many wildcards"):
            ids(index, "parse", 10, path_glob=glob)


def test_filters_do_not_change_scores(index: LexicalIndex) -> None:
    indexed(index, *many_docs_mostly_filtered_out())
    plain = {h.chunk_id: h.score for h in index.search(build_query("parse"), 200)}
    filtered = index.search(
        build_query("parse"), 10, SearchFilters(languages=("python",), root_ids=(7,))
    )
    assert all(plain[h.chunk_id] == pytest.approx(h.score) for h in filtered)


# -- writing -------------------------------------------------------------------------


def test_changes_are_invisible_until_commit(index: LexicalIndex) -> None:
    index.add([doc(1, "alpha")])
    assert ids(index, "alpha") == []
    index.commit()
    assert ids(index, "alpha") == [1]
    index.delete_chunks([1])
    assert ids(index, "alpha") == [1]
    index.commit()
    assert ids(index, "alpha") == []


def test_delete_files_removes_every_chunk_of_those_files(index: LexicalIndex) -> None:
    indexed(
        index,
        doc(1, "alpha one", file_id=10),
        doc(2, "alpha two", file_id=10),
        doc(3, "alpha three", file_id=11),
        doc(4, "alpha four", file_id=12),
    )
    index.delete_files([10, 12, 999])
    index.commit()
    assert ids(index, "alpha") == [3]


def test_delete_chunks_removes_only_those_chunks(index: LexicalIndex) -> None:
    indexed(index, doc(1, "alpha", file_id=5), doc(2, "alpha", file_id=5), doc(3, "alpha"))
    index.delete_chunks([2, 3])
    index.commit()
    assert ids(index, "alpha") == [1]


def test_adding_a_chunk_id_again_replaces_the_chunk(index: LexicalIndex) -> None:
    indexed(index, doc(1, "old words"))
    indexed(index, doc(1, "new words"))
    assert ids(index, "old") == []
    assert ids(index, "new") == [1]
    assert index.doc_count() == 1


def test_file_replaced_in_one_commit_keeps_only_its_new_chunks(index: LexicalIndex) -> None:
    indexed(index, doc(1, "alpha", file_id=5), doc(2, "alpha", file_id=5))
    index.delete_files([5])
    index.add([doc(3, "alpha", file_id=5)])
    index.commit()
    assert ids(index, "alpha") == [3]


def test_chunk_ids_follow_adds_and_deletes(index: LexicalIndex) -> None:
    assert index.chunk_ids() == set()
    indexed(index, *(doc(i, f"text {i}", file_id=i // 10) for i in range(1, 51)))
    assert index.chunk_ids() == set(range(1, 51))
    index.delete_chunks([1, 2])
    index.delete_files([4])  # chunks 40..49
    index.commit()
    assert index.chunk_ids() == set(range(3, 40)) | {50}
    assert index.doc_count() == 38


def test_text_with_lone_surrogates_is_indexed(index: LexicalIndex) -> None:
    bad = b"caf\xe9 latte".decode("utf-8", "surrogateescape")
    indexed(index, doc(1, bad, symbol=bad, path="src/" + bad))
    assert ids(index, "latte") == [1]


def test_committed_chunks_survive_reopening(tmp_path: Path) -> None:
    with LexicalIndex(tmp_path / "lex") as ix:
        indexed(ix, doc(1, "durable words"))
        ix.add([doc(2, "uncommitted words")])
    with LexicalIndex(tmp_path / "lex") as again:
        assert not again.recreated
        assert ids(again, "words") == [1]


def test_read_only_index_refuses_writes(tmp_path: Path) -> None:
    with LexicalIndex(tmp_path / "lex", writable=False) as ro, pytest.raises(RuntimeError):
        ro.add([doc(1, "x")])


# -- concurrency ---------------------------------------------------------------------

WRITER_PROCESS = """
import sys
from pathlib import Path
from codanna_desktop.core.storage.lexical.index import LexicalDoc, LexicalIndex

ix = LexicalIndex(Path(sys.argv[1]))
print("open", flush=True)
for line in sys.stdin:
    if line.startswith("commit"):
        text = "written elsewhere " + line[len("commit"):].strip()  # `commit v2`: that word too
        ix.add([LexicalDoc(42, 1, 1, "a.py", "python", None, "module", text)])
        ix.commit()
        print("committed", flush=True)
    else:
        break
ix.close()
"""


@contextlib.contextmanager
def writer_process(directory: Path) -> Iterator[subprocess.Popen[str]]:
    """WRITER_PROCESS on `directory`, its index open; told to quit (and to have exited
    cleanly) at the end of the block, killed if it is still running after a failure."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER_PROCESS, str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "open"
        yield child
        child.stdin.write("quit\n")
        child.stdin.flush()
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()


def test_second_writer_process_is_refused_while_a_reader_sees_its_commits(tmp_path: Path) -> None:
    directory = tmp_path / "lex"
    with writer_process(directory) as child:
        assert child.stdin is not None and child.stdout is not None
        with pytest.raises(IndexLockedError, match="Another Codanna Desktop process"):
            LexicalIndex(directory)
        reader = LexicalIndex(directory, writable=False)
        assert ids(reader, "elsewhere") == []
        child.stdin.write("commit\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "committed"
        reader.reload()
        assert ids(reader, "elsewhere") == [42]
    with LexicalIndex(directory) as writer:  # the lock went with the process
        assert writer.chunk_ids() == {42}


def test_reader_sees_each_of_quick_commits_by_another_process_and_nothing_is_lost_between(
    tmp_path: Path,
) -> None:
    """A reload without a new commit is skipped (commit_stamp.py): each commit of the writer,
    even several within one tick of the clock and with a meta.json of the same size, must
    still be seen by the next reload."""
    directory = tmp_path / "lex"
    with writer_process(directory) as child:
        assert child.stdin is not None and child.stdout is not None
        reader = LexicalIndex(directory, writable=False)
        reader.reload()
        assert ids(reader, "elsewhere") == []
        words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]
        for before, word in itertools.pairwise(["elsewhere", *words]):
            child.stdin.write(f"commit {word}\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "committed"
            reader.reload()
            assert ids(reader, word) == [42]  # the chunk as just written
            if before != "elsewhere":
                assert ids(reader, before) == []  # and no longer as before
            reader.reload()  # nothing new: the same answers
            assert ids(reader, word) == [42]


def test_second_writer_in_the_same_process_is_refused_until_the_first_closes(
    tmp_path: Path,
) -> None:
    first = LexicalIndex(tmp_path / "lex")
    with pytest.raises(IndexLockedError):
        LexicalIndex(tmp_path / "lex")
    first.close()
    LexicalIndex(tmp_path / "lex").close()


def test_searches_run_while_another_thread_indexes(index: LexicalIndex) -> None:
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for batch in range(20):
                index.add(doc(batch * 50 + i, f"common word {i}") for i in range(1, 51))
                index.commit()
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    searches = 0
    while writer.is_alive() or searches == 0:
        index.search(build_query("common word"), 20)
        index.chunk_ids()
        searches += 1
    writer.join()
    assert errors == []
    assert index.doc_count() == 1000
    assert len(index.search(build_query("common"), 1000)) == 1000


# -- missing and corrupt indexes -----------------------------------------------------


def test_missing_index_is_created_and_reported_as_recreated(tmp_path: Path) -> None:
    with LexicalIndex(tmp_path / "deep" / "lex") as ix:
        assert ix.recreated and ix.corrupt_backup is None
        indexed(ix, doc(1, "x"))
    with LexicalIndex(tmp_path / "deep" / "lex") as ix:
        assert not ix.recreated


def test_read_only_open_of_a_missing_index_creates_nothing_and_finds_it_later(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "lex"
    reader = LexicalIndex(directory, writable=False)
    assert not directory.exists()
    assert reader.search(build_query("words"), 10) == [] and reader.chunk_ids() == set()
    with LexicalIndex(directory) as writer:
        assert writer.recreated
        indexed(writer, doc(1, "some words"))
    reader.reload()
    assert ids(reader, "words") == [1]


def test_corrupt_index_is_moved_aside_and_recreated(tmp_path: Path) -> None:
    directory = tmp_path / "lex"
    with LexicalIndex(directory) as ix:
        indexed(ix, doc(1, "lost words"))
    (directory / "meta.json").write_text("{ not json", encoding="utf-8")

    with LexicalIndex(directory) as ix:
        assert ix.recreated
        assert ix.corrupt_backup is not None
        assert ix.corrupt_backup.name.startswith("lex.corrupt-")
        assert (ix.corrupt_backup / "meta.json").read_text(encoding="utf-8") == "{ not json"
        assert ix.doc_count() == 0
        indexed(ix, doc(2, "fresh words"))
        assert ids(ix, "words") == [2]


def test_corrupt_segment_file_is_moved_aside_and_recreated(tmp_path: Path) -> None:
    directory = tmp_path / "lex"
    with LexicalIndex(directory) as ix:
        indexed(ix, doc(1, "lost words"))
    for store in directory.glob("*.store"):
        store.write_bytes(b"xx")
    with LexicalIndex(directory) as ix:
        assert ix.recreated and ix.doc_count() == 0


def damage(path: Path, how: str) -> None:
    """Real damage to one file: bytes garbled in its middle (same size), cut in half, gone."""
    data = path.read_bytes()
    if how == "garbled":
        middle = len(data) // 3
        path.write_bytes(data[:middle] + bytes(b ^ 0x5A for b in data[middle : middle + 16]))
        with path.open("r+b") as handle:  # the rest as it was: the size does not change
            handle.seek(middle + 16)
            handle.write(data[middle + 16 :])
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.unlink()


def two_segments_with_deletes(directory: Path) -> None:
    with LexicalIndex(directory) as ix:
        indexed(ix, *(doc(i, f"stored words number{i} " * 20) for i in range(1, 60)))
        ix.delete_chunks([3, 4])
        ix.commit()


@pytest.mark.parametrize("how", ["garbled", "truncated", "missing"])
@pytest.mark.parametrize("ext", ["idx", "term", "pos", "store", "fast", "fieldnorm", "del"])
def test_damaged_segment_file_is_detected_at_open_and_moved_aside(
    tmp_path: Path, ext: str, how: str
) -> None:
    directory = tmp_path / "lex"
    two_segments_with_deletes(directory)
    (target,) = directory.glob(f"*.{ext}")
    damage(target, how)
    with LexicalIndex(directory) as ix:
        assert ix.recreated and ix.corrupt_backup is not None
        assert ix.recreated_because is not None and target.name in ix.recreated_because
        assert ix.doc_count() == 0
        indexed(ix, doc(100, "fresh words"))
        assert ids(ix, "words") == [100]


def test_read_only_open_of_a_garbled_index_raises_a_sentence(tmp_path: Path) -> None:
    directory = tmp_path / "lex"
    two_segments_with_deletes(directory)
    (target,) = directory.glob("*.term")
    damage(target, "garbled")
    with pytest.raises(CodannaError, match=r"cannot be read .*checksum"):
        LexicalIndex(directory, writable=False)
    assert list(tmp_path.glob("lex.corrupt-*")) == []


def test_reader_that_finds_a_new_segment_damaged_answers_with_a_sentence(tmp_path: Path) -> None:
    directory = tmp_path / "lex"
    writer = LexicalIndex(directory)
    try:
        indexed(writer, doc(1, "first words"))
        reader = LexicalIndex(directory, writable=False)
        assert ids(reader, "words") == [1]
        before = set(directory.glob("*.store"))
        indexed(writer, doc(2, "second words"))
        (new_store,) = set(directory.glob("*.store")) - before
        damage(new_store, "garbled")
        reader.reload()
        for _ in range(2):  # and every search after, until the writer rebuilds it
            with pytest.raises(LexicalIndexDamagedError, match="search index is damaged"):
                reader.search(build_query("words"), 10)
        assert reader.damaged is not None and new_store.name in reader.damaged
    finally:
        writer.close()


def test_rebuild_replaces_a_damaged_index_with_an_empty_one_and_keeps_the_old(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "lex"
    with LexicalIndex(directory) as ix:
        indexed(ix, doc(1, "old words"))
        ix.damaged = "found damaged by a search"
        ix.rebuild()
        assert ix.recreated and ix.damaged is None and ix.doc_count() == 0
        assert ix.corrupt_backup is not None and (ix.corrupt_backup / "meta.json").exists()
        indexed(ix, doc(2, "new words"))
        assert ids(ix, "words") == [2]
    with LexicalIndex(directory) as again:
        assert not again.recreated and again.chunk_ids() == {2}


def test_read_only_open_of_a_corrupt_index_raises_and_leaves_it_alone(tmp_path: Path) -> None:
    directory = tmp_path / "lex"
    LexicalIndex(directory).close()
    (directory / "meta.json").write_text("garbage", encoding="utf-8")
    with pytest.raises(CodannaError, match="cannot be read"):
        LexicalIndex(directory, writable=False)
    assert (directory / "meta.json").read_text(encoding="utf-8") == "garbage"
    assert list(tmp_path.glob("lex.corrupt-*")) == []


# -- highlighting --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("read_file", "x = readFile(p)", ["readFile"]),
        ("readFile", "y = read_file(p)", ["read_file"]),
        ("timeout", "HTTP_TIMEOUT = 3", ["TIMEOUT"]),
        ("HTTP_TIMEOUT", "HTTP_TIMEOUT = 3", ["HTTP_TIMEOUT"]),
        ("connection", "c = HTTPConnection()", ["Connection"]),
        ("retry upload", "Retry the upload; retryUpload()", ["Retry", "upload", "retryUpload"]),
        ("retry -upload", "retry upload", ["retry"]),
        ("nothing", "retry upload", []),
        ("!!!", "retry upload", []),
        # A sentence: its function words are not marked, unless it has nothing else.
        ("how to read a file in python", "Read the file; it is in use", ["Read", "file"]),
        ("how to do it in the shell", "do it in the shell", ["shell"]),
        ("how is it to be", "it is to be", ["it", "is", "to", "be"]),
        ("the file", "the file", ["the", "file"]),  # a lookup: every word counts
    ],
)
def test_highlight_ranges_mark_the_words_that_match(
    query: str, text: str, expected: list[str]
) -> None:
    assert [text[start:end] for start, end in highlight_ranges(query, text)] == expected


def test_highlight_ranges_are_sorted_merged_and_in_characters() -> None:
    text = "é = readFileContents(x) # read file"
    ranges = highlight_ranges("readFileContents", text)
    assert ranges == [(4, 20), (26, 30), (31, 35)]
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        # The term inside a longer lowercase word is no word of it: `myfile` is one word.
        ("file", "x = myfile + 1", []),
        ("file", "a b c = myfile(readFile)", ["File"]),
        ("server", "s = HTTPServer(); my_server = 1", ["Server", "server"]),
        ("read_file", "z = 1; do_read_file(); read_file()", ["read", "file", "read_file"]),
        ("sha", "digest = sha256(data)  # hash", ["sha"]),
    ],
)
def test_highlights_are_the_same_in_ascii_text_whose_first_words_are_skipped(
    query: str, text: str, expected: list[str]
) -> None:
    """ASCII text is read from the word that holds the first term (snippets.py); the same
    text made non-ASCII at its end is read word by word from its start."""
    for checked in (text, text + " é"):
        marked = [checked[start:end] for start, end in highlight_ranges(query, checked)]
        assert marked == expected, checked


# -- measurements (printed, not asserted) --------------------------------------------


def test_indexing_and_query_speed_are_reported(index: LexicalIndex) -> None:
    rng = random.Random(1)
    words = ["read", "file", "http", "timeout", "retry", "upload", "parse", "config", "user"]

    def body(i: int) -> str:
        lines = [
            f"def {rng.choice(words)}_{rng.choice(words)}_{i}(self, {rng.choice(words)}):",
            f"    result = self.{rng.choice(words)}{rng.choice(words).title()}(value)",
        ]
        lines += [f"    # {' '.join(rng.choices(words, k=10))}" for _ in range(8)]
        return "\n".join(lines)

    docs = [
        doc(i, body(i), symbol=f"Handler.method_{i}", path=f"src/m{i % 50}.py") for i in range(2000)
    ]
    start = time.perf_counter()
    index.add(docs)
    index.commit()
    indexing = time.perf_counter() - start
    assert index.doc_count() == 2000

    queries = [
        "readFile",
        "http timeout",
        "retry failed upload",
        "Handler.method_7",
        "parse_config",
    ]
    start = time.perf_counter()
    for _ in range(20):
        for q in queries:
            index.search(build_query(q), 100)
    per_query = (time.perf_counter() - start) / (20 * len(queries))
    filtered = SearchFilters(languages=("python",), path_glob="src/m1*.py")
    start = time.perf_counter()
    for q in queries:
        index.search(build_query(q), 100, filtered)
    per_filtered = (time.perf_counter() - start) / len(queries)
    print(
        f"\nlexical: indexed 2000 chunks in {indexing:.2f} s; query {per_query * 1000:.2f} ms,"
        f" filtered query {per_filtered * 1000:.2f} ms (top 100)"
    )


def test_files_a_killed_commit_left_behind_do_not_block_later_commits(tmp_path: Path) -> None:
    # A commit killed after it wrote its files but before meta.json names them leaves
    # orphans; the next writer reuses the same opstamps, so the same file names, and
    # tantivy refused every later commit (FileAlreadyExists on a .del file).
    folder = tmp_path / "lexical"
    ix = indexed(LexicalIndex(folder), *(doc(i, f"function number{i} here") for i in range(1, 40)))
    ix.close()
    # tantivy lists a file in .managed.json before it writes it; meta.json comes last.
    before = {"meta.json": (folder / "meta.json").read_bytes()}
    ix = LexicalIndex(folder)
    ix.delete_chunks({3, 4})
    ix.commit()
    ix.close()
    for name, data in before.items():  # the crash: meta.json never got the new files
        (folder / name).write_bytes(data)
    assert any(p.suffix == ".del" for p in folder.iterdir())

    ix = LexicalIndex(folder)
    ix.delete_chunks({3, 4})
    ix.commit()  # raised before: the orphan had the name this commit writes
    assert ids(ix, "function") and 3 not in ids(ix, "function", 50)
    ix.close()


def test_scores_of_chosen_chunks_are_their_scores_in_a_search(index: LexicalIndex) -> None:
    indexed(
        index,
        doc(1, "parse the config file"),
        doc(2, "parse json"),
        doc(3, "write a file"),
        doc(4, "nothing of the sort"),
    )
    words = build_query("parse config file")
    searched = {h.chunk_id: h.score for h in index.search(words, 10)}
    scored = index.scores_of(words, [3, 4, 1])
    assert [h.chunk_id for h in scored] == [1, 3]  # best first; 4 has none of the words
    assert all(h.score == pytest.approx(searched[h.chunk_id]) for h in scored)
    assert index.scores_of(words, []) == []
    assert index.scores_of(build_query("  "), [1, 2]) == []
