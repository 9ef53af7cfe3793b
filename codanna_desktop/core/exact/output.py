"""ripgrep's output formats for exact-search results, as bytes (lines are printed as the
file has them, whatever their encoding).

- lines: ``path:line:text`` (``path:text`` without line numbers, ripgrep's default when
  not printing to a terminal); on a terminal grouped under a heading per file, in colour;
  context lines (``-C``) use ``-`` instead of ``:`` and ``--`` separates groups;
- ``--vimgrep``: ``path:line:column:text``, one line per match (1-based byte column);
- ``--json``: ripgrep's ``match`` objects (path, lines, line_number, absolute_offset,
  submatches with start and end), plus ``column`` and the enclosing ``symbol``; a
  ``summary`` object closes the stream;
- ``-l``: paths only; ``-c``: ``path:count`` of matching lines.

Paths are printed as ripgrep prints them (`PathNames`).

A binary file, searched up to its first NUL byte (binary_prefix.py), is followed by
ripgrep's warning (``path: WARNING: stopped searching binary file after match (found
"\0" byte around offset N)``; in JSON an ``end`` object with ``binary_offset``), and ``-c``
leaves it out, as ripgrep squashes its count.
"""

from __future__ import annotations

import bisect
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from codanna_desktop.core.exact.search import ExactResult, FileMatches

_PATH, _LINE, _MATCH, _RESET = b"\x1b[35m", b"\x1b[32m", b"\x1b[1;31m", b"\x1b[0m"


@dataclass(frozen=True)
class Style:
    heading: bool = False
    color: bool = False
    context: int = 0
    before: int = 0
    after: int = 0
    line_numbers: bool = True
    with_filename: bool = True  # ripgrep leaves it out when the one PATH given is a file
    only_matching: bool = False  # -o: each match on a line of its own, no context


@dataclass(frozen=True)
class PathNames:
    """How a file's path is printed, as ripgrep prints it: under the PATH argument it was
    found through, as that was typed (``./src/a.py``, ``../lib/x.rs``, an absolute path
    for an absolute argument); with no PATH argument, relative to the working folder."""

    cwd: Path
    given: tuple[str, ...] = ()

    @functools.cached_property
    def _resolved(self) -> list[tuple[str, Path]]:
        return [(typed, (self.cwd / Path(typed).expanduser()).resolve()) for typed in self.given]

    def __call__(self, path: Path) -> str:
        for typed, resolved in self._resolved:
            if path == resolved:
                return typed
            if path.is_relative_to(resolved):
                rel = path.relative_to(resolved).as_posix()
                return typed + rel if typed.endswith("/") else f"{typed}/{rel}"
        try:
            return path.relative_to(self.cwd).as_posix()
        except ValueError:
            return str(path)


def _lines_of(body: bytes) -> list[bytes]:
    lines = body.split(b"\n")
    if body.endswith(b"\n"):
        lines.pop()
    return lines


def standard(result: ExactResult, names: PathNames, style: Style) -> Iterator[bytes]:
    before = 0 if style.only_matching else max(style.before, style.context)
    after = 0 if style.only_matching else max(style.after, style.context)
    spans_needed = style.color or style.only_matching
    for n, f in enumerate(result.files):
        name = names(f.abs_path).encode()
        if style.color:
            name = _PATH + name + _RESET
        if style.heading and style.with_filename:
            if n:
                yield b"\n"
            yield name + b"\n"
        all_lines = _lines_of(f.body) if (before or after) and f.body is not None else None
        last_printed = 0
        # Match ranges colour a line or are what -o prints: else none are looked for.
        for m in f.lines if spans_needed else f.lines.without_spans():
            if style.only_matching:  # a line that does not match (-v) is printed whole
                for start, end in m.spans or ((0, len(m.text)),):
                    yield _line(name, m.line, m.text[start:end], b":", style, ((0, end - start),))
                continue
            if all_lines is not None:
                first = max(1, m.line - before, last_printed + 1)
                if last_printed and first > last_printed + 1:
                    yield b"--\n"
                for k in range(first, m.line):
                    yield _line(name, k, all_lines[k - 1], b"-", style, ())
            yield _line(name, m.line, m.text, b":", style, m.spans)
            last_printed = m.line
            if all_lines is not None:
                nxt = _next_match_line(f, m.line)
                stop = min(len(all_lines), m.line + after, (nxt - 1) if nxt else len(all_lines))
                for k in range(m.line + 1, stop + 1):
                    yield _line(name, k, all_lines[k - 1], b"-", style, ())
                    last_printed = k
        if f.binary_offset is not None:
            yield binary_warning(name, f.binary_offset)
        if all_lines is not None and not style.heading and n + 1 < len(result.files):
            yield b"--\n"


