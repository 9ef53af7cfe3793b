"""The embedding cache keeps a checksum of each vector: damage on disk that leaves a
vector unit length (a flipped sign bit, SQLite keeps no page checksums) is found like
damage that does not, and a cache written before checksums were kept is still checked."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from codanna_desktop.core.repair import salvage_embeddings
from codanna_desktop.core.storage.catalog import Catalog

MODEL = "test-model"


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return v / np.linalg.norm(v)


def sign_flipped(blob: bytes) -> bytes:
    """The sign bit of the first float flipped (little-endian: the top bit of byte 3)."""
    return blob[:3] + bytes([blob[3] ^ 0x80]) + blob[4:]


def rewrite_vector(path: Path, text_hash: str, change: Callable[[bytes], bytes]) -> None:
    """Changes a stored vector's bytes in place, its checksum left as it was."""
    with sqlite3.connect(path) as db:
        ((blob,),) = db.execute("SELECT vector FROM embeddings WHERE text_hash = ?", (text_hash,))
        changed = change(blob)
        db.execute("UPDATE embeddings SET vector = ? WHERE text_hash = ?", (changed, text_hash))


def test_a_flipped_sign_keeps_the_length_but_not_the_checksum(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    catalog.cache_vectors(MODEL, {"good": unit(1), "flipped": unit(2)})
    rewrite_vector(catalog.path, "flipped", sign_flipped)
    with sqlite3.connect(catalog.path) as db:
        ((blob,),) = db.execute("SELECT vector FROM embeddings WHERE text_hash = 'flipped'")
    assert abs(float(np.linalg.norm(np.frombuffer(blob, dtype=np.float32))) - 1.0) < 1e-6

    read = catalog.cached_vectors(MODEL, ["good", "flipped"])
    assert set(read) == {"good"}
    np.testing.assert_array_equal(read["good"], unit(1))
    assert catalog.drop_damaged_cached_vectors() == ["flipped"]
    assert catalog.drop_damaged_cached_vectors() == []
    catalog.close()


def test_vectors_cached_before_checksums_are_checked_by_their_length(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    catalog.cache_vectors(MODEL, {"intact": unit(1), "zeroed": unit(2), "flipped": unit(3)})
    with sqlite3.connect(catalog.path) as db:
        db.execute("UPDATE embeddings SET checksum = NULL")
    rewrite_vector(catalog.path, "zeroed", lambda blob: bytes(len(blob)))
    rewrite_vector(catalog.path, "flipped", sign_flipped)

    # Without a checksum a flipped sign cannot be told from the vector that was stored.
    assert set(catalog.cached_vectors(MODEL, ["intact", "zeroed", "flipped"])) == {
        "intact",
        "flipped",
    }
    assert catalog.drop_damaged_cached_vectors() == ["zeroed"]
    # The vectors found whole got their checksums: damage from now on shows.
    with sqlite3.connect(catalog.path) as db:
        assert db.execute("SELECT COUNT(*) FROM embeddings WHERE checksum IS NULL").fetchone() == (
            0,
        )
    rewrite_vector(catalog.path, "intact", sign_flipped)
    assert catalog.cached_vectors(MODEL, ["intact"]) == {}
    catalog.close()


def test_a_cache_from_before_checksums_gains_the_column_and_keeps_its_vectors(
    tmp_path: Path,
) -> None:
    path = tmp_path / "catalog.sqlite"
    Catalog(path).close()
    with sqlite3.connect(path) as db:  # the table as earlier versions created it
        db.execute("DROP TABLE embeddings")
        db.execute(
            "CREATE TABLE embeddings (model_id TEXT NOT NULL, text_hash TEXT NOT NULL,"
            " vector BLOB NOT NULL, PRIMARY KEY (model_id, text_hash)) WITHOUT ROWID"
        )
        db.execute("INSERT INTO embeddings VALUES (?, 'old', ?)", (MODEL, unit(1).tobytes()))

    catalog = Catalog(path)
    catalog.cache_vectors(MODEL, {"new": unit(2)})
    read = catalog.cached_vectors(MODEL, ["old", "new"])
    np.testing.assert_array_equal(read["old"], unit(1))
    np.testing.assert_array_equal(read["new"], unit(2))
    catalog.close()
    with sqlite3.connect(path) as db:
        checksums = dict(db.execute("SELECT text_hash, checksum FROM embeddings"))
    assert checksums["old"] is None and isinstance(checksums["new"], int)


def test_a_reader_that_cannot_migrate_the_cache_still_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "catalog.sqlite"
    Catalog(path).close()
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE embeddings DROP COLUMN checksum")
        db.execute("INSERT INTO embeddings VALUES (?, 'old', ?)", (MODEL, unit(1).tobytes()))

    def cannot_write(self: Catalog) -> None:  # what a read-only file gives (not as root)
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(Catalog, "_add_missing_columns", cannot_write)
    catalog = Catalog(path, readonly=True)
    assert set(catalog.cached_vectors(MODEL, ["old"])) == {"old"}
    assert catalog.drop_damaged_cached_vectors() == []
    catalog.close()


def test_salvage_leaves_a_damaged_vector_behind(tmp_path: Path) -> None:
    damaged = Catalog(tmp_path / "damaged.sqlite")
    damaged.cache_vectors(MODEL, {"good": unit(1), "flipped": unit(2)})
    damaged.close()
    rewrite_vector(damaged.path, "flipped", sign_flipped)

    fresh = Catalog(tmp_path / "catalog.sqlite")
    assert salvage_embeddings(damaged.path, fresh) == 1
    assert set(fresh.cached_vectors(MODEL, ["good", "flipped"])) == {"good"}
    fresh.close()
