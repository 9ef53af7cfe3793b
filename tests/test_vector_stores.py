"""Both vector stores against the real thing: hnswlib files in tmp_path and a real
PostgreSQL + pgvector server (tests/fixtures_pg.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector
from psycopg import sql

from codanna_desktop.core.errors import IndexLockedError, VectorStoreUnavailableError
from codanna_desktop.core.files.filters import glob_to_regex
from codanna_desktop.core.storage.vectors import hnsw as hnsw_store
from codanna_desktop.core.storage.vectors import pgvector as pgvector_store
from codanna_desktop.core.storage.vectors.hnsw import HnswStore
from codanna_desktop.core.storage.vectors.pgvector import PgVectorStore, table_name
from codanna_desktop.core.storage.vectors.store import VectorFilter, VectorMeta, VectorStore
from tests.fixtures_pg import PgTestServer
from tests.test_filters import CLASS_PATHS, CLASSES

OpenStore = Callable[..., VectorStore]


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def metas(ids: list[int], roots: int = 20) -> list[VectorMeta]:
    return [VectorMeta(f"root-{i % roots}", f"src/pkg{i % 7}/file{i}.py", "python") for i in ids]


def exact_top(vectors: np.ndarray, ids: list[int], query: np.ndarray, k: int) -> list[int]:
    order = np.argsort(-(vectors @ query), kind="stable")[:k]
    return [ids[i] for i in order]


def result_ids(results: list[tuple[int, float]]) -> list[int]:
    return [cid for cid, _ in results]


def force_hnsw_plans(url: str) -> None:
    """Make PostgreSQL walk the HNSW index even for a table small enough to scan whole, so
    the tests exercise the graph (and its iterative scan), not an exact sort."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT current_database()").fetchone()
        assert row is not None
        for setting in ("enable_seqscan", "enable_sort", "enable_bitmapscan"):
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET {} = off").format(
                    sql.Identifier(row[0]), sql.Identifier(setting)
                )
            )


