"""Read one file's text safely: the binary and size guards, and decoding.

``read_source`` turns one file into text, or says why not (binary, minified, too large,
gone, changing under us, unreadable): it opens without following a swap to a fifo, reads at
most one byte over the size limit, and reads again when the file changed while read.
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codanna_desktop.core.files.skips import (
    FileSkipped,
    SkipReason,
    file_kind,
    link_target,
    os_reason,
    size_detail,
)

if TYPE_CHECKING:
    from pathlib import Path

# A file whose stat changes while read is read again this many times, then given up on.
MAX_REREADS = 3
# Minified code has very long lines on average; ordinary code with one long line (an
# embedded data URL, a generated table) keeps a short average and stays indexed.
MINIFIED_LONGEST_LINE = 2000
MINIFIED_AVERAGE_LINE = 300
_MINIFIED_NAME = re.compile(r"[.-]min\.(?:js|mjs|cjs|css)$", re.IGNORECASE)

# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# O_NONBLOCK: if a file is swapped for a fifo between its stat and its open, the open
# must not hang waiting for a writer.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


@dataclass(frozen=True)
class SourceText:
    text: str
    content_hash: str  # sha256 hex of the raw bytes
    size: int
    mtime_ns: int


def read_source(abs_path: Path, max_file_size: int) -> SourceText:
    """The file's text, read once and decoded. Raises FileSkipped with the reason."""
    if _MINIFIED_NAME.search(abs_path.name):
        raise FileSkipped(SkipReason.MINIFIED, "the file name marks it as minified")
    for _attempt in range(1 + MAX_REREADS):
        data, before, after = _read_once(abs_path, max_file_size)
        if len(data) == before.st_size and _same_version(before, after):
            break
    else:
        raise FileSkipped(
            SkipReason.CHANGING, f"its size or time changed during {1 + MAX_REREADS} reads"
        )
    text = decode_source(data)
    minified = minified_detail(text)
    if minified:
        raise FileSkipped(SkipReason.MINIFIED, minified)
    return SourceText(
        text=text,
        content_hash=hashlib.sha256(data).hexdigest(),
        size=len(data),
        mtime_ns=before.st_mtime_ns,
    )


def _read_once(abs_path: Path, max_file_size: int) -> tuple[bytes, os.stat_result, os.stat_result]:
    """The bytes, with the file's stat before (from the open file) and after (by path)."""
    try:
        # Opening a fifo would wake a writer waiting on it; look before touching.
        _check_is_readable_file(os.stat(abs_path), max_file_size)
        fd = os.open(abs_path, _OPEN_FLAGS)
    except OSError as exc:
        raise _skip_for(exc, abs_path) from exc
    try:
        before = os.fstat(fd)
        _check_is_readable_file(before, max_file_size)  # it may have been swapped since
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_file_size + 1)
    except OSError as exc:
        raise _skip_for(exc, abs_path) from exc
    finally:
        os.close(fd)
    if len(data) > max_file_size:
        raise FileSkipped(SkipReason.TOO_LARGE, size_detail(len(data), max_file_size))
    try:
        after = os.stat(abs_path)
    except OSError as exc:
        raise _skip_for(exc, abs_path) from exc
    return data, before, after


def _check_is_readable_file(info: os.stat_result, max_file_size: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise FileSkipped(SkipReason.NOT_A_FILE, file_kind(info.st_mode))
    if info.st_size > max_file_size:
        raise FileSkipped(SkipReason.TOO_LARGE, size_detail(info.st_size, max_file_size))


def decode_source(data: bytes) -> str:
    """Text from bytes: a byte-order mark chooses UTF-8/16/32; otherwise UTF-8, with
    undecodable bytes replaced (never a reason to skip). NUL bytes mean binary."""
    body = data
    for mark, encoding in _BYTE_ORDER_MARKS:
        if not data.startswith(mark):
            continue
        body = data[len(mark) :]
        if encoding == "utf-8":
            break
        try:
            text = body.decode(encoding)
        except UnicodeDecodeError as exc:
            raise FileSkipped(
                SkipReason.BINARY, f"not valid {encoding} after its byte-order mark"
            ) from exc
        if "\x00" in text:
            raise FileSkipped(SkipReason.BINARY, "contains NUL characters")
        return text
    # Executables, images and archives (ELF, PNG, zip...) all hold NUL bytes; text does not.
    if b"\x00" in body:
        raise FileSkipped(SkipReason.BINARY, "contains NUL bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("utf-8", errors="replace")


def minified_detail(text: str) -> str | None:
    """Why the text looks minified, or None for ordinary code."""
    if len(text) <= MINIFIED_LONGEST_LINE:
        return None
    average = len(text) / (text.count("\n") + 1)
    if average <= MINIFIED_AVERAGE_LINE:
        return None
    longest = max(len(line) for line in text.splitlines())
    if longest <= MINIFIED_LONGEST_LINE:
        return None
    return f"lines of {average:,.0f} characters on average, the longest {longest:,}"


def _same_version(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_size, before.st_mtime_ns, before.st_ino, before.st_dev) == (
        after.st_size,
        after.st_mtime_ns,
        after.st_ino,
        after.st_dev,
    )


def _skip_for(exc: OSError, path: Path) -> FileSkipped:
    if isinstance(exc, FileNotFoundError):
        if os.path.lexists(path):
            return FileSkipped(
                SkipReason.NOT_A_FILE, f"broken symbolic link to {link_target(path)}"
            )
        return FileSkipped(SkipReason.VANISHED, "deleted before it could be read")
    if isinstance(exc, NotADirectoryError):  # a folder on its path was replaced by a file
        return FileSkipped(SkipReason.VANISHED, "its folder was replaced while read")
    if exc.errno == errno.ELOOP:
        return FileSkipped(SkipReason.SYMLINK_LOOP, os_reason(exc))
    return FileSkipped(SkipReason.UNREADABLE, os_reason(exc))
