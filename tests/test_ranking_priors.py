"""What a result is counts beside how well it matches (core/ranking/priors.py, ordering.py,
scope.py): the project's code ranks above docs and tests that use the same words unless
the query asks for those, a long definition is one result opened at its signature, and a
folder or language the query names ranks first."""

from __future__ import annotations

from pathlib import Path

import pytest

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.files.filters import SearchFilters
from codanna_desktop.core.ranking.priors import Priors, is_supporting_code
from codanna_desktop.core.ranking.scope import read_scope
from codanna_desktop.core.semantic.embedder import Embedder
from codanna_desktop.core.settings import Settings
from codanna_desktop.core.storage.catalog import ChunkRow

DEFAULT_ALPHA = Settings().alpha

CODE = (
    "def set_cookie(response, name, value, max_age=None):\n"
    '    """Set a cookie on the response."""\n'
    "    response.headers.append(('Set-Cookie', f'{name}={value}'))\n"
)
DOCS = (
    "# Cookies\n\n"
    "To set a cookie on the response, call set_cookie with the response. A cookie set on\n"
    "the response is sent with the response; set the cookie before the response is sent.\n"
)
TEST = (
    "from shop.cookies import set_cookie\n\n\n"
    "def test_set_cookie_on_the_response():\n"
    '    """Set a cookie on the response and check the response has the cookie."""\n'
    "    response = make_response()\n"
    "    set_cookie(response, 'a', '1')\n"
    "    assert 'Set-Cookie' in dict(response.headers)  # the cookie is set on the response\n"
)


def _engine(embedder: Embedder, roots: dict[Path, dict[str, str]]) -> Engine:
    for root, files in roots.items():
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
    engine = Engine(embedder=embedder)
    for root in roots:
        engine.add_root(root)
    engine.index()
    return engine


def _paths(engine: Engine, query: str, alpha: float = DEFAULT_ALPHA) -> list[str]:
    return [r.path for r in engine.search(query).results(alpha, 10)]


@pytest.fixture
def shop(tmp_path: Path, embedder: Embedder) -> Engine:
    files = {"shop/cookies.py": CODE, "docs/cookies.md": DOCS, "tests/test_cookies.py": TEST}
    return _engine(embedder, {tmp_path / "shop": files})


def test_code_ranks_above_docs_and_tests_that_use_the_same_words(shop: Engine) -> None:
    for alpha in (0.0, DEFAULT_ALPHA):
        assert _paths(shop, "set a cookie on the response", alpha)[0] == "shop/cookies.py"
    shop.close()


def test_a_query_about_docs_or_tests_ranks_them_as_they_match(shop: Engine) -> None:
    assert _paths(shop, "docs: set a cookie on the response", 0.0)[0] == "docs/cookies.md"
    assert _paths(shop, "test that sets a cookie on the response", 0.0)[0] == (
        "tests/test_cookies.py"
    )
    shop.close()


def test_the_score_shown_is_the_one_ranked_by_and_its_parts_add_up(shop: Engine) -> None:
    results = shop.search("set a cookie on the response").results(DEFAULT_ALPHA, 10)
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    for r in results:
        assert r.lexical_part + r.semantic_part == pytest.approx(r.score)
    shop.close()


def _row(rel_path: str, text: str = "", symbol: str | None = None, lang: str = "rust") -> ChunkRow:
    return ChunkRow(
        path=rel_path, language=lang, start_line=1, end_line=2, symbol=symbol, kind="function",
        text=text, id=1, file_id=1, root_id=1, root_path=Path("/p"),
    )  # fmt: skip


@pytest.mark.parametrize(
    "row",
    [
        _row("tests/walk.rs"),
        _row("crates/ignore/tests/gitignore_matched_path.rs"),
        _row("test/app.use.js", lang="javascript"),
        _row("src/__tests__/parse.ts", lang="typescript"),
        _row("tests/test_basic.py", lang="python"),
        _row("src/parser_test.go", lang="go"),
        _row("lib/router.spec.js", lang="javascript"),
        _row("examples/mvc/index.js", lang="javascript"),
        _row("benches/bench.rs"),
        _row("src/walk.rs", "#[test]\nfn symlink_loop() {\n}", "symlink_loop"),
        _row("src/walk.rs", "#[cfg(unix)]\n#[tokio::test]\nasync fn reads() {}", "reads"),
        _row("src/shop.py", "def test_totals():\n    pass", "test_totals", "python"),
        _row("src/shop_check.py", "class TestCart:\n    pass", "TestCart", "python"),
    ],
)
def test_tests_examples_and_benchmarks_are_supporting_code(row: ChunkRow) -> None:
    assert is_supporting_code(row)


@pytest.mark.parametrize(
    "row",
    [
        _row("src/walk.rs", "/// Walks a tree.\nfn walk() {}", "walk"),
        _row("src/flask/testing.py", "class FlaskClient:\n    pass", "FlaskClient", "python"),
        _row("lib/contest.js", "function contest() {}", "contest", "javascript"),
        _row("src/attest.py", "def attest(x):\n    pass", "attest", "python"),
        _row("src/latest_version.py", "def latest():\n    pass", "latest", "python"),
    ],
)
def test_the_projects_own_code_is_not_supporting_code(row: ChunkRow) -> None:
    assert not is_supporting_code(row)


