"""Rebuilding the index when its catalog is beyond repair (`codanna-desktop repair`).

Everything in the data folder except the models is derived from the folders on disk,
so a damaged catalog costs only time: the catalog and the stores derived from it move
aside into a `damaged-…` folder (nothing is deleted), and the index is built again.
Two things are worth more than time and are carried over: the list of added folders
(from the roots.json copy, and whatever the damaged catalog still yields) and the
embedding cache, read row by row from the damaged catalog for as long as it reads.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from codanna_desktop.core.errors import user_error
from codanna_desktop.core.storage.catalog import Catalog, vectors_intact
from codanna_desktop.core.storage.roots_backup import load_roots_backup
from codanna_desktop.core.storage.writer_lock import WriterLock

if TYPE_CHECKING:
    from codanna_desktop.core.settings import AppPaths

log = logging.getLogger(__name__)

CATALOG_NAME = "catalog.sqlite"
# The catalog with its WAL and shared-memory files, and the stores derived from it.
_DERIVED = (CATALOG_NAME, f"{CATALOG_NAME}-wal", f"{CATALOG_NAME}-shm", "lexical", "vectors")


@dataclass
class SetAside:
    folder: Path  # where the damaged index now is
    roots: list[Path] = field(default_factory=list)
    embeddings: int = 0  # cached vectors carried over into the new catalog

    @property
    def catalog(self) -> Path:
        return self.folder / CATALOG_NAME


def start_new_catalog(paths: AppPaths, *, wait_for_lock: float = 0.0) -> SetAside:
    """Set the index aside and start a new catalog holding the same folders (also those
    missing right now: indexing marks them, as it would have) and the embedding cache.
    The folders are in the new catalog before anything else is written, so stopping at
    any point loses neither them nor the old files. Indexing them is the caller's next
    step (Engine.index)."""
    lock = WriterLock(paths.data_dir)
    lock.acquire(wait_for_lock)
    try:
        aside = set_index_aside(paths)
        catalog = Catalog(paths.data_dir / CATALOG_NAME)
        try:
            for root in aside.roots:
                catalog.add_root(root)
            aside.embeddings = salvage_embeddings(aside.catalog, catalog)
        finally:
            catalog.close()
    finally:
        lock.release()
    return aside


def set_index_aside(paths: AppPaths) -> SetAside:
    """Move the catalog and its derived stores into data_dir/damaged-<time>; return where,
    with the folders to index again. The caller holds the writer lock."""
    data_dir = paths.data_dir
    folder = data_dir / time.strftime("damaged-%Y%m%d-%H%M%S")
    n = 1
    while folder.exists():
        n += 1
        folder = data_dir / time.strftime(f"damaged-%Y%m%d-%H%M%S-{n}")
    try:
        folder.mkdir(parents=True)
        for name in _DERIVED:
            if (data_dir / name).exists():
                # A rename in the same folder needs no free space: this works on a full disk.
                os.replace(data_dir / name, folder / name)
    except OSError as exc:
        raise user_error(exc, data_dir) from exc
    aside = SetAside(folder)
    found = {str(p): p for p in load_roots_backup(data_dir)}
    for p in salvage_roots(aside.catalog):
        found.setdefault(str(p), p)
    aside.roots = sorted(found.values())
    return aside


def salvage_roots(catalog_path: Path) -> list[Path]:
    """The folders a damaged catalog still names (none if its roots table is unreadable)."""
    if not catalog_path.exists():
        return []
    try:
        db = sqlite3.connect(catalog_path)
    except sqlite3.Error:
        return []
    try:
        return [Path(r[0]) for r in db.execute("SELECT path FROM roots").fetchall()]
    except (sqlite3.Error, UnicodeDecodeError) as exc:  # a path's bytes no longer UTF-8
        log.info("no folders read from the damaged catalog: %s", exc)
        return []
    finally:
        db.close()


def salvage_embeddings(damaged: Path, catalog: Catalog, *, batch: int = 500) -> int:
    """Copy the embedding cache of the damaged catalog into `catalog` until a damaged page
    stops the reading; returns how many vectors were carried over."""
    if not damaged.exists():
        return 0
    copied = 0
    try:
        db = sqlite3.connect(damaged)
    except sqlite3.Error:
        return 0
    try:
        columns = {r[1] for r in db.execute("PRAGMA table_info(embeddings)")}
        checksum = "checksum" if "checksum" in columns else "NULL"
        cur = db.execute(f"SELECT model_id, text_hash, vector, {checksum} FROM embeddings")
        while rows := cur.fetchmany(batch):
            by_model: dict[str, dict[str, np.ndarray]] = {}
            # A vector the damage reached is left behind: it is embedded again.
            intact = vectors_intact([(vector, check) for _, _, vector, check in rows])
            for (model_id, text_hash, vector, _), ok in zip(rows, intact, strict=True):
                if ok:
                    by_model.setdefault(model_id, {})[text_hash] = np.frombuffer(
                        vector, dtype=np.float32
                    )
            for model_id, vectors in by_model.items():
                catalog.cache_vectors(model_id, vectors)
                copied += len(vectors)
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        log.info("the embedding cache was read up to a damaged page: %s", exc)
    finally:
        db.close()
    return copied
