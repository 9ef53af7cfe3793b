"""The engine end to end: real files, tantivy on disk, hnswlib files, the real model."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.errors import IndexLockedError, RootNotFoundError
from codanna_desktop.core.files.filters import SearchFilters
from codanna_desktop.core.indexing.embedding_cache import EmbeddingCache
from codanna_desktop.core.ranking.lexical_query import build_query
from codanna_desktop.core.semantic.embedder import Embedder
from codanna_desktop.core.settings import AppPaths, Settings
from codanna_desktop.core.watching.changes import ChangeSet

FILES = {
    "net/http_client.py": '''
        import socket

        HTTP_TIMEOUT = 30


        class HttpClient:
            """A tiny HTTP client."""

            def readFileContents(self, path):
                with open(path) as fh:
                    return fh.read()

            def retry_failed_upload(self, upload, attempts=3):
                """Send the upload again when the server refused it."""
                for _ in range(attempts):
                    if upload.send():
                        return True
                return False
        ''',
    "math/sorting.py": '''
        def bubble_sort(items):
            """Order a list of numbers from small to large."""
            items = list(items)
            for i in range(len(items)):
                for j in range(len(items) - 1 - i):
                    if items[j] > items[j + 1]:
                        items[j], items[j + 1] = items[j + 1], items[j]
            return items


        def read_file_size(path):
            import os
            return os.path.getsize(path)
        ''',
    "web/app.js": """
        // Compute the sum of the prices in a shopping cart.
        function cartTotal(cart) {
          return cart.items.reduce((acc, item) => acc + item.price * item.qty, 0);
        }

        function readFileContents(name) {
          return fetch(name).then((r) => r.text());
        }
        """,
    "docs/README.md": """
        # Project

        Some words about the project and how to upload files.
        """,
}


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write_tree(root, FILES)
    return root


@pytest.fixture
def engine(embedder: Embedder, project: Path) -> Iterator[Engine]:
    eng = Engine(embedder=embedder)
    eng.add_root(project)
    eng.index()
    yield eng
    eng.close()


def paths_of(results) -> list[str]:
    return [r.path for r in results]


def test_exact_identifier_is_found_lexically(engine: Engine) -> None:
    results = engine.search("readFileContents").results(alpha=0.0, k=5)
    assert results[0].symbol in ("HttpClient.readFileContents", "readFileContents")
    assert {r.path for r in results[:2]} == {"net/http_client.py", "web/app.js"}
    assert results[0].lexical_score is not None


def test_snake_case_query_matches_camel_case_identifier(engine: Engine) -> None:
    results = engine.search("read_file_contents").results(alpha=0.0, k=5)
    assert "readFileContents" in (results[0].symbol or "")


def test_natural_language_query_finds_function_sharing_no_word(engine: Engine) -> None:
    # No word of the query appears in bubble_sort's text.
    session = engine.search("arrange values in ascending order")
    top = session.results(alpha=1.0, k=3)
    assert top[0].symbol == "bubble_sort"
    assert session.semantic_available


def test_changing_alpha_reorders_results_as_scores_say(engine: Engine) -> None:
    session = engine.search("read file contents")
    for alpha in (0.0, 0.3, 0.7, 1.0):
        results = session.results(alpha, k=10)
        scores = [r.score for r in results]
        assert scores == sorted(scores, reverse=True)
        for r in results:
            assert r.score == pytest.approx(r.lexical_part + r.semantic_part)
    lexical_first = session.results(0.0, k=10)[0]
    semantic_first = session.results(1.0, k=10)[0]
    assert lexical_first.lexical_part == max(r.lexical_part for r in session.results(0.0, 50))
    assert semantic_first.semantic_part == max(r.semantic_part for r in session.results(1.0, 50))


def test_every_semantic_candidate_has_its_real_lexical_score(engine: Engine) -> None:
    # Two candidates a side: most semantic candidates are outside the lexical top two.
    engine.searcher.candidates_per_side = 2
    session = engine.search("read the contents of a file")
    words = build_query("read the contents of a file")
    everything = {h.chunk_id: h.score for h in engine.lexical.search(words, 1000)}
    top_two = {i for i, _ in engine.lexical.search(words, 2)}
    lexical = dict(session.lexical)
    outside = [i for i, _ in session.semantic if i not in top_two and i in everything]
    assert outside, "no semantic candidate outside the lexical top shares a word"
    for chunk_id, _ in session.semantic:
        if chunk_id in everything:
            assert lexical[chunk_id] == pytest.approx(everything[chunk_id])
        else:
            assert chunk_id not in lexical
    shown = {r.chunk_id: r for r in session.results(0.5, 10)}
    for chunk_id in outside:
        if chunk_id in shown:
            assert shown[chunk_id].lexical_score == pytest.approx(everything[chunk_id])
            assert shown[chunk_id].lexical_part > 0


def test_refusing_for_new_alpha_does_not_query_again(engine: Engine, embedder: Embedder) -> None:
    session = engine.search("upload again")
    before = embedder.documents_embedded
    calls: list[object] = []
    original = engine.lexical.search

    def counting_search(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    engine.lexical.search = counting_search  # type: ignore[method-assign]
    try:
        for alpha in (0.0, 0.25, 0.5, 0.75, 1.0):
            session.results(alpha, k=5)
    finally:
        engine.lexical.search = original  # type: ignore[method-assign]
    assert calls == []
    assert embedder.documents_embedded == before


def test_filtered_search_returns_k_results(embedder: Embedder, tmp_path: Path) -> None:
    root = tmp_path / "many"
    files = {f"pkg/mod{i}.py": f"def helper_{i}(x):\n    return x + {i}\n" for i in range(30)}
    files.update(
        {f"lib/mod{i}.js": f"function helper{i}(x) {{ return x + {i}; }}\n" for i in range(30)}
    )
    write_tree(root, files)
    with Engine(embedder=embedder) as eng:
        eng.add_root(root)
        eng.index()
        for filters in (
            SearchFilters(languages=("javascript",)),
            SearchFilters(path_glob="lib/**"),
            SearchFilters(path_glob="*.js"),
        ):
            session = eng.search("helper", filters)
            for alpha in (0.0, 0.5, 1.0):
                results = session.results(alpha, k=10)
                assert len(results) == 10
                assert all(r.path.endswith(".js") for r in results)


def test_renamed_file_is_not_re_embedded(engine: Engine, embedder: Embedder, project: Path) -> None:
    before = embedder.documents_embedded
    (project / "math/sorting.py").rename(project / "math/ordering.py")
    report = engine.index()
    assert report.files_deleted == 1 and report.files_indexed == 1
    assert embedder.documents_embedded == before
    assert report.chunks_from_cache > 0
    assert engine.search("bubble_sort").results(0.5, 1)[0].path == "math/ordering.py"


def test_reindex_of_unchanged_tree_embeds_nothing(engine: Engine, embedder: Embedder) -> None:
    before = embedder.documents_embedded
    ids = engine.catalog.all_chunk_ids()
    report = engine.index(full=True)
    assert embedder.documents_embedded == before
    assert report.chunks_embedded == 0
    # Every chunk kept its row, so no vector was even taken from the cache and re-stored.
    assert report.chunks_from_cache == 0
    assert engine.catalog.all_chunk_ids() == ids
    assert engine.search("bubble_sort").results(1.0, 1)[0].symbol == "bubble_sort"


def test_edited_function_alone_is_re_embedded(
    engine: Engine, embedder: Embedder, project: Path
) -> None:
    path = project / "math/sorting.py"
    file_id = engine.catalog.files_of_root(engine.roots()[0].id)["math/sorting.py"].id
    ids_before = set(engine.catalog.chunk_ids_of_files([file_id]))
    path.write_text(path.read_text().replace("os.path.getsize(path)", "os.stat(path).st_size"))
    before = embedder.documents_embedded
    report = engine.index()
    assert embedder.documents_embedded - before == 1
    # The untouched functions keep their rows and vectors; only the edited one is new.
    ids_after = set(engine.catalog.chunk_ids_of_files([file_id]))
    assert len(ids_after - ids_before) == 1 and len(ids_before - ids_after) == 1
    assert report.chunks_from_cache == 0
    store = engine.semantic.store()
    assert store is not None and store.ids() >= ids_after


def test_deleted_file_leaves_no_result(engine: Engine, project: Path) -> None:
    (project / "web/app.js").unlink()
    engine.index()
    for alpha in (0.0, 0.5, 1.0):
        assert all(r.path != "web/app.js" for r in engine.search("cartTotal").results(alpha, 20))


def test_change_set_updates_only_what_changed(
    engine: Engine, project: Path, embedder: Embedder
) -> None:
    new = project / "net/extra.py"
    new.write_text("def compute_checksum(data):\n    return sum(data) % 255\n")
    (project / "docs/README.md").unlink()
    report = engine.apply_changes(
        ChangeSet(created={new}, modified=set(), deleted={project / "docs/README.md"})
    )
    assert report.files_indexed == 1 and report.files_deleted == 1
    engine.embed_pending()
    assert engine.search("compute_checksum").results(0.0, 1)[0].path == "net/extra.py"
    assert all(r.path != "docs/README.md" for r in engine.search("upload files").results(0.0, 20))


def test_crash_between_store_and_catalog_writes_is_repaired(
    embedder: Embedder, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = Engine(embedder=embedder)
    eng.add_root(project)
    eng.index()
    path = project / "math/sorting.py"
    path.write_text(path.read_text().replace("bubble_sort", "shaker_sort"))

    def crash() -> None:
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(eng.indexer, "_after_stores_written", crash)
    with pytest.raises(RuntimeError):
        eng.index()
    # The process dies here: no close(), the writer lock goes with it.
    eng._release_lock()
    eng.lexical.close()
    eng.content.close()
    eng.catalog.close()

    with Engine(embedder=embedder) as again:
        for alpha in (0.0, 1.0):
            # No result points at a chunk the catalog does not know.
            for r in again.search("sort numbers bubble_sort shaker_sort").results(alpha, 20):
                assert (project / r.path).exists()
        again.index()
        top = again.search("shaker_sort").results(0.0, 1)
        assert top[0].symbol == "shaker_sort" and top[0].path == "math/sorting.py"
        assert not again.search("bubble_sort").results(0.0, 5) or all(
            r.symbol != "bubble_sort" for r in again.search("bubble_sort").results(0.0, 5)
        )
        status = again.status()
        assert status.embedded == status.chunks


def test_bad_input_is_indexed_around_and_reported(embedder: Embedder, tmp_path: Path) -> None:
    root = tmp_path / "messy"
    write_tree(root, {"good.py": "def fine():\n    return 1\n"})
    (root / "blob.bin").write_bytes(b"\x00\x01\x02binary" * 100)
    (root / "big.txt").write_text("x = 1\n" * 300_000)
    (root / "latin1.py").write_bytes(b"def caf\xe9():\n    return 'na\xefve'\n")
    (root / "bom.py").write_bytes("\ufeffdef with_bom():\n    pass\n".encode())
    (root / "app.min.js").write_text("var a=1;" * 2000)
    (root / "loop").symlink_to(root)
    os.mkfifo(root / "pipe")
    (root / "node_modules").mkdir()
    (root / "node_modules/dep.js").write_text("function dependency() {}\n")
    with Engine(embedder=embedder) as eng:
        eng.add_root(root)
        report = eng.index()
        assert report.skipped["binary"] == 1
        assert report.skipped["too large"] == 1
        assert report.skipped["minified"] == 1
        status = eng.status()
        assert status.skip_counts.get("binary") == 1
        assert eng.search("fine").results(0.0, 1)[0].path == "good.py"
        assert eng.search("with_bom").results(0.0, 1)[0].path == "bom.py"
        assert eng.search("caf").results(0.0, 5)
        assert not eng.search("dependency").results(0.0, 5)


def test_vanished_root_is_reported_not_fatal(
    embedder: Embedder, tmp_path: Path, project: Path
) -> None:
    other = tmp_path / "other"
    write_tree(other, {"a.py": "def alpha_function():\n    pass\n"})
    with Engine(embedder=embedder) as eng:
        eng.add_root(project)
        eng.add_root(other)
        other.joinpath("a.py").unlink()
        other.rmdir()
        report = eng.index()
        assert any("missing" in e for e in report.errors)
        assert eng.search("bubble_sort").results(0.0, 1)


def test_adding_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with Engine(embedder=None) as eng, pytest.raises(RootNotFoundError, match="not a folder"):
        eng.add_root(tmp_path / "nope")


def test_second_writer_is_refused_while_reader_searches(engine: Engine) -> None:
    with pytest.raises(IndexLockedError, match="process"):
        Engine(writer=True)
    with Engine(writer=False, embedder=None) as reader:
        assert reader.search("bubble_sort").results(0.0, 1)[0].symbol == "bubble_sort"


def test_search_works_lexically_without_a_model(project: Path) -> None:
    paths = AppPaths.default()
    settings = Settings(model="no-such/model-anywhere")
    with Engine(paths, settings) as eng:
        eng.add_root(project)
        eng.index()
        session = eng.search("bubble_sort")
        assert not session.semantic_available
        assert any("Lexical results only" in n for n in session.notes)
        assert session.results(1.0, 1)[0].symbol == "bubble_sort"


def test_new_file_rules_apply_without_a_new_engine(tmp_path: Path) -> None:
    root = tmp_path / "rules"
    (root / "generated").mkdir(parents=True)
    (root / "app.py").write_text("def handle_request():\n    pass\n")
    (root / "generated" / "api.py").write_text("def generated_client():\n    pass\n")
    (root / "big.py").write_text("def rather_large_module():\n    pass\n" + "# pad\n" * 400)

    def indexed() -> set[str]:
        return {f.rel_path for f in eng.catalog.files_in_state("indexed")}

    with Engine(embedder=None) as eng:
        eng.add_root(root)
        eng.index(embed=False)
        assert indexed() == {"app.py", "generated/api.py", "big.py"}
        stricter = Settings(ignore_patterns=["generated/"], max_file_size=1024)
        assert eng.apply_file_rules(stricter)
        eng.index(embed=False)
        assert indexed() == {"app.py"}
        assert not eng.search("generated_client").results(0.0, 5)
        # What the watcher asks (service.py hands it the scanner).
        assert eng.scanner.rules_for(root).is_ignored(root / "generated" / "new.py", False)
        assert not eng.apply_file_rules(stricter)  # the same rules again change nothing
        assert eng.apply_file_rules(Settings())
        eng.index(embed=False)
        assert indexed() == {"app.py", "generated/api.py", "big.py"}
        assert eng.search("generated_client").results(0.0, 1)[0].symbol == "generated_client"


def test_core_never_imports_qt() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import codanna_desktop.core as core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'codanna_desktop.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'codanna_desktop.app'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_file_grown_too_large_is_indexed_once_the_limit_is_raised(tmp_path: Path) -> None:
    """Skipped for the size limit, whether the watcher or a scan saw it: raising the limit
    brings the file back without it having to change again."""
    root = tmp_path / "grown"
    root.mkdir()
    (root / "small.py").write_text("def small_helper():\n    pass\n")
    grown = root / "grown.py"
    grown.write_text("def grown_module():\n    pass\n")
    with Engine(settings=Settings(max_file_size=1024), embedder=None) as eng:
        eng.add_root(root)
        eng.index(embed=False)
        grown.write_text("def grown_module():\n    pass\n" + "# pad\n" * 400)
        # What the watcher hands over after the edit:
        report = eng.apply_changes(ChangeSet(modified={grown}))
        assert report.skipped["too large"] == 1
        assert not eng.search("grown_module").results(0.0, 5)
        assert eng.apply_file_rules(Settings(max_file_size=1024 * 1024))
        eng.index(embed=False)
        assert eng.search("grown_module").results(0.0, 1)[0].path == "grown.py"


def test_a_link_out_of_a_folder_is_not_indexed_by_a_scan_nor_by_the_watcher(
    tmp_path: Path,
) -> None:
    root = tmp_path / "linked"
    write_tree(root, {"own.py": "def own_function():\n    pass\n"})
    outside = tmp_path / "elsewhere"
    write_tree(outside, {"passwd": "root_account_line = 1\n", "later.py": "later_secret = 2\n"})
    (root / "passwd").symlink_to(outside / "passwd")
    with Engine(embedder=None) as eng:
        eng.add_root(root)
        eng.index(embed=False)
        assert not eng.search("root_account_line").results(0.0, 5)
        assert eng.status().skip_counts == {"link outside the folder": 1}
        # A link made while the app runs, as the watcher hands it over:
        (root / "later.py").symlink_to(outside / "later.py")
        report = eng.apply_changes(ChangeSet(created={root / "later.py"}))
        assert report.skipped["link outside the folder"] == 1
        assert not eng.search("later_secret").results(0.0, 5)
        skipped = {rel: (reason, detail) for _, rel, reason, detail in eng.catalog.skipped_files()}
        assert skipped["later.py"][0] == "link outside the folder"
        assert str(outside / "later.py") in skipped["later.py"][1]
        # Allowed in the settings: both come in without having to change.
        assert eng.apply_file_rules(Settings(follow_links_outside=True))
        eng.index(embed=False)
        assert eng.search("root_account_line").results(0.0, 1)[0].path == "passwd"
        assert eng.search("later_secret").results(0.0, 1)[0].path == "later.py"


def test_the_folder_the_person_works_in_is_embedded_first(
    tmp_path: Path, embedder: Embedder
) -> None:
    roots = []
    for name in ("big", "mine"):
        root = tmp_path / name
        root.mkdir()
        for i in range(70):  # more than one embedding step (64 chunks)
            (root / f"m{i}.py").write_text(f"def {name}_function_{i}():\n    return {i}\n")
        roots.append(root)
    with Engine(embedder=embedder) as engine:
        rows = [engine.add_root(r) for r in roots]
        engine.index(embed=False)
        mine = rows[1].id
        engine.focus_embedding([mine])
        engine.embed_pending(max_chunks=1)  # one step
        by_root = {r.root.path.name: r.embedded for r in engine.status().roots}
        assert by_root["big"] == 0 and by_root["mine"] > 0


def test_a_damaged_cached_vector_is_embedded_again_not_spread(
    tmp_path: Path, embedder: Embedder
) -> None:
    import sqlite3

    import numpy as np

    root = tmp_path / "p"
    root.mkdir()
    (root / "a.py").write_text("def send_invoice(customer):\n    return customer.mail()\n")
    with Engine(embedder=embedder) as engine:
        engine.add_root(root)
        engine.index()
        text_hash, text = engine.catalog._query("SELECT text_hash, text FROM chunks LIMIT 1")[0]
        cache = EmbeddingCache(engine.catalog, embedder)  # each model's vector, fused
        with sqlite3.connect(engine.catalog.path) as db:  # a page zeroed under the rows
            db.execute(
                "UPDATE embeddings SET vector = zeroblob(length(vector)) WHERE text_hash = ?",
                (text_hash,),
            )
        assert cache.ready([text_hash]) == {}
        engine.catalog.reset_all_vectors()
        engine.embed_pending()
        healed = cache.ready([text_hash])[text_hash]
        assert float(np.dot(healed, embedder.embed_documents([text])[0])) > 0.999


def _zeroed(blob: bytes) -> bytes:
    return bytes(len(blob))


def _sign_flipped(blob: bytes) -> bytes:
    """The sign bit of the first float flipped: the vector stays unit length."""
    return blob[:3] + bytes([blob[3] ^ 0x80]) + blob[4:]


@pytest.mark.parametrize("damage", [_zeroed, _sign_flipped], ids=["zeroed", "sign flipped"])
def test_a_writers_first_index_finds_damaged_cached_vectors_and_embeds_them_again(
    tmp_path: Path,
    embedder: Embedder,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[bytes], bytes],
) -> None:
    """A damaged cached vector of a chunk already stored is read by nothing an index run
    does; the first run of each writer looks for such damage, so the cache is whole again
    before the vector store is ever rebuilt from it. A flipped sign keeps the vector unit
    length: only its checksum tells (the fault campaign's one wrong vector, BENCHMARKS.md
    section 10)."""
    import sqlite3

    import numpy as np

    root = tmp_path / "p"
    write_tree(
        root,
        {
            "a.py": "def send_invoice(customer):\n    return customer.mail()\n",
            "b.py": "def parse_date(text):\n    return text.split('-')\n",
        },
    )
    with Engine(embedder=embedder) as engine:
        engine.add_root(root)
        engine.index()
        (text_hash, text), *_ = engine.catalog._query(
            "SELECT text_hash, text FROM chunks WHERE text LIKE '%send_invoice%'"
        )
    with sqlite3.connect(engine.catalog.path) as db:  # one model's bytes garbled in place
        where = " WHERE text_hash = ? AND model_id = (SELECT MIN(model_id) FROM embeddings)"
        ((blob,),) = db.execute("SELECT vector FROM embeddings" + where, (text_hash,))
        db.execute("UPDATE embeddings SET vector = ?" + where, (damage(blob), text_hash))
    with Engine(embedder=embedder) as engine, caplog.at_level("WARNING"):
        report = engine.index()
        healed = EmbeddingCache(engine.catalog, embedder).ready([text_hash])[text_hash]
        assert engine.catalog.drop_damaged_cached_vectors() == []
        status = engine.status()
    assert float(np.dot(healed, embedder.embed_documents([text])[0])) > 0.999
    assert report.chunks_embedded == 1  # the other chunk was not embedded again
    assert status.embedded == status.chunks == 2
    assert "The cached vectors of 1 text were damaged on disk" in caplog.text


def test_the_coverage_note_stays_true_as_the_index_changes(
    tmp_path: Path, embedder: Embedder
) -> None:
    """The note's counts are kept between searches (counting reads every chunk row), so
    each change of the index, by this engine or by a writer beside a reader, must show."""
    first, second = tmp_path / "first", tmp_path / "second"
    write_tree(first, {f"m{i}.py": f"def first_{i}():\n    return {i}\n" for i in range(3)})
    write_tree(second, {f"n{i}.py": f"def second_{i}():\n    return {i}\n" for i in range(2)})
    query = "a function that returns a number"

    def notes(*engines: Engine) -> list[str | None]:
        return [e.search(query).coverage_note for e in engines]

    def covers(engine: Engine) -> str:
        counts = engine.catalog.counts()
        assert 0 < counts["embedded"] < counts["chunks"]
        return f"covers {counts['embedded']:,} of {counts['chunks']:,} chunks"

    with Engine(embedder=embedder) as writer:
        writer.add_root(first)
        writer.index()
        with Engine(writer=False, embedder=embedder) as reader:
            assert notes(writer, reader) == [None, None]
            writer.add_root(second)
            writer.index(embed=False)
            said = covers(writer)
            assert all(said in (note or "") for note in notes(writer, reader))
            (first / "later.py").write_text("def later():\n    return 9\n")
            writer.index(embed=False)
            assert covers(writer) != said
            said = covers(writer)
            assert all(said in (note or "") for note in notes(writer, reader))
            writer.embed_pending()
            assert notes(writer, reader) == [None, None]
