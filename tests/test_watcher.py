"""The watcher: coalescing rules on ChangeCollector with explicit clocks, then a real
watchdog Observer on real folders."""

from __future__ import annotations

import inspect
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import watchdog.observers.inotify_c as watchdog_inotify_c
from watchdog.events import FileSystemEvent

import codanna_desktop.core.watching.watcher as watcher_module
from codanna_desktop.core.errors import RootNotFoundError
from codanna_desktop.core.watching.watcher import ChangeCollector, ChangeSet, FolderWatcher

ROOT = Path("/project")


def p(relative: str) -> Path:
    return ROOT / relative


Event = tuple[str, str] | tuple[str, str, str | None] | tuple[str, str, str | None, bool]


def collect(*events: Event) -> ChangeSet:
    """Feed events 10 ms apart and take what they coalesce into."""
    collector = ChangeCollector()
    for step, event in enumerate(events):
        kind, path = event[0], event[1]
        dest = event[2] if len(event) > 2 else None
        is_dir = bool(event[3]) if len(event) > 3 else False
        collector.add(kind, p(path), p(dest) if dest else None, is_dir=is_dir, now=step * 0.01)
    return collector.take_all() or ChangeSet()


# Coalescing rules


def test_created_then_modified_is_created() -> None:
    assert collect(("created", "a.py"), ("modified", "a.py"), ("closed", "a.py")) == ChangeSet(
        created={p("a.py")}
    )


def test_created_then_deleted_is_nothing() -> None:
    assert collect(("created", "a.py"), ("modified", "a.py"), ("deleted", "a.py")).is_empty()


def test_deleted_then_created_is_modified() -> None:
    assert collect(("deleted", "a.py"), ("created", "a.py")) == ChangeSet(modified={p("a.py")})


def test_modified_then_deleted_is_deleted() -> None:
    assert collect(("modified", "a.py"), ("deleted", "a.py")) == ChangeSet(deleted={p("a.py")})


def test_moved_then_modified_keeps_the_move_and_the_change() -> None:
    changes = collect(("moved", "a.py", "b.py"), ("modified", "b.py"))
    assert changes == ChangeSet(moved={p("a.py"): p("b.py")}, modified={p("b.py")})


def test_modified_then_moved_carries_the_change_to_the_new_path() -> None:
    changes = collect(("modified", "a.py"), ("moved", "a.py", "b.py"))
    assert changes == ChangeSet(moved={p("a.py"): p("b.py")}, modified={p("b.py")})


def test_two_moves_chain_into_one() -> None:
    changes = collect(("moved", "a.py", "b.py"), ("moved", "b.py", "c.py"))
    assert changes == ChangeSet(moved={p("a.py"): p("c.py")})


def test_the_same_move_reported_twice_is_one_move() -> None:
    # Nested roots report each event once per watch.
    changes = collect(("moved", "a.py", "b.py"), ("moved", "a.py", "b.py"))
    assert changes == ChangeSet(moved={p("a.py"): p("b.py")})


def test_moving_a_file_back_cancels_the_move() -> None:
    assert collect(("moved", "a.py", "b.py"), ("moved", "b.py", "a.py")).is_empty()


def test_a_new_file_that_is_renamed_is_created_under_its_new_name() -> None:
    changes = collect(("created", "draft.py"), ("moved", "draft.py", "final.py"))
    assert changes == ChangeSet(created={p("final.py")})


def test_moved_then_deleted_deletes_the_original() -> None:
    changes = collect(("moved", "a.py", "b.py"), ("deleted", "b.py"))
    assert changes == ChangeSet(deleted={p("a.py"), p("b.py")})


@pytest.mark.parametrize("temp", ["f.py.tmp", ".f.py.swp", "f.py~", ".#f.py", "f.py.tmp.8731"])
def test_save_by_rename_is_a_modification_of_the_real_file(temp: str) -> None:
    changes = collect(
        ("created", temp), ("modified", temp), ("closed", temp), ("moved", temp, "f.py")
    )
    assert changes == ChangeSet(modified={p("f.py")})


def test_save_by_rename_onto_a_file_new_in_the_same_set_stays_created() -> None:
    changes = collect(("created", "f.py"), ("created", "f.py.tmp"), ("moved", "f.py.tmp", "f.py"))
    assert changes == ChangeSet(created={p("f.py")})


