"""The fault campaign's child process: verifies an index, fuzzes the search API and
loads it with parallel searches, answering one JSON line per request on stdout.

    python -m tests.benchmarks.fault_worker   (started by fault_kit.Worker)

It runs in its own process because what it opens may be damaged: if a garbled store
crashes it, the campaign records that and starts another one.
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.errors import CodannaError
from codanna_desktop.core.indexing.embedding_cache import EmbeddingCache
from codanna_desktop.core.semantic.embedder import Embedder, load_embedder
from codanna_desktop.core.settings import Settings, load_settings
from codanna_desktop.core.storage.vectors.hnsw import HnswStore
from tests.benchmarks.workspace import home_paths, latency_summary

SAME_VECTOR = 0.999  # cosine: one text per model call (embedder.py), so equal texts give 1.0
EXAMPLES = 5

_embedder: Embedder | None = None


def embedder() -> Embedder:
    global _embedder
    if _embedder is None:
        _embedder = load_embedder(Settings(), home_paths(Path("/nonexistent-home")))
    return _embedder


def open_engine(request: dict[str, Any]) -> Engine:
    paths = home_paths(Path(request["home"]))
    settings = load_settings(paths)
    if request.get("database_url"):
        settings.database_url = request["database_url"]
    return Engine(paths, settings, writer=False, embedder=embedder())


# -- verify -----------------------------------------------------------------------


def verify(request: dict[str, Any]) -> dict[str, Any]:
    """Every live token finds exactly its file, no dead token finds anything, and every
    chunk's stored vector is the embedding of its current text."""
    out: dict[str, Any] = {"ok": True, "examples": {}}

    def note(key: str, example: Any) -> None:
        out[key] = out.get(key, 0) + 1
        shelf = out["examples"].setdefault(key, [])
        if len(shelf) < EXAMPLES:
            shelf.append(example)

    engine = open_engine(request)
    try:
        root = request.get("root")
        out["root_indexed"] = root is None or any(str(r.path) == root for r in engine.roots())
        if not out["root_indexed"]:
            request = {**request, "live": {}, "dead": [*request["live"], *request["dead"]]}
        checked = 0
        for token, path in request["live"].items():
            found = _found(engine, token, note)
            checked += 1
            if found is None:
                continue
            if path not in found:
                note("lost", {"token": token, "path": path, "found": sorted(found)[:3]})
                out.setdefault("lost_tokens", []).append(token)
            elif found - {path}:
                note("ghosts", {"token": token, "also": sorted(found - {path})[:3]})
        for token in request["dead"]:
            found = _found(engine, token, note)
            checked += 1
            if found:
                note("ghosts", {"dead_token": token, "found": sorted(found)[:3]})
        out["tokens_checked"] = checked
        if request.get("list_skipped"):
            out["skipped_files"] = [
                [rel, reason] for _, rel, reason, _ in engine.catalog.skipped_files()[:500]
            ]
        stuck = engine.catalog.files_in_state("indexing")
        for f in stuck:
            note("stuck_files", f.rel_path)
        if request.get("check_vectors", True):
            _verify_vectors(engine, request, note, out)
    finally:
        engine.close()
    return out


def _found(engine: Engine, token: str, note: Any) -> set[str] | None:
    try:
        return {str(r.abs_path) for r in engine.search(token).results(0.0, 10)}
    except CodannaError as exc:
        note("search_errors", {"token": token, "error": str(exc)[:200]})
    except BaseException as exc:  # tantivy's panics are BaseExceptions
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        note("search_errors", {"token": token, "error": f"{type(exc).__name__}: {exc}"[:300]})
    return None


