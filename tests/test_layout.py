"""The package's layout: public names from ``codanna_desktop.core``, lazily."""

from __future__ import annotations

import subprocess
import sys

import codanna_desktop.core as core


def test_every_public_name_of_core_resolves_to_its_home() -> None:
    for name in core.__all__:
        value = getattr(core, name)
        assert value.__name__ == name
        assert value.__module__.startswith("codanna_desktop.core.")


def test_an_unknown_name_of_core_is_an_attribute_error() -> None:
    try:
        core.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("core.NoSuchThing resolved")


def test_importing_core_loads_no_heavy_library() -> None:
    # Every submodule import runs core/__init__.py first; a lexical search from the
    # shell must not pay for tantivy, the model runtime or the database driver there.
    code = (
        "import sys, codanna_desktop.core, codanna_desktop.core.errors;"
        "heavy = {'tantivy', 'fastembed', 'onnxruntime', 'psycopg', 'hnswlib', 'numpy'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