def test_temp_file_reported_earlier_is_deleted_when_renamed_onto_the_real_file() -> None:
    # The temp file's creation went out in an earlier change set; now it must go.
    changes = collect(("moved", "f.py.tmp", "f.py"))
    assert changes == ChangeSet(modified={p("f.py")}, deleted={p("f.py.tmp")})


def test_vim_backup_rename_is_a_modification_of_the_real_file() -> None:
    changes = collect(
        ("moved", "f.py", "f.py~"),
        ("created", "f.py"),
        ("modified", "f.py"),
        ("closed", "f.py"),
        ("deleted", "f.py~"),
    )
    assert changes == ChangeSet(modified={p("f.py")})


@pytest.mark.parametrize("kind", ["opened", "closed_no_write", "attrib"])
def test_events_that_change_no_content_are_ignored(kind: str) -> None:
    collector = ChangeCollector()
    collector.add(kind, p("a.py"), now=0.0)
    assert not collector.has_pending()
    assert collector.take_ready(now=100.0) is None


def test_close_after_write_counts_as_modified() -> None:
    assert collect(("closed", "a.py")) == ChangeSet(modified={p("a.py")})


def test_folder_modified_events_are_ignored() -> None:
    assert collect(("modified", "src", None, True)).is_empty()


def test_a_deleted_folder_swallows_the_events_below_it() -> None:
    changes = collect(
        ("created", "d/new.py"),
        ("modified", "d/old.py"),
        ("deleted", "d/sub/x.py"),
        ("deleted", "d/sub", None, True),
        ("deleted", "d", None, True),
    )
    assert changes == ChangeSet(deleted={p("d")})


def test_a_folder_deleted_and_created_again_is_modified_with_its_new_files() -> None:
    changes = collect(
        ("deleted", "d/x.py"),
        ("deleted", "d", None, True),
        ("created", "d", None, True),
        ("created", "d/y.py"),
    )
    assert changes == ChangeSet(modified={p("d")}, created={p("d/y.py")})


def test_a_moved_folder_swallows_the_moves_of_the_files_inside() -> None:
    # watchdog follows a folder move with one synthetic move per entry inside it.
    changes = collect(
        ("moved", "d", "e", True),
        ("moved", "d/sub", "e/sub", True),
        ("moved", "d/x.py", "e/x.py"),
        ("moved", "d/sub/y.py", "e/sub/y.py"),
    )
    assert changes == ChangeSet(moved={p("d"): p("e")})


def test_a_folder_moved_twice_is_one_move() -> None:
    changes = collect(
        ("moved", "d", "e", True),
        ("moved", "d/x.py", "e/x.py"),
        ("moved", "e", "f", True),
        ("moved", "e/x.py", "f/x.py"),
    )
    assert changes == ChangeSet(moved={p("d"): p("f")})


def test_pending_changes_below_a_folder_follow_it_when_it_moves() -> None:
    changes = collect(("modified", "d/x.py"), ("created", "d/y.py"), ("moved", "d", "e", True))
    assert changes == ChangeSet(
        moved={p("d"): p("e")}, modified={p("e/x.py")}, created={p("e/y.py")}
    )


def test_a_file_moved_out_of_a_folder_that_is_then_deleted_is_created_at_its_new_path() -> None:
    changes = collect(("moved", "d/x.py", "x.py"), ("deleted", "d", None, True))
    assert changes == ChangeSet(created={p("x.py")}, deleted={p("d")})


def test_ignore_file_edits_are_reported_like_any_file() -> None:
    changes = collect(("modified", ".gitignore"), ("created", ".codannaignore"))
    assert changes == ChangeSet(modified={p(".gitignore")}, created={p(".codannaignore")})


def test_a_move_without_a_destination_is_refused() -> None:
    with pytest.raises(ValueError, match="destination"):
        ChangeCollector().add("moved", p("a.py"), None, now=0.0)


# Debounce


