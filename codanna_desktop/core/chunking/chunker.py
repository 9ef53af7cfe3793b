"""Split one file into chunks that follow its structure.

Code in a language with a tree-sitter grammar becomes one chunk per function, method and
class-like definition, plus "module" chunks for the lines outside every definition
(imports, constants, top-level statements). Markdown becomes one chunk per section. Any
other text becomes overlapping line windows.

How symbols are named (one rule for every language):
- a definition is qualified by the classes, structs, traits, interfaces, impl blocks and
  Ruby modules around it, joined with ".": ``HTTPConnection.request``, ``Outer.Inner.m``;
- namespaces (C++/C#/PHP namespaces, Rust ``mod``, TypeScript ``namespace``) get a chunk
  of their own (kind "module", symbol = the namespace) but do not qualify the names
  inside them: ``namespace net { class Conn { void send(); } }`` gives ``Conn.send``;
- a method defined outside its type names the type: Go ``func (s *Server) Serve()`` is
  ``Server.Serve``, Rust ``impl Foo { fn bar }`` is ``Foo.bar`` (the impl block itself is
  a "class" chunk named ``Foo``), C++ ``void ns::Cls::m()`` is ``Cls.m`` (the last two
  parts of the qualified name, after dropping namespaces declared in the same file).

A definition's chunk starts at the doc comments, decorators and attributes directly above
it (no blank line between). A class chunk holds only the lines of the class that are not
inside its extracted members (header, docstring, fields, closing line), so a method's text
is never repeated in its class. Members that start on the class's header line stay inside
the class chunk (one-line classes are one chunk).

Chunks longer than `max_lines` lines or `max_chars` characters are cut into overlapping
windows; every window after the first begins with the definition's signature line so it
still says what it belongs to, while its start_line/end_line are the lines of its body.
A single line longer than `max_chars` is cut into character slices.

Each chunk lists the names it defines (`Chunk.names`), so a lookup by name finds the
definition rather than its callers: the definition's own name on the window holding its
signature line, and in module and class chunks the names their declarations bind
(assignments, constants, enum members), found by a tree-sitter query per grammar.

Which language a file is in and how that language is chunked come from its spec
(languages.py); the definitions from the finder (definitions.py), Markdown sections from
markdown.py. The chunker is thread-safe: tree-sitter parsers are not, so each thread gets
its own.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from tree_sitter import Parser

from codanna_desktop.core.chunking.chunks import Chunk
from codanna_desktop.core.chunking.definitions import Definition, DefinitionFinder, declared_names
from codanna_desktop.core.chunking.languages import (
    LanguageSpec,
    detect_language,
    language_spec,
    load_language,
)
from codanna_desktop.core.chunking.markdown import markdown_sections

if TYPE_CHECKING:
    from collections.abc import Iterator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Piece:
    """Rows of one file that become one chunk, or several windows when too long."""

    rows: list[int]
    symbol: str | None
    kind: str
    head_row: int | None = None
    # (row, name) of the declarations on this piece's rows (module and class pieces only).
    declared: tuple[tuple[int, str], ...] = ()
    aliases: tuple[str, ...] = ()  # names it defines besides its own, on its head row


class Chunker:
    """Turns the text of one file into chunks. Safe to call from many threads at once."""

    def __init__(
        self,
        max_lines: int = 60,
        window_lines: int = 40,
        window_overlap: int = 10,
        max_chars: int = 4000,
    ) -> None:
        if not 0 <= window_overlap < window_lines <= max_lines:
            raise ValueError("need 0 <= window_overlap < window_lines <= max_lines")
        if max_chars < 100:
            raise ValueError("max_chars must be at least 100")
        self.max_lines = max_lines
        self.window_lines = window_lines
        self.window_overlap = window_overlap
        self.max_chars = max_chars
        self._local = threading.local()

    def __reduce__(self) -> tuple[type[Chunker], tuple[int, int, int, int]]:
        # Sent to worker processes (file_reader.py) as its settings; parsers are per thread.
        return (Chunker, (self.max_lines, self.window_lines, self.window_overlap, self.max_chars))

    def chunk(self, rel_path: str, text: str, language: str | None = None) -> list[Chunk]:
        """The chunks of one file, in file order. An empty or blank file has none."""
        # tree-sitter counts rows by "\n" only; a lone "\r" (old Mac files) is a line end too.
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if not text.strip():
            return []
        lines = text.split("\n")
        if language is None:
            language = detect_language(rel_path, lines[0])
        spec = language_spec(language)
        pieces: list[_Piece] | None = None
        if spec is not None and spec.definitions is not None:
            pieces = self._code_pieces(spec, text, lines)
        elif spec is not None and spec.sections:
            pieces = [
                _Piece(list(range(s.first_row, s.end_row)), s.title, "section", s.heading_row)
                for s in markdown_sections(lines)
            ]
        if pieces is None:  # no grammar, or the grammar could not be used
            pieces = [_Piece(list(range(len(lines))), None, "window")]
        chunks = [c for p in pieces for c in self._windows(rel_path, language, lines, p)]
        chunks.sort(key=lambda c: (c.start_line, c.end_line))
        return chunks

    # -- code ---------------------------------------------------------------------------

    def _code_pieces(self, spec: LanguageSpec, text: str, lines: list[str]) -> list[_Piece] | None:
        language, syntax = spec.name, spec.definitions
        parser = self._parser(language)
        if parser is None or syntax is None:
            return None
        try:
            tree = parser.parse(text.encode("utf-8", "replace"))
            if tree is None:
                return None
            finder = DefinitionFinder(syntax, lines, self.max_chars)
            definitions = finder.find(tree.root_node)
        except Exception as error:  # a grammar surprise costs the file its structure, no more
            log.warning("Cannot parse %s code (%s); chunking by lines", language, error)
            return None
        pieces: list[_Piece] = []
        claimed = [False] * len(lines)
        for definition in definitions:
            for row in range(definition.first_row, definition.last_row + 1):
                claimed[row] = True
            pieces.extend(_definition_pieces(definition, lines))
        pieces.extend(_Piece(run, None, "module") for run in _runs(claimed, False))
        grammar = load_language(language)
        declared = declared_names(language, syntax, grammar, tree.root_node) if grammar else {}
        if not declared:
            return pieces
        return [
            replace(p, declared=tuple((r, n) for r in p.rows for n in declared.get(r, ())))
            if p.kind in ("module", "class")
            else p
            for p in pieces
        ]

    def _parser(self, language: str) -> Parser | None:
        parsers: dict[str, Parser | None] | None = getattr(self._local, "parsers", None)
        if parsers is None:
            parsers = self._local.parsers = {}
        if language not in parsers:
            grammar = load_language(language)
            parsers[language] = Parser(grammar) if grammar is not None else None
        return parsers[language]

    # -- windows --------------------------------------------------------------------------

    def _windows(
        self, rel_path: str, language: str, lines: list[str], piece: _Piece
    ) -> Iterator[Chunk]:
        """One chunk for a piece that fits, else overlapping windows of it."""
        rows = _trimmed(piece.rows, lines)
        if not rows:
            return
        signature = ""
        if piece.head_row is not None:
            signature = lines[piece.head_row].strip()[: self.max_chars // 4]

        own_name = piece.symbol.rsplit(".", 1)[-1] if piece.symbol and signature else None

        def make(window_rows: list[int], body: str, prefixed: bool) -> Chunk:
            if prefixed and signature and piece.head_row not in window_rows:
                body = signature + "\n" + body
            first, last = window_rows[0], window_rows[-1]
            names = [own_name] if own_name and piece.head_row in window_rows else []
            if piece.head_row in window_rows:
                names += piece.aliases
            names += [n for r, n in piece.declared if first <= r <= last]
            return Chunk(
                path=rel_path,
                language=language,
                start_line=first + 1,
                end_line=last + 1,
                symbol=piece.symbol,
                kind=piece.kind,
                text=body,
                names=tuple(dict.fromkeys(names)),
            )

        sizes = [len(lines[r]) for r in rows]
        if len(rows) <= self.max_lines and sum(sizes) + len(rows) - 1 <= self.max_chars:
            yield make(rows, "\n".join(lines[r] for r in rows), prefixed=False)
            return
        later_budget = self.max_chars - (len(signature) + 1 if signature else 0)
        start, first = 0, True
        while start < len(rows):
            budget = self.max_chars if first else later_budget
            end, size = start, 0
            while end < len(rows) and end - start < self.window_lines:
                added = sizes[end] + (1 if end > start else 0)
                if size + added > budget:
                    break
                size, end = size + added, end + 1
            if end == start:  # one line longer than a whole chunk: cut it into slices
                line, offset = lines[rows[start]], 0
                while offset < len(line):
                    budget = self.max_chars if first else later_budget
                    if line[offset : offset + budget].strip():
                        yield make([rows[start]], line[offset : offset + budget], not first)
                        first = False
                    offset += budget
                start += 1
                continue
            window = _trimmed(rows[start:end], lines)
            if window:
                yield make(window, "\n".join(lines[r] for r in window), not first)
                first = False
            if end == len(rows):
                break
            start = end - self._overlap(sizes, start, end, later_budget)

    def _overlap(self, sizes: list[int], start: int, end: int, budget: int) -> int:
        """How many lines the next window repeats: fewer after a short window, and never so
        many that the next window could not reach past this one."""
        overlap = (end - start) * self.window_overlap // self.window_lines
        while overlap > 0 and sum(sizes[end - overlap : end + 1]) + overlap > budget:
            overlap -= 1
        return overlap


def _definition_pieces(definition: Definition, lines: list[str]) -> Iterator[_Piece]:
    """A leaf definition is all its rows; a container is its rows outside its members (where
    members were cut out, the blank lines around them are kept only once)."""
    if not definition.is_container:
        every_row = list(range(definition.first_row, definition.last_row + 1))
        yield _Piece(
            every_row,
            definition.symbol,
            definition.kind,
            definition.head_row,
            aliases=definition.aliases,
        )
        return
    in_member: set[int] = set()
    for member in definition.members:
        in_member.update(range(member.first_row, member.last_row + 1))
    rows: list[int] = []
    for row in range(definition.first_row, definition.last_row + 1):
        if row in in_member and row != definition.head_row:
            continue
        if rows and not lines[row].strip() and not lines[rows[-1]].strip():
            continue
        rows.append(row)
    yield _Piece(rows, definition.symbol, definition.kind, definition.head_row)
    for member in definition.members:
        yield from _definition_pieces(member, lines)


def _runs(flags: list[bool], value: bool) -> Iterator[list[int]]:
    """Maximal runs of consecutive rows whose flag equals `value`."""
    run: list[int] = []
    for row, flag in enumerate(flags):
        if flag == value:
            run.append(row)
        elif run:
            yield run
            run = []
    if run:
        yield run


def _trimmed(rows: list[int], lines: list[str]) -> list[int]:
    """Rows without the blank ones at either end."""
    start, end = 0, len(rows)
    while start < end and not lines[rows[start]].strip():
        start += 1
    while end > start and not lines[rows[end - 1]].strip():
        end -= 1
    return rows[start:end]
