"""What a syntax tree defines: the definitions finder.

`DefinitionFinder` walks a tree-sitter tree and returns its definitions (functions,
methods, classes and the like, namespaces), members nested in their containers, each with
the rows it covers (its doc comments and decorators included) and the qualified name the
chunk gets; `declared_names` runs a grammar's declaration query (constants, assignments,
enum members) for the names module and class chunks define. Which node types count is
each language's `Definitions` (languages.py); the naming rules are the chunker's
(chunker.py's docstring says them).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tree_sitter import Language, Node, Query, QueryCursor

if TYPE_CHECKING:
    from codanna_desktop.core.chunking.languages import Definitions

log = logging.getLogger(__name__)

# Generic descent looks for definitions inside statements (``if``, ``#ifdef``, ``extern
# "C"``...) but not deeper than this: it guards the recursion against pathological nesting.
_MAX_DEPTH = 60


_declared_queries: dict[str, Query | None] = {}
_declared_queries_lock = threading.Lock()


def _declared_query(language: str, source: str, grammar: Language) -> Query | None:
    """The compiled declaration query of a grammar (compiled once per process)."""
    with _declared_queries_lock:
        if language not in _declared_queries:
            try:
                _declared_queries[language] = Query(grammar, source) if source else None
            except Exception as error:  # a grammar release renamed a node: names, not chunks, lost
                log.warning("No declared names for %s: %s", language, error)
                _declared_queries[language] = None
        return _declared_queries[language]


def declared_names(
    language: str, definitions: Definitions, grammar: Language, root: Node
) -> dict[int, list[str]]:
    """Row -> the names declarations bind on that row, in source order."""
    query = _declared_query(language, definitions.declared, grammar)
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


@dataclass
class Definition:
    """A definition found in the tree; rows are 0-based and inclusive."""

    symbol: str | None
    kind: str  # function | method | class | module (a namespace)
    first_row: int  # includes the doc comments and decorators above it
    head_row: int  # the row that names it: its signature line
    last_row: int
    is_container: bool
    members: list[Definition] = field(default_factory=list)
    aliases: tuple[str, ...] = ()  # other names it defines (`a = b = function...`)


def last_row(node: Node) -> int:
    """The last row a node has text on (a node that ends at column 0 ends on the row before)."""
    end_row, end_column = node.end_point
    if end_column == 0 and end_row > node.start_point.row:
        return end_row - 1
    return int(end_row)


def _text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", "replace")


class DefinitionFinder:
    """Walks a syntax tree and returns its definitions, members nested in their containers."""

    def __init__(self, syntax: Definitions, lines: list[str], max_chars: int) -> None:
        self.syntax = syntax
        self.lines = lines
        self.max_chars = max_chars
        self.namespace_names: set[str] = set()
        # Other names a definition node binds (chained assignments), by node id.
        self.aliases: dict[int, tuple[str, ...]] = {}

    def find(self, root: Node) -> list[Definition]:
        found: list[Definition] = []
        self._collect(root, (), False, found, 0)
        return found

    def _collect(
        self,
        node: Node,
        qualifier: tuple[str, ...],
        in_type: bool,
        found: list[Definition],
        depth: int,
    ) -> None:
        # One-line nodes are entered only from a multi-line parent (the body of a multi-line
        # `if` may hold a one-line def); the statements of minified code are never walked.
        node_spans_rows = last_row(node) > node.start_point.row
        for child in node.named_children:
            definition = self._definition(child, qualifier, in_type, depth)
            if definition is not None:
                found.append(definition)
            elif (
                depth < _MAX_DEPTH
                and child.type not in self.syntax.scopes
                and (node_spans_rows or last_row(child) > child.start_point.row)
            ):
                self._collect(child, qualifier, in_type, found, depth + 1)

    def _definition(
        self, outer: Node, qualifier: tuple[str, ...], in_type: bool, depth: int
    ) -> Definition | None:
        recognised = self._recognise(outer)
        if recognised is None:
            return None
        node, category, name = recognised
        if self._crowded(outer):
            return None
        name_node = node.child_by_field_name("name")
        head_row = (name_node or node).start_point.row
        first_row = self._first_row(outer)
        end_row = last_row(outer)
        if category == "function":
            parts, kind = self._function_name(node, name)
            if kind == "function" and in_type:
                kind = "method"
            symbol = ".".join((*qualifier, *parts)) if parts else None
            aliases = self.aliases.get(node.id, ())
            return Definition(symbol, kind, first_row, head_row, end_row, False, aliases=aliases)
        if category == "namespace":
            symbol, kind, inner_qualifier, inner_in_type = name or None, "module", qualifier, False
            if name:
                self.namespace_names.update(name.split("."))
        else:
            inner_qualifier = (*qualifier, name) if name else qualifier
            symbol, kind, inner_in_type = ".".join(inner_qualifier) or None, "class", True
        definition = Definition(symbol, kind, first_row, head_row, end_row, True)
        members: list[Definition] = []
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
            and attached.type in self.syntax.comments
            and last_row(attached) >= first - 1 - self._gap_allowed(attached)
            and not _text(attached).startswith("#!")
        ):
            before = attached.prev_sibling
            if before is not None and last_row(before) >= attached.start_point.row:
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
        below = last_row(comment) + 1
        return 1 if below < len(self.lines) and not self.lines[below].strip() else 0

    def _crowded(self, node: Node) -> bool:
        """True when a definition shares its lines with much more text than its own, as in
        minified code: chunking it by lines would repeat the whole line for every function."""
        own = node.end_byte - node.start_byte
        rows = range(node.start_point.row, last_row(node) + 1)
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
