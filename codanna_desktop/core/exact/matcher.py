"""Matching a compiled pattern against one file's text, line by line as ripgrep does.

A line matches when the pattern matches inside it. Rather than run RE2 once per line,
the whole text is searched from the start of the next line after each match (one call
per matching line, which RE2 runs without Python's lock); the classes of the pattern
leave out the newline (pattern.py), so a match that still spans lines (a property class
such as ``\\p{Cc}``) is rare, and the lines it spans are then searched one by one. Line
numbers and starts come from the newlines' positions, found by numpy over the whole text
at once; match ranges are found when a line is shown. A pattern RE2 cannot look for by its
first byte (``^\\s*class \\w+``, ``\\w+Error\\b``, ``-w``) is instead run on each line
holding its required literal, where that literal is rare, as ripgrep does with an inner
literal. RE2 runs in linear time: no pattern can hang the search (`(a+)+$` included).

A word boundary (``\\b``, ``\\B``) is ASCII in RE2 and Unicode in ripgrep: ``é`` is a word
character to ripgrep, so ``\\bx\\b`` does not match in ``éxé``; so are ``\\W`` and ``\\S``
inside brackets. On texts that are not ASCII such a pattern finds its lines by a looser
form (pattern.py: a boundary left out; a match with it is a match without it), and each
line that is not ASCII is then checked by the engine
ripgrep itself uses, Rust's ``regex`` crate (through the ``flpc`` binding: linear time
too), with the pattern as the person wrote it; its match ranges come from there as well.
An ASCII line is checked by RE2, whose boundaries are the same there.
"""

from __future__ import annotations

import functools
import logging
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, overload

from re2 import Options, _re2

from codanna_desktop.core.exact.pattern import (
    NOT_WORD,
    NOT_WORD_ASCII,
    CaseMode,
    Cat,
    Lit,
    Node,
    ParsedPattern,
    PatternError,
    parse,
)
from codanna_desktop.core.exact.trigrams import ALL, Query, required_query

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
# RE2's default memory budget (8 MiB) refuses big alternations of literals that ripgrep
# takes; a larger budget is only given to those, since every match call pays for it (64 MiB
# made each call on a 600 kB text 15 times slower).
_BIG_MAX_MEM = 64 << 20
# The bytes most common in source code, most common first (counted over the standard
# library's texts; letters and spaces lead in any code): the rest are rarer than these.
_COMMON_BYTES = b" etsarnoi\nldfc.0_up()m',1h-gx\"bE=:"
# A gap between two occurrences of a literal over which RE2's search (by memchr of its
# rarest byte, a call through the binding about 1 µs) is cheaper than bytes.find's.
_SPARSE_BYTES = 4096
# Up to this many matching lines, a file's lines are counted with bytes.count up to each
# one rather than by numpy over the whole text (nor is numpy imported).
_FEW_LINES = 8
# A file in which the required text occurs at most once in this many bytes is searched
# line by line from each occurrence (see _lines_by_guard): a line costs two calls through
# the binding (2 to 4 µs), RE2 running a pattern that does not begin with a literal
# through the whole text 3 to 5 ns a byte (BENCHMARKS.md §11: 1,000 came out ahead of 500).
_BYTES_PER_GUARDED_LINE = 1000


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


@functools.lru_cache(maxsize=16)
def compiled(options: PatternOptions) -> CompiledPattern:
    """The compiled pattern of these options, compiled once (results sent from another
    process name their pattern by its options)."""
    return CompiledPattern(options)


