"""Files checked before a C extension reads them: size and CRC-32 recorded at save.

hnswlib neither notices a short write (a full disk leaves a truncated file and no error)
nor survives reading a garbled file (it can crash the process). So every save records what
it wrote in a small sidecar, ``<file>.check``, and every open compares the file with it
before the extension sees a byte.

The sidecar may list two digests: a save writes ``[new, old]`` before it renames the new
file into place and ``[new]`` after, so a crash between the two, or a reader that looks
in between, still finds the file on disk listed.
"""

from __future__ import annotations

import json
import os
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from codanna_desktop.core.atomic_file import write_atomically

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

_READ_CHUNK = 1 << 20
# A reader can open the file just as a writer replaces it: read it again, then give up.
_OPEN_ATTEMPTS = 3


class UnverifiedFileError(Exception):
    """The file is not what its last save wrote; `reason` says how, for a sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FileDigest:
    size: int
    crc32: int


def check_path(path: Path) -> Path:
    return path.with_name(path.name + ".check")


def digest_of(fh: BinaryIO) -> FileDigest:
    fh.seek(0)
    crc, size = 0, 0
    while block := fh.read(_READ_CHUNK):
        crc = zlib.crc32(block, crc)
        size += len(block)
    return FileDigest(size, crc)


def read_digests(path: Path) -> list[FileDigest] | None:
    """The digests the sidecar of `path` accepts; None when there is no sidecar."""
    try:
        raw = json.loads(check_path(path).read_text(encoding="utf-8"))
        return [FileDigest(int(d["size"]), int(d["crc32"])) for d in raw["accepted"]]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return []  # a damaged sidecar accepts nothing


def write_digests(path: Path, digests: Sequence[FileDigest]) -> None:
    """Replace the sidecar of `path` atomically (temporary file, fsync, rename)."""
    target = check_path(path)
    body = json.dumps({"accepted": [{"size": d.size, "crc32": d.crc32} for d in digests]})
    write_atomically(target, body)


def remove_with_sidecar(path: Path) -> None:
    path.unlink(missing_ok=True)
    check_path(path).unlink(missing_ok=True)


def problem(path: Path) -> str | None:
    """Why `path` must not be loaded (missing, damaged, unverifiable); None if it is as
    saved, or if it was never saved at all (no file, no sidecar)."""
    try:
        with verified(path):
            return None
    except FileNotFoundError:
        return None
    except UnverifiedFileError as exc:
        return exc.reason


@contextmanager
def verified(path: Path) -> Iterator[tuple[str, os.stat_result, FileDigest]]:
    """Yield a name to load the verified file by, its stat and its digest, while it stays
    open.

    The name reaches the very file that was checked (``/proc/self/fd/N``, ``/dev/fd/N``)
    where the system has one, so a writer renaming a new file into place between the check
    and the load cannot slip an unchecked file in. Raises FileNotFoundError when nothing
    was ever saved, UnverifiedFileError when the file does not match its sidecar.
    """
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            fh = open(path, "rb")  # noqa: SIM115 - stays open while the caller loads it
        except FileNotFoundError:
            if check_path(path).exists():
                raise UnverifiedFileError("missing") from None
            raise
        with fh:
            st = os.fstat(fh.fileno())
            accepted = read_digests(path)
            if accepted is None:
                raise UnverifiedFileError(
                    "unverifiable (it has no checksum: an older version saved it, or the"
                    " checksum file was deleted)"
                )
            digest = digest_of(fh)
            if digest in accepted:
                yield _name_of_open_file(fh, path), st, digest
                return
            if attempt + 1 < _OPEN_ATTEMPTS and _replaced_since(path, st):
                continue
            raise UnverifiedFileError("damaged (its size or checksum is not what was saved)")


def _replaced_since(path: Path, st: os.stat_result) -> bool:
    try:
        return os.stat(path).st_ino != st.st_ino
    except FileNotFoundError:
        return False


def _name_of_open_file(fh: BinaryIO, path: Path) -> str:
    for folder in ("/proc/self/fd", "/dev/fd"):
        name = f"{folder}/{fh.fileno()}"
        if os.path.exists(name):
            return name
    return str(path)
