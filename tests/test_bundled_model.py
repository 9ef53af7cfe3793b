"""An installed (frozen) program finds the models it carries before the user's folder."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from codanna_desktop.core.semantic.embedder import DEFAULT_MODEL_ID, FusedEmbedder, load_embedder
from codanna_desktop.core.semantic.model_store import (
    DEFAULT_MODEL_FOLDERS,
    MINILM,
    bundled_model_dir,
    install_default_models,
    model_dir,
)
from codanna_desktop.core.settings import AppPaths, Settings


@pytest.fixture
def bundle(embedder: FusedEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A frozen program's layout: sys.frozen set and a models folder in sys._MEIPASS
    holding real copies of the default models; the user's models folder is empty."""
    internal = tmp_path / "bundle" / "_internal"
    for folder in DEFAULT_MODEL_FOLDERS:
        shared = model_dir(AppPaths.default(), folder)
        shutil.copytree(shared, internal / "models" / folder.dirname)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(internal), raising=False)
    monkeypatch.setenv("CODANNA_MODELS_DIR", str(tmp_path / "user-models"))
    return internal / "models"


def test_frozen_program_loads_its_bundled_models_without_provisioning(bundle: Path) -> None:
    paths = AppPaths.default()
    assert [model_dir(paths, f) for f in DEFAULT_MODEL_FOLDERS] == [
        bundle / f.dirname for f in DEFAULT_MODEL_FOLDERS
    ]
    embedder = load_embedder(Settings(), paths)
    assert embedder.model_id == DEFAULT_MODEL_ID
    assert embedder.embed_query("read a file").shape == (768,)
    assert install_default_models(paths, log=lambda m: None) == [
        bundle / f.dirname for f in DEFAULT_MODEL_FOLDERS
    ]
    # Nothing was copied to, or fetched into, the user's data folder (fastembed may make
    # its empty cache folder there).
    assert not [p for p in paths.models_dir.rglob("*") if p.is_file()]


def test_a_damaged_bundled_model_is_passed_over(embedder: FusedEmbedder, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(model_dir(AppPaths.default(), MINILM), models / MINILM.dirname)
    assert bundled_model_dir(MINILM, models) == models / MINILM.dirname
    broken = tmp_path / "broken"
    shutil.copytree(models, broken)
    with (broken / MINILM.dirname / MINILM.onnx_file).open("r+b") as fh:
        fh.truncate(1000)
    assert bundled_model_dir(MINILM, broken) is None


def test_a_checkout_has_no_bundled_model() -> None:
    assert not getattr(sys, "frozen", False)
    assert all(bundled_model_dir(folder) is None for folder in DEFAULT_MODEL_FOLDERS)