@pytest.fixture(params=["hnsw", "pgvector"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens the store under test; the pgvector variant gets a fresh database."""
    opened: list[VectorStore] = []
    url = request.getfixturevalue("pg_url") if request.param == "pgvector" else ""

    def open_(dim: int, **options: Any) -> VectorStore:
        store: VectorStore
        if request.param == "hnsw":
            store = HnswStore(tmp_path / "vectors.hnsw", dim, **options)
        else:
            store = PgVectorStore(url, "test-model", dim, "catalog-a", **options)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


# --- behaviour both stores share ----------------------------------------------------------


def test_search_returns_the_nearest_vectors_best_first(open_store: OpenStore) -> None:
    store = open_store(32)
    ids = list(range(1, 201))
    vectors = unit_vectors(200, 32, seed=1)
    store.upsert(ids, vectors, metas(ids))

    results = store.search(vectors[16], 5)

    assert result_ids(results) == exact_top(vectors, ids, vectors[16], 5)
    assert results[0][0] == 17
    assert results[0][1] == pytest.approx(1.0, abs=1e-4)
    scores = [score for _, score in results]
    assert scores == sorted(scores, reverse=True)


def test_upserting_an_existing_id_replaces_its_vector(open_store: OpenStore) -> None:
    store = open_store(16)
    ids = list(range(1, 51))
    vectors = unit_vectors(50, 16, seed=2)
    store.upsert(ids, vectors, metas(ids))
    replacement = unit_vectors(1, 16, seed=99)

    store.upsert([5], replacement, metas([5]))

    assert store.count() == 50
    assert store.search(replacement[0], 1)[0] == (5, pytest.approx(1.0, abs=1e-4))
    assert 5 not in result_ids(store.search(vectors[4], 3))


def test_deleted_ids_are_gone_and_unknown_ids_are_ignored(open_store: OpenStore) -> None:
    store = open_store(16)
    ids = list(range(1, 51))
    vectors = unit_vectors(50, 16, seed=3)
    store.upsert(ids, vectors, metas(ids))

    store.delete([3, 4, 123456])

    assert store.count() == 48
    assert store.ids() == set(ids) - {3, 4}
    assert not {3, 4} & set(result_ids(store.search(vectors[2], 10)))


def test_a_deleted_id_can_be_added_again_with_a_new_vector(open_store: OpenStore) -> None:
    store = open_store(16)
    ids = list(range(1, 31))
    store.upsert(ids, unit_vectors(30, 16, seed=4), metas(ids))
    store.delete([7])
    fresh = unit_vectors(1, 16, seed=77)

    store.upsert([7], fresh, metas([7]))

    assert store.count() == 30
    assert store.search(fresh[0], 1)[0] == (7, pytest.approx(1.0, abs=1e-4))


def test_ids_and_count_follow_upserts_and_deletes(open_store: OpenStore) -> None:
    store = open_store(8)
    assert store.count() == 0
    assert store.ids() == set()
    store.upsert([10, 20, 30], unit_vectors(3, 8, seed=5), metas([10, 20, 30]))
    store.upsert([30, 40], unit_vectors(2, 8, seed=6), metas([30, 40]))
    store.delete([10])
    assert store.ids() == {20, 30, 40}
    assert store.count() == 3


def test_search_on_an_empty_store_or_beyond_its_size(open_store: OpenStore) -> None:
    store = open_store(8)
    query = unit_vectors(1, 8, seed=7)[0]
    assert store.search(query, 10) == []
    store.upsert([1, 2, 3], unit_vectors(3, 8, seed=8), metas([1, 2, 3]))
    assert sorted(result_ids(store.search(query, 10))) == [1, 2, 3]
    assert store.search(query, 0) == []


def test_filtered_search_returns_k_when_most_items_are_filtered_out(
    open_store: OpenStore,
) -> None:
    store = open_store(32)
    ids = list(range(1, 2001))
    vectors = unit_vectors(2000, 32, seed=9)
    meta = metas(ids)
    store.upsert(ids, vectors, meta)
    wanted = [i for i, m in zip(ids, meta, strict=True) if m.root_key == "root-3"]  # 5%
    flt = VectorFilter(root_keys=["root-3"], allowed_ids=frozenset(wanted))
    rows = [ids.index(i) for i in wanted]

    for query in unit_vectors(5, 32, seed=10):
        results = store.search(query, 10, flt)
        assert result_ids(results) == exact_top(vectors[rows], wanted, query, 10)


def test_persisted_changes_survive_close_and_reopen(open_store: OpenStore) -> None:
    store = open_store(16)
    ids = list(range(1, 101))
    vectors = unit_vectors(100, 16, seed=11)
    store.upsert(ids, vectors, metas(ids))
    store.delete([1, 2])
    store.flush()
    before = [store.search(q, 5) for q in vectors[:10]]
    store.close()

    again = open_store(16)

    assert again.ids() == set(ids) - {1, 2}
    assert [again.search(q, 5) for q in vectors[:10]] == [
        [(cid, pytest.approx(score, abs=1e-5)) for cid, score in r] for r in before
    ]


# --- hnswlib ------------------------------------------------------------------------------


def test_hnsw_grows_beyond_its_initial_capacity(tmp_path: Path) -> None:
    store = HnswStore(tmp_path / "v.hnsw", 8, initial_capacity=16)
    ids = list(range(1, 101))
    vectors = unit_vectors(100, 8, seed=12)
    for start in range(0, 100, 10):
        store.upsert(ids[start : start + 10], vectors[start : start + 10], metas(ids[start:]))
    store.flush()

    assert store.capacity >= 100
    reopened = HnswStore(tmp_path / "v.hnsw", 8, initial_capacity=16)
    assert reopened.count() == 100
    assert reopened.search(vectors[99], 1)[0][0] == 100


def test_hnsw_inserts_reuse_deleted_slots_so_the_file_stops_growing(tmp_path: Path) -> None:
    path = tmp_path / "v.hnsw"
    store = HnswStore(path, 16, initial_capacity=300)
    ids = list(range(1, 301))
    store.upsert(ids, unit_vectors(300, 16, seed=13), metas(ids))
    store.flush()
    first_size = path.stat().st_size

    for round_ in range(5):
        store.delete(ids[:100])
        ids = ids[100:] + [ids[-1] + 1 + i for i in range(100)]
        store.upsert(ids[-100:], unit_vectors(100, 16, seed=100 + round_), metas(ids[-100:]))
        store.flush()

    assert store.capacity == 300
    assert store.deleted_count == 0
    assert store.ids() == set(ids)
    assert path.stat().st_size <= first_size * 1.05  # level links vary a little per element


def test_hnsw_flush_compacts_an_index_with_many_deleted_slots(tmp_path: Path) -> None:
    path = tmp_path / "v.hnsw"
    store = HnswStore(path, 8)
    ids = list(range(1, 3001))
    vectors = unit_vectors(3000, 8, seed=14)
    store.upsert(ids, vectors, metas(ids))
    store.flush()
    full_size = path.stat().st_size
    store.delete(ids[:1500])

    store.flush()

    assert store.deleted_count == 0
    assert path.stat().st_size < full_size * 0.6
    reopened = HnswStore(path, 8)
    assert reopened.ids() == set(ids[1500:])
    assert reopened.search(vectors[2999], 1)[0][0] == 3000


def test_hnsw_explicit_compact_drops_deleted_slots(tmp_path: Path) -> None:
    store = HnswStore(tmp_path / "v.hnsw", 8)
    ids = list(range(1, 101))
    vectors = unit_vectors(100, 8, seed=15)
    store.upsert(ids, vectors, metas(ids))
    store.delete(ids[:10])  # too few for flush to compact on its own
    store.flush()
    assert store.deleted_count == 10

    store.compact()

    assert store.deleted_count == 0
    assert store.ids() == set(ids[10:])
    assert store.search(vectors[50], 1)[0][0] == 51


def test_hnsw_failed_save_leaves_the_previous_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v.hnsw"
    store = HnswStore(path, 8)
    ids = list(range(1, 101))
    store.upsert(ids, unit_vectors(100, 8, seed=16), metas(ids))
    store.flush()
    saved = path.read_bytes()
    more = list(range(101, 151))
    store.upsert(more, unit_vectors(50, 8, seed=17), metas(more))

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device (simulated)")

    monkeypatch.setattr(hnsw_store.os, "replace", crash)
    with pytest.raises(VectorStoreUnavailableError, match="previously saved index is intact"):
        store.flush()
    monkeypatch.undo()

    assert path.read_bytes() == saved
    assert HnswStore(path, 8).count() == 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.hnsw", "v.hnsw.check"]  # no temp
    store.flush()  # still dirty: the next save writes everything
    assert HnswStore(path, 8).count() == 150


def test_hnsw_flush_without_changes_does_not_rewrite_the_file(tmp_path: Path) -> None:
    path = tmp_path / "v.hnsw"
    store = HnswStore(path, 8)
    store.upsert([1, 2], unit_vectors(2, 8, seed=18), metas([1, 2]))
    store.flush()
    inode = path.stat().st_ino

    store.flush()
    store.search(unit_vectors(1, 8, seed=19)[0], 1)
    store.flush()

    assert path.stat().st_ino == inode


def test_hnsw_read_only_opener_picks_up_the_writers_saves(tmp_path: Path) -> None:
    path = tmp_path / "v.hnsw"
    reader = HnswStore.open_readonly(path, 8)
    assert reader.count() == 0  # nothing saved yet
    writer = HnswStore(path, 8)
    vectors = unit_vectors(100, 8, seed=20)
    writer.upsert(list(range(1, 51)), vectors[:50], metas(list(range(1, 51))))
    writer.flush()

    assert reader.reload_if_changed() is True
    assert reader.count() == 50
    assert reader.reload_if_changed() is False

    writer.upsert(list(range(51, 101)), vectors[50:], metas(list(range(51, 101))))
    writer.delete([1])
    writer.flush()
    assert reader.reload_if_changed() is True
    assert reader.ids() == set(range(2, 101))
    assert reader.search(vectors[99], 1)[0][0] == 100
    with pytest.raises(IndexLockedError):
        reader.upsert([500], vectors[:1], metas([500]))


def test_hnsw_refuses_a_file_written_with_another_dimension(tmp_path: Path) -> None:
    path = tmp_path / "v.hnsw"
    store = HnswStore(path, 8)
    store.upsert([1], unit_vectors(1, 8, seed=21), metas([1]))
    store.flush()

    with pytest.raises(VectorStoreUnavailableError, match="8-dimensional"):
        HnswStore(path, 16)


def test_hnsw_deleted_state_survives_reopen_and_readding(tmp_path: Path) -> None:
    path = tmp_path / "v.hnsw"
    store = HnswStore(path, 8)
    ids = list(range(1, 21))
    vectors = unit_vectors(20, 8, seed=22)
    store.upsert(ids, vectors, metas(ids))
    store.delete([5, 6])
    store.flush()

    reopened = HnswStore(path, 8)
    assert reopened.ids() == set(ids) - {5, 6}
    assert reopened.deleted_count == 2
    reopened.upsert([5], vectors[4:5], metas([5]))
    assert reopened.search(vectors[4], 1)[0][0] == 5
    assert reopened.count() == 19


def test_hnsw_updating_a_live_id_while_free_slots_exist_leaves_no_stale_copy(
    tmp_path: Path,
) -> None:
    store = HnswStore(tmp_path / "v.hnsw", 8)
    ids = list(range(1, 21))
    vectors = unit_vectors(20, 8, seed=26)
    store.upsert(ids, vectors, metas(ids))
    store.delete([1, 2, 3])  # free slots an insert may take
    replacement = unit_vectors(1, 8, seed=27)

    store.upsert([10], replacement, metas([10]))

    hits = store.search(vectors[9], 20)
    assert [cid for cid, _ in hits].count(10) == 1
    assert dict(hits)[10] < 0.999  # the old vector is gone, not kept under the same id
    assert store.search(replacement[0], 1)[0] == (10, pytest.approx(1.0, abs=1e-4))
    assert store.deleted_count == 3


def test_hnsw_graph_search_with_a_broad_filter_returns_only_allowed_ids(tmp_path: Path) -> None:
    # More allowed ids than the exact-scan limit: the graph search with a filter runs.
    store = HnswStore(tmp_path / "v.hnsw", 16)
    ids = list(range(1, 6001))
    vectors = unit_vectors(6000, 16, seed=23)
    store.upsert(ids, vectors, metas(ids))
    allowed = frozenset(i for i in ids if i % 4 != 0)
    assert len(allowed) > hnsw_store.EXACT_SEARCH_LIMIT

    for query in unit_vectors(5, 16, seed=24):
        results = store.search(query, 20, VectorFilter(allowed_ids=allowed))
        assert len(results) == 20
        assert set(result_ids(results)) <= allowed


def test_hnsw_searches_while_another_thread_writes(tmp_path: Path) -> None:
    store = HnswStore(tmp_path / "v.hnsw", 16, initial_capacity=64)
    vectors = unit_vectors(2000, 16, seed=25)
    failures: list[BaseException] = []

    def write() -> None:
        try:
            for start in range(0, 2000, 50):
                batch = list(range(start + 1, start + 51))
                store.upsert(batch, vectors[start : start + 50], metas(batch))
                if start % 200 == 0:
                    store.delete(batch[:5])
                    store.flush()
        except BaseException as exc:  # reported to the main thread
            failures.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    while writer.is_alive():
        for cid, _ in store.search(vectors[0], 5):
            assert 1 <= cid <= 2000
    writer.join()

    assert failures == []
    assert store.count() == 2000 - 5 * 10


# --- PostgreSQL + pgvector ----------------------------------------------------------------


def test_pg_catalogs_sharing_a_table_do_not_see_each_others_rows(pg_url: str) -> None:
    mine = PgVectorStore(pg_url, "test-model", 16, "catalog-mine")
    theirs = PgVectorStore(pg_url, "test-model", 16, "catalog-theirs")
    my_vectors = unit_vectors(50, 16, seed=30)
    their_vectors = unit_vectors(20, 16, seed=31)
    mine.upsert(list(range(1, 51)), my_vectors, metas(list(range(1, 51))))
    theirs.upsert(list(range(1, 21)), their_vectors, metas(list(range(1, 21))))

    mine.delete(list(range(1, 11)))

    assert mine.table == theirs.table
    assert mine.ids() == set(range(11, 51))
    assert theirs.ids() == set(range(1, 21))
    assert theirs.search(their_vectors[3], 1)[0] == (4, pytest.approx(1.0, abs=1e-4))
    assert mine.search(their_vectors[3], 1)[0][1] < 0.999
    mine.close()
    theirs.close()


def test_pg_large_first_load_is_copied_then_indexed(pg_url: str) -> None:
    store = PgVectorStore(pg_url, "test-model", 16, "catalog-a")
    ids = list(range(1, 2501))
    vectors = unit_vectors(2500, 16, seed=32)

    store.upsert(ids, vectors, metas(ids))

    with psycopg.connect(pg_url) as conn:
        indexdefs = [
            row[0]
            for row in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE tablename = %s", (store.table,)
            )
        ]
    assert any("USING hnsw (embedding vector_cosine_ops)" in d for d in indexdefs)
    assert store.count() == 2500
    # A second big batch goes into a non-empty table: it must update, not collide.
    store.upsert(ids, vectors[::-1].copy(), metas(ids))
    assert store.count() == 2500
    assert store.search(vectors[0], 1)[0][0] == 2500
    store.close()


def plan_nodes(url: str, store: PgVectorStore, query: np.ndarray, flt: VectorFilter) -> list[str]:
    """What PostgreSQL does for the store's search: plan node types and index names."""
    statement, params = store.search_query(query, 100, flt)
    with psycopg.connect(url) as conn:
        register_vector(conn)
        row = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + statement, params).fetchone()
    assert row is not None
    nodes, plans = [], [row[0][0]["Plan"]]
    while plans:
        node = plans.pop()
        nodes.append(f"{node['Node Type']} {node.get('Index Name', '')}".strip())
        plans += node.get("Plans", [])
    return nodes


def test_pg_a_table_filled_as_the_indexer_fills_it_is_searched_by_its_hnsw_index(
    pg_url: str,
) -> None:
    """Until a table has statistics the planner takes it for a few rows and ranks every
    row exactly; autovacuum analyses a new table only some time after it was filled (it is
    off here, so the test does not depend on when it comes by)."""
    store = PgVectorStore(pg_url, "test-model", 16, "catalog-a")
    store.count()  # creates the table
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false)").format(
                sql.Identifier(store.table)
            )
        )
    ids = list(range(1, 5001))
    vectors = unit_vectors(len(ids), 16, seed=40)
    for start in range(0, len(ids), 64):  # the indexer's steps
        part = ids[start : start + 64]
        store.upsert(part, vectors[start : start + 64], metas(part))
    query = unit_vectors(1, 16, seed=41)[0]
    every_root = VectorFilter(root_keys=[f"root-{i}" for i in range(20)])
    for flt in (VectorFilter(), every_root):
        assert f"Index Scan {store.table}_hnsw" in plan_nodes(pg_url, store, query, flt)
    found = result_ids(store.search(query, 10, every_root))
    assert len(set(found) & set(exact_top(vectors, ids, query, 10))) >= 9  # a graph's recall
    store.close()


