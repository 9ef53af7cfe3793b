"""An idle indexer drops the model and loads it again when it is needed; the desktop app
keeps the model in a child process, so dropping it gives all of its memory back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.semantic.embedder import Embedder
from codanna_desktop.core.semantic.model_process import MODEL_PROCESS_ARG, ModelProcess
from codanna_desktop.core.service import IndexingService

RETRY = '''def retry_upload(request, attempts=3):
    """Send the upload again when the server fails, waiting longer each time."""
    for attempt in range(attempts):
        if request.send():
            return True
    return False
'''
QUESTION = "send it again when the server fails"


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "upload.py").write_text(RETRY)
    return root


def model_pid(engine: Engine) -> int:
    model = engine.load_model()
    assert isinstance(model, ModelProcess) and model.pid is not None
    return model.pid


def gone(pid: int) -> bool:
    """Ended and reaped (a killed process shows as a zombie while its threads still exit)."""
    return not psutil.pid_exists(pid)


@pytest.mark.parametrize("model_process", [False, True], ids=["in-process", "model-process"])
def test_idle_indexer_unloads_the_model_and_the_next_search_loads_it_again(
    embedder: Embedder, tmp_path: Path, model_process: bool
) -> None:
    root = project(tmp_path)
    # Loads the model itself, as the app does (an injected one stays).
    engine = Engine(model_process=model_process)
    svc = IndexingService(engine, lambda event: None, watch=False, unload_model_after=0.5)
    svc.start()
    try:
        svc.add_roots([root])
        assert wait_for(lambda: engine.status().embedded == 1)
        assert engine.model_loads == 1
        first_pid = model_pid(engine) if model_process else None
        assert wait_for(lambda: not engine.model_loaded, timeout=30)
        if first_pid is not None:
            assert wait_for(lambda: gone(first_pid), timeout=10)
        results = engine.search(QUESTION).results(1.0, 5)
        assert [r.path for r in results] == ["upload.py"]
        assert results[0].semantic_score is not None and results[0].semantic_score > 0.2
        assert engine.model_loads == 2
        if first_pid is not None:
            assert model_pid(engine) != first_pid
    finally:
        svc.stop()
        engine.close()


def test_the_first_search_after_an_unload_finds_what_the_loaded_model_found(
    tmp_path: Path,
) -> None:
    root = project(tmp_path)
    with Engine(model_process=True) as engine:
        engine.index([engine.add_root(root)])
        before = engine.search(QUESTION).results(1.0, 5)
        assert engine.unload_model() is True
        after = engine.search(QUESTION)
        assert after.notes == []
        found = after.results(1.0, 5)
        assert [r.path for r in found] == [r.path for r in before] == ["upload.py"]
        assert found[0].semantic_score == pytest.approx(before[0].semantic_score, abs=1e-5)


def test_a_model_asked_for_recently_is_not_unloaded(tmp_path: Path) -> None:
    root = project(tmp_path)
    with Engine(model_process=True) as engine:
        engine.index([engine.add_root(root)])
        pid = model_pid(engine)
        engine.search(QUESTION).results(1.0, 5)
        assert engine.unload_model(idle_for=600) is False
        assert engine.model_loaded and not gone(pid)


def test_a_model_process_killed_from_outside_is_started_again_by_the_next_search(
    tmp_path: Path,
) -> None:
    root = project(tmp_path)
    with Engine(model_process=True) as engine:
        engine.index([engine.add_root(root)])
        model = engine.load_model()
        assert isinstance(model, ModelProcess) and model.pid is not None
        pid = model.pid
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: not model.alive, timeout=30)
        session = engine.search(QUESTION)
        assert session.notes == []
        assert [r.path for r in session.results(1.0, 5)] == ["upload.py"]
        assert engine.model_loads == 2 and model_pid(engine) != pid


def test_a_search_on_an_unloaded_model_process_says_so(tmp_path: Path) -> None:
    root = project(tmp_path)
    with Engine(model_process=True) as engine:
        engine.index([engine.add_root(root)])
        stale = engine.load_model()
        assert isinstance(stale, ModelProcess)
        engine.unload_model()
        with pytest.raises(Exception, match="unloaded while this search ran: search again"):
            stale.embed_query(QUESTION)


def test_the_app_process_never_imports_the_model_runtime(tmp_path: Path) -> None:
    """What the unload gives back in the app: the runtime was only ever in the child."""
    root = project(tmp_path)
    script = textwrap.dedent(
        f"""
        import sys
        from codanna_desktop.core.engine import Engine

        if __name__ == "__main__":
            with Engine(model_process=True) as engine:
                engine.index([engine.add_root({str(root)!r})])
                found = engine.search({QUESTION!r}).results(1.0, 5)
                print(found[0].path, found[0].semantic_score is not None)
                engine.unload_model()
                heavy = ("fastembed", "onnxruntime", "tokenizers")
                print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    ).stdout.splitlines()
    assert out == ["upload.py True", "[]"]


def test_the_frozen_entry_point_knows_the_model_process_flag() -> None:
    entry = Path(__file__).resolve().parent.parent / "packaging" / "entry.py"
    assert f'sys.argv[1:2] == ["{MODEL_PROCESS_ARG}"]' in entry.read_text()


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


def test_a_model_process_gives_each_default_model_s_vectors_as_in_process(
    tmp_path: Path,
) -> None:
    # The embedding cache keeps each default model's vector by its own id: the process must
    # name the same parts and give the same vectors for them as the model loaded here.
    from codanna_desktop.core.semantic.embedder import load_embedder
    from codanna_desktop.core.settings import AppPaths, load_settings

    paths = AppPaths(config_dir=tmp_path, data_dir=tmp_path / "data")
    settings = load_settings(paths)
    here = load_embedder(settings, paths)
    there = ModelProcess(settings, paths)
    try:
        assert [p.model_id for p in there.parts] == [p.model_id for p in here.parts]
        assert list(there.cache_ids) == list(here.cache_ids)
        texts = [[RETRY], [QUESTION]] if len(here.parts) > 1 else [[RETRY]]
        for mine, theirs in zip(here.embed_parts(texts), there.embed_parts(texts), strict=True):
            assert mine.shape == theirs.shape
            assert float((mine * theirs).sum(axis=-1).min()) > 0.999
    finally:
        there.close()