class CompiledPattern:
    """A pattern ready to match: the RE2 program and the trigram query of candidates."""

    def __reduce__(self) -> tuple[Any, tuple[PatternOptions]]:
        return compiled, (self.options,)  # RE2's programs are not pickled: compiled again

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
        self._group = 1 if options.word else 0
        # Two programs: with ripgrep's Unicode classes, and with their ASCII forms for
        # ASCII texts (where both match the same); each compiled when first needed, with
        # its groups only for match ranges (without them RE2's DFA alone finds a match).
        # ripgrep's engine for the lines a word boundary makes RE2 misjudge (see above).
        self._check = _ripgrep_regex(options, self.ignore_case) if parsed.ascii_parts else None
        unicode_text = parsed.re2 if self._check is None else parsed.re2_loose
        programs = []
        for text, not_word in ((parsed.re2_ascii, NOT_WORD_ASCII), (unicode_text, NOT_WORD)):
            if options.word:
                # ripgrep 13's -w: the match must have a non-word character or a line end
                # on each side; group 1 is the match itself.
                text = f"(?:^|{not_word})({text})(?:$|{not_word})"
            programs.append(f"(?m){text}".encode())
        self._programs = {True: programs[0], False: programs[1]}
        self._same_programs = programs[0] == programs[1]
        self._compiled: dict[tuple[bool, bool], _re2.RE2] = {}
        self._regex(True, False)  # a bad pattern is an error now, not during the search
        # A plain literal matched with case is found by bytes.find: the same leftmost
        # matches as RE2's, without a call through the binding per line.
        self._literal: bytes | None = (
            None if self.ignore_case or options.word else _literal_of(parsed.tree)
        )
        # Text every match holds, found before the pattern is run (see _skip_to_required):
        # most candidates of the trigram index hold every trigram of a literal but not the
        # literal (`test_rect`: 64 of 65), and RE2 finds a literal far faster than the
        # pattern around it (by memchr of its first byte where it can).
        self._required = _required_literal(parsed.tree)
        rarest = None if self._required is None else _rarest_part(self._required)
        self._guard = None if rarest is None else _literal_program(rarest)
        self._guard_bytes = rarest or b""
        # Where the rarest part stands in the required literal (the whole literal, for a
        # plain one).
        self._guard_shift = 0 if rarest is None else len(self._required or b"") - len(rarest)
        # RE2 finds a pattern that begins with a literal by memchr of its first byte, as
        # fast as the guard; any other (`^\s*class \w+`, `\w+Error\b`, every -w pattern) it
        # runs byte by byte through the text, where the guard's lines are far cheaper.
        self._lines_from_guard = self._guard is not None and (
            options.word or not _begins_with_literal(parsed.tree)
        )

    @property
    def needs_full_scan(self) -> bool:
        """No literal narrows the candidates: every stored text is searched."""
        return self.query is ALL

    def lines_not_matching(self, body: bytes) -> MatchedLines | None:
        """The lines of `body` the pattern does not match (ripgrep's --invert-match), or
        None; their match ranges are empty."""
        matched = self.find_lines(body)
        taken = set(matched.numbers.tolist()) if matched is not None else set()
        starts, at = [], 0
        while at < len(body):
            starts.append(at)
            newline = body.find(b"\n", at)
            if newline == -1:
                break
            at = newline + 1
        inside = [s for number, s in enumerate(starts, 1) if number not in taken]
        return MatchedLines.of(self, body, inside) if inside else None

    def find_lines(self, body: bytes) -> MatchedLines | None:
        """The lines of `body` the pattern matches in, or None. One RE2 call per matching
        line (it runs without Python's lock); where each line starts and which number it
        has are found afterwards over the whole text at once, and the match ranges only
        when a line is shown (MatchedLines)."""
        n = len(body)
        if n == 0:
            return None
        end_of_text = n - 1 if body[-1] == 0x0A else n
        find = body.find
        literal = self._literal
        ascii_text = body.isascii()
        match = self._regex(ascii_text, False).Match
        inside: list[int] = []  # a position inside each matching line, in order
        # No match starts before the line of the first required text: the lines before
        # hold none, and a file without it (most candidates) is read once, by memchr.
        # Only the first: a further call per matching line cost more than it saved
        # where matching lines are many (`def \w+\(self`: 48,000 lines).
        pos = 0 if self._guard is None else _skip_to_required(self._guard, body, n)
        if pos < 0:
            return None
        if self._lines_from_guard:  # never a plain literal: one begins with a literal
            assert self._guard is not None
            hits = body.count(self._guard_bytes, pos)
            if hits * _BYTES_PER_GUARDED_LINE <= n - pos:
                inside = self._lines_by_guard(body, pos)
                if self._check is not None and not ascii_text:
                    inside = self._confirmed(body, inside)
                return MatchedLines.of(self, body, inside) if inside else None
        by_guard = True
        while pos <= end_of_text:
            if literal is not None:
                # RE2 from the rarest byte where the next line is far (a call costs about
                # a microsecond, bytes.find scans about 1.5 GB/s: 4 kB is about even),
                # bytes.find where lines come close together.
                if by_guard:
                    start = self._next_literal(body, literal, pos, n)
                else:
                    start = find(literal, pos)
                by_guard = start - pos > _SPARSE_BYTES or start < 0
                end = start + len(literal)
            else:
                start, end = match(_UNANCHORED, body, pos, n)[0]
            if start < 0 or start > end_of_text:
                break
            line_end = find(b"\n", start)
            if line_end == -1:
                line_end = n
            if end > line_end:
                pos = self._lines_across(body, start, end, end_of_text, inside)
                continue
            inside.append(start)
            pos = line_end + 1
        if self._check is not None and not ascii_text:
            inside = self._confirmed(body, inside)
        return MatchedLines.of(self, body, inside) if inside else None

    def _lines_by_guard(self, body: bytes, pos: int) -> list[int]:
        """A position in each matching line, found as ripgrep finds a pattern with an inner
        literal: each line holding the required text is searched on its own (by the ASCII
        program when the line is ASCII); the lines between are never run through RE2."""
        assert self._guard is not None
        guard, shift, n = self._guard.Match, self._guard_shift, len(body)
        ascii_match = self._regex(True, False).Match
        inside: list[int] = []
        while True:
            at = guard(_UNANCHORED, body, pos + shift, n)[0][0]
            if at < 0:
                return inside
            start, end = _line_around(body, at)
            line_ascii = body[start:end].isascii()
            match = ascii_match if line_ascii else self._regex(False, False).Match
            found = match(_UNANCHORED, body, start, end)[0][0]
            if found >= 0:
                inside.append(found)
            pos = end + 1
            if pos > n:
                return inside

    def _next_literal(self, body: bytes, literal: bytes, pos: int, n: int) -> int:
        """The first occurrence of the plain literal at or after `pos` (or -1), found by
        its rarest part (the guard) and checked whole."""
        assert self._guard is not None
        guard, shift = self._guard, self._guard_shift
        while True:
            at = guard.Match(_UNANCHORED, body, pos + shift, n)[0][0]
            if at < 0:
                return -1
            if body.startswith(literal, at - shift):
                return at - shift
            pos = at - shift + 1

    def _confirmed(self, body: bytes, inside: list[int]) -> list[int]:
        """The lines found without word boundaries that match with them."""
        ascii_regex = self._regex(True, False)
        kept = []
        for at in inside:
            line = body[slice(*_line_around(body, at))]
            if line.isascii():
                found = ascii_regex.Match(_UNANCHORED, line, 0, len(line))[0][0] >= 0
            else:
                found = _flpc().search(self._check, line.decode("utf-8", "replace")) is not None
            if found:
                kept.append(at)
        return kept

    def match_lines(self, body: bytes) -> list[LineMatch]:
        """Every matching line of `body`, in order, with the match ranges of each."""
        return list(self.find_lines(body) or ())

    def _lines_across(
        self, body: bytes, start: int, end: int, end_of_text: int, inside: list[int]
    ) -> int:
        """A match across lines (a class such as ``\\p{Cc}`` takes the newline): each line it
        spans is searched on its own, as ripgrep searches line by line. Returns where to
        go on from."""
        n = len(body)
        finder = self._regex(body.isascii(), False)
        last_end = body.find(b"\n", end - 1)
        last_end = n if last_end == -1 else last_end
        a = body.rfind(b"\n", 0, start) + 1
        while a <= last_end and a <= end_of_text:
            b = body.find(b"\n", a)
            b = n if b == -1 else b
            if finder.Match(_UNANCHORED, body, a, b)[0][0] >= 0:
                inside.append(a)
            a = b + 1
        return a

    def _regex(self, ascii_text: bool, groups: bool) -> _re2.RE2:
        key = (ascii_text or self._same_programs, groups and self._group == 1)
        regex = self._compiled.get(key)
        if regex is None:
            options = Options()
            options.case_sensitive = not self.ignore_case
            options.never_capture = not key[1]
            options.log_errors = False
            regex = _compile(self.options.pattern, self._programs[key[0]], options)
            self._compiled[key] = regex
        return regex

    def spans(self, text: bytes) -> tuple[tuple[int, int], ...]:
        """The match ranges inside one line."""
        if self._check is not None and not text.isascii():
            return self._checked_spans(text)
        return self._line_spans(self._regex(text.isascii(), True), text, 0, len(text))

    def _checked_spans(self, line: bytes) -> tuple[tuple[int, int], ...]:
        """A line's match ranges by ripgrep's engine, in bytes (it counts characters)."""
        text = line.decode("utf-8", "replace")
        out = []
        for m in _flpc().finditer(self._check, text):
            span = m.span(self._group)
            if span is not None:
                a, b = span
                out.append((len(text[:a].encode()), len(text[:b].encode())))
        return tuple(out)

    def count_in_lines(self, text: bytes, bounds: Sequence[tuple[int, int]]) -> int:
        """How many matches the lines ``text[a:b]`` hold, as many as their spans."""
        if self._literal:
            return text.count(self._literal)  # leftmost, not overlapping, as RE2 counts
        if self._check is not None and not text.isascii():
            return sum(len(self.spans(text[a:b])) for a, b in bounds)
        if self._group == 0:
            count = self._count_through(text)
            if count is not None:
                return count
        regex = self._regex(text.isascii(), True)
        return sum(len(self._line_spans(regex, text, a, b)) for a, b in bounds)

    def _count_through(self, text: bytes) -> int | None:
        """The matches of the lines ``text`` holds (each ended by a newline), counted in
        one pass over them all: one RE2 call per match, where line by line each line
        also cost the call that finds no more (half the calls for a line with one match),
        and no ranges are built. The same matches as the lines' spans: a match cannot
        run into the next line, and after an empty one the search goes on from the next
        character, as in a line. None when a match crosses a newline after all (a class
        such as ``\\p{Cc}``): counted line by line then."""
        match = self._regex(text.isascii(), False).Match
        find = text.find
        end = len(text)
        count = pos = 0
        while pos < end:
            start, stop = match(_UNANCHORED, text, pos, end)[0]
            if start < 0 or start == end:  # at the end: after the last line's newline
                break
            if stop > start:
                if find(b"\n", start, stop) != -1:
                    return None
                pos = stop
            else:
                pos = stop + 1
                while pos < end and text[pos] & 0xC0 == 0x80:
                    pos += 1  # not inside a UTF-8 sequence
            count += 1
        return count

    def _line_spans(
        self, regex: _re2.RE2, body: bytes, a: int, b: int
    ) -> tuple[tuple[int, int], ...]:
        spans = regex.Match(_UNANCHORED, body, a, b)
        if spans[0][0] < 0:
            return ()
        first = spans[self._group]
        found = [(first[0] - a, first[1] - a)]
        found += self._more_spans(regex, body, a, b, first[1], first[0] == first[1])
        return tuple(found)

    def _more_spans(
        self, regex: _re2.RE2, body: bytes, line_start: int, line_end: int, pos: int, empty: bool
    ) -> list[tuple[int, int]]:
        """The further matches in one line after the first, which ended at `pos`. With
        -w the next one is looked for from the end of the word, not of the character
        after it: that character may be the one before the next word (``ab ab``)."""
        out: list[tuple[int, int]] = []
        while True:
            if empty:
                pos += 1
                while pos < line_end and body[pos] & 0xC0 == 0x80:
                    pos += 1  # not inside a UTF-8 sequence
            if pos > line_end:
                return out
            spans = regex.Match(_UNANCHORED, body, pos, line_end)
            start = spans[0][0]
            if start < 0:
                return out
            inner = spans[self._group]
            out.append((inner[0] - line_start, inner[1] - line_start))
            empty = inner[0] == inner[1]
            pos = inner[1]


