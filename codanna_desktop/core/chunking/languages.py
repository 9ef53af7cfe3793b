"""Every language the app knows, one `LanguageSpec` each, and what follows from them.

A spec says how a language is recognised (file names, extensions, the interpreter of a
``#!`` line), the short names a filter accepts (``--lang py``), and for a language split
by tree-sitter, its grammar and how that grammar spells definitions (`Definitions`:
function, class and namespace nodes, the comment and decorator nodes that belong to the
definition below them, the declarations whose names a chunk defines). Detection, the
``--lang`` names, grammar loading and the chunker all read these specs: a new language is
one entry in `SPECS` (plus, for a grammar, its wheel in pyproject.toml).

Detection looks at the file name first (``Makefile``, ``Dockerfile``, ``.bashrc``), then at
the extension, then at a ``#!`` line, and says "text" when nothing matches. Grammars come
from the per-language wheels (``tree_sitter_python`` ...), which ship compiled parsers and
work offline. A grammar that cannot be loaded (wheel missing, ABI too new or too old for
the installed tree-sitter) is reported once in the log and the file is chunked into line
windows instead: a missing grammar costs structure, never a crash.
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tree_sitter import Language

from codanna_desktop.core.errors import UnknownLanguageError

if TYPE_CHECKING:
    from collections.abc import Iterable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Grammar:
    """Where a tree-sitter grammar is: a module of a per-language wheel, and the function
    there that returns its language pointer."""

    module: str
    function: str = "language"


@dataclass(frozen=True)
class Definitions:
    """How one grammar spells definitions (node types), for the definitions finder."""

    functions: frozenset[str]
    classes: frozenset[str]
    namespaces: frozenset[str] = frozenset()
    # Comments, decorators and attributes that belong to the definition right below them.
    comments: frozenset[str] = frozenset({"comment"})
    # Anonymous functions and the like: definitions inside them are not looked for.
    scopes: frozenset[str] = frozenset()
    # Functions without a body here are declarations (interface or abstract methods):
    # they stay inside their class chunk.
    functions_need_body: bool = False
    classes_need_body: bool = False
    # A tree-sitter query capturing (as @name) the names declarations bind: assignments,
    # constants, enum members. Empty: none are listed.
    declared: str = ""


@dataclass(frozen=True)
class LanguageSpec:
    """One language: how it is recognised, what it is called, how it is chunked."""

    name: str
    extensions: tuple[str, ...] = ()  # lower-case, without the dot
    file_names: tuple[str, ...] = ()  # whole names, lower-case (``makefile``, ``.bashrc``)
    # The file names count with a suffix too: ``Dockerfile.dev``, ``Makefile.linux``.
    names_take_suffix: bool = False
    interpreters: tuple[str, ...] = ()  # programs on a ``#!`` line, without a version
    # Short names a filter accepts, as ripgrep's ``-t`` knows them; the language's own
    # name needs none. One short name may stand for several languages (``ts``).
    aliases: tuple[str, ...] = ()
    grammar: Grammar | None = None
    definitions: Definitions | None = None  # with a grammar: split into definitions
    sections: bool = False  # prose split at its headings (Markdown)


_JS_FUNCTIONS = frozenset(
    {"function_declaration", "generator_function_declaration", "method_definition"}
)
_JS_SCOPES = frozenset(
    {"arrow_function", "function_expression", "function", "generator_function", "class"}
)
_C_CLASSES = frozenset({"struct_specifier", "union_specifier", "enum_specifier"})
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
_TS_DEFINITIONS = Definitions(
    functions=_JS_FUNCTIONS,
    classes=frozenset(
        {
            "abstract_class_declaration",
            "class_declaration",
            "enum_declaration",
            "interface_declaration",
        }
    ),
    namespaces=frozenset({"internal_module", "module"}),
    comments=frozenset({"comment", "decorator"}),
    scopes=_JS_SCOPES,
    declared=_TS_DECLARED,
)

SPECS: tuple[LanguageSpec, ...] = (
    LanguageSpec(
        "python",
        extensions=("py", "pyi", "pyw"),
        file_names=("sconstruct", "sconscript"),
        interpreters=("python", "pypy"),
        aliases=("py",),
        grammar=Grammar("tree_sitter_python"),
        definitions=Definitions(
            functions=frozenset({"function_definition"}),
            classes=frozenset({"class_definition"}),
            scopes=frozenset({"lambda"}),
            declared=(
                "(assignment left: (identifier) @name)"
                " (assignment left: (pattern_list (identifier) @name))"
            ),
        ),
    ),
    LanguageSpec(
        "javascript",
        extensions=("js", "mjs", "cjs", "jsx"),
        interpreters=("node", "nodejs"),
        aliases=("js", "jsx"),
        grammar=Grammar("tree_sitter_javascript"),
        definitions=Definitions(
            functions=_JS_FUNCTIONS,
            classes=frozenset({"class_declaration"}),
            comments=frozenset({"comment", "decorator"}),
            scopes=_JS_SCOPES,
            declared="(variable_declarator name: (identifier) @name)",
        ),
    ),
    LanguageSpec(
        "typescript",
        extensions=("ts", "mts", "cts"),
        interpreters=("deno", "ts-node"),
        aliases=("ts",),
        grammar=Grammar("tree_sitter_typescript", "language_typescript"),
        definitions=_TS_DEFINITIONS,
    ),
    LanguageSpec(
        "tsx",
        extensions=("tsx",),
        aliases=("ts",),
        grammar=Grammar("tree_sitter_typescript", "language_tsx"),
        definitions=_TS_DEFINITIONS,
    ),
    LanguageSpec(
        "go",
        extensions=("go",),
        aliases=("golang",),
        grammar=Grammar("tree_sitter_go"),
        definitions=Definitions(
            functions=frozenset({"function_declaration", "method_declaration"}),
            classes=frozenset({"type_spec"}),
            scopes=frozenset({"func_literal"}),
            declared="(const_spec name: (identifier) @name) (var_spec name: (identifier) @name)",
        ),
    ),
    LanguageSpec(
        "rust",
        extensions=("rs",),
        aliases=("rs",),
        grammar=Grammar("tree_sitter_rust"),
        definitions=Definitions(
            functions=frozenset({"function_item"}),
            classes=frozenset(
                {"enum_item", "impl_item", "struct_item", "trait_item", "union_item"}
            ),
            namespaces=frozenset({"mod_item"}),
            comments=frozenset({"attribute_item", "block_comment", "line_comment"}),
            scopes=frozenset({"closure_expression"}),
            declared=(
                "(const_item name: (identifier) @name)"
                " (static_item name: (identifier) @name)"
                " (enum_variant name: (identifier) @name)"
            ),
        ),
    ),
    LanguageSpec(
        "java",
        extensions=("java",),
        grammar=Grammar("tree_sitter_java"),
        definitions=Definitions(
            functions=frozenset(
                {"compact_constructor_declaration", "constructor_declaration", "method_declaration"}
            ),
            classes=frozenset(
                {
                    "annotation_type_declaration",
                    "class_declaration",
                    "enum_declaration",
                    "interface_declaration",
                    "record_declaration",
                }
            ),
            comments=frozenset({"block_comment", "line_comment"}),
            scopes=frozenset({"lambda_expression", "object_creation_expression"}),
            functions_need_body=True,
            declared=(
                "(field_declaration declarator: (variable_declarator name: (identifier) @name))"
                " (enum_constant name: (identifier) @name)"
            ),
        ),
    ),
    LanguageSpec(
        "c",
        extensions=("c", "h"),
        grammar=Grammar("tree_sitter_c"),
        definitions=Definitions(
            functions=frozenset({"function_definition"}),
            classes=_C_CLASSES,
            classes_need_body=True,
            declared=_C_DECLARED,
        ),
    ),
    LanguageSpec(
        "cpp",
        extensions=("cc", "cpp", "cxx", "c++", "hh", "hpp", "hxx", "h++", "ipp", "tpp"),
        aliases=("c++", "cxx", "cc"),
        grammar=Grammar("tree_sitter_cpp"),
        definitions=Definitions(
            functions=frozenset({"function_definition"}),
            classes=frozenset(
                {"class_specifier", "enum_specifier", "struct_specifier", "union_specifier"}
            ),
            namespaces=frozenset({"namespace_definition"}),
            scopes=frozenset({"lambda_expression"}),
            classes_need_body=True,
            declared=_C_DECLARED,
        ),
    ),
    LanguageSpec(
        "csharp",
        extensions=("cs",),
        aliases=("cs", "c#"),
        grammar=Grammar("tree_sitter_c_sharp"),
        definitions=Definitions(
            functions=frozenset(
                {
                    "constructor_declaration",
                    "conversion_operator_declaration",
                    "destructor_declaration",
                    "method_declaration",
                    "operator_declaration",
                }
            ),
            classes=frozenset(
                {
                    "class_declaration",
                    "enum_declaration",
                    "interface_declaration",
                    "record_declaration",
                    "record_struct_declaration",
                    "struct_declaration",
                }
            ),
            namespaces=frozenset({"namespace_declaration"}),
            scopes=frozenset(
                {
                    "anonymous_method_expression",
                    "anonymous_object_creation_expression",
                    "lambda_expression",
                }
            ),
            functions_need_body=True,
            declared=(
                "(field_declaration (variable_declaration"
                " (variable_declarator name: (identifier) @name)))"
                " (enum_member_declaration name: (identifier) @name)"
            ),
        ),
    ),
    LanguageSpec(
        "ruby",
        extensions=("rb", "rake", "gemspec"),
        file_names=("rakefile", "gemfile", "podfile", "vagrantfile", "guardfile", "brewfile"),
        interpreters=("ruby",),
        aliases=("rb",),
        grammar=Grammar("tree_sitter_ruby"),
        definitions=Definitions(
            functions=frozenset({"method", "singleton_method"}),
            classes=frozenset({"class", "module"}),
            scopes=frozenset({"block", "do_block", "lambda"}),
            declared="(assignment left: (constant) @name)",
        ),
    ),
    LanguageSpec(
        "php",
        extensions=("php", "phtml"),
        interpreters=("php",),
        grammar=Grammar("tree_sitter_php", "language_php"),
        definitions=Definitions(
            functions=frozenset({"function_definition", "method_declaration"}),
            classes=frozenset(
                {
                    "class_declaration",
                    "enum_declaration",
                    "interface_declaration",
                    "trait_declaration",
                }
            ),
            namespaces=frozenset({"namespace_definition"}),
            scopes=frozenset({"anonymous_class", "anonymous_function", "arrow_function"}),
            functions_need_body=True,
            declared="(const_element (name) @name)",
        ),
    ),
    LanguageSpec(
        "bash",
        extensions=("sh", "bash", "zsh", "ksh"),
        file_names=(".bashrc", ".bash_profile", ".bash_aliases", ".profile", ".zshrc", ".zprofile"),
        interpreters=("bash", "sh", "dash", "zsh", "ksh"),
        aliases=("sh", "shell"),
        grammar=Grammar("tree_sitter_bash"),
        definitions=Definitions(
            functions=frozenset({"function_definition"}),
            classes=frozenset(),
            declared="(variable_assignment name: (variable_name) @name)",
        ),
    ),
    LanguageSpec("markdown", extensions=("md", "markdown", "mdx"), aliases=("md",), sections=True),
    LanguageSpec("json", extensions=("json", "jsonc", "json5", "ipynb")),
    LanguageSpec("yaml", extensions=("yaml", "yml"), aliases=("yml",)),
    LanguageSpec("toml", extensions=("toml",), file_names=("pipfile", "cargo.lock", "poetry.lock")),
    LanguageSpec("html", extensions=("html", "htm", "xhtml")),
    LanguageSpec("css", extensions=("css",)),
    LanguageSpec("scss", extensions=("scss",)),
    LanguageSpec("sass", extensions=("sass",)),
    LanguageSpec("less", extensions=("less",)),
    LanguageSpec("sql", extensions=("sql",)),
    LanguageSpec("xml", extensions=("xml", "xsd", "xsl", "svg", "plist", "csproj")),
    LanguageSpec(
        "ini",
        extensions=("ini", "cfg", "conf", "properties"),
        file_names=(".editorconfig", ".gitconfig", ".npmrc"),
    ),
    LanguageSpec(
        "makefile",
        extensions=("mk", "mak"),
        file_names=("makefile", "gnumakefile"),
        names_take_suffix=True,
    ),
    LanguageSpec(
        "dockerfile",
        extensions=("dockerfile",),
        file_names=("dockerfile", "containerfile"),
        names_take_suffix=True,
    ),
    LanguageSpec("kotlin", extensions=("kt", "kts"), aliases=("kt",)),
    LanguageSpec("swift", extensions=("swift",)),
    LanguageSpec("scala", extensions=("scala", "sc")),
    LanguageSpec("lua", extensions=("lua",), interpreters=("lua",)),
    LanguageSpec("r", extensions=("r",), interpreters=("rscript",)),
    LanguageSpec("perl", extensions=("pl", "pm"), interpreters=("perl",), aliases=("pl",)),
    LanguageSpec("dart", extensions=("dart",)),
    LanguageSpec("elixir", extensions=("ex", "exs")),
    LanguageSpec("erlang", extensions=("erl",)),
    LanguageSpec("haskell", extensions=("hs",), aliases=("hs",)),
    LanguageSpec("ocaml", extensions=("ml", "mli")),
    LanguageSpec("clojure", extensions=("clj", "cljs")),
    LanguageSpec("groovy", extensions=("groovy", "gradle"), file_names=("jenkinsfile",)),
    LanguageSpec("vue", extensions=("vue",)),
    LanguageSpec("svelte", extensions=("svelte",)),
    LanguageSpec("zig", extensions=("zig",)),
    LanguageSpec("nim", extensions=("nim",)),
    LanguageSpec("julia", extensions=("jl",)),
    LanguageSpec("objc", extensions=("m", "mm")),
    LanguageSpec("powershell", extensions=("ps1",)),
    LanguageSpec("batch", extensions=("bat", "cmd")),
    LanguageSpec("cmake", extensions=("cmake",), file_names=("cmakelists.txt",)),
    LanguageSpec("starlark", extensions=("bzl",), file_names=("build", "build.bazel", "workspace")),
    LanguageSpec("protobuf", extensions=("proto",)),
    LanguageSpec("graphql", extensions=("graphql", "gql")),
    LanguageSpec("hcl", extensions=("tf", "hcl")),
    LanguageSpec("rst", extensions=("rst",)),
    LanguageSpec("asciidoc", extensions=("adoc",)),
    LanguageSpec("latex", extensions=("tex",)),
    LanguageSpec("text", extensions=("txt",), aliases=("txt",)),
    LanguageSpec("csv", extensions=("csv", "tsv")),
)


# "python3.11" -> "python", "pypy3" -> "pypy"
_VERSION_SUFFIX = re.compile(r"[\d.]+$")


class LanguageTable:
    """The lookups every part needs, derived from specs (`TABLE` holds the app's)."""

    def __init__(self, specs: Iterable[LanguageSpec]) -> None:
        self.specs = {spec.name: spec for spec in specs}
        self.by_file_name: dict[str, str] = {}
        self.suffixed_names: dict[str, str] = {}
        self.by_extension: dict[str, str] = {}
        self.by_interpreter: dict[str, str] = {}
        self.aliases: dict[str, tuple[str, ...]] = {}
        for spec in self.specs.values():
            for file_name in spec.file_names:
                self.by_file_name.setdefault(file_name, spec.name)
                if spec.names_take_suffix:
                    self.suffixed_names.setdefault(file_name, spec.name)
            for extension in spec.extensions:
                self.by_extension.setdefault(extension, spec.name)
            for program in spec.interpreters:
                self.by_interpreter.setdefault(program, spec.name)
            for alias in spec.aliases:
                self.aliases[alias] = (*self.aliases.get(alias, ()), spec.name)
        self.grammar_languages = frozenset(n for n, s in self.specs.items() if s.grammar)

    def detect(self, rel_path: str, first_line: str = "") -> str:
        name = rel_path.replace("\\", "/").rsplit("/", 1)[-1].lower()
        if name in self.by_file_name:
            return self.by_file_name[name]
        # Dockerfile.dev, Makefile.linux: a well-known name with a suffix.
        stem = name.split(".", 1)[0]
        if stem in self.suffixed_names:
            return self.suffixed_names[stem]
        if "." in name.lstrip("."):
            extension = name.rsplit(".", 1)[1]
            if extension in self.by_extension:
                return self.by_extension[extension]
        return self._from_shebang(first_line) or "text"

    def _from_shebang(self, first_line: str) -> str | None:
        if not first_line.startswith("#!"):
            return None
        words = first_line[2:].split()
        if not words:
            return None
        program = words[0].rsplit("/", 1)[-1]
        if program == "env":
            # `#!/usr/bin/env -S node --flag`, `#!/usr/bin/env VAR=1 python3`
            arguments = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
            if not arguments:
                return None
            program = arguments[0].rsplit("/", 1)[-1]
        program = _VERSION_SUFFIX.sub("", program.lower()) or program.lower()
        return self.by_interpreter.get(program)


TABLE = LanguageTable(SPECS)
# The languages split by tree-sitter (when their grammar loads).
GRAMMAR_LANGUAGES: frozenset[str] = TABLE.grammar_languages


def detect_language(rel_path: str, first_line: str = "") -> str:
    """The language of a file from its path and first line; "text" when unknown."""
    return TABLE.detect(rel_path, first_line)


def language_spec(name: str) -> LanguageSpec | None:
    """The spec of a language by its name (as `detect_language` gives it)."""
    return TABLE.specs.get(name)


@functools.cache
def load_language(name: str) -> Language | None:
    """The tree-sitter grammar for a language, or None when it has none or it fails to load.

    Cached: each grammar is loaded once per process. `Language` objects are immutable and
    shared between threads; parsers are not (the chunker keeps one per thread).
    """
    spec = language_spec(name)
    if spec is None or spec.grammar is None:
        return None
    try:
        module = importlib.import_module(spec.grammar.module)
        return Language(getattr(module, spec.grammar.function)())
    except Exception as error:  # ImportError, or ValueError for an incompatible ABI
        log.warning("No %s grammar (%s): %s files are chunked by lines", name, error, name)
        return None


def known_languages() -> list[str]:
    """Every language name detection can give (what a filter can ask for)."""
    return sorted(TABLE.specs)


def resolve_languages(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The languages meant by what was typed (``py``, ``Python``, ``ts,js``). Raises
    UnknownLanguageError, listing the known names, for a name that is none of them."""
    known = set(known_languages())
    out: list[str] = []
    for typed in names:
        for word in re.split(r"[,\s]+", typed.strip().lower()):
            if not word:
                continue
            if word in known:
                out.append(word)
            elif word in TABLE.aliases:
                out.extend(TABLE.aliases[word])
            else:
                aliases = ", ".join(sorted(TABLE.aliases))
                raise UnknownLanguageError(
                    f"Unknown language {word!r}. Known languages: "
                    f"{', '.join(sorted(known))}; short names: {aliases}."
                )
    return tuple(dict.fromkeys(out))
