"""The application context the window tests share: the session's model, a fresh engine."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QApplication

from codanna_desktop.app.context import AppContext
from codanna_desktop.core.engine import Engine
from codanna_desktop.core.semantic.embedder import Embedder


@pytest.fixture
def context(qapp: QApplication, embedder: Embedder) -> Iterator[AppContext]:
    """Not started: tests that need the background indexer running override this. Made
    after the application, as in the app: the context's collector needs its loop."""
    ctx = AppContext(engine=Engine(embedder=embedder))
    yield ctx
    ctx.shutdown()


@pytest.fixture(autouse=True)
def collect_a_tests_qt_objects() -> Iterator[None]:
    """Collect what a test left in reference cycles when it ends, with no event loop
    running, and turn automatic collection back on for the tests after these: the app's
    context turns it off and collects only between events (app/collector.py; a
    collection inside Qt's delivery of a queued signal crashed the suite once,
    BENCHMARKS.md finding 10)."""
    yield
    gc.collect()
    gc.enable()
