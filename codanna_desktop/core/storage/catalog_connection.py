"""The catalog's SQLite connection, speaking in errors a person can act on.

SQLite reports a damaged file, a full disk or a read-only folder on whichever statement
first touches the bad page, deep inside any query, and on a later row of a result as
often as on the first. Every statement and every fetch of the catalog goes through this
connection, which turns those into CatalogDamagedError, DiskFullError or DataAccessError
(codanna_desktop.core.errors); a text that is no longer UTF-8 is damage too. Other
SQLite errors (a missing table, a busy database) pass through unchanged: the catalog
handles them itself.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from codanna_desktop.core.errors import CatalogDamagedError, known_error

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@contextmanager
def catalog_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except UnicodeDecodeError as exc:
        # A text whose bytes are no longer UTF-8: flipped bits SQLite's own checks pass,
        # met only when the row is read (the fault campaign's "header page").
        raise CatalogDamagedError(path, f"a text in it is no longer UTF-8: {exc.reason}") from exc
    except (sqlite3.Error, OSError) as exc:
        if str(exc).startswith("Could not decode to UTF-8"):  # the same, said by sqlite3
            raise CatalogDamagedError(path, "a text in it is no longer UTF-8") from exc
        translated = known_error(exc, path)
        if translated is None:
            raise
        raise translated from exc


class _Cursor(sqlite3.Cursor):
    catalog_path: Path

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        with catalog_errors(self.catalog_path):
            return super().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> _Cursor:
        with catalog_errors(self.catalog_path):
            return super().executemany(sql, seq_of_parameters)

    def fetchone(self) -> Any:
        with catalog_errors(self.catalog_path):
            return super().fetchone()

    def fetchmany(self, size: int | None = 1) -> list[Any]:
        with catalog_errors(self.catalog_path):
            return super().fetchmany(size)

    def fetchall(self) -> list[Any]:
        with catalog_errors(self.catalog_path):
            return super().fetchall()

    def __next__(self) -> Any:
        with catalog_errors(self.catalog_path):
            return super().__next__()


class CatalogConnection(sqlite3.Connection):
    catalog_path: Path

    def cursor(self, factory: Any = None) -> _Cursor:  # type: ignore[override]
        cur = super().cursor(_Cursor)
        cur.catalog_path = self.catalog_path
        return cur

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> _Cursor:
        return self.cursor().executemany(sql, parameters)

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        with catalog_errors(self.catalog_path):
            return super().executescript(script)

    def commit(self) -> None:
        with catalog_errors(self.catalog_path):
            super().commit()


def open_catalog_connection(path: Path, **kwargs: Any) -> CatalogConnection:
    with catalog_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, factory=CatalogConnection, **kwargs)
    assert isinstance(db, CatalogConnection)
    db.catalog_path = path
    return db