def test_changes_are_ready_only_after_a_quiet_period() -> None:
    collector = ChangeCollector(debounce_s=0.3, max_delay_s=2.0)
    collector.add("created", p("a.py"), now=10.0)
    assert collector.take_ready(now=10.2) is None
    assert collector.take_ready(now=10.3) == ChangeSet(created={p("a.py")})
    assert collector.take_ready(now=20.0) is None


def test_each_new_event_restarts_the_quiet_period() -> None:
    collector = ChangeCollector(debounce_s=0.3, max_delay_s=2.0)
    collector.add("created", p("a.py"), now=0.0)
    collector.add("modified", p("a.py"), now=0.2)
    assert collector.take_ready(now=0.4) is None
    assert collector.take_ready(now=0.5) == ChangeSet(created={p("a.py")})


def test_a_file_written_constantly_is_delivered_after_the_maximum_delay() -> None:
    collector = ChangeCollector(debounce_s=0.3, max_delay_s=2.0)
    for tick in range(20):
        collector.add("modified", p("log.txt"), now=tick * 0.1)
        assert collector.take_ready(now=tick * 0.1) is None
    collector.add("modified", p("log.txt"), now=2.0)
    assert collector.take_ready(now=2.0) == ChangeSet(modified={p("log.txt")})


def test_a_fresh_temp_file_holds_the_set_until_it_is_renamed() -> None:
    collector = ChangeCollector(debounce_s=0.3, max_delay_s=2.0)
    collector.add("created", p("f.py.tmp"), now=0.0)
    collector.add("closed", p("f.py.tmp"), now=0.01)
    assert collector.take_ready(now=0.5) is None
    collector.add("moved", p("f.py.tmp"), p("f.py"), now=0.6)
    assert collector.take_ready(now=0.8) is None
    assert collector.take_ready(now=0.9) == ChangeSet(modified={p("f.py")})


def test_a_temp_file_never_renamed_is_delivered_after_the_maximum_delay() -> None:
    collector = ChangeCollector(debounce_s=0.3, max_delay_s=2.0)
    collector.add("created", p("notes.txt~"), now=0.0)
    assert collector.take_ready(now=1.9) is None
    assert collector.take_ready(now=2.0) == ChangeSet(created={p("notes.txt~")})


def test_events_that_cancel_out_deliver_nothing() -> None:
    collector = ChangeCollector(debounce_s=0.3)
    collector.add("created", p("a.py"), now=0.0)
    collector.add("deleted", p("a.py"), now=0.1)
    assert collector.take_ready(now=1.0) is None
    assert not collector.has_pending()


# ChangeSet


def test_merge_applies_later_changes_over_earlier_ones() -> None:
    changes = ChangeSet(created={p("new.py")}, deleted={p("gone.py")}, moved={p("a.py"): p("b.py")})
    changes.merge(
        ChangeSet(deleted={p("new.py")}, created={p("gone.py")}, moved={p("b.py"): p("c.py")})
    )
    assert changes == ChangeSet(modified={p("gone.py")}, moved={p("a.py"): p("c.py")})


def test_merge_completes_a_vim_save_split_across_two_sets() -> None:
    changes = ChangeSet(moved={p("f.py"): p("f.py~")}, created={p("f.py")})
    changes.merge(ChangeSet(deleted={p("f.py~")}))
    assert changes == ChangeSet(modified={p("f.py")})


def test_paths_lists_every_path_touched_including_both_sides_of_moves() -> None:
    changes = ChangeSet(
        created={p("c.py")}, modified={p("m.py")}, deleted={p("d.py")}, moved={p("a"): p("b")}
    )
    assert changes.paths() == {p("c.py"), p("m.py"), p("d.py"), p("a"), p("b")}


# A real observer on real folders


class Recorder:
    """Collects what a FolderWatcher delivers, from its threads."""

    def __init__(self, fail_first: bool = False) -> None:
        self.sets: list[ChangeSet] = []
        self.errors: list[tuple[Path, Exception]] = []
        self._fail_next = fail_first
        self._lock = threading.Lock()

    def on_changes(self, changes: ChangeSet) -> None:
        with self._lock:
            self.sets.append(changes)
            if self._fail_next:
                self._fail_next = False
                raise RuntimeError("indexer fell over")

    def on_error(self, path: Path, error: Exception) -> None:
        with self._lock:
            self.errors.append((path, error))

    def delivered(self) -> list[ChangeSet]:
        with self._lock:
            return list(self.sets)

    def merged(self) -> ChangeSet:
        total = ChangeSet()
        for changes in self.delivered():
            total.merge(changes)
        return total

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.02)
        pytest.fail(f"no {what} within 10 s; delivered {self.delivered()}, errors {self.errors}")