def test_a_lookup_of_a_test_name_asks_for_tests() -> None:
    assert Priors.for_query("test_set_cookie").support == 1.0
    assert Priors.for_query("set_cookie").support < 1.0
    assert Priors.for_query("where is the changelog of cookies").prose == 1.0


LONG_FUNCTION = (
    "def build_report(rows):\n"
    '    """Totals per customer."""\n'
    + "".join(f"    total_{i} = sum(r[{i}] for r in rows)\n" for i in range(70))
    + "    # finally round every amount to whole cents before printing the invoice\n"
    + "    return round_to_cents(total_0)\n"
)


def test_a_long_function_is_one_result_opened_at_its_signature(
    tmp_path: Path, embedder: Embedder
) -> None:
    engine = _engine(embedder, {tmp_path / "acct": {"report.py": LONG_FUNCTION}})
    session = engine.search("round every amount to whole cents")
    assert len(session.rows) >= 2  # the function was cut into windows
    for alpha in (0.0, DEFAULT_ALPHA):
        results = session.results(alpha, 10)
        windows = [r for r in results if r.symbol == "build_report"]
        assert len(windows) == 1
        assert results[0] is windows[0]
    # With both sides' candidates, the window holding `def build_report` is among them.
    assert session.results(DEFAULT_ALPHA, 10)[0].start_line == 1
    engine.close()


SHOP = {"orders.py": 'def save_order(order):\n    """Save the order to the database."""\n'}
BLOG = {"posts.py": 'def save_post(post):\n    """Save the post to the database."""\n'}


def test_naming_a_folder_searches_only_it_and_its_name_is_not_searched(
    tmp_path: Path, embedder: Embedder
) -> None:
    engine = _engine(embedder, {tmp_path / "shop": SHOP, tmp_path / "blog": BLOG})
    both = engine.search("save it to the database").results(DEFAULT_ALPHA, 10)
    assert {r.root.name for r in both} == {"blog", "shop"}
    for folder in ("blog", "shop"):
        for query in (f"save it to the database in {folder}", f"{folder}: save it to the database"):
            session = engine.search(query)
            assert session.searched == "save it to the database"
            assert session.scope_note == f"Searched only in {folder}: the query names it."
            assert session.notes == [session.scope_note]
            assert {r.root.name for r in session.results(DEFAULT_ALPHA, 10)} == {folder}
    engine.close()


def test_a_folder_name_searched_for_itself_is_not_a_scope() -> None:
    folders = [(1, "flask"), (2, "server")]
    for query in ("flask", "flask app", "start the local development server", "in server"):
        scope = read_scope(query, folders)
        assert not scope.root_ids and scope.text == query
    assert read_scope("sign the cookie in flask", folders).text == "sign the cookie"
    assert read_scope("sign the cookie in flask", folders).root_ids == (1,)
    assert read_scope("Flask: sign the cookie", folders).text == "sign the cookie"


def test_a_folder_picked_in_the_panel_is_not_widened_by_the_query(
    tmp_path: Path, embedder: Embedder
) -> None:
    engine = _engine(embedder, {tmp_path / "shop": SHOP, tmp_path / "blog": BLOG})
    shop_id = next(r.id for r in engine.roots() if r.path.name == "shop")
    session = engine.search("save the order in blog", SearchFilters(root_ids=(shop_id,)))
    assert session.searched == "save the order in blog"
    assert session.scope_note is None
    assert {r.root.name for r in session.results(DEFAULT_ALPHA, 10)} == {"shop"}
    engine.close()


def test_a_language_named_is_a_scope_and_stays_in_the_text() -> None:
    scope = read_scope("read the configuration from a python file", [])
    assert scope.languages == ("python",)
    assert scope.text == "read the configuration from a python file"
    assert read_scope("walk a directory in go", []).languages == ("go",)
    assert read_scope("go to the next page", []).languages == ()
    assert read_scope("parse the flags in rust", []).languages == ("rust",)


def test_a_named_language_ranks_first(tmp_path: Path, embedder: Embedder) -> None:
    files = {
        "retry.py": 'def retry(call, times):\n    """Call again when it fails."""\n',
        "retry.js": "function retry(call, times) {\n  // retry a failed call a few times\n}\n",
    }
    for i, topic in enumerate(("parse a date", "sort the rows", "open a socket", "hash a file")):
        files[f"other{i}.py"] = f'def other{i}():\n    """{topic.capitalize()}."""\n'
    engine = _engine(embedder, {tmp_path / "mixed": files})
    assert engine.search("retry a failed call a few times in python").scope_note is None
    for alpha in (0.0, DEFAULT_ALPHA):
        assert _paths(engine, "retry a failed call a few times", alpha)[0] == "retry.js"
        assert _paths(engine, "retry a failed call a few times in python", alpha)[0] == "retry.py"
    engine.close()