def test_pg_small_first_upsert_also_gets_the_hnsw_index(pg_url: str) -> None:
    store = PgVectorStore(pg_url, "test-model", 16, "catalog-a")
    store.upsert([1, 2], unit_vectors(2, 16, seed=33), metas([1, 2]))
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = %s AND indexdef LIKE '%%hnsw%%'",
            (store.table,),
        ).fetchone()
    assert row == (1,)
    store.close()


def test_pg_filtered_search_through_the_hnsw_index_still_returns_k(pg_url: str) -> None:
    force_hnsw_plans(pg_url)
    store = PgVectorStore(pg_url, "test-model", 32, "catalog-a")
    ids = list(range(1, 2001))
    vectors = unit_vectors(2000, 32, seed=34)
    store.upsert(ids, vectors, metas(ids))
    query = unit_vectors(1, 32, seed=35)[0]
    with psycopg.connect(pg_url) as conn:
        plan = " ".join(
            row[0]
            for row in conn.execute(
                sql.SQL(
                    "EXPLAIN SELECT chunk_id FROM {} WHERE catalog_id = 'catalog-a' AND "
                    "root_key = 'root-3' ORDER BY embedding <=> %s::vector LIMIT 10"
                ).format(sql.Identifier(store.table)),
                (str(query.tolist()),),
            )
        )
    assert f"Index Scan using {store.table}_hnsw" in plan

    # Only 5% of the rows pass; ef_search alone would find about 5 of them.
    results = store.search(query, 10, VectorFilter(root_keys=["root-3"]))

    assert len(results) == 10
    assert all(cid % 20 == 3 for cid in result_ids(results))
    store.close()


