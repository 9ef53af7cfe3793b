"""Exact search (core/exact): the same (file, line) pairs as ripgrep on a small corpus,
the trigram query, pattern errors, an index kept live, rebuilt and repaired."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tantivy

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.exact import matcher
from codanna_desktop.core.exact.matcher import CompiledPattern, PatternOptions
from codanna_desktop.core.exact.pattern import CaseMode, PatternError, parse
from codanna_desktop.core.exact.search import ExactRequest, ExactSearcher
from codanna_desktop.core.exact.trigrams import ALL, describe, required_query
from codanna_desktop.core.settings import DEFAULT_EXCLUDED_DIRS, AppPaths
from codanna_desktop.core.watching.changes import ChangeSet

RG = shutil.which("rg")
CLI = [sys.executable, "-m", "codanna_desktop"]

CORPUS: dict[str, str | bytes] = {
    "app/views.py": (
        "from flask import url_for, redirect\n"
        "\n"
        "@app.route('/login')\n"
        "def login():\n"
        "    return redirect(url_for('index'))  # url_for again\n"
        "\n"
        "class LoginView:\n"
        "    def get(self):\n"
        "        URL_FOR = 'upper'\n"
        "        return self.render(url_for_login=True)\n"
    ),
    "web/app.js": (
        "const express = require('express');\n"
        "const app = express();\n"
        "app.route('/book')\n"
        "  .get((req, res) => { if (a !== b) { res.send('x') } })\n"
        "function cartTotal(cart) { return cart.items.reduce((s, i) => s + i.price, 0); }\n"
    ),
    "text/unicode.txt": (
        "naïve café résumé\n"
        "ΣΊΣΥΦΟΣ and σίσυφος\n"
        "Straße STRASSE strasse\n"
        "日本語のテキスト foo_bar\n"
        "emoji 🎉 party\n"
        "tab\there\n"
    ),
    "text/crlf.txt": "first line\r\nsecond url_for line\r\nthird\r\n",
    "text/no_newline.txt": "last line without newline: foo(bar)",
    "text/empty.txt": "",
    "src/lib.rs": (
        "pub fn parse_config(path: &str) -> Result<Config, Error> {\n"
        "    let x = vec![1, 2, 3];\n"
        '    if x.len() >= 3 && path != "" { return Ok(Config::default()); }\n'
        '    Err(Error::new("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"))\n'
        "}\n"
    ),
    "node_modules/dep/index.js": "module.exports = url_for;\n",
    # Not UTF-8: matched as its bytes, as ripgrep does (its text has U+FFFD for them).
    "text/latin1.txt": b"caf\xe9 au lait\nna\xefve url_for\n\xff\xfe odd\n",
    ".hidden/config.py": "HIDDEN_SETTING = url_for\n",
    # Word boundaries beside letters and marks that are not ASCII, and a non-ASCII space.
    "text/boundaries.txt": "'author_email': 'éxéxé',\n    x\U000e0100 = 4\nx é x\n\u00a0x\n",
}

# (pattern, ripgrep flags): identifiers, punctuation, regular expressions, case, words.
PATTERNS: list[tuple[str, list[str]]] = [
    ("url_for", []),
    ("url_for", ["-w"]),
    ("url_for", ["-i"]),
    ("URL_FOR", ["-S"]),
    ("url_for", ["-S"]),
    ("@app.route", ["-F"]),
    (r"@app\.route", []),
    ("app.route", []),
    ("!==", []),
    ("!==", ["-F"]),
    (">=", ["-F"]),
    ("foo(bar)", ["-F"]),
    (r"foo\(bar\)", []),
    (r"\w+_for\b", []),
    (r"^\s+return", []),
    (r"^$", []),
    (r"line$", []),
    (r"(a+)+$", []),
    (r"a{5,}b", []),
    (r"[Cc]art[A-Z]\w*", []),
    (r"def \w+\(", []),
    (r"class|function", []),
    (r"(?i)LOGIN", []),
    ("café", []),
    ("CAFÉ", ["-i"]),
    ("σίσυφος", ["-i"]),
    ("straße", ["-i"]),
    (r"\p{Greek}+", []),
    (r"日本", []),
    (r"🎉", []),
    (r"\d+", []),
    (r"\t", []),
    (r"[^\x00-\x7F]", []),
    (".", []),
    (r"\bx\b", []),
    ("res", ["-w"]),
    ("naïve", ["-w"]),
    (r"Config::\w+", []),
    (r"vec!\[", []),
    ("zzz_not_there", []),
    (r"colou?r|cart", ["-i"]),
    (r"(?x) url _ for  # a comment", []),
    (r"caf.", []),
    (r"^.{3,8}$", []),
    (r"\bodd\b", []),
    (r"\Bx\B", []),
    (r"é\b", []),
    (r"\bX\b", ["-i"]),
    (r"[\S]x", []),
    (r"[\W]x", []),
    (r"[^\W]x", []),
    (r"x\b", ["-w"]),
]


def _rg_pairs(root: Path, pattern: str, flags: list[str]) -> set[tuple[str, int]]:
    assert RG is not None
    command = [RG, "-n", "--no-heading", "--with-filename", "--hidden", "--no-ignore", "-0", "-L"]
    for folder in DEFAULT_EXCLUDED_DIRS:
        command += ["--glob", f"!{folder}/"]
    proc = subprocess.run(
        [*command, *flags, "-e", pattern, "."], cwd=root, capture_output=True, check=False
    )
    assert proc.returncode in (0, 1), proc.stderr
    pairs = set()
    for line in proc.stdout.split(b"\n"):
        if not line:
            continue
        path, _, rest = line.partition(b"\0")
        pairs.add((path.decode().removeprefix("./"), int(rest.split(b":", 1)[0])))
    return pairs


def _options(pattern: str, flags: list[str]) -> PatternOptions:
    case = CaseMode.SENSITIVE
    if "-i" in flags:
        case = CaseMode.IGNORE
    if "-S" in flags:
        case = CaseMode.SMART
    return PatternOptions(pattern, fixed="-F" in flags, case=case, word="-w" in flags)


def write_corpus(root: Path) -> None:
    for rel, text in CORPUS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode() if isinstance(text, str) else text)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    write_corpus(root)
    return root


def indexed_engine(root: Path) -> Engine:
    eng = Engine()
    eng.add_root(root)
    eng.index(embed=False)
    return eng


@pytest.fixture
def engine(corpus: Path) -> Engine:
    eng = indexed_engine(corpus)
    yield eng
    eng.close()


def _pairs(eng: Engine, options: PatternOptions, **kw: object) -> set[tuple[str, int]]:
    result = eng.grep(ExactRequest(options, **kw))  # type: ignore[arg-type]
    return {(f.rel_path, line.line) for f in result.files for line in f.lines}


@pytest.mark.skipif(RG is None, reason="ripgrep is not installed (scripts/setup --dev)")
@pytest.mark.parametrize(("pattern", "flags"), PATTERNS)
def test_exact_search_finds_the_lines_ripgrep_finds(
    engine: Engine, corpus: Path, pattern: str, flags: list[str]
) -> None:
    assert _pairs(engine, _options(pattern, flags)) == _rg_pairs(corpus, pattern, flags)


@pytest.mark.skipif(RG is None, reason="ripgrep is not installed (scripts/setup --dev)")
@pytest.mark.parametrize("bytes_per_line", [0, 1 << 40], ids=["by-guard", "whole-text"])
def test_both_ways_of_finding_lines_give_ripgreps_lines(
    engine: Engine, corpus: Path, monkeypatch: pytest.MonkeyPatch, bytes_per_line: int
) -> None:
    """A file is searched from each line holding the required text or through its whole
    text, by how often that text occurs (matcher.py): each way alone gives rg's lines."""
    monkeypatch.setattr(matcher, "_BYTES_PER_GUARDED_LINE", bytes_per_line)
    for pattern, flags in PATTERNS:
        assert _pairs(engine, _options(pattern, flags)) == _rg_pairs(corpus, pattern, flags), (
            pattern,
            flags,
        )