def nothing_ignored(path: Path, is_dir: bool) -> bool:
    return False


MakeWatcher = Callable[..., tuple[FolderWatcher, Recorder]]


@pytest.fixture
def make_watcher() -> Iterator[MakeWatcher]:
    made: list[FolderWatcher] = []

    def make(
        *roots: Path,
        is_ignored: Callable[[Path, bool], bool] = nothing_ignored,
        recorder: Recorder | None = None,
        debounce_s: float = 0.3,
        max_delay_s: float = 2.0,
    ) -> tuple[FolderWatcher, Recorder]:
        recorder = recorder or Recorder()
        watcher = FolderWatcher(
            recorder.on_changes,
            is_ignored,
            on_error=recorder.on_error,
            debounce_s=debounce_s,
            max_delay_s=max_delay_s,
        )
        made.append(watcher)
        for root in roots:
            watcher.add_root(root)
        watcher.start()
        return watcher, recorder

    yield make
    for watcher in made:
        watcher.stop()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = (tmp_path / "project").resolve()
    folder.mkdir()
    return folder


def test_writing_a_new_file_delivers_it_as_created(root: Path, make_watcher: MakeWatcher) -> None:
    _, recorder = make_watcher(root)
    (root / "a.py").write_text("print('hi')\n")
    recorder.wait_for(lambda: recorder.merged().created == {root / "a.py"}, "created a.py")
    assert recorder.merged() == ChangeSet(created={root / "a.py"})


def test_editing_an_ignore_file_is_reported(root: Path, make_watcher: MakeWatcher) -> None:
    (root / ".gitignore").write_text("build/\n")
    _, recorder = make_watcher(root)
    (root / ".gitignore").write_text("build/\ndist/\n")
    recorder.wait_for(lambda: root / ".gitignore" in recorder.merged().modified, ".gitignore")


def test_save_by_rename_reports_only_the_real_file_as_modified(
    root: Path, make_watcher: MakeWatcher
) -> None:
    target = root / "f.py"
    target.write_text("old\n")
    _, recorder = make_watcher(root, max_delay_s=30.0)
    temp = root / "f.py.tmp"
    temp.write_text("new\n")
    time.sleep(0.6)  # a slow save: the temp file sits longer than the debounce
    os.replace(temp, target)
    recorder.wait_for(lambda: not recorder.merged().is_empty(), "change")
    assert recorder.merged() == ChangeSet(modified={target})
    assert all(temp not in changes.paths() for changes in recorder.delivered())


def test_renaming_an_ignored_temp_file_onto_a_file_is_a_modification(
    root: Path, make_watcher: MakeWatcher
) -> None:
    target = root / "f.py"
    target.write_text("old\n")
    _, recorder = make_watcher(root, is_ignored=lambda path, is_dir: path.suffix == ".tmp")
    temp = root / "f.py.tmp"
    temp.write_text("new\n")
    os.replace(temp, target)
    recorder.wait_for(lambda: not recorder.merged().is_empty(), "change")
    assert recorder.merged() == ChangeSet(modified={target})


def test_vim_style_backup_rename_reports_a_modification(
    root: Path, make_watcher: MakeWatcher
) -> None:
    target, backup = root / "f.py", root / "f.py~"
    target.write_text("old\n")
    _, recorder = make_watcher(root)
    os.rename(target, backup)
    target.write_text("new\n")
    backup.unlink()
    recorder.wait_for(lambda: recorder.merged() == ChangeSet(modified={target}), "modified f.py")


def test_deleting_a_file_reports_it_deleted(root: Path, make_watcher: MakeWatcher) -> None:
    (root / "a.py").write_text("x = 1\n")
    _, recorder = make_watcher(root)
    (root / "a.py").unlink()
    recorder.wait_for(lambda: not recorder.merged().is_empty(), "change")
    assert recorder.merged() == ChangeSet(deleted={root / "a.py"})


