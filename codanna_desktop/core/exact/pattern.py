"""A search pattern in ripgrep's syntax, read once for two purposes: the RE2 program that
matches it, and the literals every match must contain (which choose the candidate files).

ripgrep's engine (Rust's ``regex``) and RE2 run in linear time and share most of their
syntax; where they differ, the pattern is rewritten here so that RE2 behaves as ripgrep:
``\\w``, ``\\d`` and ``\\s`` are Unicode classes (RE2's are ASCII), ``(?<name>…)`` becomes
``(?P<name>…)``, ``\\u{…}``/``\\U…`` escapes become ``\\x{…}``, the ``x`` flag (whitespace
and comments) is applied here, and a line is the unit of matching (``^``/``$`` at line
ends, ``\\n`` refused as ripgrep refuses it). What RE2 cannot express is an error with its
position rather than a silent difference: nested classes and class set operations
(``[a[b]]``, ``&&``, ``--``, ``~~``) and back-references. ``\\b``/``\\B`` and ``\\W``/``\\S``
inside a bracket are ASCII in RE2: they are marked (`ascii_parts`) and the lines that are
not ASCII are checked by ripgrep's engine itself (matcher.py). Known small differences:
``\\w`` leaves out the 130 symbols Unicode calls alphabetic outside the letter and mark
categories (``Ⓐ``, ``🄰``), and RE2's Unicode tables are newer than ripgrep 13's (CJK
extension I, 622 letters, is ``\\w`` here and not there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from codanna_desktop.core.errors import CodannaError

# Unicode classes as ripgrep reads \w, \d and \s (RE2 reads them as ASCII).
_WORD_ITEMS = r"\p{L}\p{M}\p{Nd}\p{Pc}\p{Nl}\x{200C}\x{200D}"
_DIGIT_ITEMS = r"\p{Nd}"
# Matching is per line, as in ripgrep (which removes "\n" from every class): no class
# here matches a newline, so a match never runs into the next line.
_SPACE_ITEMS = r"\t\x{0B}\f\r \x{85}\p{Z}"


def _perl_classes(word: str, digit: str, space: str) -> dict[str, str]:
    return {
        "w": f"[{word}]",
        "W": f"[^{word}\\n]",
        "d": f"[{digit}]",
        "D": f"[^{digit}\\n]",
        "s": f"[{space}]",
        "S": f"[^{space}\\n]",
    }


_PERL_CLASS = _perl_classes(_WORD_ITEMS, _DIGIT_ITEMS, _SPACE_ITEMS)
_PERL_IN_CLASS = {"w": _WORD_ITEMS, "d": _DIGIT_ITEMS, "s": _SPACE_ITEMS, "D": r"\P{Nd}"}
NOT_WORD = _PERL_CLASS["W"]
# The same classes over ASCII alone, for texts that are ASCII (most files): there they
# match exactly what the Unicode ones match, and RE2 compiles them in a tenth of the time
# (the Unicode \w is hundreds of ranges) and runs them faster.
_ASCII_WORD, _ASCII_DIGIT, _ASCII_SPACE = "0-9A-Za-z_", "0-9", r"\t\x{0B}\f\r "
_ASCII_PERL_CLASS = _perl_classes(_ASCII_WORD, _ASCII_DIGIT, _ASCII_SPACE)
_ASCII_PERL_IN_CLASS = {
    "w": _ASCII_WORD,
    "d": _ASCII_DIGIT,
    "s": _ASCII_SPACE,
    "D": r"\x00-\x2F\x3A-\x{7F}",
}
NOT_WORD_ASCII = _ASCII_PERL_CLASS["W"]
# Where the parser put a Perl class, marked in its output until parse() writes it out
# both ways (a raw NUL never stands in the output otherwise: _re2_char escapes it).
_MARK, _IN_CLASS_MARK = "\x00", "\x01"
_MARKED = re.compile("([\x00\x01])([wWdDsS])\\1")
# Where RE2 reads ASCII what ripgrep reads as Unicode: a word boundary (\b, \B), and \W
# or \S inside brackets (in a bracket or in a negated one). Written out as RE2 reads them
# (re2) or so as to match at least what ripgrep's do (re2_loose): a boundary left out,
# \W or \S as any character in a bracket and as none in a negated one.
_BOUNDARY_MARK, _IN_BRACKET_MARK, _IN_NEGATED_MARK = "\x02", "\x03", "\x04"
_ASCII_PARTS = re.compile("([\x02\x03\x04])([bBWS])\\1")
_LOOSE_PARTS = {_BOUNDARY_MARK: "", _IN_BRACKET_MARK: r"\x{0}-\x{9}\x{B}-\x{10FFFF}"}
# RE2's \s leaves out \v, ripgrep's has it: on ASCII texts a bracket's \S is written out.
_ASCII_NOT_SPACE = r"\x{0}-\x{8}\x{E}-\x{1F}\x{21}-\x{7F}"
_REPEATABLE_ASSERTIONS = ("^", "$", "\x02b\x02", "\x02B\x02", r"\A", r"\z")

_SIMPLE_ESCAPES = {"t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}
_META = set("\\.+*?()|[]{}^$#&-~ ")
_ASSERTIONS = {"b", "B", "A", "z"}
_RE2_FLAGS = set("imsU")
# A class with at most this many characters is a set of literal strings for trigrams.
_SMALL_CLASS = 8


class CaseMode(StrEnum):
    SENSITIVE = "sensitive"
    IGNORE = "ignore"
    SMART = "smart"  # ignore case unless the pattern has an upper-case literal


class PatternError(CodannaError):
    """The pattern is not a valid regular expression; `position` is where (0-based)."""

    exit_code = 2  # bad usage, as ripgrep exits

    def __init__(self, pattern: str, position: int, reason: str) -> None:
        self.pattern = pattern
        self.position = position
        self.reason = reason
        super().__init__(f"regex parse error at character {position + 1}: {reason}")

    def __reduce__(self) -> tuple[type[PatternError], tuple[str, int, str]]:
        return PatternError, (self.pattern, self.position, self.reason)  # across processes

    def pointed(self) -> str:
        """The message as ripgrep prints it: the pattern with a caret under the place."""
        return (
            f"regex parse error:\n    {self.pattern}\n    {' ' * self.position}^\n"
            f"error: {self.reason}"
        )


# -- the tree literal extraction walks ---------------------------------------------------


@dataclass(frozen=True)
class Lit:
    char: str
    fold: bool  # matched ignoring case


@dataclass(frozen=True)
class Chars:
    """One character from a set; `chars` None when the set is large (`.`, `\\w`, `[^a]`)."""

    chars: frozenset[str] | None
    fold: bool = False


@dataclass(frozen=True)
class Empty:
    """Matches the empty string (an assertion such as `^` or `\\b`, or an empty group)."""


@dataclass(frozen=True)
class Cat:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Alt:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Rep:
    item: Node
    min: int
    max: int | None


Node = Lit | Chars | Empty | Cat | Alt | Rep


@dataclass(frozen=True)
class ParsedPattern:
    tree: Node
    re2: str  # the pattern in RE2's syntax, before case and word options are applied
    re2_ascii: str  # the same, valid for ASCII texts only (ASCII classes, faster)
    any_literal: bool
    any_uppercase: bool
    folds: bool  # some part of it ignores case (an inline `(?i)`)
    # Parts ASCII in RE2 and Unicode in ripgrep (``\b``, ``\B``, ``[\W]``, ``[\S]``): on a
    # line that is not ASCII a match is checked with ripgrep's own engine (matcher.py).
    # `re2_loose` matches wherever the pattern can match, so it finds every such line.
    ascii_parts: bool = False
    re2_loose: str = ""


@dataclass
class _Flags:
    i: bool = False
    x: bool = False


@dataclass
class _State:
    any_literal: bool = False
    any_uppercase: bool = False
    folds: bool = False
    ascii_parts: bool = False
    groups: list[int] = field(default_factory=list)


class _Parser:
    def __init__(self, pattern: str, fold: bool) -> None:
        self.p = pattern
        self.i = 0
        self.state = _State(folds=fold)
        self.base_fold = fold

    def error(self, reason: str, at: int | None = None) -> PatternError:
        return PatternError(self.p, self.i if at is None else at, reason)

    def peek(self) -> str:
        return self.p[self.i] if self.i < len(self.p) else ""

    def parse(self) -> tuple[Node, str]:
        node, out = self.alternation(_Flags(i=self.base_fold))
        if self.i < len(self.p):  # only a `)` stops an alternation early
            raise self.error("unopened group")
        return node, out

    def alternation(self, flags: _Flags) -> tuple[Node, str]:
        branches = [self.concatenation(flags)]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.concatenation(flags))
        if len(branches) == 1:
            return branches[0]
        return Alt(tuple(n for n, _ in branches)), "|".join(o for _, o in branches)

    def concatenation(self, flags: _Flags) -> tuple[Node, str]:
        items: list[Node] = []
        out: list[str] = []
        while self.i < len(self.p):
            ch = self.p[self.i]
            if flags.x and (ch.isspace() or ch == "#"):
                self.skip_verbose()
                continue
            if ch in "|)":
                break
            start = self.i
            if ch in "*+?{":
                raise self.error("repetition operator missing expression")
            node, text = self.atom(flags)
            while True:
                if flags.x:
                    self.skip_verbose()
                rep = self.quantifier(start)
                if rep is None:
                    break
                lo, hi, suffix = rep
                if isinstance(node, Empty) and text in _REPEATABLE_ASSERTIONS:
                    # RE2 refuses a repeated assertion that Rust accepts; it means the same
                    # as the assertion at most once.
                    text = f"(?:{text})?" if lo == 0 else text
                    continue
                node = Rep(node, lo, hi)
                text = f"(?:{text}){suffix}"
            items.append(node)
            out.append(text)
        if len(items) == 1:
            return items[0], out[0]
        return Cat(tuple(items)), "".join(out)

    def skip_verbose(self) -> None:
        while self.i < len(self.p):
            ch = self.p[self.i]
            if ch.isspace():
                self.i += 1
            elif ch == "#":
                end = self.p.find("\n", self.i)
                self.i = len(self.p) if end == -1 else end + 1
            else:
                break

    def quantifier(self, start: int) -> tuple[int, int | None, str] | None:
        ch = self.peek()
        if ch in ("*", "+", "?"):
            self.i += 1
            lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[ch]
            text = ch
        elif ch == "{":
            open_at = self.i
            end = self.p.find("}", self.i)
            if end == -1:
                raise self.error("unclosed counted repetition", open_at)
            body = self.p[self.i + 1 : end]
            lo_s, comma, hi_s = body.partition(",")
            if not lo_s.isdigit() or (hi_s and not hi_s.isdigit()):
                raise self.error("repetition quantifier expects a valid decimal", open_at)
            lo = int(lo_s)
            hi = (int(hi_s) if hi_s else None) if comma else lo
            if hi is not None and hi < lo:
                raise self.error("invalid repetition count range", open_at)
            if lo > 1000 or (hi or 0) > 1000:
                raise self.error("repetition count is larger than this engine allows (1000)")
            self.i = end + 1
            text = "{" + body + "}"
        else:
            return None
        if self.peek() == "?":
            self.i += 1
            text += "?"
        return lo, hi, text

    def atom(self, flags: _Flags) -> tuple[Node, str]:
        ch = self.p[self.i]
        if ch == "(":
            return self.group(flags)
        if ch == "[":
            return self.bracket(flags)
        self.i += 1
        if ch == ".":
            return Chars(None), "."
        if ch in "^$":
            return Empty(), ch
        if ch == "\\":
            return self.escape(flags)
        if ch == "\n":
            raise self.error("the literal '\\n' is not allowed in a regex", self.i - 1)
        return self.literal(ch, flags)

    def literal(self, ch: str, flags: _Flags) -> tuple[Node, str]:
        self.state.any_literal = True
        self.state.any_uppercase = self.state.any_uppercase or ch.isupper()
        return Lit(ch, flags.i), _re2_char(ch)

    def group(self, flags: _Flags) -> tuple[Node, str]:
        open_at = self.i
        self.i += 1
        inner = _Flags(flags.i, flags.x)
        prefix = "(?:"
        if self.p.startswith("?", self.i):
            self.i += 1
            if self.p.startswith("P<", self.i) or self.p.startswith("<", self.i):
                self.i += 2 if self.p[self.i] == "P" else 1
                end = self.p.find(">", self.i)
                name = self.p[self.i : end] if end != -1 else ""
                if not name or not all(c.isalnum() or c == "_" for c in name):
                    raise self.error("invalid capture group name", self.i)
                self.i = end + 1
                prefix = f"(?P<{name}>"
            else:
                end = min(
                    (j for j in (self.p.find(")", self.i), self.p.find(":", self.i)) if j != -1),
                    default=-1,
                )
                if end == -1:
                    raise self.error("unclosed group", open_at)
                spec = self.p[self.i : end]
                re2_flags = self.flags(spec, inner, self.i)
                self.i = end + 1
                if self.p[end] == ")":  # (?flags): the rest of this group
                    flags.i, flags.x = inner.i, inner.x
                    self.state.folds = self.state.folds or flags.i
                    return Empty(), f"(?{re2_flags})" if re2_flags else ""
                prefix = f"(?{re2_flags}:" if re2_flags else "(?:"
        else:
            prefix = "("
        self.state.folds = self.state.folds or inner.i
        node, text = self.alternation(inner)
        if self.peek() != ")":
            raise self.error("unclosed group", open_at)
        self.i += 1
        return node, f"{prefix}{text})"

    def flags(self, spec: str, into: _Flags, at: int) -> str:
        on = True
        kept = ""
        for offset, f in enumerate(spec):
            if f == "-":
                on = False
                kept += f
            elif f == "i":
                into.i = on
                kept += f
            elif f == "x":
                into.x = on
            elif f in _RE2_FLAGS:
                kept += f
            elif f == "u":
                pass  # Unicode is always on here, as it is by default in ripgrep
            else:
                raise self.error("unrecognized flag", at + offset)
        return kept.rstrip("-")

    def escape(self, flags: _Flags) -> tuple[Node, str]:
        at = self.i - 1
        if self.i >= len(self.p):
            raise self.error("incomplete escape sequence, reached end of pattern prematurely", at)
        ch = self.p[self.i]
        self.i += 1
        if ch in _META:
            return self.literal(ch, flags)
        if ch in _SIMPLE_ESCAPES:
            return self.literal(_SIMPLE_ESCAPES[ch], flags)
        if ch == "n":
            raise self.error("the literal '\\n' is not allowed in a regex", at)
        if ch in ("x", "u", "U"):
            cp = self.code_point(ch, at)
            if cp == 0x0A:
                raise self.error("the literal '\\n' is not allowed in a regex", at)
            return self.literal(chr(cp), flags)
        if ch in _PERL_CLASS:
            return Chars(None), f"{_MARK}{ch}{_MARK}"
        if ch in ("p", "P"):
            return Chars(None), "\\" + ch + self.property_name(at)
        if ch in ("b", "B"):
            self.state.ascii_parts = True
            return Empty(), f"{_BOUNDARY_MARK}{ch}{_BOUNDARY_MARK}"
        if ch in _ASSERTIONS:
            return Empty(), "\\" + ch
        if ch.isdigit():
            raise self.error("backreferences are not supported", at)
        raise self.error("unrecognized escape sequence", at)

    def code_point(self, kind: str, at: int) -> int:
        if self.peek() == "{":
            end = self.p.find("}", self.i)
            digits = self.p[self.i + 1 : end] if end != -1 else ""
            self.i = end + 1 if end != -1 else len(self.p)
        else:
            width = {"x": 2, "u": 4, "U": 8}[kind]
            digits = self.p[self.i : self.i + width]
            self.i += width
            if len(digits) != width:
                digits = ""
        try:
            cp = int(digits, 16) if digits else -1
        except ValueError:
            cp = -1
        if not 0 <= cp <= 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
            raise self.error("invalid hexadecimal escape (not a Unicode scalar value)", at)
        return cp

    def property_name(self, at: int) -> str:
        if self.peek() == "{":
            end = self.p.find("}", self.i)
            if end == -1:
                raise self.error("unclosed Unicode class name", at)
            name = self.p[self.i : end + 1]
            self.i = end + 1
            return name
        if not self.peek():
            raise self.error("incomplete escape sequence", at)
        name = self.p[self.i]
        self.i += 1
        return name

    def bracket(self, flags: _Flags) -> tuple[Node, str]:
        open_at = self.i
        self.i += 1
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        chars: set[str] = set()
        large = False
        out: list[str] = []
        first = True
        while True:
            if self.i >= len(self.p):
                raise self.error("unclosed character class", open_at)
            ch = self.p[self.i]
            if ch == "]" and not first:
                self.i += 1
                break
            first = False
            if ch == "[":
                if self.p.startswith("[:", self.i):
                    end = self.p.find(":]", self.i)
                    if end == -1:
                        raise self.error("unclosed character class", open_at)
                    out.append(self.p[self.i : end + 2])
                    self.i = end + 2
                    large = True
                    continue
                raise self.error("nested character classes are not supported by RE2")
            if self.p.startswith(("&&", "--", "~~"), self.i):
                raise self.error("character class set operations are not supported by RE2")
            item_at = self.i
            low = self.class_char(flags)
            if low is None:  # an escape class such as \w
                large = True
                if self.last_class_text in ("\\W", "\\S"):  # ASCII in RE2's brackets
                    self.state.ascii_parts = True
                    mark = _IN_NEGATED_MARK if negated else _IN_BRACKET_MARK
                    out.append(f"{mark}{self.last_class_text[1]}{mark}")
                    continue
                out.append(self.last_class_text)
                continue
            if self.peek() == "-" and self.p[self.i + 1 : self.i + 2] not in ("]", ""):
                self.i += 1
                high = self.class_char(flags)
                if high is None or ord(high) < ord(low):
                    raise self.error("invalid character class range", item_at)
                out.append(f"{_re2_class_char(low)}-{_re2_class_char(high)}")
                if ord(high) - ord(low) < _SMALL_CLASS:
                    chars.update(chr(c) for c in range(ord(low), ord(high) + 1))
                else:
                    large = True
            else:
                out.append(_re2_class_char(low))
                chars.add(low)
        text = "[" + ("^" + r"\n" if negated else "") + "".join(out) + "]"
        if negated or large or len(chars) > _SMALL_CLASS:
            return Chars(None), text
        for c in chars:
            self.state.any_literal = True
            self.state.any_uppercase = self.state.any_uppercase or c.isupper()
        return Chars(frozenset(chars), flags.i), text

    last_class_text = ""

    def class_char(self, flags: _Flags) -> str | None:
        """One character of a bracket, or None for an escape class (its RE2 text is kept
        in `last_class_text`)."""
        ch = self.p[self.i]
        self.i += 1
        if ch != "\\":
            if ch == "\n":
                raise self.error("the literal '\\n' is not allowed in a regex", self.i - 1)
            return ch
        at = self.i - 1
        if self.i >= len(self.p):
            raise self.error("incomplete escape sequence, reached end of pattern prematurely", at)
        e = self.p[self.i]
        self.i += 1
        if e in _META:
            return e
        if e in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[e]
        if e == "n":
            raise self.error("the literal '\\n' is not allowed in a regex", at)
        if e in ("x", "u", "U"):
            return chr(self.code_point(e, at))
        if e in _PERL_CLASS:
            in_class = e in _PERL_IN_CLASS
            self.last_class_text = f"{_IN_CLASS_MARK}{e}{_IN_CLASS_MARK}" if in_class else "\\" + e
            return None
        if e in ("p", "P"):
            self.last_class_text = "\\" + e + self.property_name(at)
            return None
        raise self.error("unrecognized escape sequence", at)


def _re2_char(ch: str) -> str:
    if ch.isascii() and (ch.isalnum() or ch == "_"):
        return ch
    return f"\\x{{{ord(ch):X}}}"


def _re2_class_char(ch: str) -> str:
    return _re2_char(ch)


def parse(pattern: str, *, fixed: bool = False, fold: bool = False) -> ParsedPattern:
    """Read a pattern (a literal when `fixed`). Raises PatternError with its position."""
    if fixed:
        if "\n" in pattern:
            raise PatternError(pattern, pattern.index("\n"), "the literal '\\n' is not allowed")
        items = tuple(Lit(c, fold) for c in pattern)
        tree: Node = items[0] if len(items) == 1 else Cat(items)
        re2_text = "".join(_re2_char(c) for c in pattern)
        return ParsedPattern(
            tree,
            re2_text,
            re2_text,
            any_literal=bool(pattern),
            any_uppercase=any(c.isupper() for c in pattern),
            folds=fold,
        )
    parser = _Parser(pattern, fold)
    tree, marked = parser.parse()
    state = parser.state
    text = _ASCII_PARTS.sub(r"\\\2", marked)
    ascii_text = _ASCII_PARTS.sub(
        lambda m: _ASCII_NOT_SPACE if m[1] != _BOUNDARY_MARK and m[2] == "S" else "\\" + m[2],
        marked,
    )
    loose = _ASCII_PARTS.sub(lambda m: _LOOSE_PARTS.get(m[1], ""), marked)
    return ParsedPattern(
        tree,
        _write_classes(text, _PERL_CLASS, _PERL_IN_CLASS),
        _write_classes(ascii_text, _ASCII_PERL_CLASS, _ASCII_PERL_IN_CLASS),
        state.any_literal,
        state.any_uppercase,
        state.folds,
        state.ascii_parts,
        _write_classes(loose, _PERL_CLASS, _PERL_IN_CLASS),
    )


def _write_classes(text: str, classes: dict[str, str], in_class: dict[str, str]) -> str:
    return _MARKED.sub(lambda m: (classes if m[1] == _MARK else in_class)[m[2]], text)


def escape(literal: str) -> str:
    """A literal as a pattern that matches exactly it."""
    return "".join("\\" + c if c in _META and c != " " else c for c in literal)


def alternation(patterns: list[str], *, fixed: bool) -> str:
    """Several patterns (``-e a -e b``) as one; literals are escaped unless there is one."""
    if len(patterns) == 1:
        return patterns[0]
    parts = [escape(p) if fixed else p for p in patterns]
    return "|".join(f"(?:{p})" for p in parts)