def test_literals_choose_the_candidates_and_a_pattern_without_one_scans() -> None:
    def query(pattern: str, fold: bool = False) -> str:
        parsed = parse(pattern, fold=fold)
        return describe(required_query(parsed.tree, fold=parsed.folds))

    assert query("url_for") == "'url_' & 'rl_f' & 'l_fo' & '_for'"
    assert query(r"foo|barbaz") == "('barb' & 'arba' & 'rbaz') | 'foo'"
    assert query(r"def \w+_for\(") == "'def ' & '_for' & 'for('"
    assert query(r"[Ff]oo") == "'foo'"
    assert "'lass' | 'lasſ'" in query("class", fold=True)  # "ſ" matches "s" ignoring case
    # Shorter literals are grams themselves; a character that is not ASCII is one too.
    assert query(r"\?\.") == "'?.'"
    assert query(r"x?yz") == "'xyz' | 'yz'"
    assert query("é") == "'é'"
    assert query("café|é") == "'café' | 'é'"
    assert query("[À-Â]") == "'à' | 'á' | 'â'"
    # A lone ASCII character narrows nothing (nearly every file has it): a scan.
    for pattern in (r"\w+", ".*", r"(a+)+$", "a", r"#\s*\w+", r"[ab]"):
        assert required_query(parse(pattern).tree, fold=False) is ALL