def test_renaming_a_file_reports_one_move(root: Path, make_watcher: MakeWatcher) -> None:
    (root / "a.py").write_text("x = 1\n")
    _, recorder = make_watcher(root)
    os.rename(root / "a.py", root / "b.py")
    recorder.wait_for(lambda: not recorder.merged().is_empty(), "change")
    assert recorder.merged() == ChangeSet(moved={root / "a.py": root / "b.py"})


def test_moving_a_folder_reports_the_folder_move_only(
    root: Path, make_watcher: MakeWatcher
) -> None:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "a.py").write_text("a = 1\n")
    (root / "pkg" / "sub" / "b.py").write_text("b = 2\n")
    _, recorder = make_watcher(root)
    os.rename(root / "pkg", root / "lib")
    recorder.wait_for(lambda: not recorder.merged().is_empty(), "change")
    assert recorder.merged() == ChangeSet(moved={root / "pkg": root / "lib"})


def test_moving_files_in_and_out_of_a_root_reports_created_and_deleted(
    root: Path, tmp_path: Path, make_watcher: MakeWatcher
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "incoming.py").write_text("i = 1\n")
    (root / "outgoing.py").write_text("o = 1\n")
    _, recorder = make_watcher(root)
    os.rename(outside / "incoming.py", root / "incoming.py")
    os.rename(root / "outgoing.py", outside / "outgoing.py")
    expected = ChangeSet(created={root / "incoming.py"}, deleted={root / "outgoing.py"})
    recorder.wait_for(lambda: recorder.merged() == expected, "created and deleted")


def test_an_ignored_folder_produces_no_changes(root: Path, make_watcher: MakeWatcher) -> None:
    modules = root / "node_modules"
    modules.mkdir()
    _, recorder = make_watcher(
        root, is_ignored=lambda path, is_dir: is_dir and path.name == "node_modules"
    )
    (modules / "left-pad").mkdir()
    (modules / "left-pad" / "index.js").write_text("module.exports = 1\n")
    (modules / "top.js").write_text("x\n")
    # Written last: once it arrives, anything from node_modules would have arrived too.
    (root / "sentinel.py").write_text("s = 1\n")
    recorder.wait_for(lambda: root / "sentinel.py" in recorder.merged().paths(), "sentinel")
    touched = set().union(*(changes.paths() for changes in recorder.delivered()))
    assert touched == {root / "sentinel.py"}


def test_many_rapid_writes_to_one_file_are_coalesced(root: Path, make_watcher: MakeWatcher) -> None:
    target = root / "busy.py"
    watcher, recorder = make_watcher(root)
    writes = 100
    for number in range(writes):
        target.write_text(f"n = {number}\n")
    recorder.wait_for(lambda: target in recorder.merged().paths(), "busy.py")
    watcher.stop()
    delivered = recorder.delivered()
    assert len(delivered) < writes // 10
    assert all(changes.paths() == {target} for changes in delivered)
    assert recorder.merged() == ChangeSet(created={target})


def test_stop_delivers_pending_changes_first(root: Path, make_watcher: MakeWatcher) -> None:
    watcher, recorder = make_watcher(root, debounce_s=60.0, max_delay_s=60.0)
    (root / "a.py").write_text("a = 1\n")
    recorder.wait_for(watcher.has_pending, "pending change")
    assert recorder.delivered() == []
    watcher.stop()
    assert recorder.merged() == ChangeSet(created={root / "a.py"})


def test_stop_is_clean_and_idempotent(root: Path, make_watcher: MakeWatcher) -> None:
    threads_before = set(threading.enumerate())
    watcher, recorder = make_watcher(root)
    (root / "a.py").write_text("a = 1\n")
    recorder.wait_for(lambda: not recorder.merged().is_empty(), "change")
    watcher.stop()
    watcher.stop()
    leftover = [thread for thread in threading.enumerate() if thread not in threads_before]
    assert leftover == []
    assert recorder.errors == []


def test_a_stopped_watcher_can_be_started_again(root: Path, make_watcher: MakeWatcher) -> None:
    watcher, recorder = make_watcher(root)
    watcher.stop()
    watcher.start()
    (root / "a.py").write_text("a = 1\n")
    recorder.wait_for(lambda: root / "a.py" in recorder.merged().created, "created a.py")


