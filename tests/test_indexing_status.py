"""The one model of the indexer's state: the status bar, the folders panel, the tray and
the results' coverage note all take their words from it, so they agree."""

from __future__ import annotations

import time
from pathlib import Path

from codanna_desktop.core.engine import EngineStatus, RootStatus
from codanna_desktop.core.indexing.indexer import Progress
from codanna_desktop.core.indexing_status import IndexingStatus
from codanna_desktop.core.storage.catalog import RootRow

FLASK = Path("/src/flask")
EXPRESS = Path("/src/express")


def root(path: Path, *, files: int = 10, chunks: int = 40, embedded: int = 40) -> RootStatus:
    row = RootRow(hash(path) % 1000, path, time.time(), time.time(), None)
    return RootStatus(row, files, 0, chunks, embedded, {})


def counts(*roots: RootStatus, problem: str | None = None) -> EngineStatus:
    return EngineStatus(
        roots=list(roots),
        files=sum(r.files for r in roots),
        chunks=sum(r.chunks for r in roots),
        embedded=sum(r.embedded for r in roots),
        skipped=0,
        model="a model",
        model_problem=problem,
        vector_problem=None,
        vector_store="embedded (hnswlib)",
        data_dir=Path("/data"),
    )


def test_a_folder_being_indexed_is_never_called_no_folders_yet() -> None:
    # The counts were read before the folder was added; the progress is newer.
    status = IndexingStatus(counts=counts()).with_progress(Progress("indexing", FLASK, 236, 236))
    assert status.summary() == "Indexing flask 236/236"
    assert status.tray_line() == "Indexing flask 236/236"
    assert not status.no_folders


def test_nothing_is_up_to_date_while_a_folder_indexes() -> None:
    status = IndexingStatus(counts=counts(root(FLASK), root(EXPRESS))).with_progress(
        Progress("indexing", EXPRESS, 10, 500)
    )
    assert "up to date" not in status.summary().lower()
    assert "up to date" not in status.tray_line().lower()
    lines = {line.path: line.state for line in status.folder_lines()}
    assert lines[EXPRESS] == "Indexing 10/500"
    assert lines[FLASK] == "Up to date · 10 files"


def test_a_finished_pass_does_not_leave_its_folder_at_the_last_count() -> None:
    busy = IndexingStatus(counts=counts(root(FLASK, embedded=0))).with_progress(
        Progress("indexing", FLASK, 236, 236)
    )
    assert busy.folder_lines()[0].state == "Indexing 236/236"
    idle = busy.with_state("idle")
    assert idle.folder_lines()[0].state == "Embedding 0/40"
    assert idle.summary() == "Embedding 0/40 chunks"
    assert idle.busy


def test_the_coverage_note_follows_the_live_counts() -> None:
    early = IndexingStatus(counts=counts(root(FLASK, chunks=1785, embedded=128)))
    assert early.coverage_note() is not None and "128 of 1,785" in early.coverage_note()
    later = early.with_counts(counts(root(FLASK, chunks=1785, embedded=448)))
    assert "448 of 1,785" in (later.coverage_note() or "")
    done = later.with_counts(counts(root(FLASK, chunks=1785, embedded=1785)))
    assert done.coverage_note() is None


def test_every_face_says_up_to_date_together_or_not_at_all() -> None:
    inputs = [
        IndexingStatus(counts=counts(root(FLASK), root(EXPRESS))),
        IndexingStatus(counts=counts(root(FLASK), root(EXPRESS, embedded=3))),
        IndexingStatus(counts=counts(root(FLASK))).with_state("scanning"),
        IndexingStatus(counts=counts(root(FLASK))).with_progress(Progress("embedding", None, 1, 9)),
        IndexingStatus(counts=counts(root(FLASK))).with_state("paused"),
    ]
    for status in inputs:
        bar = "up to date" in status.summary()
        tray = status.tray_line().startswith("Up to date")
        folders = all(line.state.startswith("Up to date") for line in status.folder_lines())
        assert bar == tray, status
        if bar:
            assert folders, status


def test_a_paused_indexer_stays_paused_while_its_last_job_finishes() -> None:
    status = IndexingStatus(counts=counts(root(FLASK, embedded=0))).with_state("paused")
    # The job in flight when Pause was pressed reports its end.
    status = status.with_progress(Progress("indexing", FLASK, 5, 5)).with_state("idle")
    assert status.paused
    assert status.summary().startswith("Indexing paused")
    assert status.tray_line().startswith("Indexing paused")
    assert status.with_paused(False).summary() == "Embedding 0/40 chunks"


def test_no_folders_yet_only_when_the_counts_say_so_and_nothing_is_being_added() -> None:
    assert IndexingStatus().summary() == "Starting…"
    assert IndexingStatus(counts=counts()).summary() == "No folders yet"
    assert IndexingStatus(counts=counts()).with_state("scanning").summary() == "Scanning folders…"


def test_without_a_model_the_faces_say_exact_words_only() -> None:
    status = IndexingStatus(counts=counts(root(FLASK, embedded=0), problem="no model"))
    assert "exact words only (no model)" in status.summary()
    assert status.folder_lines()[0].state == "Exact words only"
    assert not status.busy
    assert status.coverage_note() is None
