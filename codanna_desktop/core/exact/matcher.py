"""Matching a compiled pattern against one file's text, line by line as ripgrep does.

A line matches when the pattern matches inside it. Rather than run RE2 once per line,
the whole text is searched and each match is mapped to its line; the classes of the
pattern leave out the newline (pattern.py), so a match that still spans lines (a
property class such as ``\\p{Cc}``) is rare, and the lines it spans are then searched one
by one. RE2 runs in linear time: no pattern can hang the search (`(a+)+$` included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from re2 import Options, _re2

from codanna_desktop.core.exact.pattern import (
    NOT_WORD,
    CaseMode,
    ParsedPattern,
    PatternError,
    parse,
)
from codanna_desktop.core.exact.trigrams import ALL, Query, required_query

_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
# RE2's default memory budget (8 MiB) refuses big alternations of literals that ripgrep
# takes; a larger budget is only given to those, since every match call pays for it (64 MiB
# made each call on a 600 kB text 15 times slower).
_BIG_MAX_MEM = 64 << 20


@dataclass(frozen=True)
class PatternOptions:
    pattern: str
    fixed: bool = False  # -F: a literal string, not a regular expression
    case: CaseMode = CaseMode.SENSITIVE
    word: bool = False  # -w: only whole words


class LineMatch(NamedTuple):
    """A tuple, not a dataclass: a search may make hundreds of thousands, and tuples of
    numbers and bytes are left alone by the cyclic garbage collector."""

    line: int  # 1-based
    offset: int  # byte offset of the line's start in the file
    text: bytes  # the line without its newline
    spans: tuple[tuple[int, int], ...]  # byte ranges of the matches inside the line


class CompiledPattern:
    """A pattern ready to match: the RE2 program and the trigram query of candidates."""

    def __init__(self, options: PatternOptions) -> None:
        self.options = options
        parsed = parse(options.pattern, fixed=options.fixed)
        self.ignore_case = options.case is CaseMode.IGNORE or (
            options.case is CaseMode.SMART and parsed.any_literal and not parsed.any_uppercase
        )
        if self.ignore_case:
            parsed = parse(options.pattern, fixed=options.fixed, fold=True)
        self.parsed: ParsedPattern = parsed
        self.query: Query = required_query(parsed.tree, fold=parsed.folds)
        body = parsed.re2
        if options.word:
            # ripgrep 13's -w: the match must have a non-word character or a line end on
            # each side; group 1 is the match itself.
            body = f"(?:^|{NOT_WORD})({body})(?:$|{NOT_WORD})"
        re2_options = Options()
        re2_options.case_sensitive = not self.ignore_case
        re2_options.never_capture = not options.word
        re2_options.log_errors = False
        self._group = 1 if options.word else 0
        program = f"(?m){body}".encode()
        self._regex = _re2.RE2(program, re2_options)
        if not self._regex.ok() and b"too large" in self._regex.error():
            re2_options.max_mem = _BIG_MAX_MEM
            self._regex = _re2.RE2(program, re2_options)
        if not self._regex.ok():
            reason = self._regex.error().decode("utf-8", "replace")
            raise PatternError(options.pattern, 0, reason)

    @property
    def needs_full_scan(self) -> bool:
        """No literal narrows the candidates: every stored text is searched."""
        return self.query is ALL

    def match_lines(self, body: bytes, *, limit_spans: bool = False) -> list[LineMatch]:
        """Every matching line of `body`, in order, with the match ranges of each."""
        out: list[LineMatch] = []
        n = len(body)
        if n == 0:
            return out
        end_of_text = n - 1 if body.endswith(b"\n") else n
        regex, group = self._regex, self._group
        pos = 0
        line_no, counted_to = 1, 0
        while pos <= end_of_text:
            spans = regex.Match(_UNANCHORED, body, pos, n)
            start, end = spans[0]
            if start < 0 or (start == n and start > end_of_text):
                break
            line_start = body.rfind(b"\n", 0, start) + 1
            line_end = body.find(b"\n", start)
            if line_end == -1:
                line_end = n
            line_no += body.count(b"\n", counted_to, line_start)
            counted_to = line_start
            if end > line_end:
                # A match across lines: search each line it spans on its own.
                last_end = body.find(b"\n", end - 1)
                last_end = n if last_end == -1 else last_end
                a = line_start
                while a <= last_end and a <= end_of_text:
                    b = body.find(b"\n", a)
                    b = n if b == -1 else b
                    in_line = self._line_spans(body, a, b, limit_spans)
                    if in_line:
                        out.append(LineMatch(line_no, a, body[a:b], in_line))
                    a = b + 1
                    line_no += 1
                counted_to = a
                pos = a
                continue
            first = spans[group]
            found = [(first[0] - line_start, first[1] - line_start)]
            if not limit_spans:
                found += self._more_spans(body, line_start, line_end, spans[0][1], start == end)
            out.append(LineMatch(line_no, line_start, body[line_start:line_end], tuple(found)))
            pos = line_end + 1
        return out

    def _line_spans(
        self, body: bytes, a: int, b: int, limit_spans: bool
    ) -> tuple[tuple[int, int], ...]:
        spans = self._regex.Match(_UNANCHORED, body, a, b)
        if spans[0][0] < 0:
            return ()
        first = spans[self._group]
        found = [(first[0] - a, first[1] - a)]
        if not limit_spans:
            found += self._more_spans(body, a, b, spans[0][1], spans[0][0] == spans[0][1])
        return tuple(found)

    def _more_spans(
        self, body: bytes, line_start: int, line_end: int, pos: int, empty: bool
    ) -> list[tuple[int, int]]:
        """The further matches in one line after the first, which ended at `pos`."""
        out: list[tuple[int, int]] = []
        while True:
            if empty:
                pos += 1
                while pos < line_end and body[pos] & 0xC0 == 0x80:
                    pos += 1  # not inside a UTF-8 sequence
            if pos > line_end:
                return out
            spans = self._regex.Match(_UNANCHORED, body, pos, line_end)
            start, end = spans[0]
            if start < 0:
                return out
            inner = spans[self._group]
            out.append((inner[0] - line_start, inner[1] - line_start))
            empty = start == end
            pos = end
