"""The shared vector store: PostgreSQL + pgvector, selected by a postgresql:// URL.

One table per embedding model and dimension holds the vectors of many catalogs (people,
machines) and roots; every statement is scoped to this store's `catalog_id`. Rows carry
root key, relative path and language so searches filter in SQL.

Transactions: the connection is in autocommit mode, and every call that writes more than
one row runs in one explicit transaction, so each call is durable when it returns and
`flush()` has nothing left to do.

Filters: `root_keys`, `languages` and `path_regex` are applied in SQL. `allowed_ids` is
used (as `chunk_id = ANY(...)`) only when none of those is given: it describes the same
set the native fields do, and shipping a large id list with every query costs more than
the filter saves.

A lost connection (server restarted) is noticed on the next call, reopened, and the call
retried once. While the server is down every call raises VectorStoreUnavailableError
within `connect_timeout` seconds, naming the server but never the password.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict

from codanna_desktop.core.errors import VectorStoreUnavailableError
from codanna_desktop.core.redaction import redact_message, redact_url
from codanna_desktop.core.storage.vectors.store import VectorFilter, VectorMeta

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

T = TypeVar("T")

# A first load into an empty table at least this big is copied in before the HNSW index
# is built: building the index once is several times faster than maintaining it per row.
BULK_LOAD_MIN = 2000
# PostgreSQL's planner has no statistics for a table autovacuum has not analysed yet (a
# minute or more after a fill, later on a busy server) and takes a freshly filled table for
# a few rows: it then ranks every row exactly, reading each vector out of TOAST (6,292
# 768-d rows: the search box's vector search 21.6 ms p50, 2.3 ms by the HNSW index once
# analysed; BENCHMARKS.md §15). So the store analyses the table itself once the rows it
# changed since the statistics were taken are this many and this share of the rows they
# count (autovacuum's own rule is 50 rows and 10 %). Below a few thousand rows the planner
# ranks exactly either way (measured: 2,000 rows, analysed or not).
ANALYSE_MIN_ROWS = 1000
ANALYSE_SHARE = 0.1
DEFAULT_EF_SEARCH = 100
# libpq keepalive settings: a server that vanishes without closing the socket is noticed
# in about half a minute instead of the operating system's two hours.
_KEEPALIVES: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30000,
}
_CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)


def table_name(model_id: str, dim: int) -> str:
    """A safe, readable, length-limited table name unique to the model and dimension."""
    slug = re.sub(r"[^a-z0-9]+", "_", model_id.lower()).strip("_")[:32].rstrip("_") or "model"
    digest = hashlib.sha256(f"{model_id}\0{dim}".encode()).hexdigest()[:8]
    return f"codanna_{slug}_{dim}_{digest}"  # at most 55 characters; PostgreSQL allows 63


def test_connection(url: str, *, connect_timeout: int = 5) -> str:
    """One line describing the server, or VectorStoreUnavailableError with its message."""
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout)
    except psycopg.Error as exc:
        raise VectorStoreUnavailableError(
            f"Cannot connect to {redact_url(url)}: {_server_message(exc, url)}"
        ) from exc
    try:
        with conn:
            info = _server_facts(conn)
    except psycopg.Error as exc:
        raise VectorStoreUnavailableError(
            f"Connected to {redact_url(url)}, but {_server_message(exc, url)}"
        ) from exc
    where = _location(url)
    if info["pgvector_version"]:
        return (
            f"PostgreSQL {info['server_version']} at {where}, pgvector {info['pgvector_version']}"
        )
    if info["pgvector_available"]:
        return (
            f"PostgreSQL {info['server_version']} at {where}; pgvector "
            f"{info['pgvector_available']} is available and is enabled on first use "
            "(that needs a role allowed to CREATE EXTENSION)"
        )
    raise VectorStoreUnavailableError(
        f"The PostgreSQL server at {where} (version {info['server_version']}) has no pgvector "
        "extension. Install pgvector on the server, or leave the database URL empty to use "
        "the built-in index."
    )


class PgVectorStore:
    """pgvector-backed VectorStore (see vector_store.py)."""

    def __init__(
        self,
        url: str,
        model_id: str,
        dim: int,
        catalog_id: str,
        *,
        connect_timeout: int = 5,
        ef_search: int = DEFAULT_EF_SEARCH,
    ) -> None:
        self.url = url
        self.model_id = model_id
        self.dim = dim
        self.catalog_id = catalog_id
        self.connect_timeout = connect_timeout
        self.ef_search = ef_search
        self.table = table_name(model_id, dim)
        self._table = sql.Identifier(self.table)
        self._hnsw_index = sql.Identifier(f"{self.table}_hnsw")
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        self._hnsw_ready = False
        # Rows written or deleted since the table's statistics were taken, and the rows
        # those statistics count (None until read from the server): see _changed().
        self._changed_since_analyse = 0
        self._rows_analysed: float | None = None
        # The server keeps its own data safe; rows it lacks are found by reconciling.
        self.rebuild_reason: str | None = None

    # --- the VectorStore interface -------------------------------------------------------

    def upsert(self, ids: Sequence[int], vectors: np.ndarray, meta: Sequence[VectorMeta]) -> None:
        rows = self._rows(ids, vectors, meta)
        if rows:
            self._run(lambda conn: self._write_rows(conn, rows))
            self._changed(len(rows))

    def delete(self, ids: Sequence[int]) -> None:
        chunk_ids = sorted({int(i) for i in ids})
        if not chunk_ids:
            return
        query = sql.SQL("DELETE FROM {} WHERE catalog_id = %s AND chunk_id = ANY(%s)")
        deleted: int = self._run(
            lambda conn: (
                conn.execute(query.format(self._table), (self.catalog_id, chunk_ids)).rowcount
            )
        )
        self._changed(deleted)

    def search(
        self, vector: np.ndarray, k: int, flt: VectorFilter | None = None
    ) -> list[tuple[int, float]]:
        if k <= 0:
            self._query_vector(vector)  # the same error for a wrong vector
            return []
        query, params = self.search_query(vector, k, flt)

        def run(conn: psycopg.Connection[Any]) -> list[tuple[int, float]]:
            try:
                rows = conn.execute(query, params).fetchall()
            except errors.InvalidRegularExpression as exc:
                # A path filter PostgreSQL cannot read matches nothing; never an error.
                log.warning("path filter %r rejected by PostgreSQL: %s", params.get("regex"), exc)
                return []
            # relaxed_order may return neighbours slightly out of order: sort them here.
            return sorted(((int(cid), 1.0 - float(d)) for cid, d in rows), key=lambda r: -r[1])

        return self._run(run)

    def vectors_of(self, ids: Sequence[int]) -> np.ndarray:
        wanted = [int(i) for i in ids]
        if not wanted:
            return np.zeros((0, self.dim), dtype=np.float32)
        query = sql.SQL(
            "SELECT chunk_id, embedding FROM {} WHERE catalog_id = %s AND chunk_id = ANY(%s)"
        ).format(self._table)
        # Binary: pgvector's text form is parsed float by float in Python; 100 vectors
        # of 768 took 30 ms that way here and 2 ms in binary (medians of 15).
        rows = self._run(
            lambda conn: conn.execute(query, (self.catalog_id, wanted), binary=True).fetchall()
        )
        found = {int(cid): np.asarray(v.to_numpy(), dtype=np.float32) for cid, v in rows}
        unknown = [i for i in wanted if i not in found]
        if unknown:
            raise KeyError(f"no vector for chunk {unknown[0]}")
        return np.stack([found[i] for i in wanted])

    def ids(self) -> set[int]:
        query = sql.SQL("SELECT chunk_id FROM {} WHERE catalog_id = %s").format(self._table)
        rows = self._run(lambda conn: conn.execute(query, (self.catalog_id,)).fetchall())
        return {int(r[0]) for r in rows}

    def count(self) -> int:
        query = sql.SQL("SELECT count(*) FROM {} WHERE catalog_id = %s").format(self._table)
        row = self._run(lambda conn: conn.execute(query, (self.catalog_id,)).fetchone())
        return int(row[0]) if row else 0

    def flush(self) -> None:
        """Nothing to do: every call commits before it returns (see the module notes)."""

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # --- beyond the interface ------------------------------------------------------------

    def search_query(
        self, vector: np.ndarray, k: int, flt: VectorFilter | None = None
    ) -> tuple[sql.Composed, dict[str, Any]]:
        """The statement search() runs and its parameters (to EXPLAIN it)."""
        conditions, params = self._conditions(flt or VectorFilter())
        params.update(q=self._query_vector(vector), k=k)
        query = sql.SQL(
            "SELECT chunk_id, embedding <=> %(q)s AS distance FROM {} WHERE {} "
            "ORDER BY embedding <=> %(q)s LIMIT %(k)s"
        ).format(self._table, sql.SQL(" AND ").join(conditions))
        return query, params

    def _query_vector(self, vector: np.ndarray) -> np.ndarray:
        query_vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if query_vector.shape[0] != self.dim:
            raise ValueError(f"query has {query_vector.shape[0]} dimensions, the table {self.dim}")
        return query_vector

    def server_info(self) -> dict[str, str]:
        """Server and pgvector versions, where the server is, and the table in use."""
        facts = self._run(_server_facts)
        return {
            "server_version": facts["server_version"],
            "pgvector_version": facts["pgvector_version"],
            "location": _location(self.url),
            "table": self.table,
        }

    # --- connection handling -------------------------------------------------------------

    def _run(self, operation: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run `operation` on a live connection, reconnecting once if the old one died."""
        with self._lock:
            reused = self._conn is not None and not (self._conn.closed or self._conn.broken)
            conn = self._connection()
            try:
                return operation(conn)
            except _CONNECTION_ERRORS as exc:
                if not (conn.closed or conn.broken):
                    raise self._unavailable(exc) from exc
                self._drop_connection()
                if not reused:
                    raise self._unavailable(exc) from exc
                log.info("connection to %s was lost; reconnecting", _location(self.url))
            conn = self._connection()
            try:
                return operation(conn)
            except _CONNECTION_ERRORS as exc:
                self._drop_connection()
                raise self._unavailable(exc) from exc

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        self._drop_connection()
        try:
            conn = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=self.connect_timeout,
                application_name="codanna-desktop",
                **_KEEPALIVES,
            )
        except psycopg.Error as exc:
            raise self._unavailable(exc) from exc
        try:
            self._prepare(conn)
        except psycopg.Error as exc:
            conn.close()
            raise self._unavailable(exc) from exc
        self._conn = conn
        return conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._hnsw_ready = False

    def _prepare(self, conn: psycopg.Connection[Any]) -> None:
        """Extension, table and session settings; run on every new connection."""
        if not _pgvector_version(conn):
            _idempotent(conn, sql.SQL("CREATE EXTENSION IF NOT EXISTS vector"))
        register_vector(conn)
        _idempotent(
            conn,
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " catalog_id text NOT NULL, chunk_id bigint NOT NULL, root_key text NOT NULL,"
                " path text NOT NULL, language text NOT NULL, embedding vector({}) NOT NULL,"
                " PRIMARY KEY (catalog_id, chunk_id))"
            ).format(self._table, sql.Literal(self.dim)),
        )
        # Lets the planner answer a narrow root filter exactly instead of by graph walk.
        _idempotent(
            conn,
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (catalog_id, root_key)").format(
                sql.Identifier(f"{self.table}_root"), self._table
            ),
        )
        # Every query is filtered (at least by catalog): let the HNSW scan go on until it
        # has k rows that pass, instead of returning the few among its first ef_search.
        conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', false)")
        conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", (str(self.ef_search),))

    def _unavailable(self, exc: psycopg.Error) -> VectorStoreUnavailableError:
        reason = _server_message(exc, self.url)
        if isinstance(exc, errors.InsufficientPrivilege):
            advice = (
                "Ask the server's administrator to run CREATE EXTENSION vector in this "
                "database, or use a role that may create tables there."
            )
        elif isinstance(exc, _CONNECTION_ERRORS):
            advice = (
                "Check that the server is running and that the database URL in Settings is "
                "right; the app reconnects by itself once the server is back."
            )
        else:
            advice = "Check the database URL in Settings and the server's log."
        return VectorStoreUnavailableError(
            f"The PostgreSQL vector store at {redact_url(self.url)} is not available: "
            f"{reason}. {advice}"
        )

    # --- writing -------------------------------------------------------------------------

    def _rows(
        self, ids: Sequence[int], vectors: np.ndarray, meta: Sequence[VectorMeta]
    ) -> list[tuple[str, int, str, str, str, np.ndarray]]:
        data = np.asarray(vectors, dtype=np.float32)
        if data.ndim != 2 or data.shape != (len(ids), self.dim) or len(meta) != len(ids):
            raise ValueError(
                f"expected {len(ids)} ids, metas and vectors of dimension {self.dim}; "
                f"got {len(meta)} metas and vectors of shape {data.shape}"
            )
        # The last vector given for an id wins (COPY would reject the duplicate).
        latest = {int(cid): row for row, cid in enumerate(ids)}
        return [
            (
                self.catalog_id,
                cid,
                meta[row].root_key,
                meta[row].path,
                meta[row].language,
                data[row],
            )
            for cid, row in latest.items()
        ]

    def _write_rows(
        self, conn: psycopg.Connection[Any], rows: list[tuple[str, int, str, str, str, np.ndarray]]
    ) -> None:
        with conn.transaction():
            if len(rows) >= BULK_LOAD_MIN:
                # Decide "empty" under a lock so two first loads cannot interleave.
                conn.execute(
                    sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(self._table)
                )
                empty = conn.execute(
                    sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(self._table)
                ).fetchone()
                if empty and empty[0]:
                    self._bulk_load(conn, rows)
                    return
            self._ensure_hnsw_index(conn)
            with conn.cursor() as cur:
                cur.executemany(
                    sql.SQL(
                        "INSERT INTO {} (catalog_id, chunk_id, root_key, path, language, embedding)"
                        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (catalog_id, chunk_id)"
                        " DO UPDATE SET root_key = EXCLUDED.root_key, path = EXCLUDED.path,"
                        " language = EXCLUDED.language, embedding = EXCLUDED.embedding"
                    ).format(self._table),
                    rows,
                )

    def _bulk_load(
        self, conn: psycopg.Connection[Any], rows: list[tuple[str, int, str, str, str, np.ndarray]]
    ) -> None:
        """COPY into the empty table with binary vectors, then build the HNSW index once."""
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(self._hnsw_index))
        copy_sql = sql.SQL(
            "COPY {} (catalog_id, chunk_id, root_key, path, language, embedding)"
            " FROM STDIN WITH (FORMAT BINARY)"
        ).format(self._table)
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            copy.set_types(["text", "int8", "text", "text", "text", "vector"])
            for row in rows:
                copy.write_row(row)
        self._hnsw_ready = False
        self._ensure_hnsw_index(conn)

    def _ensure_hnsw_index(self, conn: psycopg.Connection[Any]) -> None:
        if self._hnsw_ready:
            return
        conn.execute(
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding vector_cosine_ops)"
            ).format(self._hnsw_index, self._table)
        )
        self._hnsw_ready = True

    # --- the planner's statistics ----------------------------------------------------------

    def _changed(self, rows: int) -> None:
        """Count rows written or deleted; ANALYZE the table once they are many (see
        ANALYSE_MIN_ROWS). Statistics only steer the planner: a failure is logged, never
        raised (the rows are written), and the next change tries again."""
        self._changed_since_analyse += rows
        if self._rows_analysed is None:
            try:
                self._rows_analysed = self._run(self._rows_in_statistics)
            except (psycopg.Error, VectorStoreUnavailableError) as exc:
                log.info("could not read the statistics of %s: %s", self.table, exc)
                return
        wanted = max(ANALYSE_MIN_ROWS, ANALYSE_SHARE * self._rows_analysed)
        if self._changed_since_analyse < wanted:
            return
        try:
            self._rows_analysed = self._run(self._analyse)
        except (psycopg.Error, VectorStoreUnavailableError) as exc:
            log.info("could not analyse %s: %s", self.table, exc)
            return
        self._changed_since_analyse = 0

    def _analyse(self, conn: psycopg.Connection[Any]) -> float:
        # About 8 ms for 6,300 768-d rows here; it reads a sample of at most 30,000 rows.
        conn.execute(sql.SQL("ANALYZE {}").format(self._table))
        return self._rows_in_statistics(conn)

    def _rows_in_statistics(self, conn: psycopg.Connection[Any]) -> float:
        """The rows the table's statistics count; 0 when it was never analysed."""
        row = conn.execute(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", (self.table,)
        ).fetchone()
        return max(0.0, float(row[0])) if row and row[0] is not None else 0.0

    # --- searching -----------------------------------------------------------------------

    def _conditions(self, flt: VectorFilter) -> tuple[list[sql.Composable], dict[str, Any]]:
        conditions: list[sql.Composable] = [sql.SQL("catalog_id = %(catalog)s")]
        params: dict[str, Any] = {"catalog": self.catalog_id}
        if flt.root_keys is not None:
            conditions.append(sql.SQL("root_key = ANY(%(roots)s)"))
            params["roots"] = list(flt.root_keys)
        if flt.languages is not None:
            conditions.append(sql.SQL("language = ANY(%(languages)s)"))
            params["languages"] = list(flt.languages)
        if flt.path_regex is not None:
            # The shared regexes are full-match without anchors; `~` searches anywhere.
            conditions.append(sql.SQL("path ~ %(regex)s"))
            params["regex"] = f"^(?:{flt.path_regex})$"
        if flt.path_exclude_regex is not None:
            conditions.append(sql.SQL("path !~ %(exclude)s"))
            params["exclude"] = f"^(?:{flt.path_exclude_regex})$"
        native = (
            flt.root_keys is not None
            or flt.languages is not None
            or flt.path_regex
            or flt.path_exclude_regex
        )
        if flt.allowed_ids is not None and not native:
            conditions.append(sql.SQL("chunk_id = ANY(%(ids)s)"))
            params["ids"] = sorted(int(i) for i in flt.allowed_ids)
        return conditions, params