def _flpc() -> Any:
    import flpc  # only for patterns with a word boundary: most searches never load it

    return flpc


def _ripgrep_regex(options: PatternOptions, ignore_case: bool) -> Any:
    """The pattern compiled by Rust's regex crate as ripgrep 13 builds it (-w: a non-word
    character or a line end on each side, the match in group 1), or None when the
    binding is missing or refuses it (RE2's ASCII boundaries are then used)."""
    try:
        flpc = _flpc()
    except ImportError:
        log.info("flpc is not installed: word boundaries are ASCII on non-ASCII lines")
        return None
    text = flpc.escape(options.pattern) if options.fixed else options.pattern
    if options.word:
        text = f"(?:^|\\W)({text})(?:$|\\W)"
    if ignore_case:
        text = f"(?i){text}"
    try:
        return flpc.compile(text)
    except ValueError as exc:
        log.info("ripgrep's engine refuses %r (%s): ASCII word boundaries used", text, exc)
        return None


def _compile(pattern: str, program: bytes, options: Options) -> _re2.RE2:
    regex = _re2.RE2(program, options)
    if not regex.ok() and b"too large" in regex.error():
        options.max_mem = _BIG_MAX_MEM
        regex = _re2.RE2(program, options)
    if not regex.ok():
        raise PatternError(pattern, 0, regex.error().decode("utf-8", "replace"))
    return regex