def test_a_bad_pattern_says_where_and_why() -> None:
    cases = {
        "a(": (1, "unclosed group"),
        "a)": (1, "unopened group"),
        r"(a)\1": (3, "backreferences are not supported"),
        r"[a[b]]": (2, "nested character classes"),
        r"x\n": (1, "the literal '\\n' is not allowed"),
        "*a": (0, "repetition operator missing expression"),
        r"\q": (0, "unrecognized escape sequence"),
        "[abc": (0, "unclosed character class"),
    }
    for pattern, (position, reason) in cases.items():
        with pytest.raises(PatternError) as caught:
            CompiledPattern(PatternOptions(pattern))
        assert caught.value.position == position, pattern
        assert reason in caught.value.reason, pattern
        assert caught.value.pointed().splitlines()[2] == "    " + " " * position + "^"


def test_catastrophic_pattern_runs_in_linear_time() -> None:
    text = b"a" * 200_000 + b"!\n" + b"aaab\n"
    lines = CompiledPattern(PatternOptions(r"(a+)+b")).match_lines(text)
    assert [m.line for m in lines] == [2]


def test_paths_languages_and_globs_limit_the_search(engine: Engine, corpus: Path) -> None:
    options = PatternOptions("url_for")
    assert {p for p, _ in _pairs(engine, options, paths=[corpus / "app"])} == {"app/views.py"}
    assert {p for p, _ in _pairs(engine, options, paths=[corpus / "text/crlf.txt"])} == {
        "text/crlf.txt"
    }
    assert {p for p, _ in _pairs(engine, options, path_glob="*.txt")} == {
        "text/crlf.txt",
        "text/latin1.txt",
    }
    assert {p for p, _ in _pairs(engine, options, languages=("python",))} == {
        "app/views.py",
        ".hidden/config.py",
    }


def test_edits_and_deletes_reach_exact_search(engine: Engine, corpus: Path) -> None:
    views = corpus / "app/views.py"
    views.write_text("def renamed():\n    return reverse_url('index')\n")
    (corpus / "web/app.js").unlink()
    engine.apply_changes(ChangeSet(modified={views}, deleted={corpus / "web/app.js"}))
    assert not {p for p, _ in _pairs(engine, PatternOptions("url_for"))} & {"app/views.py"}
    assert _pairs(engine, PatternOptions("reverse_url")) == {("app/views.py", 2)}
    assert not _pairs(engine, PatternOptions("express"))


