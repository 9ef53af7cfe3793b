"""One picture of the indexer, and every sentence the faces say about it.

The status bar, the folders panel, the tray and the search banner used to work out
their words each from its own mix of the service's state, its latest progress and the
engine's counts, and so contradicted each other ("No folders yet" beside "Indexing
236/236"; "up to date" while a folder indexed; a folder stuck at 100 % until embedding
began). `IndexingStatus` holds those three inputs together; each face asks it.

The rules that keep the words consistent:
- Progress counts only while the indexer works on that phase; once it is idle the
  counts are the truth ("Indexing 236/236" does not outlive the pass that said it).
- A folder the indexer is working on is never "up to date", and nothing is while any
  folder is being scanned or indexed, or while chunks wait for their vectors.
- "No folders yet" needs the counts to say so with no folder being worked on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from codanna_desktop.core.indexing.indexer import Phase, Progress

if TYPE_CHECKING:
    from pathlib import Path

    from codanna_desktop.core.engine import EngineStatus, RootStatus


class FolderKind(StrEnum):
    """How a folder's line is drawn."""

    BUSY = "busy"
    OK = "ok"
    WAITING = "waiting"
    ERROR = "error"


@dataclass(frozen=True)
class FolderLine:
    """What the folders panel says about one folder."""

    path: Path
    state: str  # "Indexing 120/500", "Up to date · 42 files", "Error: …"
    kind: FolderKind
    fraction: float | None  # progress for the small bar; None: no bar
    tooltip: str


