"""Path and language filters as people type them: several globs, `!` to leave out,
`{a,b}`, a bare file name, the folder's name as results show it, language aliases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tantivy

from codanna_desktop.core.chunking.languages import resolve_languages
from codanna_desktop.core.engine import Engine
from codanna_desktop.core.errors import PathFilterError, UnknownLanguageError
from codanna_desktop.core.files.filters import (
    NO_ROOT,
    SearchFilters,
    glob_to_regex,
    literal_path_regex,
    split_globs,
)
from codanna_desktop.core.semantic.embedder import Embedder

PATHS = [
    "ctx.py",
    "src/flask/ctx.py",
    "src/core/x.py",
    "src/app/m.py",
    "src/lib/m.py",
    "src/lib/m.js",
    "tests/t.py",
    "docs/tests/page.md",
    "README.md",
]


def matching(glob_text: str) -> list[str]:
    flt = SearchFilters(path_glob=glob_text)
    wanted, left_out = flt.path_regex, flt.path_exclude_regex
    return [
        p
        for p in PATHS
        if (wanted is None or re.fullmatch(wanted, p))
        and (left_out is None or not re.fullmatch(left_out, p))
    ]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("ctx.py", ["ctx.py", "src/flask/ctx.py"]),  # a bare name: anywhere
        ("src/core", ["src/core/x.py"]),  # a path without wildcards: a prefix
        ("src/**/*.js", ["src/lib/m.js"]),
        ("src/{app,lib}/*.py", ["src/app/m.py", "src/lib/m.py"]),
        ("*.md", ["docs/tests/page.md", "README.md"]),
        ("tests/", ["tests/t.py", "docs/tests/page.md"]),  # a folder name anywhere
        ("src/lib, *.md", ["src/lib/m.py", "src/lib/m.js", "docs/tests/page.md", "README.md"]),
        ("*.py !tests/", ["ctx.py", "src/flask/ctx.py", "src/core/x.py", "src/app/m.py",
                          "src/lib/m.py"]),
        ("!*.py", ["src/lib/m.js", "docs/tests/page.md", "README.md"]),
    ],
)  # fmt: skip
def test_globs_people_type_match_what_they_mean(typed: str, expected: list[str]) -> None:
    assert matching(typed) == expected


def test_a_glob_for_a_dot_file_or_folder_keeps_its_dot() -> None:
    """`.github/workflows` and `.eslintrc.js` lost their leading dot (an lstrip of "./"
    took it), so they matched `github/workflows` and nothing of what was typed."""
    paths = [".github/workflows/ci.yml", "github/workflows/x.yml", "web/.eslintrc.js", "x.js"]

    def kept(glob: str) -> list[str]:
        return [p for p in paths if re.fullmatch(glob_to_regex(glob), p)]

    assert kept(".github/workflows") == [".github/workflows/ci.yml"]
    assert kept("./.github/") == [".github/workflows/ci.yml"]
    assert kept(".eslintrc.js") == ["web/.eslintrc.js"]
    assert kept("**/.*.js") == ["web/.eslintrc.js"]
    assert glob_to_regex(".") == glob_to_regex("./") == ".*"


def test_commas_inside_braces_do_not_split_globs() -> None:
    assert split_globs("src/{a,b}/*.py, !tests/ docs") == (("src/{a,b}/*.py", "docs"), ("tests/",))


def test_regexes_use_only_what_rust_python_and_postgres_read_alike() -> None:
    regex = glob_to_regex("src/{app,lib}/**/[a-c]?.py")
    assert "(?" not in regex and "\\d" not in regex  # no look-around, no classes
    assert re.fullmatch(regex, "src/app/deep/b1.py")


def test_a_brace_whose_end_stands_inside_a_class_is_a_literal_brace() -> None:
    """Found by the fault campaign's fuzzing: `{` opened a group because a `}` came later,
    but that `}` belonged to `[...]`, and the regex never closed (re.error)."""
    regex = glob_to_regex("a{b,[}]c")
    assert re.fullmatch(regex, "a{b,}c")
    assert not re.fullmatch(regex, "abc")
    regex = glob_to_regex("[#]]_]\\a-{.[z!z_-{}9]]%-")  # the fuzzer's own example
    re.compile(regex)
    assert glob_to_regex("src/{app,lib}/*.py") == r"src/(app|lib)/[^/]*\.py(/.*)?"


# Paths with the characters a glob's [...] or a regex class give a meaning to.
CLASS_PATHS = ["[x.py", "a.py", "b.py", "c.py", "z.py", "&.py", "~.py", "-.py", "].py",
               "^.py", ":.py", "app/[slug]/page.js", "app/s/page.js"]  # fmt: skip
# (glob, what it matches of CLASS_PATHS, as ripgrep's globs read it)
CLASSES = [
    ("[[]*", ["[x.py", "app/[slug]/page.js"]),  # a nested class in Rust, a warning in Python
    ("[a&&b].py", ["a.py", "b.py", "&.py"]),  # an intersection in Rust
    ("[-a~~c].py", ["a.py", "c.py", "~.py", "-.py"]),  # a symmetric difference in Rust
    ("[]a].py", ["a.py", "].py"]),  # a ] first is a member
    ("[!]a].py", ["b.py", "c.py", "z.py", "&.py", "~.py", "-.py", "^.py", ":.py"]),
    ("[^a-c].py", ["z.py", "&.py", "~.py", "-.py", "].py", "^.py", ":.py"]),  # ^ negates too
    ("[&~^-].py", ["&.py", "~.py", "-.py", "^.py"]),
    ("[a||~].py", ["a.py", "~.py"]),  # a set union to Python's warning
    ("app/[[]slug]/*", ["app/[slug]/page.js"]),
]


@pytest.mark.parametrize(("glob", "expected"), CLASSES)
def test_a_class_matches_the_same_paths_in_python_and_in_tantivy(
    glob: str, expected: list[str], recwarn: pytest.WarningsRecorder
) -> None:
    """Found by the fault campaign's fuzzing: a glob's [...] went into the regex as typed,
    so `[[]` was a nested class for tantivy's Rust regex (an error) and a FutureWarning in
    Python, and `&&`, `--`, `~~` were Rust's set operations. The same regex now reads alike
    in the catalog (Python), the lexical and exact indexes (tantivy) and PostgreSQL
    (tests/test_vector_stores.py)."""
    regex = glob_to_regex(glob)
    assert [p for p in CLASS_PATHS if re.fullmatch(regex, p)] == expected
    assert not recwarn.list  # no "Possible nested set" from Python's re
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("path", stored=True, tokenizer_name="raw")
    schema = builder.build()
    index = tantivy.Index(schema)
    writer = index.writer(15_000_000, 1)
    for path in CLASS_PATHS:
        writer.add_document(tantivy.Document(path=path))
    writer.commit()
    index.reload()
    searcher = index.searcher()
    hits = searcher.search(tantivy.Query.regex_query(schema, "path", regex), 100).hits
    assert sorted(searcher.doc(a)["path"][0] for _, a in hits) == sorted(expected)


@pytest.mark.parametrize("glob", ["[z-a].py", "src/[!9-0]*", "*.[yp-a]"])
def test_a_range_that_runs_backwards_is_refused_in_a_sentence(glob: str) -> None:
    """Found by the fault campaign's fuzzing: `[z-a]` reached the regex engines, and the
    search ended in "Something unexpected went wrong … This is a bug". ripgrep refuses
    such a glob too ("invalid range")."""
    with pytest.raises(PathFilterError) as raised:
        _ = SearchFilters(path_glob=f"src {glob}").path_regex
    assert f"“{glob}”" in str(raised.value) and "backwards" in str(raised.value)
    assert PathFilterError.exit_code == 2  # bad usage, as ripgrep's 2
    with pytest.raises(PathFilterError):
        _ = SearchFilters(path_glob=f"!{glob}").path_exclude_regex


def test_a_path_given_is_taken_as_written() -> None:
    """A path (the exact search's PATH arguments) is that file or folder: not a name to
    find anywhere, not a glob (Next.js routes live in folders named `[slug]`)."""
    assert re.fullmatch(literal_path_regex("src"), "src/a.py")
    assert not re.fullmatch(literal_path_regex("src"), "lib/src/a.py")
    assert re.fullmatch(literal_path_regex("app/[slug]"), "app/[slug]/page.js")
    assert not re.fullmatch(literal_path_regex("app/[slug]"), "app/s/page.js")
    assert re.fullmatch(literal_path_regex("a+b (1).py"), "a+b (1).py")


def test_a_glob_starting_with_an_added_folders_name_searches_in_that_folder() -> None:
    roots = [(1, "flask"), (2, "express")]
    scoped = SearchFilters(path_glob="flask/src !tests/").read_folder_names(roots)
    assert scoped.root_ids == (1,)
    assert scoped.path_glob == "src !tests/"
    # A path inside the folders stays one.
    assert SearchFilters(path_glob="src/flask").read_folder_names(roots).root_ids == ()
    whole = SearchFilters(path_glob="express/").read_folder_names(roots)
    assert whole.root_ids == (2,)
    assert whole.path_regex is not None and re.fullmatch(whole.path_regex, "lib/router.js")


def test_a_folder_named_in_the_path_and_another_chosen_in_the_panel_match_nothing() -> None:
    roots = [(1, "flask"), (2, "express")]
    both = SearchFilters(root_ids=(2,), path_glob="flask/src").read_folder_names(roots)
    assert both.root_ids == (NO_ROOT,)


def test_language_aliases_are_those_ripgrep_knows() -> None:
    assert resolve_languages(["py"]) == ("python",)
    assert resolve_languages(["ts,js", "Rust"]) == ("typescript", "tsx", "javascript", "rust")
    with pytest.raises(UnknownLanguageError) as raised:
        resolve_languages(["klingon"])
    assert "Unknown language 'klingon'" in str(raised.value)
    assert "python" in str(raised.value) and "py" in str(raised.value)


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_the_engine_applies_exclusions_and_folder_names_on_both_sides(
    tmp_path: Path, embedder: Embedder
) -> None:
    flask = write(
        tmp_path / "flask",
        {
            "src/flask/ctx.py": "def push_context_frobnicate():\n    pass\n",
            "tests/test_ctx.py": "def test_frobnicate_context():\n    pass\n",
        },
    )
    express = write(tmp_path / "express", {"lib/ctx.js": "function frobnicate() {}\n"})
    with Engine(embedder=embedder) as engine:
        for root in (flask, express):
            engine.add_root(root)
        engine.index()

        def found(path_glob: str, alpha: float) -> set[str]:
            session = engine.search("frobnicate", SearchFilters(path_glob=path_glob))
            return {f"{r.root.name}/{r.path}" for r in session.results(alpha, 10)}

        for alpha in (0.0, 1.0):  # the lexical side and the vector store alike
            assert found("!tests/", alpha) == {"flask/src/flask/ctx.py", "express/lib/ctx.js"}
            assert found("flask/src", alpha) == {"flask/src/flask/ctx.py"}
            assert found("ctx.py", alpha) == {"flask/src/flask/ctx.py"}
            assert found("flask/ !tests/", alpha) == {"flask/src/flask/ctx.py"}
        # A folder picked in the panel and another named in the path: nothing, no error.
        express_id = next(r.id for r in engine.roots() if r.path.name == "express")
        scoped = SearchFilters(root_ids=(express_id,), path_glob="flask/src")
        for alpha in (0.0, 1.0):
            assert engine.search("frobnicate", scoped).results(alpha, 10) == []
        assert engine.lexical.damaged is None  # the index was not taken for damaged


def test_a_glob_too_big_for_tantivy_filters_the_words_through_the_catalog(
    tmp_path: Path,
) -> None:
    """tantivy caps a regex's automaton at 1,000 states. The search by words took such a
    glob as matching no path ("No code contains …"), or after `!` as leaving none out; the
    catalog now matches it in Python and the words are scored among the chunks it lets
    through, as the semantic side is filtered."""
    root = write(
        tmp_path / "proj",
        {
            "xa/yb/zc/f.py": "def frobnicate_deep():\n    pass\n",
            "xa/other.py": "def frobnicate_near():\n    pass\n",
        },
    )
    glob = "**/*a*/**/*b*/**/*c*"
    with Engine() as engine:
        engine.index([engine.add_root(root)], embed=False)

        def found(path_glob: str) -> set[str]:
            filters = SearchFilters(path_glob=path_glob)
            session = engine.search("frobnicate", filters, semantic=False)
            return {r.path for r in session.results(0.0, 10)}

        assert found(glob) == {"xa/yb/zc/f.py"}
        assert found(f"!{glob}") == {"xa/other.py"}
