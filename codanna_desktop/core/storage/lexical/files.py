"""Checking a tantivy index's files before tantivy reads them.

tantivy 0.27 opens an index whose segment files are garbled without a word and answers
from them (measured: bytes flipped inside a .idx, .term, .pos, .store or .fieldnorm
file, or a .pos file deleted, all opened; the deleted .pos failed only at the first
search). Its Python binding does not expose tantivy's own checksum validation, so it is
done here, the way tantivy writes its files: every segment file ends with a footer,

    body | JSON {"version": {...}, "crc": <CRC-32 of body>} | u32 JSON length | u32 1337

(little-endian), and meta.json lists the segments, each made of the same set of files.
CRC-32 runs at several GB/s here, so checking every file at open costs little next to
tantivy's own open. Segment files never change once committed, so a file checked once
(same name, same size) is not read again by the same process.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

_FOOTER_MAGIC = 1337
_FOOTER_TAIL = struct.Struct("<II")  # JSON length, magic
_FOOTER_MAX_JSON = 50_000  # tantivy's own limit
# The files of one segment in this project's schema (text fields with positions, fast
# and stored fields): tantivy writes each of them for every segment, even an empty one.
SEGMENT_FILES = ("idx", "term", "pos", "store", "fast", "fieldnorm")
_READ_BLOCK = 1 << 20


class IndexFilesDamaged(Exception):
    """The files on disk are not the index meta.json describes; the message says how."""


def segment_files(meta: dict[str, object]) -> list[str]:
    """The names of the files meta.json says the index is made of."""
    segments = meta.get("segments")
    if not isinstance(segments, list):
        raise IndexFilesDamaged("meta.json lists no segments")
    names: list[str] = []
    for segment in segments:
        if not isinstance(segment, dict) or not isinstance(segment.get("segment_id"), str):
            raise IndexFilesDamaged("meta.json has a segment without an id")
        stem = segment["segment_id"].replace("-", "")
        names += [f"{stem}.{ext}" for ext in SEGMENT_FILES]
        deletes = segment.get("deletes")
        if isinstance(deletes, dict) and "opstamp" in deletes:
            names.append(f"{stem}.{deletes['opstamp']}.del")
    return names


def read_meta(directory: Path) -> dict[str, object]:
    try:
        meta = json.loads((directory / "meta.json").read_bytes())
    except FileNotFoundError:
        raise IndexFilesDamaged("meta.json is missing") from None
    except (OSError, ValueError) as exc:
        raise IndexFilesDamaged(f"meta.json cannot be read: {exc}") from None
    if not isinstance(meta, dict):
        raise IndexFilesDamaged("meta.json is not an index description")
    return meta


def check_file(path: Path) -> None:
    """Raise IndexFilesDamaged unless the file ends with a footer whose checksum matches."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            if size < _FOOTER_TAIL.size:
                raise IndexFilesDamaged(f"{path.name} is truncated ({size} bytes)")
            handle.seek(size - _FOOTER_TAIL.size)
            json_len, magic = _FOOTER_TAIL.unpack(handle.read(_FOOTER_TAIL.size))
            body_len = size - _FOOTER_TAIL.size - json_len
            if magic != _FOOTER_MAGIC or json_len > _FOOTER_MAX_JSON or body_len < 0:
                raise IndexFilesDamaged(f"{path.name} has no valid footer (truncated?)")
            handle.seek(body_len)
            try:
                footer = json.loads(handle.read(json_len))
                expected = int(footer["crc"])
            except (ValueError, KeyError, TypeError):
                raise IndexFilesDamaged(f"{path.name} has a garbled footer") from None
            handle.seek(0)
            crc, left = 0, body_len
            while left:
                block = handle.read(min(_READ_BLOCK, left))
                if not block:
                    raise IndexFilesDamaged(f"{path.name} is shorter than it says")
                crc = zlib.crc32(block, crc)
                left -= len(block)
    except FileNotFoundError:
        raise IndexFilesDamaged(f"{path.name} is missing") from None
    except OSError as exc:
        raise IndexFilesDamaged(f"{path.name} cannot be read: {exc}") from None
    if crc != expected:
        raise IndexFilesDamaged(f"{path.name} does not match its checksum")


class IndexFileChecker:
    """Checks an index directory's files, remembering the ones already found good."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._good: set[tuple[str, int]] = set()

    def check(self) -> None:
        """Raise IndexFilesDamaged if meta.json or a file it names is damaged or missing."""
        for name in segment_files(read_meta(self.directory)):
            path = self.directory / name
            try:
                key = (name, path.stat().st_size)
            except FileNotFoundError:
                raise IndexFilesDamaged(f"{name} is missing") from None
            except OSError as exc:
                raise IndexFilesDamaged(f"{name} cannot be read: {exc}") from None
            if key not in self._good:
                check_file(path)
                self._good.add(key)

    def forget(self) -> None:
        self._good.clear()
