"""Why a file is not indexed, in words a person reads (the walk and the read both say it)."""

from __future__ import annotations

import os
import stat
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class SkipReason(StrEnum):
    """Why a file is not indexed; the values are shown to users as they are."""

    BINARY = "binary"
    TOO_LARGE = "too large"
    MINIFIED = "minified"
    UNREADABLE = "unreadable"
    VANISHED = "vanished while read"
    CHANGING = "kept changing while read"
    SYMLINK_LOOP = "symlink loop"
    NOT_A_FILE = "not a regular file"
    # A setting decides it (follow_links_outside), like TOO_LARGE.
    LINK_OUTSIDE = "link outside the folder"
    # A whole folder: skipped by name, recognised as generated, or ignored by a rule.
    FOLDER_LEFT_OUT = "folder left out"


class FileSkipped(Exception):
    """A file that cannot be indexed; ``reason`` and ``detail`` say why."""

    def __init__(self, reason: SkipReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


def os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def link_target(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "an unknown target"


def file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (fifo)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def size_detail(size: int, limit: int) -> str:
    return f"{size:,} bytes, over the limit of {limit:,}"