def binary_warning(name: bytes, offset: int) -> bytes:
    """ripgrep's line after the matches of a binary file it stopped searching."""
    warning = b'WARNING: stopped searching binary file after match (found "\\0" byte around'
    return b"%s: %s offset %d)\n" % (name, warning, offset)


def _next_match_line(f: FileMatches, line: int) -> int | None:
    numbers = f.lines.numbers
    k = bisect.bisect_right(numbers, line)
    return int(numbers[k]) if k < len(numbers) else None


def _line(
    name: bytes,
    number: int,
    text: bytes,
    sep: bytes,
    style: Style,
    spans: tuple[tuple[int, int], ...],
) -> bytes:
    if style.color:
        text = _highlight(text, spans)
    prefix = b"" if style.heading or not style.with_filename else name + sep
    if style.line_numbers:
        num = str(number).encode()
        prefix += (_LINE + num + _RESET if style.color else num) + sep
    return prefix + text + b"\n"


def _highlight(text: bytes, spans: tuple[tuple[int, int], ...]) -> bytes:
    out, at = [], 0
    for start, end in spans:
        if start < at or end <= start:
            continue
        out += [text[at:start], _MATCH, text[start:end], _RESET]
        at = end
    out.append(text[at:])
    return b"".join(out)


def vimgrep(result: ExactResult, names: PathNames) -> Iterator[bytes]:
    for f in result.files:
        name = names(f.abs_path).encode()
        for m in f.lines:
            if not m.spans:  # a line that does not match (-v): no column, as in ripgrep
                yield b"%s:%d:%s\n" % (name, m.line, m.text)
            for start, _ in m.spans:
                yield b"%s:%d:%d:%s\n" % (name, m.line, start + 1, m.text)
        if f.binary_offset is not None:
            yield binary_warning(name, f.binary_offset)


def files_only(result: ExactResult, names: PathNames) -> Iterator[bytes]:
    for f in result.files:
        yield names(f.abs_path).encode() + b"\n"


def counts(result: ExactResult, names: PathNames, *, with_filename: bool = True) -> Iterator[bytes]:
    for f in result.files:
        if f.binary_offset is None:
            prefix = names(f.abs_path).encode() + b":" if with_filename else b""
            yield b"%s%d\n" % (prefix, len(f.lines))


def json_lines(
    result: ExactResult, names: PathNames, symbol_of: Callable[[int, int], str | None]
) -> Iterator[bytes]:
    for f in result.files:
        path = names(f.abs_path)
        for m in f.lines:
            text = m.text.decode("utf-8", "replace")
            data = {
                "path": {"text": path},
                "lines": {"text": text + "\n"},
                "line_number": m.line,
                "column": m.spans[0][0] + 1 if m.spans else None,
                "absolute_offset": m.offset,
                "submatches": [
                    {
                        "match": {"text": m.text[s:e].decode("utf-8", "replace")},
                        "start": s,
                        "end": e,
                    }
                    for s, e in m.spans
                ],
                "symbol": symbol_of(f.file_id, m.line),
                "language": f.language,
            }
            yield json.dumps({"type": "match", "data": data}, ensure_ascii=False).encode() + b"\n"
        if f.binary_offset is not None:
            end = {"path": {"text": path}, "binary_offset": f.binary_offset}
            yield json.dumps({"type": "end", "data": end}, ensure_ascii=False).encode() + b"\n"
    summary = {
        "type": "summary",
        "data": {
            "stats": {
                "matches": result.match_count,
                "matched_lines": result.line_count,
                "files_with_matches": len(result.files),
                "files_searched": result.candidates,
            }
        },
    }
    yield json.dumps(summary).encode() + b"\n"
