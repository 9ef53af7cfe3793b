"""The background indexer with its watcher: the index follows the disk by itself."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.semantic.embedder import Embedder
from codanna_desktop.core.service import (
    IDLE_POLL_MAX_S,
    IDLE_POLL_S,
    IndexingService,
    ServiceEvent,
    next_idle_wait,
)
from codanna_desktop.core.watching import watcher as watcher_module
from codanna_desktop.core.watching.watcher import FolderWatcher


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def service(embedder: Embedder) -> Iterator[tuple[IndexingService, list[ServiceEvent]]]:
    engine = Engine(embedder=embedder)
    events: list[ServiceEvent] = []
    svc = IndexingService(engine, events.append, watch=True)
    svc.start()
    yield svc, events
    svc.stop()
    engine.close()


def found(svc: IndexingService, query: str, path: str, alpha: float = 0.0) -> bool:
    return any(r.path == path for r in svc.engine.search(query).results(alpha, 5))


def test_added_folder_is_indexed_and_then_follows_the_disk(
    service: tuple[IndexingService, list[ServiceEvent]], tmp_path: Path
) -> None:
    svc, events = service
    root = tmp_path / "live"
    root.mkdir()
    (root / "a.py").write_text("def original_name():\n    return 1\n")
    svc.add_roots([root])
    assert wait_for(lambda: found(svc, "original_name", "a.py"))
    assert svc.wait_idle(120)
    assert any(e.kind == "report" for e in events)

    (root / "a.py").write_text("def renamed_function():\n    return 2\n")
    assert wait_for(lambda: found(svc, "renamed_function", "a.py"))
    assert wait_for(lambda: not found(svc, "original_name", "a.py"))

    (root / "b.py").write_text("def second_file_here():\n    pass\n")
    assert wait_for(lambda: found(svc, "second_file_here", "b.py"))
    (root / "b.py").unlink()
    assert wait_for(lambda: not found(svc, "second_file_here", "b.py"))
    # Semantic side catches up too.
    assert svc.wait_idle(120)
    status = svc.engine.status()
    assert status.embedded == status.chunks


def test_paused_indexer_applies_changes_after_resume(
    service: tuple[IndexingService, list[ServiceEvent]], tmp_path: Path
) -> None:
    svc, _ = service
    root = tmp_path / "paused"
    root.mkdir()
    (root / "a.py").write_text("def first():\n    pass\n")
    svc.add_roots([root])
    assert wait_for(lambda: found(svc, "first", "a.py"))
    svc.pause()
    assert svc.paused and svc.state == "paused"
    (root / "c.py").write_text("def while_paused():\n    pass\n")
    time.sleep(1.5)  # give the watcher time to deliver; the paused indexer must not act
    assert not found(svc, "while_paused", "c.py")
    svc.resume()
    assert wait_for(lambda: found(svc, "while_paused", "c.py"))


def test_a_missing_folder_is_reported_and_others_go_on(
    service: tuple[IndexingService, list[ServiceEvent]], tmp_path: Path
) -> None:
    svc, events = service
    good = tmp_path / "good"
    good.mkdir()
    (good / "g.py").write_text("def good_function():\n    pass\n")
    svc.add_roots([tmp_path / "does-not-exist", good])
    assert wait_for(lambda: found(svc, "good_function", "g.py"))
    assert any(e.kind == "error" and "does-not-exist" in e.message for e in events)


def test_lost_file_events_make_the_indexer_compare_the_folders_with_the_disk(
    service: tuple[IndexingService, list[ServiceEvent]], tmp_path: Path
) -> None:
    svc, _ = service
    root = tmp_path / "lossy"
    root.mkdir()
    (root / "a.py").write_text("def kept_function():\n    pass\n")
    svc.add_roots([root])
    assert wait_for(lambda: found(svc, "kept_function", "a.py"))
    watcher = svc._watcher
    assert watcher is not None
    watcher.stop()  # an edit the watcher never hears of, as when the kernel drops events
    (root / "unheard.py").write_text("def never_announced():\n    pass\n")
    watcher.start()
    time.sleep(0.5)
    assert not found(svc, "never_announced", "unheard.py")
    logging.getLogger("watchdog.observers.inotify_c").warning(
        "Inotify queue overflowed; filesystem events were lost"
    )
    assert wait_for(lambda: found(svc, "never_announced", "unheard.py"))


def three_functions(root: Path) -> Path:
    """A new folder of three one-function files (three chunks to embed)."""
    root.mkdir()
    for i in range(3):
        (root / f"m{i}.py").write_text(f"def function_{i}():\n    return {i}\n")
    return root


def test_the_state_says_embedding_while_the_model_works(embedder: Embedder, tmp_path: Path) -> None:
    root = three_functions(tmp_path / "fresh")
    engine = Engine(embedder=embedder)
    embedded_when_said: list[int] = []

    def listen(event: ServiceEvent) -> None:
        if event.kind == "state" and event.state == "embedding":
            embedded_when_said.append(engine.catalog.counts()["embedded"])

    svc = IndexingService(engine, listen, watch=False)
    svc.start()
    try:
        svc.add_roots([root])
        assert wait_for(lambda: engine.status().embedded == 3)
    finally:
        svc.stop()
        engine.close()
    # The person sees "embedding" from the start, not once the first vectors are stored.
    assert embedded_when_said and embedded_when_said[0] == 0


def test_watching_starts_on_the_indexer_thread_not_the_callers(
    embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # watchdog walks every folder to watch it: the window that calls start() must not wait.
    started_on: list[str] = []
    original = FolderWatcher.start

    def recording_start(self: FolderWatcher) -> None:
        started_on.append(threading.current_thread().name)
        original(self)

    monkeypatch.setattr(FolderWatcher, "start", recording_start)
    root = tmp_path / "watched"
    root.mkdir()
    engine = Engine(embedder=embedder)
    engine.add_root(root)
    svc = IndexingService(engine, lambda event: None, watch=True)
    svc.start()
    try:
        assert wait_for(lambda: bool(started_on), timeout=10)
        assert started_on == ["codanna-indexer"]
        (root / "late.py").write_text("def found_by_the_watcher():\n    pass\n")
        assert wait_for(lambda: found(svc, "found_by_the_watcher", "late.py"))
    finally:
        svc.stop()
        engine.close()


def test_finishing_the_embeddings_is_announced_once(embedder: Embedder, tmp_path: Path) -> None:
    root = three_functions(tmp_path / "to-embed")
    engine = Engine(embedder=embedder)
    events: list[ServiceEvent] = []
    svc = IndexingService(engine, events.append, watch=False)
    svc.start()
    try:
        svc.add_roots([root])
        assert wait_for(lambda: any(e.kind == "embedded" for e in events))
        status = engine.status()
        assert status.embedded == status.chunks == 3
        time.sleep(0.5)  # idle polls meanwhile announce nothing new
        assert [e.kind for e in events].count("embedded") == 1
    finally:
        svc.stop()
        engine.close()


def test_folders_a_gitignore_leaves_out_get_watches_once_it_lets_them_in(
    service: tuple[IndexingService, list[ServiceEvent]], tmp_path: Path
) -> None:
    svc, _ = service
    root = tmp_path / "ignoring"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("def application_entry():\n    pass\n")
    for i in range(10):  # a build tree: each folder would cost a watch
        (root / "generated" / f"part{i}").mkdir(parents=True)
    (root / "generated" / "old.py").write_text("def generated_earlier():\n    pass\n")
    (root / ".gitignore").write_text("generated/\n")
    before = watcher_module._inotify_watch_count()
    assert before is not None
    svc.add_roots([root])
    assert wait_for(lambda: found(svc, "application_entry", "src/app.py"))
    assert watcher_module._inotify_watch_count() == before + 2  # the root and src only

    (root / ".gitignore").write_text("")  # generated/ is the person's code after all
    assert wait_for(lambda: found(svc, "generated_earlier", "generated/old.py"))
    assert wait_for(lambda: watcher_module._inotify_watch_count() == before + 13)
    (root / "generated" / "part3" / "new.py").write_text("def generated_later():\n    pass\n")
    assert wait_for(lambda: found(svc, "generated_later", "generated/part3/new.py"))

    (root / ".gitignore").write_text("generated/\n")
    assert wait_for(lambda: not found(svc, "generated_later", "generated/part3/new.py"))
    assert wait_for(lambda: watcher_module._inotify_watch_count() == before + 2)


def test_an_ignore_file_above_a_folder_applies_as_soon_as_it_is_saved(
    service: tuple[IndexingService, list[ServiceEvent]], tmp_path: Path
) -> None:
    svc, _ = service
    repo = tmp_path / "checkout"
    (repo / ".git" / "info").mkdir(parents=True)
    root = repo / "packages" / "app"
    (root / "gen").mkdir(parents=True)
    (root / "main.py").write_text("def main_entry_point():\n    pass\n")
    (root / "gen" / "api.py").write_text("def generated_endpoint():\n    pass\n")
    (root / "notes.local.py").write_text("def local_scratch_work():\n    pass\n")
    svc.add_roots([root])
    assert wait_for(lambda: found(svc, "generated_endpoint", "gen/api.py"))
    assert found(svc, "local_scratch_work", "notes.local.py")

    (repo / ".gitignore").write_text("gen/\n")  # the checkout's top, above the added folder
    assert wait_for(lambda: not found(svc, "generated_endpoint", "gen/api.py"))
    (repo / ".git" / "info" / "exclude").write_text("*.local.py\n")
    assert wait_for(lambda: not found(svc, "local_scratch_work", "notes.local.py"))
    (repo / ".gitignore").unlink()
    assert wait_for(lambda: found(svc, "generated_endpoint", "gen/api.py"))
    assert found(svc, "main_entry_point", "main.py")


def test_an_edit_in_a_nested_folder_the_outer_gitignore_leaves_out_is_indexed(
    service: tuple[IndexingService, list[ServiceEvent]], tmp_path: Path
) -> None:
    # Both /outer and /outer/inner are added; /outer's .gitignore leaves inner/ out of
    # /outer, but inner is a folder of its own: its files belong to it (the innermost).
    svc, _ = service
    outer = tmp_path / "outer"
    inner = outer / "inner"
    (inner / "deep").mkdir(parents=True)
    (outer / ".gitignore").write_text("inner/\n")
    (outer / "top.py").write_text("def outer_function():\n    pass\n")
    (inner / "deep" / "one.py").write_text("def inner_function_before():\n    pass\n")
    svc.add_roots([outer, inner])
    assert wait_for(lambda: found(svc, "inner_function_before", "deep/one.py"))
    assert svc.wait_idle(120)

    (inner / "deep" / "one.py").write_text("def inner_function_after():\n    pass\n")
    (inner / "deep" / "two.py").write_text("def inner_function_added():\n    pass\n")
    assert wait_for(lambda: found(svc, "inner_function_after", "deep/one.py"))
    assert wait_for(lambda: found(svc, "inner_function_added", "deep/two.py"))


def test_index_a_search_found_damaged_is_rebuilt_while_idle_and_said_once(
    service: tuple[IndexingService, list[ServiceEvent]], tmp_path: Path
) -> None:
    svc, events = service
    root = tmp_path / "project"
    root.mkdir()
    (root / "a.py").write_text("def steady_function():\n    return 1\n")
    svc.add_roots([root])
    assert wait_for(lambda: found(svc, "steady_function", "a.py"))
    assert svc.wait_idle(120)
    # What a search leaves behind when tantivy fails under it.
    svc.engine.lexical.damaged = "tantivy failed: index out of bounds"

    def said() -> list[str]:
        return [e.message for e in events if e.kind == "error" and "rebuilt" in e.message]

    assert wait_for(lambda: bool(said()))
    assert wait_for(lambda: found(svc, "steady_function", "a.py"))
    assert svc.wait_idle(120)
    assert len(said()) == 1 and "index out of bounds" in said()[0]


def test_the_idle_indexer_waits_longer_while_nothing_is_left_but_never_spins() -> None:
    waits = [0.0]  # just after a job
    for _ in range(6):
        waits.append(next_idle_wait(waits[-1], embedded=False))
    assert (
        waits[1:]
        == [IDLE_POLL_S, 2 * IDLE_POLL_S, 4 * IDLE_POLL_S, 8 * IDLE_POLL_S] + [IDLE_POLL_MAX_S] * 2
    )
    assert next_idle_wait(IDLE_POLL_MAX_S, embedded=True) == IDLE_POLL_S
