"""The application context the window tests share: the session's model, a fresh engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codanna_desktop.app.context import AppContext
from codanna_desktop.core.engine import Engine
from codanna_desktop.core.semantic.embedder import Embedder


@pytest.fixture
def context(embedder: Embedder) -> Iterator[AppContext]:
    """Not started: tests that need the background indexer running override this."""
    ctx = AppContext(engine=Engine(embedder=embedder))
    yield ctx
    ctx.shutdown()