def test_deleting_a_watched_root_is_reported_and_other_roots_keep_working(
    tmp_path: Path, make_watcher: MakeWatcher
) -> None:
    doomed, kept = tmp_path / "doomed", tmp_path / "kept"
    (doomed / "src").mkdir(parents=True)
    (doomed / "src" / "a.py").write_text("a = 1\n")
    kept.mkdir()
    watcher, recorder = make_watcher(doomed, kept)
    shutil.rmtree(doomed)
    recorder.wait_for(lambda: bool(recorder.errors), "error for the deleted root")
    assert [(path, type(error)) for path, error in recorder.errors] == [(doomed, RootNotFoundError)]
    recorder.wait_for(lambda: watcher.roots() == [kept], "the deleted root to be dropped")
    (kept / "b.py").write_text("b = 1\n")
    recorder.wait_for(lambda: kept / "b.py" in recorder.merged().created, "created b.py")
    assert doomed in recorder.merged().deleted


def test_a_root_moved_away_is_reported(tmp_path: Path, make_watcher: MakeWatcher) -> None:
    root = tmp_path / "project"
    root.mkdir()
    watcher, recorder = make_watcher(root)
    os.rename(root, tmp_path / "renamed")
    recorder.wait_for(lambda: bool(recorder.errors), "error for the moved root")
    assert isinstance(recorder.errors[0][1], RootNotFoundError)
    assert watcher.roots() == []


def test_adding_a_missing_root_is_reported_without_crashing(
    tmp_path: Path, make_watcher: MakeWatcher
) -> None:
    missing = tmp_path / "nowhere"
    watcher, recorder = make_watcher(missing)
    watcher.add_root(tmp_path / "also-nowhere")
    assert watcher.roots() == []
    assert [(path, type(error)) for path, error in recorder.errors] == [
        (missing, RootNotFoundError),
        (tmp_path / "also-nowhere", RootNotFoundError),
    ]


def test_a_removed_root_is_no_longer_watched(tmp_path: Path, make_watcher: MakeWatcher) -> None:
    dropped, kept = tmp_path / "dropped", tmp_path / "kept"
    dropped.mkdir()
    kept.mkdir()
    watcher, recorder = make_watcher(dropped, kept)
    watcher.remove_root(dropped)
    watcher.remove_root(dropped)
    assert watcher.roots() == [kept]
    (dropped / "a.py").write_text("a = 1\n")
    (kept / "sentinel.py").write_text("s = 1\n")
    recorder.wait_for(lambda: kept / "sentinel.py" in recorder.merged().paths(), "sentinel")
    assert recorder.merged() == ChangeSet(created={kept / "sentinel.py"})


def test_a_failing_change_handler_is_reported_and_delivery_goes_on(
    root: Path, make_watcher: MakeWatcher
) -> None:
    _, recorder = make_watcher(root, recorder=Recorder(fail_first=True))
    (root / "first.py").write_text("1\n")
    recorder.wait_for(lambda: bool(recorder.errors), "error from the change handler")
    assert isinstance(recorder.errors[0][1], RuntimeError)
    (root / "second.py").write_text("2\n")
    recorder.wait_for(lambda: root / "second.py" in recorder.merged().created, "second.py")