def _required_literal(tree: Node) -> bytes | None:
    """The longest run of case-sensitive characters the pattern's top-level sequence holds
    (every match holds it), or None. Not one with a newline: a match is inside a line."""
    runs: list[str] = []
    run: list[str] = []
    for item in _sequence(tree):
        if isinstance(item, Lit) and not item.fold and item.char != "\n":
            run.append(item.char)
            continue
        runs.append("".join(run))
        run = []
    runs.append("".join(run))
    best = max(runs, key=lambda r: len(r.encode("utf-8")))
    return best.encode("utf-8") if best else None


def _sequence(tree: Node) -> list[Node]:
    """The parts matched one after the other, nested sequences opened."""
    if not isinstance(tree, Cat):
        return [tree]
    return [part for item in tree.items for part in _sequence(item)]


def _literal_program(literal: bytes) -> _re2.RE2:
    """RE2 finding the bytes as they are (Latin-1: a byte is a character, so a text that
    is not UTF-8 is searched as ripgrep searches it)."""
    options = Options()
    options.literal = True
    options.encoding = Options.Encoding.LATIN1
    options.never_capture = True
    options.log_errors = False
    return _re2.RE2(literal, options)


def _line_around(body: bytes, at: int) -> tuple[int, int]:
    """Where the line holding offset `at` starts, and where it ends (its newline, or the
    end of the text)."""
    end = body.find(b"\n", at)
    return body.rfind(b"\n", 0, at) + 1, len(body) if end == -1 else end