def _verify_vectors(engine: Engine, request: dict[str, Any], note: Any, out: dict) -> None:
    model = embedder()
    catalog_ids = engine.catalog.all_chunk_ids()
    lexical_extra = engine.lexical.chunk_ids() - catalog_ids
    for chunk_id in sorted(lexical_extra)[:EXAMPLES]:
        note("store_ghosts", {"lexical_chunk_id": chunk_id})
    out["store_ghosts"] = len(lexical_extra) + 0
    store = engine.semantic.store()
    if store is None:
        note("search_errors", {"error": f"no vector store: {engine.semantic.problem}"})
        return
    db = sqlite3.connect(f"file:{engine.catalog.path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT c.id, c.text_hash, c.vector_state, c.text, f.rel_path FROM chunks c"
            " JOIN files f ON f.id = c.file_id"
            " WHERE c.lexical_state = 'done' AND f.state = 'indexed'"
        ).fetchall()
    finally:
        db.close()
    stored = _stored_vectors(store, engine)
    # Read the cache as the indexer does: each default model keeps its own vector, and a
    # chunk's stored vector is their fusion (the fused model's id is never a cache key).
    cache = EmbeddingCache(engine.catalog, model).ready([r[1] for r in rows])
    done = []
    uncached = []
    for chunk_id, text_hash, state, text, rel in rows:
        if state != "done":
            note("unembedded", {"chunk": chunk_id, "path": rel})
            continue
        vector = stored.get(chunk_id)
        if vector is None:
            note("missing_vectors", {"chunk": chunk_id, "path": rel})
            continue
        cached = cache.get(text_hash)
        if cached is None:
            # The catalog's copy is gone or refused as damaged, as the indexer reads it
            # (a flipped bit in its page): the chunk is embedded again when the store next
            # needs it. Its stored vector is checked against the model instead.
            note("cache_lost", {"chunk": chunk_id, "path": rel})
            uncached.append((chunk_id, rel, text, vector))
            continue
        cos = _cosine(vector, cached)
        if cos < SAME_VECTOR:
            note("wrong_vectors", {"chunk": chunk_id, "path": rel, "cosine": round(cos, 3)})
        done.append((text_hash, text, cached))
    if uncached:
        fresh = model.embed_documents([t for _, _, t, _ in uncached])
        for (chunk_id, rel, _, vector), truth in zip(uncached, fresh, strict=True):
            cos = _cosine(vector, truth)
            if cos < SAME_VECTOR:
                note("wrong_vectors", {"chunk": chunk_id, "path": rel, "cosine": round(cos, 3)})
    extra = set(stored) - catalog_ids
    for chunk_id in sorted(extra)[:EXAMPLES]:
        out["examples"].setdefault("store_ghosts", []).append({"vector_chunk_id": chunk_id})
    out["store_ghosts"] = out.get("store_ghosts", 0) + len(extra)
    out["vectors_checked"] = len(rows)
    # The cache itself, against the real model on a sample.
    rng = random.Random(request.get("seed", 0))
    sample = rng.sample(done, min(len(done), int(request.get("reembed_sample", 4))))
    if sample:
        fresh = model.embed_documents([t for _, t, _ in sample])
        for (text_hash, _, cached), vector in zip(sample, fresh, strict=True):
            cos = _cosine(vector, cached)
            if cos < SAME_VECTOR:
                note("cache_wrong", {"text_hash": text_hash[:12], "cosine": round(cos, 3)})
    out["cache_rechecked"] = len(sample)


def _stored_vectors(store: Any, engine: Engine) -> dict[int, np.ndarray]:
    if isinstance(store, HnswStore):
        ids = sorted(store.ids())
        if not ids:
            return {}
        with store._lock:
            items = np.asarray(store._index.get_items(ids), dtype=np.float32)
        return dict(zip(ids, items, strict=True))
    # pgvector: the rows of this catalog in the model's table.
    from pgvector.psycopg import register_vector
    from psycopg import sql

    out: dict[int, np.ndarray] = {}
    conn = store._connection()
    register_vector(conn)
    query = sql.SQL("SELECT chunk_id, embedding FROM {} WHERE catalog_id = %s").format(
        sql.Identifier(store.table)
    )
    for chunk_id, vector in conn.execute(query, (engine.catalog.catalog_id,)).fetchall():
        values = vector.to_numpy() if hasattr(vector, "to_numpy") else vector
        out[int(chunk_id)] = np.asarray(values, dtype=np.float32)
    return out


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0 or not math.isfinite(na * nb):
        return 0.0
    return float(np.dot(a, b) / (na * nb))


# -- fuzz -------------------------------------------------------------------------


def fuzz(request: dict[str, Any]) -> dict[str, Any]:
    """Hypothesis-driven queries, filters, globs and settings through the engine API: a
    CodannaError is an answer, any other exception a failure."""
    from tests.benchmarks import fault_fuzz

    engine = open_engine(request)
    try:
        return {"ok": True, **fault_fuzz.run(engine, request)}
    finally:
        engine.close()


# -- load -------------------------------------------------------------------------


def load(request: dict[str, Any]) -> dict[str, Any]:
    """`threads` threads searching one read-only engine until the stop file appears."""
    engine = open_engine(request)
    stop_file = Path(request["stop_file"])
    deadline = time.monotonic() + float(request.get("max_seconds", 300))
    queries = request["queries"]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def searcher(n: int) -> None:
        rng = random.Random(n)
        while not stop_file.exists() and time.monotonic() < deadline:
            query = rng.choice(queries)
            started = time.perf_counter()
            try:
                engine.search(query).results(rng.choice([0.0, 0.5, 0.8]), 10)
                took = time.perf_counter() - started
                with lock:
                    latencies.append(took)
            except CodannaError:
                took = time.perf_counter() - started
                with lock:
                    latencies.append(took)
            except BaseException:  # a panic in tantivy is one
                with lock:
                    errors.append(traceback.format_exc()[-800:])

    try:
        threads = [threading.Thread(target=searcher, args=(n,)) for n in range(request["threads"])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        engine.close()
    return {
        "ok": True,
        "searches": len(latencies),
        "errors": len(errors),
        "error_examples": errors[:EXAMPLES],
        "latency": latency_summary(latencies),
    }


OPS = {"verify": verify, "fuzz": fuzz, "load": load}


def main() -> int:
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = OPS[request["op"]](request)
        except BaseException as exc:  # a panic in tantivy is a BaseException
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            answer = {
                "ok": False,
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()[-1500:],
            }
        sys.stdout.write(json.dumps(answer, default=str) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