def test_reading_files_asks_the_kernel_for_no_events(
    root: Path, make_watcher: MakeWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The indexer reads every file it indexes; inotify must not queue an open and a close
    # for each (indexing a large tree overflowed the kernel's queue and lost edits).
    for i in range(20):
        (root / f"f{i}.py").write_text(f"x = {i}\n")
    seen: list[str] = []
    forward = FolderWatcher._on_event

    def counting(self: FolderWatcher, event: FileSystemEvent) -> None:
        seen.append(event.event_type)
        forward(self, event)

    monkeypatch.setattr(FolderWatcher, "_on_event", counting)
    _, recorder = make_watcher(root)
    for i in range(20):
        (root / f"f{i}.py").read_text()
    (root / "written.py").write_text("y = 1\n")
    recorder.wait_for(lambda: root / "written.py" in recorder.merged().created, "written.py")
    assert "opened" not in seen and "closed_no_write" not in seen
    assert recorder.merged() == ChangeSet(created={root / "written.py"})


def test_an_overflowed_kernel_queue_is_reported_as_lost_events(root: Path) -> None:
    # watchdog has no hook for it; it logs this message when the kernel dropped events.
    assert watcher_module._OVERFLOW_MESSAGE in inspect.getsource(watchdog_inotify_c)
    lost = threading.Event()
    recorder = Recorder()
    watcher = FolderWatcher(recorder.on_changes, nothing_ignored, on_events_lost=lost.set)
    watcher.add_root(root)
    watcher.start()
    try:
        logging.getLogger(watcher_module._OVERFLOW_LOGGER).warning(
            "Inotify queue overflowed; filesystem events were lost"
        )
        assert lost.wait(10)
    finally:
        watcher.stop()
    lost.clear()
    logging.getLogger(watcher_module._OVERFLOW_LOGGER).warning(
        "Inotify queue overflowed; filesystem events were lost"
    )
    time.sleep(0.3)
    assert not lost.is_set()  # a stopped watcher stops listening


def _inotify_watches_of_this_user() -> int:
    """Every inotify watch held by processes of this user (the kernel's limit is per user)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.stat().st_uid != os.getuid():
                continue
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) == "anon_inode:inotify":
                    info = (proc / "fdinfo" / fd.name).read_text()
                    total += info.count("inotify wd:")
        except OSError:
            continue
    return total


@pytest.fixture
def few_watches_left() -> Iterator[None]:
    """The system's limit on inotify watches set just above what this user holds now."""
    limit_file = Path("/proc/sys/fs/inotify/max_user_watches")
    if not os.access(limit_file, os.W_OK):
        pytest.skip("the inotify watch limit cannot be changed here (needs root on Linux)")
    saved = limit_file.read_text()
    limit_file.write_text(str(_inotify_watches_of_this_user() + 3))
    try:
        yield
    finally:
        limit_file.write_text(saved)


def test_folders_beyond_the_watch_limit_are_reported(
    root: Path, make_watcher: MakeWatcher, few_watches_left: None
) -> None:
    for i in range(30):
        (root / f"pkg{i}").mkdir()
    watcher, recorder = make_watcher(root)
    assert watcher.roots() == [root]  # what can be watched still is
    assert len(recorder.errors) == 1
    path, error = recorder.errors[0]
    assert path == root
    assert "of the 31 folders" in str(error) and "max_user_watches" in str(error)


def test_a_fully_watched_folder_reports_nothing(root: Path, make_watcher: MakeWatcher) -> None:
    for i in range(30):
        (root / f"pkg{i}").mkdir()
    _, recorder = make_watcher(root)
    assert recorder.errors == []


def test_folders_skipped_by_name_get_no_watch_even_when_made_later(root: Path) -> None:
    (root / "src" / "a").mkdir(parents=True)
    for i in range(40):
        (root / "node_modules" / f"pkg{i}" / "lib").mkdir(parents=True)
    recorder = Recorder()
    watcher = FolderWatcher(
        recorder.on_changes,
        nothing_ignored,  # the watcher itself would report node_modules: only pruning stops it
        on_error=recorder.on_error,
        skipped_folder_names=["node_modules", ".git"],
    )
    watcher.add_root(root)
    before = watcher_module._inotify_watch_count()
    watcher.start()
    try:
        assert before is not None
        assert watcher_module._inotify_watch_count() == before + 3  # root, src, src/a
        assert recorder.errors == []  # skipped folders are not "unwatched" folders
        (root / "node_modules" / "pkg0" / "lib" / "index.js").write_text("x = 1\n")
        (root / "src" / "a" / "mod.py").write_text("y = 2\n")
        recorder.wait_for(lambda: root / "src/a/mod.py" in recorder.merged().created, "mod.py")
        (root / "src" / "node_modules" / "deep").mkdir(parents=True)  # made after the start
        (root / "src" / "fresh").mkdir()
        (root / "src" / "fresh" / "new.py").write_text("z = 3\n")
        recorder.wait_for(lambda: root / "src/fresh/new.py" in recorder.merged().paths(), "new.py")
        (root / "src" / "node_modules" / "deep" / "dep.js").write_text("w = 4\n")
        watcher.flush()
        time.sleep(0.5)
        watcher.flush()
        assert not any("node_modules/pkg0" in str(p) for p in recorder.merged().paths())
        assert root / "src/node_modules/deep/dep.js" not in recorder.merged().paths()
    finally:
        watcher.stop()


def test_new_skipped_names_make_a_running_watcher_watch_anew(root: Path) -> None:
    (root / "build" / "out").mkdir(parents=True)
    recorder = Recorder()
    watcher = FolderWatcher(recorder.on_changes, nothing_ignored, skipped_folder_names=["build"])
    watcher.add_root(root)
    watcher.start()
    try:
        watcher.rewatch(skipped_folder_names=[])  # the person took "build" off the list
        (root / "build" / "out" / "gen.py").write_text("v = 1\n")
        recorder.wait_for(lambda: root / "build/out/gen.py" in recorder.merged().paths(), "gen.py")
    finally:
        watcher.stop()


def test_folders_the_rules_ignore_get_no_watch_until_the_rules_let_them_in(root: Path) -> None:
    (root / "src").mkdir()
    for i in range(20):
        (root / "generated" / f"part{i}").mkdir(parents=True)
    generated_ignored = True

    def is_ignored(path: Path, is_dir: bool) -> bool:
        return generated_ignored and "generated" in path.relative_to(root).parts

    recorder = Recorder()
    watcher = FolderWatcher(recorder.on_changes, is_ignored, on_error=recorder.on_error)
    watcher.add_root(root)
    before = watcher_module._inotify_watch_count()
    watcher.start()
    try:
        assert before is not None
        assert watcher_module._inotify_watch_count() == before + 2  # root, src
        assert recorder.errors == []  # left-out folders are not "unwatched" folders
        generated_ignored = False  # the person's .gitignore no longer names it
        watcher.rewatch(root)
        assert watcher_module._inotify_watch_count() == before + 23
        (root / "generated" / "part7" / "gen.py").write_text("v = 1\n")
        recorder.wait_for(
            lambda: root / "generated/part7/gen.py" in recorder.merged().paths(), "gen.py"
        )
    finally:
        watcher.stop()


def test_ignore_files_outside_the_watched_tree_are_delivered(root: Path) -> None:
    (root / ".git" / "info").mkdir(parents=True)
    above = root.parent
    rule_folders = {root: [above, root / ".git" / "info"]}

    def git_ignored(path: Path, is_dir: bool) -> bool:
        return ".git" in path.relative_to(root).parts

    recorder = Recorder()
    watcher = FolderWatcher(
        recorder.on_changes, git_ignored, rule_folders=lambda r: rule_folders[r]
    )
    watcher.add_root(root)
    watcher.start()
    try:
        (root / ".git" / "info" / "exclude").write_text("*.tmp\n")  # .git itself is ignored
        (above / ".gitignore.swp").write_text("gen/\n")  # an editor's save: write, rename
        (above / ".gitignore.swp").rename(above / ".gitignore")
        (above / "notes.txt").write_text("not a rule file\n")
        (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        recorder.wait_for(lambda: above / ".gitignore" in recorder.merged().paths(), "above")
        recorder.wait_for(
            lambda: root / ".git/info/exclude" in recorder.merged().paths(), "exclude"
        )
        watcher.flush()
        paths = recorder.merged().paths()
        assert above / "notes.txt" not in paths and root / ".git/HEAD" not in paths
    finally:
        watcher.stop()


def test_roots_in_one_checkout_share_the_watch_on_the_folder_above(root: Path) -> None:
    first, second = root / "first", root / "second"
    first.mkdir()
    second.mkdir()
    recorder = Recorder()
    watcher = FolderWatcher(recorder.on_changes, nothing_ignored, rule_folders=lambda r: [root])
    watcher.add_root(first)
    watcher.add_root(second)
    watcher.start()
    try:
        watcher.remove_root(first)  # the folder above still matters to the second root
        (root / ".gitignore").write_text("*.tmp\n")
        recorder.wait_for(lambda: root / ".gitignore" in recorder.merged().paths(), "above")
    finally:
        watcher.stop()