def _skip_to_required(guard: _re2.RE2, body: bytes, n: int) -> int:
    """The start of the line holding the first required text, or -1 when there is none."""
    at = guard.Match(_UNANCHORED, body, 0, n)[0][0]
    return -1 if at < 0 else body.rfind(b"\n", 0, at) + 1


def _rarest_part(literal: bytes) -> bytes:
    """The literal from its rarest byte on (part of every match too): RE2 finds a literal
    by memchr of its first byte, 20 GB/s for an `M` in code, under 1 for a space. At
    least four bytes of it (or all): a shorter part is found in too many places that
    hold it but not the literal (a `y` for `separately`: 30,000 places in 5 MB)."""
    starts = literal[: max(1, len(literal) - 3)]
    rank = [_COMMON_BYTES.find(b) % 256 for b in starts]  # absent (-1): rarer than all
    return literal[rank.index(max(rank)) :]


def _begins_with_literal(tree: Node) -> bool:
    """Whether every match begins with a given case-sensitive character (which RE2 looks
    for first)."""
    first = _sequence(tree)[0]
    return isinstance(first, Lit) and not first.fold


def _literal_of(tree: Node) -> bytes | None:
    """The bytes a pattern of plain case-sensitive characters matches, else None."""
    items = tree.items if isinstance(tree, Cat) else (tree,)
    if not all(isinstance(item, Lit) and not item.fold for item in items):
        return None
    return "".join(item.char for item in items if isinstance(item, Lit)).encode("utf-8")


if TYPE_CHECKING:
    _Ints = np.ndarray | array  # int64 either way; each has len, [k] and tolist()


