"""The watcher: a real watchdog Observer on real folders, asking a real Scanner's ignore
rules (the coalescing rules it applies are tested directly in test_changes.py)."""

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
from codanna_desktop.core.files.walk import Scanner
from codanna_desktop.core.settings import Settings
from codanna_desktop.core.watching.changes import ChangeSet
from codanna_desktop.core.watching.rules import WatchRules
from codanna_desktop.core.watching.watcher import FolderWatcher

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


MakeWatcher = Callable[..., tuple[FolderWatcher, Recorder]]


@pytest.fixture
def make_watcher() -> Iterator[MakeWatcher]:
    made: list[FolderWatcher] = []

    def make(
        *roots: Path,
        rules: WatchRules | None = None,
        recorder: Recorder | None = None,
        debounce_s: float = 0.3,
        max_delay_s: float = 2.0,
    ) -> tuple[FolderWatcher, Recorder]:
        recorder = recorder or Recorder()
        watcher = FolderWatcher(
            recorder.on_changes,
            rules or Scanner(),
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
    (root / ".gitignore").write_text("*.tmp\n")
    _, recorder = make_watcher(root)
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
    expected = ChangeSet(modified={target}, deleted={backup})
    recorder.wait_for(lambda: recorder.merged() == expected, "modified f.py")


def test_deleting_a_file_reports_it_deleted(root: Path, make_watcher: MakeWatcher) -> None:
    (root / "a.py").write_text("x = 1\n")
    _, recorder = make_watcher(root)
    (root / "a.py").unlink()
    recorder.wait_for(lambda: not recorder.merged().is_empty(), "change")
    assert recorder.merged() == ChangeSet(deleted={root / "a.py"})


def test_renaming_a_file_reports_the_old_path_deleted_and_the_new_modified(
    root: Path, make_watcher: MakeWatcher
) -> None:
    (root / "a.py").write_text("x = 1\n")
    _, recorder = make_watcher(root)
    os.rename(root / "a.py", root / "b.py")
    recorder.wait_for(lambda: not recorder.merged().is_empty(), "change")
    assert recorder.merged() == ChangeSet(deleted={root / "a.py"}, modified={root / "b.py"})


def test_moving_a_folder_reports_the_two_folders_only(
    root: Path, make_watcher: MakeWatcher
) -> None:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "a.py").write_text("a = 1\n")
    (root / "pkg" / "sub" / "b.py").write_text("b = 2\n")
    _, recorder = make_watcher(root)
    os.rename(root / "pkg", root / "lib")
    recorder.wait_for(lambda: not recorder.merged().is_empty(), "change")
    assert recorder.merged() == ChangeSet(deleted={root / "pkg"}, modified={root / "lib"})


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
    # From outside every watched folder, watchdog reports a move in as a creation.
    expected = ChangeSet(created={root / "incoming.py"}, deleted={root / "outgoing.py"})
    recorder.wait_for(lambda: recorder.merged() == expected, "created and deleted")


def test_an_ignored_folder_produces_no_changes(root: Path, make_watcher: MakeWatcher) -> None:
    modules = root / "node_modules"
    modules.mkdir()
    _, recorder = make_watcher(root)  # node_modules is skipped by name
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
    watcher = FolderWatcher(recorder.on_changes, Scanner(), on_events_lost=lost.set)
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
        Scanner(excluded_dirs=["node_modules", ".git"]),
        on_error=recorder.on_error,
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
    scanner = Scanner(excluded_dirs=["build"])
    watcher = FolderWatcher(recorder.on_changes, scanner)
    watcher.add_root(root)
    watcher.start()
    try:
        scanner.configure(Settings(excluded_dirs=[]))  # the person took "build" off the list
        watcher.rewatch()
        (root / "build" / "out" / "gen.py").write_text("v = 1\n")
        recorder.wait_for(lambda: root / "build/out/gen.py" in recorder.merged().paths(), "gen.py")
    finally:
        watcher.stop()


