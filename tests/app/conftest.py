"""The application context the window tests share: the session's model, a fresh engine."""

from __future__ import annotations

import gc
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


@pytest.fixture(autouse=True)
def collect_a_tests_qt_objects() -> Iterator[None]:
    """Collect what a test left in reference cycles when it ends, with no event loop
    running, rather than whenever the collector next runs: one clean-clone run crashed
    (SIGSEGV) in a collection that started inside a later test's `qtbot.waitUntil`, while
    its indexer thread ran; not reproduced since (BENCHMARKS.md, findings)."""
    yield
    gc.collect()