class MatchedLines(Sequence[LineMatch]):
    """The matching lines of one file, held as arrays and one bytes object of their texts
    rather than as an object per line: a search can find 300,000 lines, and as many
    objects would keep Python's garbage collector walking them (each pass holds the
    lock the window's thread needs). A LineMatch, with its match ranges, is made when a
    line is asked for (painted, printed)."""

    __slots__ = ("_count", "_lengths", "_pattern", "_text", "_text_at", "numbers", "offsets")

    def __init__(
        self,
        pattern: CompiledPattern,
        numbers: _Ints,
        offsets: _Ints,
        lengths: _Ints,
        text: bytes,
        text_at: _Ints,
    ) -> None:
        # numpy arrays, or array.array for a few lines (a third of the cost to build: most
        # files a search finds have a few matching lines). Both give tolist().
        self._pattern = pattern
        self.numbers = numbers  # 1-based line numbers
        self.offsets = offsets  # byte offset of each line's start in the file
        self._lengths = lengths
        self._text = text  # the lines' texts, each followed by "\n"
        self._text_at = text_at  # where each line's text starts in it
        self._count: int | None = None

    @classmethod
    def of(cls, pattern: CompiledPattern, body: bytes, inside: list[int]) -> MatchedLines:
        """The lines holding the positions `inside` (sorted, one per line)."""
        if len(inside) <= _FEW_LINES:
            return cls._of_few(pattern, body, inside)
        # Imported here: numpy takes 80 ms to import, most of a `grep` that finds few lines.
        import numpy as np

        newlines = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 0x0A)
        bounds = np.concatenate(([-1], newlines, [len(body)]))
        index = np.searchsorted(newlines, np.asarray(inside, dtype=np.int64))
        starts = bounds[index] + 1
        ends = bounds[index + 1]
        text = b"\n".join(map(body.__getitem__, map(slice, starts.tolist(), ends.tolist())))
        lengths = ends - starts
        text_at = np.cumsum(lengths + 1) - (lengths + 1)
        return cls(pattern, index + 1, starts, lengths, text + b"\n", text_at)

    @classmethod
    def _of_few(cls, pattern: CompiledPattern, body: bytes, inside: list[int]) -> MatchedLines:
        numbers, starts, ends, text_at = [], [], [], []
        number, counted_to, at_text = 1, 0, 0
        for at in inside:
            start, end = _line_around(body, at)
            number += body.count(b"\n", counted_to, start)
            counted_to = start
            numbers.append(number)
            starts.append(start)
            ends.append(end)
            text_at.append(at_text)
            at_text += end - start + 1
        text = b"\n".join(map(body.__getitem__, map(slice, starts, ends)))
        lengths = array("q", (b - a for a, b in zip(starts, ends, strict=True)))
        return cls(
            pattern,
            array("q", numbers),
            array("q", starts),
            lengths,
            text + b"\n",
            array("q", text_at),
        )

    def __len__(self) -> int:
        return len(self.numbers)

    @overload
    def __getitem__(self, k: int) -> LineMatch: ...

    @overload
    def __getitem__(self, k: slice) -> list[LineMatch]: ...

    def __getitem__(self, k: int | slice) -> LineMatch | list[LineMatch]:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if k < 0:
            k += len(self)
        if not 0 <= k < len(self):
            raise IndexError(k)
        a = int(self._text_at[k])
        b = a + int(self._lengths[k])
        text = self._text[a:b]
        return LineMatch(
            int(self.numbers[k]), int(self.offsets[k]), text, self._pattern.spans(text)
        )

    def __iter__(self) -> Iterator[LineMatch]:
        for k in range(len(self)):
            yield self[k]

    def head(self, n: int) -> MatchedLines:
        """The first `n` lines (ripgrep's --max-count)."""
        if n >= len(self):
            return self
        return MatchedLines(
            self._pattern,
            self.numbers[:n],
            self.offsets[:n],
            self._lengths[:n],
            self._text,
            self._text_at[:n],
        )

    def without_spans(self) -> Iterator[LineMatch]:
        """The lines with no match ranges (spans ()): for output that shows none."""
        text, at, lengths = self._text, self._text_at.tolist(), self._lengths.tolist()
        for number, offset, a, n in zip(
            self.numbers.tolist(), self.offsets.tolist(), at, lengths, strict=True
        ):
            yield LineMatch(number, offset, text[a : a + n], ())

    def match_count(self) -> int:
        if self._count is None:
            at = self._text_at.tolist()
            bounds = [(a, a + n) for a, n in zip(at, self._lengths.tolist(), strict=True)]
            self._count = self._pattern.count_in_lines(self._text, bounds)
        return self._count
