"""The catalog speaks in errors a person can act on, wherever SQLite meets the problem:
on opening, on the first row of a query or on a later one. Real files, garbled on disk."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from codanna_desktop.core.errors import CatalogDamagedError, IndexLockedError
from codanna_desktop.core.storage.catalog import Catalog


def test_damage_met_midway_through_a_query_is_a_catalog_damaged_error(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    catalog = Catalog(path)
    for i in range(2000):  # enough rows for many pages after the schema's
        catalog.add_root(Path(f"/projects/{'x' * 200}/{i}"))
    catalog.close()
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size - 8 * 4096)
        f.write(os.urandom(4096))
    reopened = Catalog(path)  # the first pages are sound: opening works
    try:
        with pytest.raises(CatalogDamagedError, match="codanna-desktop repair"):
            reopened.roots()
    finally:
        reopened.close()


def test_catalog_kept_locked_by_another_process_is_an_index_locked_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "catalog.sqlite"
    Catalog(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock (WAL readers are never blocked)
    try:
        catalog = Catalog(path)
        catalog._db.execute("PRAGMA busy_timeout=100")
        with pytest.raises(IndexLockedError, match="stayed busy") as raised:
            catalog.add_root(tmp_path)
        assert raised.value.exit_code == 3
        catalog.close()
    finally:
        other.execute("ROLLBACK")
        other.close()