@dataclass(frozen=True)
class IndexingStatus:
    counts: EngineStatus | None = None  # None until the first status is read
    state: Phase = Phase.IDLE
    progress: Progress | None = None
    paused: bool = False

    # -- the inputs ---------------------------------------------------------------------

    def with_state(self, state: str) -> IndexingStatus:
        # "paused" is a state the service announces, but a job in flight when the person
        # paused still finishes and reports its own states: pausing is a flag of its own,
        # cleared only by resuming (with_paused).
        phase = Phase(state)
        if phase is Phase.PAUSED:
            return replace(self, paused=True)
        progress = self.progress if phase is not Phase.IDLE else None
        return replace(self, state=phase, progress=progress)

    def with_progress(self, progress: Progress) -> IndexingStatus:
        return replace(self, progress=progress, state=Phase(progress.phase))

    def with_counts(self, counts: EngineStatus) -> IndexingStatus:
        return replace(self, counts=counts)

    def with_paused(self, paused: bool) -> IndexingStatus:
        return replace(self, paused=paused, state=self.state if paused else Phase.IDLE)

    # -- derived facts ------------------------------------------------------------------

    @property
    def semantic_problem(self) -> str | None:
        if self.counts is None:
            return None
        return self.counts.model_problem or self.counts.vector_problem

    @property
    def live_progress(self) -> Progress | None:
        """The latest progress, if the indexer is still in that phase."""
        p = self.progress
        if p is None or self.state is Phase.IDLE or p.phase != self.state:
            return None
        return p

    @property
    def embedding_left(self) -> bool:
        """Chunks wait for vectors and something will give them (no model problem)."""
        c = self.counts
        return c is not None and c.embedded < c.chunks and not self.semantic_problem

    @property
    def busy(self) -> bool:
        """Work is going on or waiting: the icon and the status bar show activity."""
        if self.paused:
            return False
        return self.state in (Phase.SCANNING, Phase.INDEXING, Phase.EMBEDDING) or (
            self.embedding_left
        )

    @property
    def no_folders(self) -> bool:
        return (
            self.counts is not None
            and not self.counts.roots
            and self.live_progress is None
            and self.state is not Phase.SCANNING
            and self.state is not Phase.INDEXING
        )

    # -- the sentences ------------------------------------------------------------------

    def activity(self) -> str | None:
        """What the indexer does right now, or None when it rests: "Indexing app 120/500"."""
        if self.paused:
            return None
        p = self.live_progress
        name = p.root.name if p is not None and p.root is not None else ""
        if self.state is Phase.SCANNING:
            return f"Scanning {name}…" if name else "Scanning folders…"
        if self.state is Phase.INDEXING:
            counts = f" {p.done:,}/{p.total:,}" if p is not None and p.total else ""
            if name:
                return f"Indexing {name}{counts}"
            # Work for every folder says what it is ("Building the exact-search index").
            return f"{p.message if p is not None and p.message else 'Indexing'}{counts}"
        if self.state is Phase.EMBEDDING or self.embedding_left:
            if p is not None and p.total:
                return f"Embedding {p.done:,}/{p.total:,} chunks"
            c = self.counts
            if c is not None and c.chunks:
                return f"Embedding {c.embedded:,}/{c.chunks:,} chunks"
            return "Embedding"
        return None

    def progress_fraction(self) -> float | None:
        """For a progress bar: the share done, or None when the total is not known."""
        p = self.live_progress
        if p is not None:
            return min(1.0, p.done / p.total) if p.total and p.phase != Phase.SCANNING else None
        c = self.counts
        embedding = self.state is Phase.EMBEDDING or (
            self.state is Phase.IDLE and self.embedding_left
        )
        if not self.paused and embedding and c is not None and c.chunks:
            return c.embedded / c.chunks
        return None

    def summary(self) -> str:
        """The window's status bar."""
        c = self.counts
        if self.paused:
            left = ""
            if c is not None and c.embedded < c.chunks:
                left = f" · {c.embedded:,}/{c.chunks:,} embedded"
            return f"Indexing paused{left}"
        activity = self.activity()
        if c is None and activity is None:
            return "Starting…"
        if self.no_folders:
            return "No folders yet"
        if activity is not None:
            return activity
        assert c is not None
        folders = _count(len(c.roots), "folder")
        line = f"{folders} · {c.files:,} files · {c.chunks:,} chunks"
        if self.semantic_problem:
            return f"{line} · exact words only ({self.semantic_problem})"
        return f"{line} · up to date"

    def tray_line(self) -> str:
        """The tray's tooltip line."""
        c = self.counts
        totals = (
            f"{_count(c.chunks, 'chunk')} in {_count(len(c.roots), 'folder')}"
            if c is not None and c.roots
            else ""
        )
        if self.paused:
            return "Indexing paused" + (f" — {totals}" if totals else "")
        if c is None and self.activity() is None:
            return "Starting…"
        if self.no_folders:
            return "No folders yet — add one to start"
        activity = self.activity()
        if activity is not None:
            return activity
        if self.semantic_problem:
            return f"Searchable by exact words — {totals} (search by meaning unavailable)"
        return f"Up to date — {totals}"

    def coverage_note(self) -> str | None:
        """For the results: how much of the index semantic ranking covers so far."""
        c = self.counts
        if c is None or not c.chunks or c.embedded >= c.chunks or self.semantic_problem:
            return None
        return (
            f"Semantic ranking covers {c.embedded:,} of {c.chunks:,} chunks so far; "
            "the rest are being embedded."
        )

    def folder_lines(self) -> list[FolderLine]:
        if self.counts is None:
            return []
        return [self.folder_line(root) for root in self.counts.roots]

    def folder_line(self, root: RootStatus) -> FolderLine:
        path = root.root.path
        tooltip = folder_tooltip(root)
        if root.root.error:
            return FolderLine(path, f"Error: {root.root.error}", FolderKind.ERROR, None, tooltip)
        p = self.live_progress
        here = p is not None and p.root == path
        if here and p is not None and p.phase == Phase.SCANNING:
            return FolderLine(path, "Scanning…", FolderKind.BUSY, None, tooltip)
        if here and p is not None and p.phase == Phase.INDEXING and p.total:
            state = f"Indexing {p.done:,}/{p.total:,}"
            return FolderLine(path, state, FolderKind.BUSY, p.done / p.total, tooltip)
        if root.root.last_indexed_at is None and not root.files:
            waiting = "Paused" if self.paused else "Waiting to scan"
            return FolderLine(path, waiting, FolderKind.WAITING, None, tooltip)
        if root.embedded < root.chunks:
            fraction = root.embedded / root.chunks
            counts = f"{root.embedded:,}/{root.chunks:,}"
            if self.semantic_problem:
                tooltip += f"\nSearch by meaning is unavailable: {self.semantic_problem}"
                return FolderLine(path, "Exact words only", FolderKind.WAITING, None, tooltip)
            if self.paused:
                state = f"Paused · embedded {counts}"
                return FolderLine(path, state, FolderKind.WAITING, fraction, tooltip)
            return FolderLine(path, f"Embedding {counts}", FolderKind.BUSY, fraction, tooltip)
        files = _count(root.files, "file")
        skipped = f", {root.skipped:,} skipped" if root.skipped else ""
        return FolderLine(path, f"Up to date · {files}{skipped}", FolderKind.OK, None, tooltip)


def folder_tooltip(root: RootStatus) -> str:
    lines = [
        str(root.root.path),
        f"{root.files:,} files indexed, {root.chunks:,} chunks, {root.embedded:,} embedded",
    ]
    if root.skip_counts:
        lines.append(f"{root.skipped:,} files skipped:")
        for reason, count in sorted(root.skip_counts.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {count:,} {reason}")  # reasons are worded for people already
    else:
        lines.append("No files skipped")
    if root.root.error:
        lines.append(f"Error: {root.root.error}")
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