def test_an_index_folder_without_texts_builds_them_on_the_next_index(corpus: Path) -> None:
    with Engine() as eng:
        eng.add_root(corpus)
        eng.index(embed=False)
    shutil.rmtree(AppPaths.default().data_dir / "exact")  # as a version before exact search
    with ExactSearcher.open(AppPaths.default()) as reader:
        result = reader.search(ExactRequest(PatternOptions("url_for")))
        assert not result.files and "being built" in " ".join(result.notes)
    with Engine() as eng:
        said: list[str] = []
        eng.index(embed=False, progress=lambda p: said.append(p.message))
        assert "Building the exact-search index" in said
        result = eng.grep(ExactRequest(PatternOptions("url_for")))
        assert {f.rel_path for f in result.files} == {
            "app/views.py",
            "text/crlf.txt",
            "text/latin1.txt",
            ".hidden/config.py",
        }
        assert not result.notes


def test_an_index_of_other_gram_windows_is_built_again(corpus: Path) -> None:
    """An index written by a version with other windows (three and four characters, under
    another tokenizer name) no longer opens: the reader says it is being built, the next
    index builds it again, and a one-gram pattern then finds its files by the index."""
    with Engine() as eng:
        eng.add_root(corpus)
        eng.index(embed=False)
    grams = AppPaths.default().data_dir / "exact" / "trigrams"
    shutil.rmtree(grams)
    grams.mkdir()
    old = tantivy.SchemaBuilder()
    old.add_unsigned_field("file_id", stored=True, indexed=True, fast=True)
    old.add_unsigned_field("root_id", indexed=True)
    old.add_text_field("path_raw", tokenizer_name="raw", index_option="basic")
    old.add_text_field("language", tokenizer_name="raw", index_option="basic")
    old.add_text_field("grams", tokenizer_name="ngram34_lower", index_option="basic")
    before = tantivy.Index(old.build(), path=str(grams))
    before.register_tokenizer(
        "ngram34_lower",
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.ngram(3, 4, False))
        .filter(tantivy.Filter.lowercase())
        .build(),
    )
    writer = before.writer(heap_size=15_000_000, num_threads=1)
    doc = tantivy.Document()
    doc.add_unsigned("file_id", 1)
    doc.add_text("grams", "café")
    writer.add_document(doc)
    writer.commit()
    writer.wait_merging_threads()
    with ExactSearcher.open(AppPaths.default()) as reader:
        result = reader.search(ExactRequest(PatternOptions("é")))
        assert not result.files and "being built" in " ".join(result.notes)
    with Engine() as eng:
        eng.index(embed=False)
        result = eng.grep(ExactRequest(PatternOptions("é")))
        assert {f.rel_path for f in result.files} == {"text/unicode.txt", "text/boundaries.txt"}
        assert result.candidates == 2  # chosen by the one-gram, not by reading every text
        assert not result.notes