def test_folders_the_rules_ignore_get_no_watch_until_the_rules_let_them_in(root: Path) -> None:
    (root / "src").mkdir()
    for i in range(20):
        (root / "generated" / f"part{i}").mkdir(parents=True)
    (root / ".gitignore").write_text("generated/\n")
    scanner = Scanner()
    recorder = Recorder()
    watcher = FolderWatcher(recorder.on_changes, scanner, on_error=recorder.on_error)
    watcher.add_root(root)
    before = watcher_module._inotify_watch_count()
    watcher.start()
    try:
        assert before is not None
        assert watcher_module._inotify_watch_count() == before + 2  # root, src
        assert recorder.errors == []  # left-out folders are not "unwatched" folders
        (root / ".gitignore").unlink()  # the person's .gitignore no longer names it
        scanner.rules_for(root).invalidate(root)  # as the indexer does when it reads the rules
        watcher.rewatch(root)
        assert watcher_module._inotify_watch_count() == before + 23
        (root / "generated" / "part7" / "gen.py").write_text("v = 1\n")
        recorder.wait_for(
            lambda: root / "generated/part7/gen.py" in recorder.merged().paths(), "gen.py"
        )
    finally:
        watcher.stop()


def test_ignore_files_outside_the_watched_tree_are_delivered(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"  # a repository; one folder inside it is watched
    (checkout / ".git" / "info").mkdir(parents=True)
    root = checkout / "project"
    (root / "node_modules").mkdir(parents=True)
    recorder = Recorder()
    watcher = FolderWatcher(recorder.on_changes, Scanner())
    watcher.add_root(root)
    watcher.start()
    try:
        (checkout / ".git" / "info" / "exclude").write_text("*.tmp\n")  # .git is skipped
        (checkout / ".gitignore.swp").write_text("gen/\n")  # an editor's save: write, rename
        (checkout / ".gitignore.swp").rename(checkout / ".gitignore")
        (checkout / "notes.txt").write_text("not a rule file\n")
        (checkout / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        (root / "node_modules" / "dep.js").write_text("left out inside the tree\n")
        recorder.wait_for(lambda: checkout / ".gitignore" in recorder.merged().paths(), "above")
        recorder.wait_for(
            lambda: checkout / ".git/info/exclude" in recorder.merged().paths(), "exclude"
        )
        watcher.flush()
        paths = recorder.merged().paths()
        assert checkout / "notes.txt" not in paths and checkout / ".git/HEAD" not in paths
        assert root / "node_modules/dep.js" not in paths
    finally:
        watcher.stop()


def test_roots_in_one_checkout_share_the_watch_on_the_folder_above(root: Path) -> None:
    (root / ".git" / "info").mkdir(parents=True)  # both roots are folders of this checkout
    first, second = root / "first", root / "second"
    first.mkdir()
    second.mkdir()
    recorder = Recorder()
    watcher = FolderWatcher(recorder.on_changes, Scanner())
    watcher.add_root(first)
    watcher.add_root(second)
    watcher.start()
    try:
        watcher.remove_root(first)  # the folder above still matters to the second root
        (root / ".gitignore").write_text("*.tmp\n")
        recorder.wait_for(lambda: root / ".gitignore" in recorder.merged().paths(), "above")
    finally:
        watcher.stop()


def test_a_nested_root_the_outer_rules_leave_out_is_watched_by_its_own_rules(
    root: Path, make_watcher: MakeWatcher
) -> None:
    # The innermost root owns a path: the outer root's .gitignore does not reach into it.
    inner = root / "inner"
    (inner / "pkg").mkdir(parents=True)
    (root / ".gitignore").write_text("inner/\n")
    before = watcher_module._inotify_watch_count()
    _, recorder = make_watcher(root, inner)
    assert before is not None
    assert watcher_module._inotify_watch_count() == before + 3  # root, inner, inner/pkg
    (inner / "pkg" / "mod.py").write_text("m = 1\n")
    recorder.wait_for(lambda: inner / "pkg/mod.py" in recorder.merged().created, "mod.py")