def test_pg_filters_by_language_and_path_glob(pg_url: str) -> None:
    store = PgVectorStore(pg_url, "test-model", 8, "catalog-a")
    meta = [
        VectorMeta("root-1", "src/app/main.py", "python"),
        VectorMeta("root-1", "src/app/ui.ts", "typescript"),
        VectorMeta("root-1", "tests/test_main.py", "python"),
        VectorMeta("root-2", "src/lib/core.py", "python"),
    ]
    store.upsert([1, 2, 3, 4], unit_vectors(4, 8, seed=36), meta)
    query = unit_vectors(1, 8, seed=37)[0]

    def found(flt: VectorFilter) -> set[int]:
        return set(result_ids(store.search(query, 10, flt)))

    assert found(VectorFilter(languages=["typescript"])) == {2}
    assert found(VectorFilter(path_regex=glob_to_regex("src"))) == {1, 2, 4}
    assert found(VectorFilter(path_regex=glob_to_regex("*.py"))) == {1, 3, 4}
    assert found(VectorFilter(path_regex=glob_to_regex("src/**/*.py"), root_keys=["root-1"])) == {1}
    assert found(VectorFilter(path_exclude_regex=glob_to_regex("tests/"))) == {1, 2, 4}
    assert found(VectorFilter(allowed_ids=frozenset({3, 4}))) == {3, 4}
    assert found(VectorFilter(path_regex="(unclosed")) == set()
    store.close()


