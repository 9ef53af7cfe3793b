"""One spec per language (core/chunking/languages.py): each is complete, and everything
that knows languages (detection, ``--lang`` names, grammars, the chunker) reads them."""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from tree_sitter import Query

from codanna_desktop.core.chunking import languages
from codanna_desktop.core.chunking.chunker import Chunker
from codanna_desktop.core.chunking.languages import (
    SPECS,
    LanguageSpec,
    LanguageTable,
    detect_language,
    known_languages,
    load_language,
    resolve_languages,
)

REPO = Path(__file__).resolve().parent.parent
GRAMMAR_SPECS = [spec for spec in SPECS if spec.grammar is not None]


def test_every_language_has_one_spec_and_a_way_to_be_recognised() -> None:
    names = Counter(spec.name for spec in SPECS)
    assert [name for name, count in names.items() if count > 1] == []
    for spec in SPECS:
        assert spec.name == spec.name.lower() and spec.name.strip()
        assert spec.extensions or spec.file_names or spec.interpreters, spec.name
    assert set(known_languages()) == set(names)


def test_no_extension_file_name_or_interpreter_is_claimed_by_two_languages() -> None:
    for field in ("extensions", "file_names", "interpreters"):
        claimed = Counter(value for spec in SPECS for value in getattr(spec, field))
        assert [value for value, count in claimed.items() if count > 1] == [], field


def test_a_short_name_is_never_a_languages_own_name() -> None:
    # A language's own name wins when typed; an alias equal to one would never be read.
    aliases = {alias for spec in SPECS for alias in spec.aliases}
    assert aliases.isdisjoint(known_languages())


@pytest.mark.parametrize("spec", GRAMMAR_SPECS, ids=lambda spec: spec.name)
def test_every_grammar_language_is_complete(spec: LanguageSpec) -> None:
    grammar = load_language(spec.name)
    assert grammar is not None, f"the {spec.name} grammar does not load"
    definitions = spec.definitions
    assert definitions is not None, f"{spec.name} has a grammar but no definition node types"
    assert definitions.functions and definitions.comments
    for kinds in (definitions.functions, definitions.classes):
        # Some names are kept for other releases of a grammar; one at least is this one's.
        assert not kinds or any(grammar.id_for_node_kind(k, True) for k in kinds), kinds
    if definitions.declared:
        Query(grammar, definitions.declared)  # raises on a node or field the grammar lacks


def test_only_languages_with_a_grammar_have_definition_node_types() -> None:
    for spec in SPECS:
        assert (spec.definitions is None) == (spec.grammar is None), spec.name


def test_every_grammar_wheel_is_a_dependency() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    wanted = {re.split(r"[<>=~!; ]", d)[0] for d in pyproject["project"]["dependencies"]}
    for spec in GRAMMAR_SPECS:
        assert spec.grammar is not None
        assert spec.grammar.module.replace("_", "-") in wanted, spec.grammar.module


GO = """package main

// Serve answers requests.
func (s *Server) Serve() error {
\treturn nil
}

func helper() int {
\treturn 1
}
"""


def test_adding_a_language_needs_only_its_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    # A language the app does not know, parsed by an installed grammar: one entry added to
    # the specs, and detection, --lang names, grammar loading and chunking all know it.
    go = languages.TABLE.specs["go"]
    newcomer = replace(go, name="golite", extensions=("gol",), aliases=("gl",), interpreters=())
    monkeypatch.setattr(languages, "TABLE", LanguageTable((*SPECS, newcomer)))
    load_language.cache_clear()
    try:
        assert detect_language("cmd/main.gol") == "golite"
        assert resolve_languages(["gl"]) == ("golite",)
        assert "golite" in known_languages()
        assert load_language("golite") is not None
        chunks = Chunker().chunk("cmd/main.gol", GO)
        assert {c.language for c in chunks} == {"golite"}
        assert [(c.kind, c.symbol) for c in chunks if c.symbol] == [
            ("method", "Server.Serve"),
            ("function", "helper"),
        ]
        assert Chunker().chunk("cmd/main.go", GO)[0].language == "go"  # the others stay
    finally:
        monkeypatch.undo()
        load_language.cache_clear()
