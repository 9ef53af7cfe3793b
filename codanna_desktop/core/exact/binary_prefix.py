"""What ripgrep searches of a binary file it finds by walking a folder: the lines it read
before the first NUL byte.

The app skips a file holding a NUL byte (a binary file: no chunks, no ranked results).
ripgrep, walking a folder, searches it and stops at the first NUL (its binary detection
``quit``, crates/searcher/src/line_buffer.rs and searcher/glue.rs): it reads the file
into a 64 KiB buffer (the first read is 3 bytes: FIRST_READ_BYTES), searches the complete
lines of each fill, and when a fill holds the NUL it stops there without searching that
fill. So it reports the matching lines of the fills before the one with the NUL (nothing
when the NUL is in the first 64 KiB, as in most binary files), then prints "WARNING:
stopped searching binary file after match (found "\\0" byte around offset N)". Exact
search stores that searched part, for exact search only, and says the same.

Only the plain-bytes case is modelled: a UTF-16/32 file (with its byte-order mark) is
decoded by ripgrep before the NUL is looked for, and is left out here. ripgrep grows its
buffer for a line longer than it (to three times its size) and keeps the grown buffer
for the next files its thread searches; the model starts from 64 KiB for every file.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

BUFFER_BYTES = 64 * 1024  # ripgrep's DEFAULT_BUFFER_CAPACITY
# ripgrep's reader looks for a byte-order mark first (encoding_rs_io's BomPeeker): its
# first read gives the first 3 bytes alone. Without a mark they are the first fill when
# they hold a newline, so a binary file starting "P6\n" (a PPM image) has its line 1
# searched; after a UTF-8 mark, dropped, the next read fills the buffer.
FIRST_READ_BYTES = 3
_WIDE_MARKS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # UTF-32's marks start with these


@dataclass(frozen=True)
class BinaryPrefix:
    """The part of a binary file ripgrep searches, and where its first NUL byte is."""

    body: bytes  # complete lines, each ending in "\n" (a UTF-8 byte-order mark removed)
    nul_offset: int  # as ripgrep reports it: counted after a UTF-8 byte-order mark
    content_hash: str  # sha256 hex of the whole file (the catalog's stamp)


def searched_part(data: bytes, nul: int, *, first_read: int = FIRST_READ_BYTES) -> bytes:
    """The bytes of `data` ripgrep searches before it stops at the NUL at `nul`: the
    fills of its line buffer as it reads them (each read fills the free part of the
    buffer, except the first, which is `first_read` bytes; a fill ends at the last
    newline read; a fill without one reads on, growing a full buffer by twice its size),
    up to the fill in which the NUL arrives."""
    capacity = BUFFER_BYTES
    searched = 0  # end of the lines searched so far
    read = 0  # bytes read so far
    while True:
        # A fill: the unsearched tail of the last one moves to the buffer's front.
        while True:
            if read - searched >= capacity:
                capacity += 2 * capacity
            want = capacity - (read - searched)
            if read == 0 and first_read:
                want = min(want, first_read)
            new_end = min(len(data), read + want)
            if nul < new_end:
                return data[:searched]
            if new_end == read:  # the end of the file, never before the NUL
                return data[:searched]
            last_newline = data.rfind(b"\n", read, new_end)
            read = new_end
            if last_newline != -1:
                searched = last_newline + 1
                break


def read_prefix(path: Path, max_file_size: int) -> BinaryPrefix | None:
    """The searched part of a file skipped as binary, or None when ripgrep would search
    none of it (the NUL within the first fill, no NUL at all, a UTF-16/32 file, a file
    over the size limit, or one that cannot be read)."""
    try:
        # Not blocking: a file swapped for a fifo since it was read must not hang here.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_file_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > max_file_size or data.startswith(_WIDE_MARKS):
        return None
    content_hash = hashlib.sha256(data).hexdigest()
    # ripgrep removes a UTF-8 byte-order mark before it reads (offsets count from there).
    body = data.removeprefix(codecs.BOM_UTF8)
    nul = body.find(b"\x00")
    if nul == -1:
        return None
    part = searched_part(body, nul, first_read=FIRST_READ_BYTES if body is data else 0)
    if not part:
        return None
    return BinaryPrefix(part, nul, content_hash)