def test_pg_reads_a_globs_class_as_python_and_tantivy_do(pg_url: str) -> None:
    """The classes of tests/test_filters.py (nested-class and set-operation characters,
    `]` first, `!` and `^`) match the same paths in PostgreSQL's regexes."""
    store = PgVectorStore(pg_url, "test-model", 8, "catalog-classes")
    store.upsert(
        list(range(1, len(CLASS_PATHS) + 1)),
        unit_vectors(len(CLASS_PATHS), 8, seed=38),
        [VectorMeta("root-1", path, "python") for path in CLASS_PATHS],
    )
    query = unit_vectors(1, 8, seed=39)[0]
    for glob, expected in CLASSES:
        hits = store.search(query, 100, VectorFilter(path_regex=glob_to_regex(glob)))
        assert sorted(CLASS_PATHS[i - 1] for i in result_ids(hits)) == sorted(expected), glob
    store.close()


def test_pg_store_reconnects_after_the_server_restarts(
    pg_server: PgTestServer, pg_url: str
) -> None:
    store = PgVectorStore(pg_url, "test-model", 8, "catalog-a")
    vectors = unit_vectors(10, 8, seed=38)
    store.upsert(list(range(1, 11)), vectors, metas(list(range(1, 11))))

    pg_server.restart()

    assert store.search(vectors[2], 1)[0][0] == 3
    store.upsert([11], unit_vectors(1, 8, seed=39), metas([11]))
    assert store.count() == 11
    store.close()