def _idempotent(conn: psycopg.Connection[Any], statement: sql.Composed | sql.SQL) -> None:
    """Run CREATE ... IF NOT EXISTS; two clients racing to create it is not an error."""
    with contextlib.suppress(errors.UniqueViolation, errors.DuplicateObject, errors.DuplicateTable):
        conn.execute(statement)


def _pgvector_version(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    return str(row[0]) if row else ""


def _server_facts(conn: psycopg.Connection[Any]) -> dict[str, str]:
    version = conn.execute("SHOW server_version").fetchone()
    available = conn.execute(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
    ).fetchone()
    return {
        "server_version": str(version[0]).split()[0] if version else "unknown",
        "pgvector_version": _pgvector_version(conn),
        "pgvector_available": str(available[0]) if available and available[0] else "",
    }


def _location(url: str) -> str:
    """host:port/database, for messages."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.Error:
        return redact_url(url)
    host, port = parts.get("host") or "localhost", parts.get("port") or 5432
    return f"{host}:{port}/{parts.get('dbname', '')}"


def _server_message(exc: BaseException, url: str) -> str:
    """The server's (or libpq's) message on one line, with the password removed: libpq
    quotes parts of a malformed connection string, and the password may be one of them."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    try:
        password = conninfo_to_dict(url).get("password")
    except psycopg.Error:
        password = None
    if password:
        message = message.replace(str(password), "***")
    return redact_message(message, url)
