"""classify_drop: what a drop onto the window adds, and what it refuses with a reason."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QUrl

from codanna_desktop.app.drop import classify_drop


def _mime(*urls: str | Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(u)) if isinstance(u, Path) else QUrl(u) for u in urls])
    return mime


def test_dropped_local_folders_are_added_in_drop_order(tmp_path: Path) -> None:
    a, b = tmp_path / "alpha", tmp_path / "beta"
    a.mkdir()
    b.mkdir()
    result = classify_drop(_mime(b, a))
    assert result.folders == [b.resolve(), a.resolve()]
    assert result.refused == []


def test_dropped_file_stands_for_its_folder_once(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("print(1)\n")
    (project / "util.py").write_text("x = 1\n")
    result = classify_drop(_mime(project / "main.py", project / "util.py", project))
    assert result.folders == [project.resolve()]
    assert result.refused == []


def test_remote_url_is_refused_as_not_local() -> None:
    result = classify_drop(_mime("https://example.com/repo"))
    assert result.folders == []
    assert result.refused == ["https://example.com/repo: not a local folder"]


def test_missing_path_is_refused_and_the_rest_still_added(tmp_path: Path) -> None:
    here = tmp_path / "here"
    here.mkdir()
    gone = tmp_path / "gone"
    result = classify_drop(_mime(gone, here))
    assert result.folders == [here.resolve()]
    assert result.refused == [f"{gone}: does not exist"]


def test_plain_text_without_urls_is_refused() -> None:
    mime = QMimeData()
    mime.setText("def retry_upload():")
    result = classify_drop(mime)
    assert result.folders == []
    assert result.refused == ['"def retry_upload():": not a local folder']


def test_empty_drop_is_refused_with_a_hint() -> None:
    result = classify_drop(QMimeData())
    assert result.folders == []
    assert result.refused == ["Nothing to add: drop folders or files."]


def test_symlinked_folder_is_added_as_its_real_path(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert classify_drop(_mime(link, real)).folders == [real.resolve()]