def test_pg_calls_fail_with_a_clear_message_while_the_server_is_down(
    pg_server: PgTestServer, pg_url: str
) -> None:
    store = PgVectorStore(pg_url, "test-model", 8, "catalog-a", connect_timeout=2)
    vectors = unit_vectors(5, 8, seed=40)
    store.upsert(list(range(1, 6)), vectors, metas(list(range(1, 6))))

    pg_server.stop()
    try:
        calls: list[Callable[[], object]] = [
            lambda: store.search(vectors[0], 3),
            lambda: store.upsert([9], vectors[:1], metas([9])),
            store.count,
            store.ids,
        ]
        for call in calls:
            with pytest.raises(VectorStoreUnavailableError) as caught:
                call()
            message = str(caught.value)
            assert f"127.0.0.1:{pg_server.port}" in message
            assert pg_server.password not in message
            assert "running" in message
    finally:
        pg_server.start()

    assert store.count() == 5
    store.close()


def test_connection_check_names_the_server_and_pgvector(pg_url: str) -> None:
    store = PgVectorStore(pg_url, "test-model", 8, "catalog-a")
    store.count()  # enables the extension
    line = pgvector_store.test_connection(pg_url)
    info = store.server_info()
    assert "PostgreSQL 18" in line
    assert f"pgvector {info['pgvector_version']}" in line
    assert info["server_version"].startswith("18")
    store.close()


