"""Which language a file is written in, and the tree-sitter grammar that parses it.

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

from tree_sitter import Language

from codanna_desktop.core.errors import UnknownLanguageError

log = logging.getLogger(__name__)

# Whole file names (lower-cased) that say the language on their own.
_FILE_NAMES: dict[str, str] = {
    "makefile": "makefile",
    "gnumakefile": "makefile",
    "dockerfile": "dockerfile",
    "containerfile": "dockerfile",
    "cmakelists.txt": "cmake",
    "rakefile": "ruby",
    "gemfile": "ruby",
    "podfile": "ruby",
    "vagrantfile": "ruby",
    "guardfile": "ruby",
    "brewfile": "ruby",
    "jenkinsfile": "groovy",
    "build": "starlark",
    "build.bazel": "starlark",
    "workspace": "starlark",
    "sconstruct": "python",
    "sconscript": "python",
    ".bashrc": "bash",
    ".bash_profile": "bash",
    ".bash_aliases": "bash",
    ".profile": "bash",
    ".zshrc": "bash",
    ".zprofile": "bash",
    ".editorconfig": "ini",
    ".gitconfig": "ini",
    ".npmrc": "ini",
    "pipfile": "toml",
    "cargo.lock": "toml",
    "poetry.lock": "toml",
}

_EXTENSIONS: dict[str, str] = {
    "py": "python",
    "pyi": "python",
    "pyw": "python",
    "js": "javascript",
    "mjs": "javascript",
    "cjs": "javascript",
    "jsx": "javascript",
    "ts": "typescript",
    "mts": "typescript",
    "cts": "typescript",
    "tsx": "tsx",
    "go": "go",
    "rs": "rust",
    "java": "java",
    "c": "c",
    "h": "c",
    "cc": "cpp",
    "cpp": "cpp",
    "cxx": "cpp",
    "c++": "cpp",
    "hh": "cpp",
    "hpp": "cpp",
    "hxx": "cpp",
    "h++": "cpp",
    "ipp": "cpp",
    "tpp": "cpp",
    "cs": "csharp",
    "rb": "ruby",
    "rake": "ruby",
    "gemspec": "ruby",
    "php": "php",
    "phtml": "php",
    "sh": "bash",
    "bash": "bash",
    "zsh": "bash",
    "ksh": "bash",
    "md": "markdown",
    "markdown": "markdown",
    "mdx": "markdown",
    "json": "json",
    "jsonc": "json",
    "json5": "json",
    "ipynb": "json",
    "yaml": "yaml",
    "yml": "yaml",
    "toml": "toml",
    "html": "html",
    "htm": "html",
    "xhtml": "html",
    "css": "css",
    "scss": "scss",
    "sass": "sass",
    "less": "less",
    "sql": "sql",
    "xml": "xml",
    "xsd": "xml",
    "xsl": "xml",
    "svg": "xml",
    "plist": "xml",
    "csproj": "xml",
    "ini": "ini",
    "cfg": "ini",
    "conf": "ini",
    "properties": "ini",
    "mk": "makefile",
    "mak": "makefile",
    "dockerfile": "dockerfile",
    "kt": "kotlin",
    "kts": "kotlin",
    "swift": "swift",
    "scala": "scala",
    "sc": "scala",
    "lua": "lua",
    "r": "r",
    "pl": "perl",
    "pm": "perl",
    "dart": "dart",
    "ex": "elixir",
    "exs": "elixir",
    "erl": "erlang",
    "hs": "haskell",
    "ml": "ocaml",
    "mli": "ocaml",
    "clj": "clojure",
    "cljs": "clojure",
    "groovy": "groovy",
    "gradle": "groovy",
    "vue": "vue",
    "svelte": "svelte",
    "zig": "zig",
    "nim": "nim",
    "jl": "julia",
    "m": "objc",
    "mm": "objc",
    "ps1": "powershell",
    "bat": "batch",
    "cmd": "batch",
    "cmake": "cmake",
    "bzl": "starlark",
    "proto": "protobuf",
    "graphql": "graphql",
    "gql": "graphql",
    "tf": "hcl",
    "hcl": "hcl",
    "rst": "rst",
    "adoc": "asciidoc",
    "tex": "latex",
    "txt": "text",
    "csv": "csv",
    "tsv": "csv",
}

# Interpreter named on a ``#!`` line -> language.
_INTERPRETERS: dict[str, str] = {
    "python": "python",
    "pypy": "python",
    "node": "javascript",
    "nodejs": "javascript",
    "deno": "typescript",
    "ts-node": "typescript",
    "bash": "bash",
    "sh": "bash",
    "dash": "bash",
    "zsh": "bash",
    "ksh": "bash",
    "ruby": "ruby",
    "php": "php",
    "perl": "perl",
    "lua": "lua",
    "rscript": "r",
}

# Language name -> (module, function returning the grammar's TSLanguage pointer).
_GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "csharp": ("tree_sitter_c_sharp", "language"),
    "ruby": ("tree_sitter_ruby", "language"),
    "php": ("tree_sitter_php", "language_php"),
    "bash": ("tree_sitter_bash", "language"),
}

GRAMMAR_LANGUAGES: frozenset[str] = frozenset(_GRAMMARS)

# "python3.11" -> "python", "pypy3" -> "pypy"
_VERSION_SUFFIX = re.compile(r"[\d.]+$")


def detect_language(rel_path: str, first_line: str = "") -> str:
    """The language of a file from its path and first line; "text" when unknown."""
    name = rel_path.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if name in _FILE_NAMES:
        return _FILE_NAMES[name]
    # Dockerfile.dev, Makefile.linux: a well-known name with a suffix.
    stem = name.split(".", 1)[0]
    if stem in ("dockerfile", "containerfile"):
        return "dockerfile"
    if stem in ("makefile", "gnumakefile"):
        return "makefile"
    if "." in name.lstrip("."):
        extension = name.rsplit(".", 1)[1]
        if extension in _EXTENSIONS:
            return _EXTENSIONS[extension]
    return _language_from_shebang(first_line) or "text"


def _language_from_shebang(first_line: str) -> str | None:
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
    return _INTERPRETERS.get(program)


@functools.cache
def load_language(name: str) -> Language | None:
    """The tree-sitter grammar for a language, or None when it has none or it fails to load.

    Cached: each grammar is loaded once per process. `Language` objects are immutable and
    shared between threads; parsers are not (the chunker keeps one per thread).
    """
    spec = _GRAMMARS.get(name)
    if spec is None:
        return None
    module_name, function_name = spec
    try:
        module = importlib.import_module(module_name)
        return Language(getattr(module, function_name)())
    except Exception as error:  # ImportError, or ValueError for an incompatible ABI
        log.warning("No %s grammar (%s): %s files are chunked by lines", name, error, name)
        return None


# Names people type for a language filter, as ripgrep's `-t` knows them; a name that is a
# language's own (python, rust) needs no entry. `ts` covers TSX, as ripgrep's does.
_ALIASES: dict[str, tuple[str, ...]] = {
    "py": ("python",),
    "js": ("javascript",),
    "jsx": ("javascript",),
    "ts": ("typescript", "tsx"),
    "rs": ("rust",),
    "golang": ("go",),
    "c++": ("cpp",),
    "cxx": ("cpp",),
    "cc": ("cpp",),
    "cs": ("csharp",),
    "c#": ("csharp",),
    "rb": ("ruby",),
    "sh": ("bash",),
    "shell": ("bash",),
    "md": ("markdown",),
    "yml": ("yaml",),
    "kt": ("kotlin",),
    "pl": ("perl",),
    "hs": ("haskell",),
    "txt": ("text",),
}


def known_languages() -> list[str]:
    """Every language name detection can give (what a filter can ask for)."""
    return sorted({*_FILE_NAMES.values(), *_EXTENSIONS.values(), *_INTERPRETERS.values(), "text"})


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
            elif word in _ALIASES:
                out.extend(_ALIASES[word])
            else:
                aliases = ", ".join(sorted(_ALIASES))
                raise UnknownLanguageError(
                    f"Unknown language {word!r}. Known languages: "
                    f"{', '.join(sorted(known))}; short names: {aliases}."
                )
    return tuple(dict.fromkeys(out))
