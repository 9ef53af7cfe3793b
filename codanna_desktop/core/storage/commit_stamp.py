"""Whether a tantivy index changed since a reader last reloaded it, for the cost of
reading one small file.

Every commit writes a new meta.json (its opstamp grows, its segments change): while its
bytes are the ones a reader had when it last reloaded, the reader sees every commit.
Reading them costs a few µs; a reload costs from 40 µs (tantivy's own) to most of a
millisecond (the lexical index's, which also checks its files), and a search box reloads
before every search. The file's inode and time are no stamp: inodes are reused, and the
clock's tick is coarser than two commits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def commit_stamp(index_dir: Path) -> bytes | None:
    """The bytes of the meta.json in `index_dir`, None if it cannot be read (then the
    caller reloads: a missing or unreadable file says nothing about what changed).

    Read it before reloading and keep it only once the reload succeeded: a commit that
    lands in between then only costs one more reload."""
    try:
        return (index_dir / "meta.json").read_bytes()
    except OSError:
        return None