def test_connection_check_shows_the_servers_message_for_a_wrong_password(
    pg_server: PgTestServer,
) -> None:
    url = pg_server.url_for("postgres", password="not-the-password")
    with pytest.raises(VectorStoreUnavailableError) as caught:
        pgvector_store.test_connection(url)
    message = str(caught.value)
    assert 'password authentication failed for user "postgres"' in message
    assert "not-the-password" not in message
    assert pg_server.password not in message


def test_connection_check_shows_the_servers_message_for_an_unknown_database(
    pg_server: PgTestServer,
) -> None:
    with pytest.raises(VectorStoreUnavailableError, match='database "no_such_db" does not exist'):
        pgvector_store.test_connection(pg_server.url_for("no_such_db"))


def test_pg_role_that_cannot_enable_pgvector_gets_an_actionable_error(
    pg_server: PgTestServer, pg_url: str
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE plain_user LOGIN PASSWORD {}").format(sql.Literal("plain-pw"))
        )
    dbname = pg_url.rsplit("/", 1)[1]
    url = f"postgresql://plain_user:plain-pw@127.0.0.1:{pg_server.port}/{dbname}"
    store = PgVectorStore(url, "test-model", 8, "catalog-a")

    with pytest.raises(VectorStoreUnavailableError) as caught:
        store.count()

    message = str(caught.value)
    assert 'permission denied to create extension "vector"' in message
    assert "CREATE EXTENSION vector" in message
    assert "plain-pw" not in message


def test_pg_table_names_are_safe_bounded_and_distinct_per_dimension() -> None:
    hostile = 'Org/Model"; DROP TABLE users; -- ' * 5
    names = {table_name(hostile, 384), table_name(hostile, 768), table_name("a/b", 384)}
    assert len(names) == 3
    for name in names:
        assert name.replace("_", "").isalnum() and name.islower()
        assert len(f"{name}_hnsw") <= 63


# --- both stores agree ----------------------------------------------------------------------


def test_both_stores_find_the_same_neighbours_as_exact_search(tmp_path: Path, pg_url: str) -> None:
    # Random 384-d vectors are the hardest case for a graph index (no structure at all);
    # at ef_search 200 both reach recall@10 of about 0.99 here (at 100: 0.92 and 0.95).
    force_hnsw_plans(pg_url)
    ids = list(range(1, 2001))
    vectors = unit_vectors(2000, 384, seed=42)
    queries = unit_vectors(50, 384, seed=43)
    embedded = HnswStore(tmp_path / "v.hnsw", 384, ef_search=200)
    server = PgVectorStore(pg_url, "test-model", 384, "catalog-a", ef_search=200)
    for store in (embedded, server):
        store.upsert(ids, vectors, metas(ids))

    exact = [exact_top(vectors, ids, q, 10) for q in queries]
    found = {
        name: [result_ids(store.search(q, 10)) for q in queries]
        for name, store in (("hnsw", embedded), ("pgvector", server))
    }

    for name, results in found.items():
        recall = np.mean([len(set(r) & set(e)) / 10 for r, e in zip(results, exact, strict=True)])
        assert recall >= 0.95, name
    same_top1 = np.mean(
        [a[0] == b[0] for a, b in zip(found["hnsw"], found["pgvector"], strict=True)]
    )
    assert same_top1 >= 0.95
    server.close()
