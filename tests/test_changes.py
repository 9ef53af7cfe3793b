"""The coalescing rules of change sets (core/watching/changes.py), with explicit clocks:
no watcher, no thread, no disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from codanna_desktop.core.watching.changes import (
    ChangeCollector,
    ChangeSet,
    looks_like_save_temp,
)

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


def test_a_move_is_its_source_deleted_and_its_destination_modified() -> None:
    # The destination may have replaced a file there: "modified", never "created".
    changes = collect(("moved", "a.py", "b.py"))
    assert changes == ChangeSet(deleted={p("a.py")}, modified={p("b.py")})


def test_moved_then_modified_is_the_same_as_the_move() -> None:
    changes = collect(("moved", "a.py", "b.py"), ("modified", "b.py"))
    assert changes == ChangeSet(deleted={p("a.py")}, modified={p("b.py")})


def test_modified_then_moved_is_the_same_as_the_move() -> None:
    changes = collect(("modified", "a.py"), ("moved", "a.py", "b.py"))
    assert changes == ChangeSet(deleted={p("a.py")}, modified={p("b.py")})


def test_two_moves_delete_every_path_but_the_last() -> None:
    # b.py may have held a file of its own before a.py replaced it: it is gone too.
    changes = collect(("moved", "a.py", "b.py"), ("moved", "b.py", "c.py"))
    assert changes == ChangeSet(deleted={p("a.py"), p("b.py")}, modified={p("c.py")})


def test_the_same_move_reported_twice_is_one_move() -> None:
    # Nested roots report each event once per watch.
    changes = collect(("moved", "a.py", "b.py"), ("moved", "a.py", "b.py"))
    assert changes == ChangeSet(deleted={p("a.py")}, modified={p("b.py")})


def test_a_file_moved_and_back_is_modified_in_place() -> None:
    changes = collect(("moved", "a.py", "b.py"), ("moved", "b.py", "a.py"))
    assert changes == ChangeSet(modified={p("a.py")}, deleted={p("b.py")})


def test_a_new_file_renamed_is_modified_under_its_new_name() -> None:
    # Renamed onto a file that existed, it replaced it: the index must look there.
    changes = collect(("created", "draft.py"), ("moved", "draft.py", "final.py"))
    assert changes == ChangeSet(modified={p("final.py")})


def test_a_new_file_renamed_onto_another_and_deleted_deletes_that_path() -> None:
    changes = collect(
        ("created", "draft.py"), ("moved", "draft.py", "final.py"), ("deleted", "final.py")
    )
    assert changes == ChangeSet(deleted={p("final.py")})


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
    assert changes == ChangeSet(modified={p("f.py")}, deleted={p("f.py~")})


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
    assert changes == ChangeSet(deleted={p("d")}, modified={p("e")})


def test_a_folder_moved_twice_deletes_both_earlier_paths() -> None:
    changes = collect(
        ("moved", "d", "e", True),
        ("moved", "d/x.py", "e/x.py"),
        ("moved", "e", "f", True),
        ("moved", "e/x.py", "f/x.py"),
    )
    assert changes == ChangeSet(deleted={p("d"), p("e")}, modified={p("f")})


def test_pending_changes_below_a_moved_folder_are_covered_by_its_new_path() -> None:
    # The folder's new path stands for its whole subtree: the indexer compares it all.
    changes = collect(("modified", "d/x.py"), ("created", "d/y.py"), ("moved", "d", "e", True))
    assert changes == ChangeSet(deleted={p("d")}, modified={p("e")})


def test_a_file_moved_out_of_a_folder_that_is_then_deleted_is_kept_at_its_new_path() -> None:
    changes = collect(("moved", "d/x.py", "x.py"), ("deleted", "d", None, True))
    assert changes == ChangeSet(modified={p("x.py")}, deleted={p("d")})


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
    changes = ChangeSet(created={p("new.py")}, deleted={p("gone.py")}, modified={p("b.py")})
    changes.merge(ChangeSet(deleted={p("new.py"), p("b.py")}, created={p("gone.py")}))
    assert changes == ChangeSet(modified={p("gone.py")}, deleted={p("b.py")})


def test_merge_completes_a_vim_save_split_across_two_sets() -> None:
    first = collect(("moved", "f.py", "f.py~"), ("created", "f.py"))
    first.merge(collect(("deleted", "f.py~")))
    assert first == ChangeSet(modified={p("f.py")}, deleted={p("f.py~")})


def test_merge_of_a_deleted_folder_swallows_what_was_pending_below_it() -> None:
    changes = ChangeSet(created={p("d/new.py")}, modified={p("d/old.py"), p("keep.py")})
    changes.merge(ChangeSet(deleted={p("d")}))
    assert changes == ChangeSet(modified={p("keep.py")}, deleted={p("d")})


def test_paths_lists_every_path_touched() -> None:
    changes = ChangeSet(created={p("c.py")}, modified={p("m.py")}, deleted={p("d.py")})
    assert changes.paths() == {p("c.py"), p("m.py"), p("d.py")}


# Editors' temporary files


@pytest.mark.parametrize("temp", ["f.py~", "f.py.tmp", ".f.py.swp", ".#f.py", "f.py___jb_tmp___"])
def test_an_editors_temporary_file_is_recognised_by_its_name(temp: str) -> None:
    assert looks_like_save_temp(p(temp))


@pytest.mark.parametrize("other", ["f.py", "f.pyc", "tmp.py", "notes.txt"])
def test_other_names_are_not_temporary_files(other: str) -> None:
    assert not looks_like_save_temp(p(other))


def test_a_file_moved_into_a_folder_that_moves_is_covered_by_the_folders_new_path() -> None:
    changes = collect(("moved", "a.py", "d/a.py"), ("moved", "d", "e", True))
    assert changes == ChangeSet(deleted={p("a.py"), p("d")}, modified={p("e")})
