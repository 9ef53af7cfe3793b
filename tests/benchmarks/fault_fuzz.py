"""Hypothesis-driven fuzzing of queries, filters, globs and settings (run inside the
fault worker, on an engine over a real index). A CodannaError is an answer a person
can read; any other exception is a failure, recorded with the input that raised it."""

from __future__ import annotations

import re
import tempfile
import traceback
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import tantivy
import tomli_w
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.errors import CodannaError
from codanna_desktop.core.files.filters import SearchFilters, glob_to_regex
from codanna_desktop.core.settings import AppPaths, Settings, load_settings
from codanna_desktop.core.storage.lexical.schema import SCHEMA

SYNTAX = [
    "AND", "OR", "NOT", "(", ")", '"', "*", "?", "~", "~2", "^", "^3", "+", "-", ":", "[",
    "]", "{", "}", "\\", "/", "text:", "names:", "path:", "chunk_id:", "TO", "IN", "''",
    "\x00", "\u202e", "🙂", "def", "class", "upload", "*.py", "..", "%", "_",
]  # fmt: skip
GLOB_ALPHABET = "*?[]{}!^/\\.,-_az09 ()|+$#%~\x00é"
LANGUAGES = ["python", "rust", "go", "", " ", "PYTHON", "c++", "'; DROP TABLE files; --", "é"]
SETTINGS_KEYS = [
    "database_url", "model", "model_path", "excluded_dirs", "ignore_patterns",
    "max_file_size", "editor_command", "start_hidden", "alpha", "fusion",
    "candidates_per_side", "embed_batch_size", "embed_threads", "unknown_key",
]  # fmt: skip
MAX_FAILURE_EXAMPLES = 8

queries = st.one_of(
    st.text(max_size=120),
    st.lists(st.sampled_from(SYNTAX) | st.text(max_size=8), max_size=12).map(" ".join),
    st.lists(st.sampled_from(SYNTAX), max_size=20).map("".join),
    st.text(alphabet='"()*:^~+-', max_size=40),
    st.integers(1, 5000).map(lambda n: "x" * n),
)
globs = st.none() | st.text(alphabet=GLOB_ALPHABET, max_size=30) | st.text(max_size=20)
filters = st.builds(
    SearchFilters,
    languages=st.lists(st.sampled_from(LANGUAGES) | st.text(max_size=6), max_size=3).map(tuple),
    root_ids=st.lists(st.integers(-3, 50), max_size=3).map(tuple),
    path_glob=globs,
)
toml_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=True)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
settings_dicts = st.dictionaries(st.sampled_from(SETTINGS_KEYS), toml_values, max_size=5)


class Failures:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: list[dict[str, str]] = []
        self.tried: Counter[str] = Counter()

    def call(self, kind: str, fn: Any, *args: Any, shown: Any = None) -> Any:
        self.tried[kind] += 1
        try:
            return fn(*args)
        except CodannaError:
            return None
        except BaseException as exc:  # tantivy's panics are BaseExceptions
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            self.counts[kind] += 1
            if len(self.examples) < MAX_FAILURE_EXAMPLES:
                self.examples.append(
                    {
                        "kind": kind,
                        "input": repr(shown if shown is not None else args)[:300],
                        "error": f"{type(exc).__name__}: {exc}"[:300],
                        "where": traceback.format_exc().strip().splitlines()[-3][:200],
                    }
                )
            return None


def run(engine: Engine, request: dict[str, Any]) -> dict[str, Any]:
    n = int(request.get("examples", 100))
    failures = Failures()
    # Hypothesis keeps a folder of its own; not in the checkout.
    set_hypothesis_home_dir(tempfile.mkdtemp(prefix="codanna-hypothesis-"))
    config = settings(
        max_examples=n,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    rng_seed = int(request.get("seed", 0))

    def search(query: str, flt: SearchFilters, alpha: float, k: int) -> None:
        engine.search(query, flt).results(alpha, k)

    @seed(rng_seed)
    @config
    @given(queries, filters, st.floats(0.0, 1.0), st.integers(1, 500))
    def fuzz_search(query: str, flt: SearchFilters, alpha: float, k: int) -> None:
        failures.call("query+filter", search, query, flt, alpha, k, shown=(query, flt))

    @seed(rng_seed + 1)
    @config
    @given(
        st.text(alphabet=GLOB_ALPHABET, max_size=40) | st.text(max_size=30), st.text(max_size=30)
    )
    def fuzz_glob(glob: str, rel_path: str) -> None:
        failures.call("glob", _reads_alike, glob, shown=glob)
        failures.call("glob match", _path_matches, glob, rel_path)

    saved_toml: list[str] = []
    failing_toml: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = AppPaths(config_dir=Path(tmp), data_dir=Path(tmp) / "data")

        def load(text: bytes) -> Settings:
            paths.settings_file.write_bytes(text)
            return load_settings(paths)

        @seed(rng_seed + 2)
        @config
        @given(settings_dicts)
        def fuzz_settings(data: dict[str, Any]) -> None:
            try:
                text = tomli_w.dumps({k: v for k, v in data.items() if v is not None}).encode()
            except (TypeError, ValueError):
                return  # not representable in TOML (nan in a list is, None is not)
            before = failures.counts["settings"]
            failures.call("settings", load, text, shown=data)
            # The CLI gets the settings files that broke load_settings first.
            (failing_toml if failures.counts["settings"] > before else saved_toml).append(
                text.decode()
            )

        fuzz_search()
        fuzz_glob()
        fuzz_settings()
    return {
        "tried": dict(failures.tried),
        "failures": dict(failures.counts),
        "failure_examples": failures.examples,
        "settings_samples": (failing_toml + saved_toml[::-1])[
            : int(request.get("keep_settings", 12))
        ],
    }


def _reads_alike(glob: str) -> None:
    """A glob's regex is read by Python (the catalog) without a warning, and by tantivy's
    Rust regex (the lexical and exact indexes): a regex only one of them reads would
    filter the two sides differently."""
    regex = glob_to_regex(glob)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FutureWarning: "Possible nested set"
        re.compile(regex)
    try:
        tantivy.Query.regex_query(SCHEMA, "path_raw", regex)
    except ValueError as exc:
        # Too big for tantivy's automaton is not a difference of dialect: exact search
        # matches such a glob in Python, the ranked search says so (content_index.py,
        # lexical/index.py).
        if "size limit" not in str(exc):
            raise


def _path_matches(globs: str, rel_path: str) -> bool:
    """What the catalog does with a typed path filter: include, then leave out."""
    flt = SearchFilters(path_glob=globs)
    wanted, left_out = flt.path_regex, flt.path_exclude_regex
    return (wanted is None or re.fullmatch(wanted, rel_path) is not None) and (
        left_out is None or re.fullmatch(left_out, rel_path) is None
    )
