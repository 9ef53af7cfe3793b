"""Change sets applied to a real index: what the watcher reports for a burst of renames
leaves the catalog as the disk is (the coalescing rules are in test_changes.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from codanna_desktop.core.engine import Engine
from codanna_desktop.core.watching.changes import ChangeCollector, ChangeSet


@pytest.fixture
def indexed(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    root = tmp_path / "project"
    root.mkdir()
    (root / "a.py").write_text("def alpha_function():\n    return 1\n")
    (root / "b.py").write_text("def beta_function():\n    return 2\n")
    engine = Engine()
    engine.add_root(root)
    engine.index(embed=False)
    yield engine, root
    engine.close()


def indexed_paths(engine: Engine) -> set[str]:
    return set(engine.catalog.files_of_root(engine.roots()[0].id))


def burst(*events: tuple[str, Path] | tuple[str, Path, Path]) -> ChangeSet:
    """The events the watcher reports, 10 ms apart, coalesced into one change set."""
    collector = ChangeCollector()
    for step, event in enumerate(events):
        dest = event[2] if len(event) == 3 else None
        collector.add(event[0], event[1], dest, now=step * 0.01)
    return collector.take_all() or ChangeSet()


def test_a_file_moved_onto_another_and_on_again_leaves_no_ghost(
    indexed: tuple[Engine, Path],
) -> None:
    # mv a.py b.py; mv b.py c.py within one debounce: b.py's own text is gone too.
    engine, root = indexed
    os.replace(root / "a.py", root / "b.py")
    os.replace(root / "b.py", root / "c.py")
    engine.apply_changes(
        burst(("moved", root / "a.py", root / "b.py"), ("moved", root / "b.py", root / "c.py"))
    )
    assert indexed_paths(engine) == {"c.py"}
    assert all(
        r.path != "b.py" for r in engine.search("beta_function", semantic=False).results(0.0, 5)
    )


def test_a_new_file_renamed_onto_a_file_then_deleted_leaves_no_ghost(
    indexed: tuple[Engine, Path],
) -> None:
    engine, root = indexed
    (root / "draft.py").write_text("def draft_function():\n    pass\n")
    os.replace(root / "draft.py", root / "b.py")
    (root / "b.py").unlink()
    engine.apply_changes(
        burst(
            ("created", root / "draft.py"),
            ("moved", root / "draft.py", root / "b.py"),
            ("deleted", root / "b.py"),
        )
    )
    assert indexed_paths(engine) == {"a.py"}
    assert all(
        r.path != "b.py" for r in engine.search("beta_function", semantic=False).results(0.0, 5)
    )


def test_single_renames_are_dropped_together_and_counted_once(
    indexed: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Twelve files renamed one by one, and a folder removed with a file in it: every gone
    # path leaves in one drop (each drop commits the lexical and exact indexes).
    engine, root = indexed
    (root / "old").mkdir()
    for i in range(12):
        (root / "old" / f"m{i}.py").write_text(f"def moved_function_{i}():\n    return {i}\n")
    (root / "gone").mkdir()
    (root / "gone" / "inside.py").write_text("def inside_function():\n    return 0\n")
    engine.index(embed=False)
    (root / "new").mkdir()
    events: list[tuple[str, Path] | tuple[str, Path, Path]] = []
    for i in range(12):
        os.replace(root / "old" / f"m{i}.py", root / "new" / f"m{i}.py")
        events.append(("moved", root / "old" / f"m{i}.py", root / "new" / f"m{i}.py"))
    (root / "gone" / "inside.py").unlink()
    (root / "gone").rmdir()
    events += [("deleted", root / "gone" / "inside.py"), ("deleted", root / "gone")]
    drops: list[int] = []
    real_drop = engine.indexer._drop_files
    monkeypatch.setattr(
        engine.indexer, "_drop_files", lambda files: (drops.append(len(files)), real_drop(files))
    )

    report = engine.apply_changes(burst(*events))

    assert [d for d in drops if d] == [13]
    assert report.files_deleted == 13
    assert indexed_paths(engine) == {"a.py", "b.py"} | {f"new/m{i}.py" for i in range(12)}
    found = engine.search("moved_function_3", semantic=False).results(0.0, 5)
    assert found and found[0].path == "new/m3.py"
    found = engine.search("inside_function", semantic=False).results(0.0, 5)
    assert all(r.path != "gone/inside.py" for r in found)
