"""Which added folder owns a path (core/files/roots.py), compared as strings."""

from __future__ import annotations

from pathlib import Path

from codanna_desktop.core.files.roots import folders_inside, owning_root, owning_root_path


def test_the_innermost_folder_holding_a_path_owns_it() -> None:
    src, app, src2 = Path("/home/me/src"), Path("/home/me/src/app"), Path("/home/me/src2")
    folders = [src, app, src2]
    assert owning_root_path(Path("/home/me/src/app/main.py"), folders) == app
    assert owning_root_path(Path("/home/me/src/lib/x.py"), folders) == src
    assert owning_root_path(app, folders) == app  # a folder owns itself
    # A sibling whose name begins with another folder's is not inside it.
    assert owning_root_path(Path("/home/me/src2/a.py"), folders) == src2
    assert owning_root_path(Path("/home/me/srcx/a.py"), folders) is None
    assert owning_root_path(Path("/home/me"), folders) is None
    assert owning_root_path(Path("/etc/hosts"), [Path("/")]) == Path("/")


def test_folders_inside_a_path_are_strictly_inside() -> None:
    rows = [(1, Path("/w/a")), (2, Path("/w/a/b")), (3, Path("/w/ab")), (4, Path("/w"))]
    inside = folders_inside(Path("/w/a"), rows, lambda r: r[1])
    assert [i for i, _ in inside] == [2]
    assert owning_root(Path("/w/ab/c"), rows, lambda r: r[1]) == (3, Path("/w/ab"))
