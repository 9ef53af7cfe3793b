"""An idle indexer drops the model and loads it again when it is needed."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.semantic.embedder import Embedder
from codanna_desktop.core.service import IndexingService

RETRY = '''def retry_upload(request, attempts=3):
    """Send the upload again when the server fails, waiting longer each time."""
    for attempt in range(attempts):
        if request.send():
            return True
    return False
'''


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_idle_indexer_unloads_the_model_and_the_next_search_loads_it_again(
    embedder: Embedder, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "upload.py").write_text(RETRY)
    engine = Engine()  # loads the model itself, as the app does (an injected one stays)
    svc = IndexingService(engine, lambda event: None, watch=False, unload_model_after=0.5)
    svc.start()
    try:
        svc.add_roots([root])
        assert wait_for(lambda: engine.status().embedded == 1)
        assert engine.model_loads == 1
        assert wait_for(lambda: not engine.model_loaded, timeout=30)
        results = engine.search("send it again when the server fails").results(1.0, 5)
        assert [r.path for r in results] == ["upload.py"]
        assert results[0].semantic_score is not None and results[0].semantic_score > 0.2
        assert engine.model_loads == 2
    finally:
        svc.stop()
        engine.close()


def test_a_model_handed_to_the_engine_is_never_unloaded(embedder: Embedder) -> None:
    engine = Engine(embedder=embedder)
    try:
        assert engine.unload_model() is False
        assert engine.model_loaded
    finally:
        engine.close()


def test_unload_before_any_load_does_nothing() -> None:
    engine = Engine()
    try:
        assert engine.unload_model() is False
        assert engine.model_loads == 0
    finally:
        engine.close()
