"""An installed (frozen) program finds the model it carries before the user's folder."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from codanna_desktop.core.semantic.embedder import DEFAULT_MODEL_ID, Embedder, load_embedder
from codanna_desktop.core.semantic.model_store import (
    DEFAULT_MODEL_DIRNAME,
    ONNX_FILE,
    bundled_model_dir,
    default_model_dir,
    install_default_model,
)
from codanna_desktop.core.settings import AppPaths, Settings


@pytest.fixture
def bundle(embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A frozen program's layout: sys.frozen set and a models folder in sys._MEIPASS
    holding a real copy of the model; the user's models folder is empty."""
    shared = default_model_dir(AppPaths.default())
    internal = tmp_path / "bundle" / "_internal"
    shutil.copytree(shared, internal / "models" / DEFAULT_MODEL_DIRNAME)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(internal), raising=False)
    monkeypatch.setenv("CODANNA_MODELS_DIR", str(tmp_path / "user-models"))
    return internal / "models" / DEFAULT_MODEL_DIRNAME


def test_frozen_program_loads_its_bundled_model_without_provisioning(bundle: Path) -> None:
    paths = AppPaths.default()
    assert default_model_dir(paths) == bundle
    embedder = load_embedder(Settings(), paths)
    assert embedder.model_id == DEFAULT_MODEL_ID
    assert embedder.embed_query("read a file").shape == (384,)
    assert install_default_model(paths, log=lambda m: None) == bundle
    # Nothing was copied to, or fetched into, the user's data folder (fastembed may make
    # its empty cache folder there).
    assert not (paths.models_dir / DEFAULT_MODEL_DIRNAME).exists()
    assert not [p for p in paths.models_dir.rglob("*") if p.is_file()]


def test_a_damaged_bundled_model_is_passed_over(embedder: Embedder, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(default_model_dir(AppPaths.default()), models / DEFAULT_MODEL_DIRNAME)
    assert bundled_model_dir(DEFAULT_MODEL_DIRNAME, models) == models / DEFAULT_MODEL_DIRNAME
    broken = tmp_path / "broken"
    shutil.copytree(models, broken)
    with (broken / DEFAULT_MODEL_DIRNAME / ONNX_FILE).open("r+b") as fh:
        fh.truncate(1000)
    assert bundled_model_dir(DEFAULT_MODEL_DIRNAME, broken) is None


def test_a_checkout_has_no_bundled_model() -> None:
    assert not getattr(sys, "frozen", False)
    assert bundled_model_dir(DEFAULT_MODEL_DIRNAME) is None
