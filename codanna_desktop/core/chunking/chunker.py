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

The chunker is thread-safe: tree-sitter parsers are not, so each thread gets its own.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from tree_sitter import Language, Node, Parser, Query, QueryCursor

from codanna_desktop.core.chunking.chunks import Chunk
from codanna_desktop.core.chunking.languages import (
    GRAMMAR_LANGUAGES,
    detect_language,
    load_language,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

log = logging.getLogger(__name__)

# Generic descent looks for definitions inside statements (``if``, ``#ifdef``, ``extern
# "C"``...) but not deeper than this: it guards the recursion against pathological nesting.
_MAX_DEPTH = 60


@dataclass(frozen=True)
class _Syntax:
    """How one grammar spells definitions."""

    functions: frozenset[str]
    classes: frozenset[str]
    namespaces: frozenset[str] = frozenset()
    # Comments, decorators and attributes that belong to the definition right below them.
    attached: frozenset[str] = frozenset({"comment"})
    # Anonymous functions and the like: definitions inside them are not looked for.
    scopes: frozenset[str] = frozenset()
    # Functions without a body here are declarations (interface or abstract methods):
    # they stay inside their class chunk.
    functions_need_body: bool = False
    classes_need_body: bool = False


_JS_FUNCTIONS = frozenset(
    {"function_declaration", "generator_function_declaration", "method_definition"}
)
_JS_SCOPES = frozenset(
    {"arrow_function", "function_expression", "function", "generator_function", "class"}
)
_TS = _Syntax(
    functions=_JS_FUNCTIONS,
    classes=frozenset(
        {
            "class_declaration",
            "abstract_class_declaration",
            "interface_declaration",
            "enum_declaration",
        }
    ),
    namespaces=frozenset({"internal_module", "module"}),
    attached=frozenset({"comment", "decorator"}),
    scopes=_JS_SCOPES,
)
_C_CLASSES = frozenset({"struct_specifier", "union_specifier", "enum_specifier"})

_SYNTAX: dict[str, _Syntax] = {
    "python": _Syntax(
        functions=frozenset({"function_definition"}),
        classes=frozenset({"class_definition"}),
        scopes=frozenset({"lambda"}),
    ),
    "javascript": _Syntax(
        functions=_JS_FUNCTIONS,
        classes=frozenset({"class_declaration"}),
        attached=frozenset({"comment", "decorator"}),
        scopes=_JS_SCOPES,
    ),
    "typescript": _TS,
    "tsx": _TS,
    "go": _Syntax(
        functions=frozenset({"function_declaration", "method_declaration"}),
        classes=frozenset({"type_spec"}),
        scopes=frozenset({"func_literal"}),
    ),
    "rust": _Syntax(
        functions=frozenset({"function_item"}),
        classes=frozenset({"struct_item", "enum_item", "union_item", "trait_item", "impl_item"}),
        namespaces=frozenset({"mod_item"}),
        attached=frozenset({"line_comment", "block_comment", "attribute_item"}),
        scopes=frozenset({"closure_expression"}),
    ),
    "java": _Syntax(
        functions=frozenset(
            {"method_declaration", "constructor_declaration", "compact_constructor_declaration"}
        ),
        classes=frozenset(
            {
                "class_declaration",
                "interface_declaration",
                "enum_declaration",
                "record_declaration",
                "annotation_type_declaration",
            }
        ),
        attached=frozenset({"line_comment", "block_comment"}),
        scopes=frozenset({"lambda_expression", "object_creation_expression"}),
        functions_need_body=True,
    ),
    "c": _Syntax(
        functions=frozenset({"function_definition"}),
        classes=_C_CLASSES,
        classes_need_body=True,
    ),
    "cpp": _Syntax(
        functions=frozenset({"function_definition"}),
        classes=_C_CLASSES | {"class_specifier"},
        namespaces=frozenset({"namespace_definition"}),
        scopes=frozenset({"lambda_expression"}),
        classes_need_body=True,
    ),
    "csharp": _Syntax(
        functions=frozenset(
            {
                "method_declaration",
                "constructor_declaration",
                "destructor_declaration",
                "operator_declaration",
                "conversion_operator_declaration",
            }
        ),
        classes=frozenset(
            {
                "class_declaration",
                "struct_declaration",
                "interface_declaration",
                "enum_declaration",
                "record_declaration",
                "record_struct_declaration",
            }
        ),
        namespaces=frozenset({"namespace_declaration"}),
        scopes=frozenset(
            {
                "lambda_expression",
                "anonymous_method_expression",
                "anonymous_object_creation_expression",
            }
        ),
        functions_need_body=True,
    ),
    "ruby": _Syntax(
        functions=frozenset({"method", "singleton_method"}),
        classes=frozenset({"class", "module"}),
        scopes=frozenset({"block", "do_block", "lambda"}),
    ),
    "php": _Syntax(
        functions=frozenset({"function_definition", "method_declaration"}),
        classes=frozenset(
            {
                "class_declaration",
                "interface_declaration",
                "trait_declaration",
                "enum_declaration",
            }
        ),
        namespaces=frozenset({"namespace_definition"}),
        scopes=frozenset({"anonymous_function", "arrow_function", "anonymous_class"}),
        functions_need_body=True,
    ),
    "bash": _Syntax(functions=frozenset({"function_definition"}), classes=frozenset()),
}

# Declarations whose names a module or class chunk defines. Captures inside functions are
# local variables: only those on rows of module and class chunks are kept.
_C_DECLARED = (
    "(preproc_def name: (identifier) @name)"
    " (preproc_function_def name: (identifier) @name)"
    " (init_declarator declarator: (identifier) @name)"
    " (enumerator name: (identifier) @name)"
)
_TS_DECLARED = (
    "(variable_declarator name: (identifier) @name)"
    " (enum_body (property_identifier) @name)"
    " (enum_assignment name: (property_identifier) @name)"
)
_DECLARED_NAMES: dict[str, str] = {
    "python": (
        "(assignment left: (identifier) @name) (assignment left: (pattern_list (identifier) @name))"
    ),
    "javascript": "(variable_declarator name: (identifier) @name)",
    "typescript": _TS_DECLARED,
    "tsx": _TS_DECLARED,
    "go": "(const_spec name: (identifier) @name) (var_spec name: (identifier) @name)",
    "rust": (
        "(const_item name: (identifier) @name) (static_item name: (identifier) @name)"
        " (enum_variant name: (identifier) @name)"
    ),
    "java": (
        "(field_declaration declarator: (variable_declarator name: (identifier) @name))"
        " (enum_constant name: (identifier) @name)"
    ),
    "c": _C_DECLARED,
    "cpp": _C_DECLARED,
    "csharp": (
        "(field_declaration (variable_declaration (variable_declarator name: (identifier) @name)))"
        " (enum_member_declaration name: (identifier) @name)"
    ),
    "ruby": "(assignment left: (constant) @name)",
    "php": "(const_element (name) @name)",
    "bash": "(variable_assignment name: (variable_name) @name)",
}
_declared_queries: dict[str, Query | None] = {}
_declared_queries_lock = threading.Lock()


def _declared_query(language: str, grammar: Language) -> Query | None:
    """The compiled declaration query of a grammar (compiled once per process)."""
    with _declared_queries_lock:
        if language not in _declared_queries:
            source = _DECLARED_NAMES.get(language)
            try:
                _declared_queries[language] = Query(grammar, source) if source else None
            except Exception as error:  # a grammar release renamed a node: names, not chunks, lost
                log.warning("No declared names for %s: %s", language, error)
                _declared_queries[language] = None
        return _declared_queries[language]


def _declared_names(language: str, grammar: Language, root: Node) -> dict[int, list[str]]:
    """Row -> the names declarations bind on that row, in source order."""
    query = _declared_query(language, grammar)
    if query is None:
        return {}
    nodes = QueryCursor(query).captures(root).get("name", [])
    by_row: dict[int, list[str]] = {}
    for node in sorted(nodes, key=lambda n: n.start_byte):
        name = _text(node)
        if name:
            by_row.setdefault(node.start_point.row, []).append(name)
    return by_row


_FUNCTION_VALUES = frozenset(
    {"arrow_function", "function_expression", "function", "generator_function"}
)
_CLASS_VALUES = frozenset({"class", "class_expression"})
_TEMPLATE_ARGUMENTS = re.compile(r"<[^<>]*>")
_MARKDOWN_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_MARKDOWN_SETEXT = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
_MARKDOWN_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


@dataclass
class _Definition:
    """A definition found in the tree; rows are 0-based and inclusive."""

    symbol: str | None
    kind: str  # function | method | class | module (a namespace)
    first_row: int  # includes the doc comments and decorators above it
    head_row: int  # the row that names it: its signature line
    last_row: int
    is_container: bool
    members: list[_Definition] = field(default_factory=list)
    aliases: tuple[str, ...] = ()  # other names it defines (`a = b = function...`)


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


def _last_row(node: Node) -> int:
    """The last row a node has text on (a node that ends at column 0 ends on the row before)."""
    end_row, end_column = node.end_point
    if end_column == 0 and end_row > node.start_point.row:
        return end_row - 1
    return int(end_row)


def _text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", "replace")


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
        if language in GRAMMAR_LANGUAGES:
            pieces = self._code_pieces(language, text, lines)
        elif language == "markdown":
            pieces = _markdown_pieces(lines)
        else:
            pieces = None
        if pieces is None:  # no grammar, or the grammar could not be used
            pieces = [_Piece(list(range(len(lines))), None, "window")]
        chunks = [c for p in pieces for c in self._windows(rel_path, language, lines, p)]
        chunks.sort(key=lambda c: (c.start_line, c.end_line))
        return chunks

    # -- code ---------------------------------------------------------------------------

    def _code_pieces(self, language: str, text: str, lines: list[str]) -> list[_Piece] | None:
        parser = self._parser(language)
        if parser is None:
            return None
        try:
            tree = parser.parse(text.encode("utf-8", "replace"))
            if tree is None:
                return None
            finder = _DefinitionFinder(_SYNTAX[language], lines, self.max_chars)
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
        declared = _declared_names(language, grammar, tree.root_node) if grammar else {}
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


class _DefinitionFinder:
    """Walks a syntax tree and returns its definitions, members nested in their containers."""

    def __init__(self, syntax: _Syntax, lines: list[str], max_chars: int) -> None:
        self.syntax = syntax
        self.lines = lines
        self.max_chars = max_chars
        self.namespace_names: set[str] = set()
        # Other names a definition node binds (chained assignments), by node id.
        self.aliases: dict[int, tuple[str, ...]] = {}

    def find(self, root: Node) -> list[_Definition]:
        found: list[_Definition] = []
        self._collect(root, (), False, found, 0)
        return found

    def _collect(
        self,
        node: Node,
        qualifier: tuple[str, ...],
        in_type: bool,
        found: list[_Definition],
        depth: int,
    ) -> None:
        # One-line nodes are entered only from a multi-line parent (the body of a multi-line
        # `if` may hold a one-line def); the statements of minified code are never walked.
        node_spans_rows = _last_row(node) > node.start_point.row
        for child in node.named_children:
            definition = self._definition(child, qualifier, in_type, depth)
            if definition is not None:
                found.append(definition)
            elif (
                depth < _MAX_DEPTH
                and child.type not in self.syntax.scopes
                and (node_spans_rows or _last_row(child) > child.start_point.row)
            ):
                self._collect(child, qualifier, in_type, found, depth + 1)

    def _definition(
        self, outer: Node, qualifier: tuple[str, ...], in_type: bool, depth: int
    ) -> _Definition | None:
        recognised = self._recognise(outer)
        if recognised is None:
            return None
        node, category, name = recognised
        if self._crowded(outer):
            return None
        name_node = node.child_by_field_name("name")
        head_row = (name_node or node).start_point.row
        first_row = self._first_row(outer)
        last_row = _last_row(outer)
        if category == "function":
            parts, kind = self._function_name(node, name)
            if kind == "function" and in_type:
                kind = "method"
            symbol = ".".join((*qualifier, *parts)) if parts else None
            aliases = self.aliases.get(node.id, ())
            return _Definition(symbol, kind, first_row, head_row, last_row, False, aliases=aliases)
        if category == "namespace":
            symbol, kind, inner_qualifier, inner_in_type = name or None, "module", qualifier, False
            if name:
                self.namespace_names.update(name.split("."))
        else:
            inner_qualifier = (*qualifier, name) if name else qualifier
            symbol, kind, inner_in_type = ".".join(inner_qualifier) or None, "class", True
        definition = _Definition(symbol, kind, first_row, head_row, last_row, True)
        members: list[_Definition] = []
        self._collect(node, inner_qualifier, inner_in_type, members, depth + 1)
        # A member sharing the header row stays in the container (one-line classes).
        definition.members = [m for m in members if m.first_row > head_row]
        return definition

    def _recognise(self, node: Node) -> tuple[Node, str, str] | None:
        """(definition node, "function" | "class" | "namespace", name) when `node` is a
        definition, or wraps one (decorators, ``export``, ``template<...>``, ``const f =``)."""
        syntax, kind = self.syntax, node.type
        if kind in ("decorated_definition", "template_declaration"):
            for child in reversed(node.named_children):
                if child.type in syntax.functions or child.type in syntax.classes:
                    return self._recognise(child)
            return None
        if kind == "export_statement":
            inner = node.child_by_field_name("declaration") or node.child_by_field_name("value")
            if inner is None:
                return None
            recognised = self._recognise(inner)
            if recognised is None and inner.type in _FUNCTION_VALUES | _CLASS_VALUES:
                category = "function" if inner.type in _FUNCTION_VALUES else "class"
                return inner, category, "default"
            if recognised is not None and not recognised[2]:  # export default function () {}
                return recognised[0], recognised[1], "default"
            return recognised
        if kind in ("lexical_declaration", "variable_declaration"):
            return self._recognise_variable(node)
        if kind == "expression_statement" and node.named_child_count == 1:
            return self._recognise_assignment(node.named_children[0])
        if kind in ("public_field_definition", "field_definition"):
            value = node.child_by_field_name("value")
            name_node = node.child_by_field_name("name") or node.child_by_field_name("property")
            if value is not None and value.type in _FUNCTION_VALUES and name_node is not None:
                return node, "function", _text(name_node)
            return None
        if kind == "type_declaration":  # Go: `type Server struct {...}` (one spec)
            specs = [c for c in node.named_children if c.type == "type_spec"]
            if len(specs) == 1 and self._go_type(specs[0]):
                return specs[0], "class", _text(specs[0].child_by_field_name("name"))
            return None
        if kind == "type_definition":  # C: `typedef struct {...} name_t;`
            inner = node.child_by_field_name("type")
            if inner is None or inner.type not in syntax.classes:
                return None
            if inner.child_by_field_name("body") is None:
                return None
            name = _text(node.child_by_field_name("declarator")).lstrip("*& ")
            return inner, "class", name or _text(inner.child_by_field_name("name"))
        if kind in syntax.functions:
            if syntax.functions_need_body and node.child_by_field_name("body") is None:
                return None
            return node, "function", _text(node.child_by_field_name("name"))
        if kind in syntax.classes:
            if kind == "type_spec" and not self._go_type(node):
                return None
            if syntax.classes_need_body and node.child_by_field_name("body") is None:
                return None
            return node, "class", self._class_name(node)
        if kind in syntax.namespaces:
            if node.child_by_field_name("body") is None:
                return None
            return node, "namespace", _dotted(_text(node.child_by_field_name("name")))
        return None

    def _recognise_variable(self, node: Node) -> tuple[Node, str, str] | None:
        """JS/TS ``const add = (a, b) => ...`` and ``const Widget = class {...}``."""
        declarators = [c for c in node.named_children if c.type == "variable_declarator"]
        if len(declarators) != 1:
            return None
        value = declarators[0].child_by_field_name("value")
        name = _text(declarators[0].child_by_field_name("name"))
        if value is None or not name:
            return None
        if value.type in _FUNCTION_VALUES:
            return node, "function", name
        if value.type in _CLASS_VALUES:
            return value, "class", name
        return None

    def _recognise_assignment(self, node: Node) -> tuple[Node, str, str] | None:
        """JS ``Widget.prototype.render = function () {...}``, also chained:
        ``res.contentType = res.type = function () {...}`` defines both names; the
        symbol is the one the function is assigned to (``res.type``), the others are
        aliases the chunk defines too."""
        lefts: list[str] = []
        target = node
        while target.type == "assignment_expression":
            lefts.append(_text(target.child_by_field_name("left")))
            right = target.child_by_field_name("right")
            if right is None:
                return None
            if right.type in _FUNCTION_VALUES:
                self.aliases[node.id] = tuple(n.rsplit(".", 1)[-1] for n in lefts[:-1])
                return node, "function", lefts[-1]
            target = right
        return None

    @staticmethod
    def _go_type(spec: Node) -> bool:
        inner = spec.child_by_field_name("type")
        return inner is not None and inner.type in ("struct_type", "interface_type")

    def _class_name(self, node: Node) -> str:
        if node.type == "impl_item":  # Rust: `impl<T> fmt::Display for Wrapper<T>` -> Wrapper
            return _base_type_name(node.child_by_field_name("type"))
        return _dotted(_text(node.child_by_field_name("name")))

    def _function_name(self, node: Node, name: str) -> tuple[list[str], str]:
        """(name parts, kind) of a function, from the receiver or qualified declarator
        where the language puts the owning type outside the type's body."""
        if node.type == "method_declaration" and node.child_by_field_name("receiver"):
            receiver = node.child_by_field_name("receiver")  # Go
            owner = ""
            if receiver is not None:
                for parameter in receiver.named_children:
                    owner = _base_type_name(parameter.child_by_field_name("type"))
            return ([owner, name] if owner else [name]), "method"
        if name:
            return [name], "function"
        declarator = node.child_by_field_name("declarator")
        while declarator is not None and declarator.type not in (
            "identifier",
            "field_identifier",
            "qualified_identifier",
            "destructor_name",
            "operator_name",
            "template_function",
        ):
            declarator = declarator.child_by_field_name("declarator")
        if declarator is None:
            return [], "function"
        full = _text(declarator)
        while _TEMPLATE_ARGUMENTS.search(full):  # Box<Pair<K, V>>::get -> Box::get
            full = _TEMPLATE_ARGUMENTS.sub("", full)
        parts = [p.strip() for p in full.split("::") if p.strip()]
        if len(parts) > 1:
            owners = [p for p in parts[:-1] if p not in self.namespace_names]
            parts = [*owners[-1:], parts[-1]]
        return parts, "method" if len(parts) > 1 else "function"

    def _first_row(self, outer: Node) -> int:
        """Start row of a definition, moved up over the doc comments and attributes that sit
        directly above it: each on its own line, no blank line in between."""
        first = outer.start_point.row
        # The first statement of a body: its comments may be siblings of the body node
        # (Ruby's `body_statement`, Python's `block` start where their first child starts).
        anchor = outer
        while (
            anchor.prev_named_sibling is None
            and anchor.parent is not None
            and anchor.parent.start_byte == anchor.start_byte
        ):
            anchor = anchor.parent
        attached = anchor.prev_named_sibling
        while (
            attached is not None
            and attached.type in self.syntax.attached
            and _last_row(attached) >= first - 1 - self._gap_allowed(attached)
            and not _text(attached).startswith("#!")
        ):
            before = attached.prev_sibling
            if before is not None and _last_row(before) >= attached.start_point.row:
                break  # a trailing comment of the code before it
            first = attached.start_point.row
            attached = attached.prev_named_sibling
        return first

    def _gap_allowed(self, comment: Node) -> int:
        """Blank lines a comment may leave above its definition and still document it: a
        doc block (``/** ... */``, as JSDoc and Javadoc write them) is often set off by
        one; any other comment must touch the code."""
        if not _text(comment).startswith("/**"):
            return 0
        below = _last_row(comment) + 1
        return 1 if below < len(self.lines) and not self.lines[below].strip() else 0

    def _crowded(self, node: Node) -> bool:
        """True when a definition shares its lines with much more text than its own, as in
        minified code: chunking it by lines would repeat the whole line for every function."""
        own = node.end_byte - node.start_byte
        rows = range(node.start_point.row, _last_row(node) + 1)
        on_its_lines = sum(len(self.lines[r]) + 1 for r in rows)
        return on_its_lines > max(self.max_chars, 2 * own)


def _base_type_name(node: Node | None) -> str:
    """``*Server`` -> Server, ``Pair[K, V]`` -> Pair, ``fmt::Wrapper<T>`` -> Wrapper."""
    if node is None:
        return ""
    while node.type in ("pointer_type", "reference_type", "generic_type"):
        inner = node.child_by_field_name("type")
        if inner is None:
            inner = next((c for c in node.named_children if c.type != "lifetime"), None)
        if inner is None:
            break
        node = inner
    name_node = node.child_by_field_name("name")
    return _text(name_node or node)


def _dotted(name: str) -> str:
    """Namespace and scope separators of every language as "."."""
    return name.replace("::", ".").replace("\\", ".").strip(".'\"` ")


def _definition_pieces(definition: _Definition, lines: list[str]) -> Iterator[_Piece]:
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


# -- markdown -----------------------------------------------------------------------------


def _markdown_pieces(lines: list[str]) -> list[_Piece]:
    """One section per heading, from the heading to the line before the next one."""
    headings = list(_markdown_headings(lines))
    pieces: list[_Piece] = []
    if not headings or headings[0][0] > 0:
        end = headings[0][0] if headings else len(lines)
        pieces.append(_Piece(list(range(end)), None, "section"))
    bounds = [row for row, _ in headings] + [len(lines)]
    for (row, title), end in zip(headings, bounds[1:], strict=True):
        pieces.append(_Piece(list(range(row, end)), title or None, "section", row))
    return pieces


def _markdown_headings(lines: list[str]) -> Iterable[tuple[int, str]]:
    """(row, title) of each ATX (``## Title``) and setext (``Title\\n===``) heading, outside
    fenced code blocks and YAML front matter."""
    fence = ""
    row = 0
    if lines and lines[0].strip() == "---":  # front matter: skip to its closing line
        row = next((r + 1 for r in range(1, len(lines)) if lines[r].strip() in ("---", "...")), 0)
    while row < len(lines):
        line = lines[row]
        opener = _MARKDOWN_FENCE.match(line)
        if fence:
            if opener and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence):
                fence = ""
        elif opener:
            fence = opener.group(1)
        elif atx := _MARKDOWN_ATX.match(line):
            yield row, (atx.group(2) or "").strip()
        elif (
            row + 1 < len(lines)
            and line.strip()
            and _MARKDOWN_SETEXT.match(lines[row + 1])
            and not _MARKDOWN_ATX.match(line)
        ):
            yield row, line.strip()
            row += 1
        row += 1
