"""Errors a person can act on. Each carries a message meant to be shown as it is.

Each class says which exit code a process ends with when it stops on one, so the CLI
and the desktop app agree without a table of their own. `user_error` turns the
low-level errors that reach the edge anyway (a full disk, a denied path, a damaged
SQLite file) into one of these, so a person reads a sentence, never a traceback.
"""

from __future__ import annotations

import errno
import re
import shutil
import sqlite3
from pathlib import Path

REPAIR_COMMAND = "codanna-desktop repair"


class CodannaError(Exception):
    """Base of every error the CLI prints and the GUI shows."""

    exit_code = 4


class ModelUnavailableError(CodannaError):
    """The embedding model cannot be loaded (not installed, no network, bad folder)."""


class VectorStoreUnavailableError(CodannaError):
    """The vector store cannot be reached (for example the PostgreSQL server is down)."""


class IndexLockedError(CodannaError):
    """Another process holds the index for writing."""

    exit_code = 3


class SettingsError(CodannaError):
    """A settings value is invalid; nothing was saved."""


class RootNotFoundError(CodannaError):
    """A folder given as a root does not exist or is not a directory."""


class UnknownLanguageError(CodannaError):
    """A language filter names no language the index knows (bad usage)."""

    exit_code = 2


class PathFilterError(CodannaError):
    """A path filter is not a glob that can be read (bad usage)."""

    exit_code = 2


class PathFilterTooBigError(PathFilterError):
    """A path filter's regex is past what tantivy's automaton holds (1,000 states)."""


class CatalogDamagedError(CodannaError):
    """The catalog database cannot be read; `codanna-desktop repair` rebuilds it."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"The index catalog {path} is damaged ({detail}). Run `{REPAIR_COMMAND}`: it sets "
            "the damaged index aside and indexes your folders again from the files on disk "
            "(the list of folders is kept; only time is lost)."
        )
        self.path = path


class DiskFullError(CodannaError):
    """The disk holding the data folder has no space left."""

    def __init__(self, folder: Path) -> None:
        super().__init__(
            f"The disk holding {folder} is full. Free some space on it and try again; "
            "removing folders from the index (`codanna-desktop remove PATH`) frees the "
            "space their part of the index takes."
        )
        self.folder = folder


class DataAccessError(CodannaError):
    """A file or folder of the index may not be read or written (permissions, I/O)."""


class UnexpectedError(CodannaError):
    """Anything else that reached the edge: a bug, said in a sentence (the log keeps the
    traceback)."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(
            f"Something unexpected went wrong ({type(exc).__name__}: {exc}). This is a bug: "
            "please report it (the log has the details; on the command line, --verbose "
            "shows them)."
        )


def user_error(exc: BaseException, where: Path | None = None) -> CodannaError:
    """What a person should read for `exc`: the one place both faces (CLI and desktop app)
    turn an error into a sentence and, by its class's `exit_code`, an exit code.

    `where` is the file or folder in use when the error came, for the message."""
    return known_error(exc, where) or UnexpectedError(exc)


def known_error(exc: BaseException, where: Path | None = None) -> CodannaError | None:
    """The CodannaError for a low-level error a person can act on, or None."""
    if isinstance(exc, CodannaError):
        return exc
    if isinstance(exc, sqlite3.Error):
        return _sqlite_error(exc, where)
    if isinstance(exc, OSError):
        return _os_error(exc, where)
    if "No space left on device" in str(exc):
        # Errors of the Rust extensions (tantivy) carry the OS error in their text only.
        named = re.search(r'path: "([^"]+)"', str(exc))
        folder = Path(named.group(1)).parent if named else where or Path.cwd()
        return DiskFullError(folder if where is None or named else where)
    return None


def _sqlite_error(exc: sqlite3.Error, where: Path | None) -> CodannaError | None:
    path = where or Path("catalog.sqlite")
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code == 13:  # SQLITE_FULL
        return DiskFullError(path.parent)
    if code in (5, 6):  # SQLITE_BUSY, SQLITE_LOCKED: after the catalog's 30 s wait
        return IndexLockedError(
            f"The index catalog {path} stayed busy: another process kept it locked. "
            "Wait for that process to finish, then try again."
        )
    if code in (11, 26):  # SQLITE_CORRUPT, SQLITE_NOTADB
        return CatalogDamagedError(path, str(exc))
    if code in (3, 8, 14, 23):  # SQLITE_PERM, SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_AUTH
        return DataAccessError(
            f"The index catalog {path} cannot be opened for writing ({exc}). Check that "
            f"your user may write {path.parent} (or set CODANNA_HOME to a folder you own)."
        )
    if code == 10 and _nearly_full(path.parent):
        # A full disk shows as an I/O error when SQLite cannot grow its shared-memory
        # file (SQLITE_IOERR_SHMSIZE), which even a reader needs in WAL mode.
        return DiskFullError(path.parent)
    if code == 10:  # SQLITE_IOERR: the disk or the file system failed under the file
        return DataAccessError(
            f"Reading or writing the index catalog {path} failed ({exc}). Check the disk; "
            f"if the error stays, run `{REPAIR_COMMAND}`."
        )
    return None


def _nearly_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < 1024 * 1024
    except OSError:
        return False


def _os_error(exc: OSError, where: Path | None) -> CodannaError | None:
    name = exc.filename or where
    path = Path(name) if isinstance(name, str | Path) else where
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        folder = path or Path.cwd()
        return DiskFullError(folder if folder.is_dir() else folder.parent)
    if exc.errno == errno.EROFS:
        return DataAccessError(
            f"{path or 'The data folder'} is on a read-only file system. Set CODANNA_HOME "
            "to a folder on a disk that can be written."
        )
    if isinstance(exc, PermissionError):
        what = f"{path}" if path is not None else "a file of the index"
        return DataAccessError(
            f"Codanna Desktop may not write {what} ({exc.strerror}). Give your user access "
            "to it, or set CODANNA_HOME to a folder you own."
        )
    if exc.errno == errno.EIO:
        return DataAccessError(f"The disk failed while using {path or 'the index'} ({exc}).")
    return None


class LexicalIndexDamagedError(CodannaError):
    """The lexical (text) index on disk is damaged; the writer rebuilds it from the catalog."""
