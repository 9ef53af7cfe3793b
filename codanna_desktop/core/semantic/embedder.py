"""Turns text into vectors with fastembed, from one of three sources.

- The default (``DEFAULT_MODEL``): two models provisioned offline from PyPI by model_store,
  each int8 ONNX with integer kernels, whose vectors are fused into one
  (`FusedEmbedder`, 768 dimensions; a query ranks chunks by the two cosines, each divided
  by how widely that model's cosines spread, ``COSINE_SPREAD``; BENCHMARKS.md §15):
  all-MiniLM-L6-v2 (model id ``MINILM_ID``, mean pooling) and bge-small-en-v1.5 (``BGE_ID``,
  CLS pooling), 384 dimensions each. ``settings.embedding_models = "fast"`` keeps
  MiniLM alone (384 dimensions), for large folders on slow machines.
- A local folder (``settings.model_path``) holding an ONNX model and its tokenizer files;
  ``settings.model`` names the fastembed architecture it follows (pooling, dimension).
  Model id ``<architecture>@local:<folder name>:<sha256 prefix of the ONNX file>``.
- Any other model fastembed supports, downloaded into ``models_dir/fastembed`` once.
  Model id: the fastembed name (fastembed's own ONNX export of it).

The model id is part of the embedding cache key, so two models (or two variants of one)
never share an id; a fused model's cache entries are its parts', so switching between one
model and both never embeds a cached text again. Vectors are float32 and L2-normalised,
so a dot product is a cosine.
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
from collections import OrderedDict
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np

from codanna_desktop.core.errors import ModelUnavailableError
from codanna_desktop.core.semantic.batch_runner import BatchRunner
from codanna_desktop.core.semantic.embedding_model import fuse_parts, fuse_query
from codanna_desktop.core.semantic.model_store import (
    BGE_SMALL,
    INSTALL_COMMAND,
    MINILM,
    ModelFolder,
    install_model,
    model_dir,
    model_status,
    sha256_of_file,
)
from codanna_desktop.core.settings import DEFAULT_MODEL, AppPaths, Settings

if TYPE_CHECKING:
    # fastembed takes most of a second to import: only loading a model pays for it.
    from collections.abc import Sequence

    from fastembed import TextEmbedding
    from tokenizers import Tokenizer

MINILM_ID = f"{DEFAULT_MODEL}@qint8"
# The MiniLM file before integer kernels. Its cached vectors are taken for the new file's:
# they agree at cosine 0.99+, and CoSQA ranked old documents with new queries at MRR@10
# +0.003 (within noise) of the new file alone (BENCHMARKS.md §15).
LEGACY_MINILM_ID = f"{DEFAULT_MODEL}@int8"
BGE_ID = "BAAI/bge-small-en-v1.5@int8"
FAST_MODEL_ID = MINILM_ID
DEFAULT_MODEL_ID = f"{MINILM_ID}+{BGE_ID}"
DEFAULT_DIM = 768
# Tokens per text, set here rather than taken from the tokenizer configs (fastembed's
# default, also 512; all-MiniLM-L6-v2 was trained on 256, bge-small-en-v1.5 on 512).
# Measured on CoSQA (BENCHMARKS.md §15, sub-corpus): cutting at 256 changed MRR@10 by
# +0.0008 (MiniLM) and -0.0002 (bge), both within noise, so the limit stays 512: it keeps
# the vectors the cache already holds, and no text loses its tail. 256 would embed long
# windows faster. Part of the vectors: changing it needs new model ids.
DEFAULT_MAX_TOKENS = {MINILM_ID: 512, BGE_ID: 512}
# One text per model call for the default models. Both are dynamic int8: onnxruntime's
# DynamicQuantizeLinear takes one scale for a call's whole input, so among batch-mates
# (and their padding) a text's vector moved (cosine to the text embedded alone: median
# 0.995 MiniLM, 0.997 bge on CoSQA, down to 0.976), and re-embedding a cached text
# disagreed with the cache. Alone, a text's vector depends on the text only. Not slower:
# on 169 standard-library chunks, both models on the runner's two workers, 12.3 s against
# 14.0 s in batches of up to 4 (medians of 5 interleaved runs, BENCHMARKS.md §15): no
# padding, and the workers' calls stay short.
# Vectors cached before, in batches, keep their model ids and stay in use, so an existing
# index embeds nothing again: CoSQA ranked with the batched vectors of the whole corpus
# within noise of the one-text-per-call ones (fused MRR@10 0.554 against 0.559, §15).
DEFAULT_TEXTS_PER_CALL = 1
# How widely each default model's cosines spread between unrelated texts: the standard
# deviation of the cosine over 20,000 random pairs of chunks of the identifier benchmark's
# standard-library modules (tests/benchmarks/model_weights.py; 0.100 and 0.063 on CoSQA's
# corpus). bge-small's cosines crowd around 0.57, MiniLM's spread twice as wide around
# 0.20, so in a plain mean of the two MiniLM's decided most orders. A query weighs each
# model's cosine by the inverse of its spread (z-score fusion: both models get an equal
# say), which ranked CoSQA at MRR@10 +0.005 over the plain mean (within noise; §15). The
# weights live on the query's side (`fuse_query`): the stored vectors stay the plain fused
# ones, so no index changes with them.
COSINE_SPREAD = {MINILM_ID: 0.1165, BGE_ID: 0.0578}
# Query vectors kept per model (the least recently asked leave first): the search box asks
# the same text again when a filter or the folder scope changes, when the index changed
# under the shown results, and after Backspace. A query is one text per call, so its vector depends
# on the text alone and a kept one is exact. 1.5 KB each.
QUERY_VECTORS_KEPT = 256
HUB_HOST = "huggingface.co"
LIST_MODELS_HINT = (
    '`codanna-desktop model list` (or `python -c "from fastembed import TextEmbedding; '
    "print([m['model'] for m in TextEmbedding.list_supported_models()])\"`)"
)
# Files fastembed's tokenizer loader cannot do without (config.json and the special-token
# map are optional to it).
REQUIRED_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


class Embedder:
    """A loaded model. Thread-safe: onnxruntime runs a session from several threads at
    once (the indexer's batches on the runner's workers, the window's queries)."""

    def __init__(
        self,
        model: TextEmbedding,
        *,
        model_id: str,
        dim: int,
        batch_size: int,
        cache_ids: Sequence[str] = (),
        runner: BatchRunner | None = None,
    ) -> None:
        self.model_id = model_id
        self.dim = dim
        self.batch_size = batch_size
        self._cache_ids = (model_id, *cache_ids)
        # Documents only: a query does not count, so tests of the embedding cache can
        # count how many chunks were (re-)embedded while searches run alongside.
        self.documents_embedded = 0
        self.queries_embedded = 0  # by the model, not from the kept query vectors
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._model = model
        self._runner = runner or BatchRunner(1)
        self._count_lock = threading.Lock()
        self._counter = _token_counter(model)

    @property
    def parts(self) -> tuple[Embedder]:
        return (self,)

    @property
    def cache_ids(self) -> tuple[str, ...]:
        return self._cache_ids

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of shape (len(texts), dim), in the order of `texts`."""
        return self._runner.run([(self, texts)])[0]

    def embed_parts(self, texts_per_part: Sequence[Sequence[str]]) -> list[np.ndarray]:
        return [self.embed_documents(texts_per_part[0])]

    def embed_query(self, text: str) -> np.ndarray:
        """A vector of shape (dim,). Uses the model's query form where it has one."""
        with self._count_lock:
            kept = self._queries.get(text)
            if kept is not None:
                self._queries.move_to_end(text)
                return kept.copy()
        row = next(iter(self._model.query_embed([_encodable(text)])))
        vector = _normalised(np.asarray(row, dtype=np.float32).reshape(1, self.dim))[0]
        with self._count_lock:
            self.queries_embedded += 1
            self._queries[text] = vector.copy()
            if len(self._queries) > QUERY_VECTORS_KEPT:
                self._queries.popitem(last=False)
        return vector

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text after truncation, as a batch would hold it unpadded."""
        if self._counter is None:  # another fastembed layout: about 4 characters a token
            return [len(text) // 4 + 2 for text in texts]
        return [len(e.ids) for e in self._counter.encode_batch([_encodable(t) for t in texts])]

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """One model call for `texts` (the runner chooses them)."""
        clean = [_encodable(text) for text in texts]
        rows = list(self._model.passage_embed(clean, batch_size=max(1, len(clean))))
        with self._count_lock:
            self.documents_embedded += len(clean)
        return _normalised(np.asarray(rows, dtype=np.float32).reshape(len(clean), self.dim))


class FusedEmbedder:
    """Several models, one vector (`fuse_parts`): a dot product of two fused documents'
    vectors is the mean of the models' cosines; a query's vector (`fuse_query`) weighs
    each model's cosine by `query_weights` (equal unless given). Each part keeps its own
    model id, so the embedding cache holds each model's vector and a text cached for one
    part is embedded only by the others. The parts' batches share one `BatchRunner`, so
    both cores stay busy."""

    def __init__(
        self,
        parts: Sequence[Embedder],
        runner: BatchRunner | None = None,
        *,
        query_weights: Sequence[float] | None = None,
    ) -> None:
        weights = list(query_weights or [1.0] * len(parts))
        if len(weights) != len(parts) or min(weights) <= 0:
            raise ValueError(f"one positive weight per model expected, got {weights}")
        self.query_weights = tuple(w / sum(weights) for w in weights)
        self._parts = tuple(parts)
        self._runner = runner or BatchRunner(1)
        self.model_id = "+".join(p.model_id for p in self._parts)
        self.dim = sum(p.dim for p in self._parts)

    @property
    def parts(self) -> tuple[Embedder, ...]:
        return self._parts

    @property
    def cache_ids(self) -> tuple[str, ...]:
        return (self.model_id,)

    @property
    def documents_embedded(self) -> int:
        """Texts the slowest-fed part embedded (a text counts once, not once per part)."""
        return max(p.documents_embedded for p in self._parts)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return fuse_parts(self.embed_parts([texts] * len(self._parts)))

    def embed_parts(self, texts_per_part: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Each part's vectors for its own texts (what the cache lacks for it)."""
        return self._runner.run(list(zip(self._parts, texts_per_part, strict=True)))

    def embed_query(self, text: str) -> np.ndarray:
        # The parts at once: each session runs on one thread.
        vectors = self._runner.each([partial(p.embed_query, text) for p in self._parts])
        return fuse_query(vectors, self.query_weights)


def load_embedder(
    settings: Settings, paths: AppPaths, *, network_timeout: float = 3.0
) -> Embedder | FusedEmbedder:
    """Load the model the settings name. Raises ModelUnavailableError, with what to do,
    when it is missing and cannot be fetched; never waits long on a missing network."""
    threads = settings.embed_threads or None  # 0: onnxruntime's own choice
    cache_dir = str(paths.models_dir / "fastembed")
    name = settings.model.strip() or DEFAULT_MODEL
    batch = settings.embed_batch_size
    if settings.model_path:
        folder = Path(settings.model_path).expanduser()
        model, model_id = _load_local_folder(folder, name, cache_dir, threads)
        # A folder may hold a different export than its architecture's name suggests.
        dim = int(np.asarray(next(iter(model.embed(["dimension probe"])))).shape[-1])
    elif name.lower() == DEFAULT_MODEL.lower():
        return _load_defaults(settings, paths, cache_dir)
    else:
        dim = _describe(name)["dim"]
        model = _load_named(name, cache_dir, threads, network_timeout)
        model_id = name
    return Embedder(model, model_id=model_id, dim=dim, batch_size=batch)


def _load_defaults(settings: Settings, paths: AppPaths, cache_dir: str) -> Embedder | FusedEmbedder:
    """The default model(s), their sessions on one thread each, their batches on one
    worker per core (`BatchRunner`)."""
    folders = [MINILM] if settings.embedding_models == "fast" else [MINILM, BGE_SMALL]
    runner = BatchRunner(settings.embed_threads or os.cpu_count() or 1)
    ids = {MINILM.name: MINILM_ID, BGE_SMALL.name: BGE_ID}
    parts = []
    for folder in folders:
        model_id = ids[folder.name]
        model = _load_default(paths, folder, cache_dir, 1, DEFAULT_MAX_TOKENS[model_id])
        _one_thread_session_on_shared_arena(model, model_dir(paths, folder) / folder.onnx_file)
        parts.append(
            Embedder(
                model,
                model_id=model_id,
                dim=384,
                batch_size=DEFAULT_TEXTS_PER_CALL,
                cache_ids=(LEGACY_MINILM_ID,) if folder is MINILM else (),
                runner=runner,
            )
        )
    if len(parts) == 1:
        return parts[0]
    weights = [1.0 / COSINE_SPREAD[p.model_id] for p in parts]
    return FusedEmbedder(parts, runner, query_weights=weights)


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


def _load_default(
    paths: AppPaths, folder: ModelFolder, cache_dir: str, threads: int | None, max_tokens: int
) -> TextEmbedding:
    if model_status(paths, folder) is not None:
        try:
            install_model(paths, folder, log=lambda message: None)
        except ModelUnavailableError as exc:
            raise ModelUnavailableError(
                f"The embedding model {folder.name} is not installed, and installing it "
                f"failed: {exc}"
            ) from exc
    from fastembed import TextEmbedding

    path = model_dir(paths, folder)
    try:
        model = TextEmbedding(
            folder.name, cache_dir=cache_dir, threads=threads, specific_model_path=str(path)
        )
    except Exception as exc:  # onnxruntime and tokenizers raise many kinds
        raise ModelUnavailableError(
            f"The embedding model in {path} could not be loaded ({exc}). "
            f"Run `{INSTALL_COMMAND}` to repair it."
        ) from exc
    set_max_tokens(model, max_tokens)
    return model


_ARENA_LOCK = threading.Lock()
_arena_registered = False


def _one_thread_session_on_shared_arena(model: TextEmbedding, onnx_file: Path) -> None:
    """Give the model a new ONNX session that runs on the calling thread (the runner's
    workers give the parallelism) and allocates from one CPU arena registered in
    onnxruntime's environment (``session.use_env_allocators``) instead of an arena of its
    own: an arena keeps its high-water mark, so two models with an arena each held the
    peak of both (the pipeline's peak RSS was 950 MB against 728 MB for the previous
    model alone, BENCHMARKS.md §15)."""
    import onnxruntime as ort

    global _arena_registered
    with _ARENA_LOCK:
        if not _arena_registered:
            memory = ort.OrtMemoryInfo(
                "Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
            )
            ort.create_and_register_allocator(memory, ort.OrtArenaCfg({}))
            _arena_registered = True
    inner: Any = getattr(model, "model", None)
    session = getattr(inner, "model", None)
    if inner is None or session is None:
        return  # another fastembed layout: keep its own session
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.use_env_allocators", "1")
    inner.model = ort.InferenceSession(
        str(onnx_file), sess_options=options, providers=session.get_providers()
    )


def _token_counter(model: TextEmbedding) -> Tokenizer | None:
    """A copy of the model's tokenizer that truncates as it does but never pads, to count
    each text's tokens for the batches."""
    tokenizer = getattr(getattr(model, "model", None), "tokenizer", None)
    if tokenizer is None:
        return None
    from tokenizers import Tokenizer

    counter = Tokenizer.from_str(tokenizer.to_str())
    counter.no_padding()
    return counter


def set_max_tokens(model: TextEmbedding, max_tokens: int) -> None:
    """Set the token limit instead of taking the tokenizer config's (fastembed's default)."""
    tokenizer = getattr(getattr(model, "model", None), "tokenizer", None)
    if tokenizer is None:
        raise ModelUnavailableError(
            "This fastembed version keeps its tokenizer elsewhere; the token limit could "
            "not be set. Install fastembed 0.9."
        )
    truncation = tokenizer.truncation or {}
    tokenizer.enable_truncation(
        max_length=max_tokens, direction=truncation.get("direction", "right")
    )


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