def index_then_crash(eng: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """An index that crashes between the stores and the catalog; the process dies there."""

    def crash() -> None:
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(eng.indexer, "_after_stores_written", crash)
    with pytest.raises(RuntimeError):
        eng.index(embed=False)
    eng._release_lock()  # no close()
    eng.lexical.close()
    eng.content.close()
    eng.catalog.close()


def test_crash_between_store_and_catalog_leaves_no_ghost_lines(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = indexed_engine(corpus)
    views = corpus / "app/views.py"
    views.write_text("def ghost_function():\n    pass\n")
    index_then_crash(eng, monkeypatch)

    with Engine() as again:
        # The half-written text is gone with the catalog rows it never got.
        assert not _pairs(again, PatternOptions("ghost_function"))
        again.index(embed=False)
        assert _pairs(again, PatternOptions("ghost_function")) == {("app/views.py", 1)}


# Invocations whose output is byte for byte ripgrep's: line numbers and file names as
# ripgrep chooses them into a pipe, paths as typed, ripgrep's short flags. (Kept inside
# app/ and text/: ripgrep would also search node_modules/, which the index skips.)
RG_INVOCATIONS = [
    ["url_for", "./app/"],
    ["-C", "1", "-w", "get", "app"],
    ["-n", "LoginView", "app"],
    ["-o", "url_for", "app", "text"],
    ["-o", "-n", "-w", "url_for", "app/views.py"],
    ["url_for", "app/views.py"],
    ["-c", "url_for", "app/views.py"],
    ["-H", "-n", "url_for", "app/views.py"],
    ["-t", "py", "-n", "url_for", "app", "text"],
    ["-g", "*.txt", "url_for", "app", "text"],
    ["-g", "!*.txt", "-l", "url_for", "app", "text"],
    ["-I", "-n", "url_for", "text"],
    ["-x", "-n", "def login\\(\\):", "app"],
    ["-x", "-F", "-e", "class LoginView:", "-e", "        URL_FOR = 'upper'", "app"],
    ["-m", "1", "-n", "url_for", "app", "text"],
    ["-m", "2", "-c", "url_for", "app", "text"],
    ["-m", "1", "-C", "1", "-n", "url_for", "app/views.py"],
    ["-v", "-n", "url_for", "app", "text"],
    ["-v", "-c", "e", "text"],
    ["-v", "--vimgrep", "line", "text/crlf.txt", "text/no_newline.txt"],
    ["-v", "-l", "-w", "x", "text"],
]


def _grep(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CLI, "grep", *args], cwd=cwd, capture_output=True, env=os.environ.copy(), check=False
    )


def test_grep_command_prints_ripgrep_formats_and_exit_codes(corpus: Path) -> None:
    with Engine() as eng:
        eng.add_root(corpus)
        eng.index(embed=False)
    numbered = _grep("-n", "url_for", "app", cwd=corpus)
    assert numbered.returncode == 0
    assert numbered.stdout.decode().splitlines() == [
        "app/views.py:1:from flask import url_for, redirect",
        "app/views.py:5:    return redirect(url_for('index'))  # url_for again",
        "app/views.py:10:        return self.render(url_for_login=True)",
    ]
    # Not on a terminal, ripgrep prints no line numbers unless asked (-n), and a path
    # under the PATH argument as it was typed.
    plain = _grep("url_for", "./app/", cwd=corpus).stdout.decode().splitlines()
    assert plain[0] == "./app/views.py:from flask import url_for, redirect"
    assert _grep("-N", "-l", "url_for", "../app", cwd=corpus / "app").stdout == (
        b"../app/views.py\n"
    )
    if RG is not None:  # the same bytes as ripgrep (its order of files is its threads')
        for args in RG_INVOCATIONS:
            theirs = subprocess.run([RG, *args], cwd=corpus, capture_output=True).stdout
            ours = _grep(*args, cwd=corpus).stdout
            assert ours and sorted(ours.splitlines()) == sorted(theirs.splitlines()), args
    vim = _grep("--vimgrep", "url_for", "app/views.py", cwd=corpus).stdout.decode()
    assert vim.splitlines()[:3] == [
        "app/views.py:1:19:from flask import url_for, redirect",
        "app/views.py:5:21:    return redirect(url_for('index'))  # url_for again",
        "app/views.py:5:42:    return redirect(url_for('index'))  # url_for again",
    ]
    printed = _grep("--json", "-w", "URL_FOR", cwd=corpus).stdout
    objects = [json.loads(line) for line in printed.splitlines()]
    match = objects[0]["data"]
    assert match["line_number"] == 9 and match["symbol"] == "LoginView.get"
    assert match["submatches"] == [{"match": {"text": "URL_FOR"}, "start": 8, "end": 15}]
    assert objects[-1]["type"] == "summary"
    assert _grep("-l", "url_for", cwd=corpus).stdout.decode().splitlines() == [
        ".hidden/config.py",
        "app/views.py",
        "text/crlf.txt",
        "text/latin1.txt",
    ]
    assert _grep("-c", "url_for", "app", cwd=corpus).stdout == b"app/views.py:3\n"
    context = _grep("-n", "-C", "1", "LoginView", cwd=corpus).stdout.decode().splitlines()
    assert context == [
        "app/views.py-6-",
        "app/views.py:7:class LoginView:",
        "app/views.py-8-    def get(self):",
    ]
    assert _grep("zzz_nothing", cwd=corpus).returncode == 1
    bad = _grep("a(", cwd=corpus)
    assert bad.returncode == 2 and b"unclosed group" in bad.stderr
    assert _grep("x", "/", cwd=corpus).returncode in (0, 1)


def test_a_path_argument_is_that_file_or_folder_as_ripgrep_reads_it(tmp_path: Path) -> None:
    """`grep PATTERN src` searched every folder named src (`lib/src` too), and a folder
    with glob characters in its name (a Next.js route, `app/[slug]`) was read as a glob
    and never searched. A path is now taken as written, as ripgrep takes it; a path filter
    (--path) is still a glob, and a bad one is a sentence with ripgrep's exit code 2."""
    root = tmp_path / "proj"
    for rel, text in {
        "src/a.py": "needle = 1\n",
        "lib/src/b.py": "needle = 2\n",
        "app/[slug]/page.js": "export const needle = 3;\n",
        "app/s/page.js": "export const needle = 4;\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    with Engine() as eng:
        eng.add_root(root)
        eng.index(embed=False)
    assert _grep("-l", "needle", "src", cwd=root).stdout == b"src/a.py\n"
    assert _grep("-l", "needle", "app/[slug]", cwd=root).stdout == b"app/[slug]/page.js\n"
    assert _grep("-l", "--path", "app/[slug]/*", "needle", cwd=root).stdout == b"app/s/page.js\n"
    if RG is not None:
        for path in ("src", "app/[slug]"):
            ours = _grep("-l", "needle", path, cwd=root).stdout
            theirs = subprocess.run([RG, "-l", "needle", path], cwd=root, capture_output=True)
            assert ours == theirs.stdout
    bad = _grep("--path", "[z-a].py", "needle", cwd=root)
    assert bad.returncode == 2 and b"runs backwards" in bad.stderr, bad.stderr
    assert b"unexpected" not in bad.stderr


def test_a_path_glob_too_large_for_tantivy_is_matched_in_python(tmp_path: Path) -> None:
    """tantivy caps a regex's automaton at 1,000 states; a glob past it ended the exact
    search in "Something unexpected went wrong". Such a glob is matched in Python, on the
    files the rest of the query lets through: the same files."""
    root = tmp_path / "proj"
    for rel in ("xa/yb/zc/f.txt", "xa/other.txt", "top.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("needle\n")
    with indexed_engine(root) as eng:
        glob = "**/*a*/**/*b*/**/*c*"
        options = PatternOptions("needle")
        assert _pairs(eng, options, path_glob=glob) == {("xa/yb/zc/f.txt", 1)}
        assert _pairs(eng, options, path_glob=f"!{glob}") == {("xa/other.txt", 1), ("top.txt", 1)}
        assert _pairs(eng, options, path_glob=f"xa/ !{glob}") == {("xa/other.txt", 1)}


def test_the_pending_count_stays_true_as_files_are_added_and_removed(
    engine: Engine, corpus: Path
) -> None:
    # The counts behind it are kept between searches: each change must be seen, by the
    # writer's catalog (its own changes) and by a reader's (another connection's).
    with ExactSearcher.open(engine.paths) as reader:
        searchers = [ExactSearcher(engine.catalog, engine.content), reader]

        def pending() -> list[int]:
            reader.content.reload()  # as each search does first
            return [s.pending_files() for s in searchers]

        assert pending() == [0, 0]
        views = engine.catalog.files_of_root(engine.catalog.roots()[0].id)["app/views.py"]
        engine.content.delete_files([views.id])  # as while the texts are being rebuilt
        engine.content.commit()
        assert pending() == [1, 1]
        added = corpus / "app/added.py"
        added.write_text("def added():\n    pass\n")
        engine.apply_changes(ChangeSet(created={added}))
        assert pending() == [1, 1]
        (corpus / "web/app.js").unlink()
        engine.apply_changes(ChangeSet(deleted={corpus / "web/app.js"}))
        assert pending() == [1, 1]
        (corpus / "app/views.py").unlink()
        engine.apply_changes(ChangeSet(deleted={corpus / "app/views.py"}))
        assert pending() == [0, 0]
        indexed = engine.catalog._query("SELECT COUNT(*) FROM files WHERE state = 'indexed'")
        assert engine.catalog.indexed_file_count() == indexed[0][0]
        assert reader.catalog.indexed_file_count() == indexed[0][0]
