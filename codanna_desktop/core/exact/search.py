"""Exact search over the indexed folders: every matching line, as ripgrep lists them.

The trigram index chooses the candidate files, the matcher verifies each against its
stored text. Files come back sorted by folder and path. `ExactSearcher.open` needs only
the catalog and the content index (no model, no vector store): the command line answers
from it in a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from codanna_desktop.core.errors import CodannaError
from codanna_desktop.core.exact.content_index import ContentIndex, Scope
from codanna_desktop.core.exact.matcher import CompiledPattern, MatchedLines, PatternOptions
from codanna_desktop.core.exact.trigrams import ALL
from codanna_desktop.core.files.filters import SearchFilters, literal_path_regex
from codanna_desktop.core.files.roots import folders_inside, owning_root
from codanna_desktop.core.storage.catalog import Catalog, RootRow

if TYPE_CHECKING:
    from collections.abc import Sequence

    from codanna_desktop.core.settings import AppPaths

CONTENT_DIR = "exact"


class CancelFlag(Protocol):
    """A threading.Event, or anything else that says when to stop."""

    def is_set(self) -> bool: ...


class PathOutsideRootsError(CodannaError):
    """A PATH given to exact search is not inside any indexed folder."""

    exit_code = 2


@dataclass(frozen=True)
class ExactRequest:
    options: PatternOptions
    paths: Sequence[Path] = ()  # only under these files or folders
    path_glob: str | None = None  # as the ranked search's --path (several, `!` leaves out)
    languages: tuple[str, ...] = ()
    root_ids: tuple[int, ...] = ()  # only these added folders
    keep_text: bool = False  # keep each file's text (for context lines)
    invert: bool = False  # the lines that do not match (ripgrep's -v): every file is read


@dataclass(frozen=True)
class FileMatches:
    root_path: Path
    rel_path: str
    language: str
    file_id: int
    lines: MatchedLines
    body: bytes | None = None
    # A binary file (skipped by the ranked search): searched, as ripgrep searches it, only
    # up to the NUL byte at this offset (core/exact/binary_prefix.py).
    binary_offset: int | None = None

    @property
    def abs_path(self) -> Path:
        return self.root_path / self.rel_path

    @property
    def match_count(self) -> int:
        return self.lines.match_count()


@dataclass
class ExactResult:
    pattern: CompiledPattern
    files: list[FileMatches] = field(default_factory=list)
    candidates: int = 0  # files the trigram index let through
    notes: list[str] = field(default_factory=list)
    cancelled: bool = False

    # The line count is known at once; the match count needs every line's match ranges,
    # so it is counted when asked (the window asks on the search's thread).
    @cached_property
    def line_count(self) -> int:
        return sum(len(f.lines) for f in self.files)

    @cached_property
    def match_count(self) -> int:
        return sum(f.match_count for f in self.files)


class ExactSearcher:
    def __init__(self, catalog: Catalog, content: ContentIndex) -> None:
        self.catalog = catalog
        self.content = content
        self._owns: tuple[Catalog, ContentIndex] | None = None
        self._symbols: dict[int, list[tuple[int, int, str]]] = {}

    @classmethod
    def open(cls, paths: AppPaths) -> ExactSearcher:
        """A read-only searcher of the data folder, beside any writer."""
        catalog = Catalog(paths.data_dir / "catalog.sqlite", readonly=True)
        try:
            content = ContentIndex(paths.data_dir / CONTENT_DIR, writable=False)
        except BaseException:
            catalog.close()
            raise
        searcher = cls(catalog, content)
        searcher._owns = (catalog, content)
        return searcher

    def close(self) -> None:
        if self._owns is not None:
            catalog, content = self._owns
            content.close()
            catalog.close()
            self._owns = None

    def __enter__(self) -> ExactSearcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(self, request: ExactRequest, *, cancel: CancelFlag | None = None) -> ExactResult:
        """Raises PatternError for a bad pattern, PathOutsideRootsError for a bad PATH."""
        pattern = CompiledPattern(request.options)
        if not self.content.writable:
            self.content.reload()
        roots = {r.id: r for r in self.catalog.roots()}
        result = ExactResult(pattern)
        scopes = _scopes(request.paths, list(roots.values()))
        filters = SearchFilters(
            languages=request.languages, root_ids=request.root_ids, path_glob=request.path_glob
        ).read_folder_names([(r.id, r.path.name) for r in roots.values()])
        if filters.root_ids:
            chosen = set(filters.root_ids)
            scopes = [s for s in scopes if s.root_id in chosen] or (
                [] if request.paths else [Scope(i) for i in sorted(chosen)]
            )
            if request.paths and not scopes:
                return result
        if pattern.needs_full_scan and not request.invert:
            result.notes.append(
                "No literal text in the pattern narrows the files: every indexed file is "
                "searched (slower)."
            )
        pending = self.pending_files()
        if pending:
            result.notes.append(
                f"The exact-search index is being built ({pending} files still to add); "
                "results may be incomplete until it finishes."
            )
        found: list[FileMatches] = []
        for stored in self.content.candidates(
            ALL if request.invert else pattern.query,
            scopes=scopes,
            languages=request.languages,
            path_regex=filters.path_regex,
            exclude_regex=filters.path_exclude_regex,
        ):
            if cancel is not None and cancel.is_set():
                result.cancelled = True
                break
            root = roots.get(stored.root_id)
            if root is None:
                continue
            result.candidates += 1
            body = stored.body
            lines = pattern.lines_not_matching(body) if request.invert else pattern.find_lines(body)
            if lines is not None:
                found.append(
                    FileMatches(
                        root.path,
                        stored.rel_path,
                        stored.language,
                        stored.file_id,
                        lines,
                        stored.body if request.keep_text else None,
                        stored.binary_offset,
                    )
                )
        found.sort(key=lambda f: (str(f.root_path), f.rel_path))
        result.files = found
        return result

    def pending_files(self) -> int:
        """Indexed files the content index does not hold yet (while it is being built)."""
        indexed = self.catalog.indexed_file_count()
        return max(0, indexed - (self.content.doc_count() - self.content.binary_count()))

    def enclosing_symbol(self, file_id: int, line: int) -> str | None:
        """The innermost named chunk (function, class, …) holding the line."""
        spans = self._symbols.get(file_id)
        if spans is None:
            spans = self.catalog.symbol_spans(file_id)
            self._symbols[file_id] = spans
        best: tuple[int, str] | None = None
        for start, end, symbol in spans:
            if start <= line <= end and (best is None or end - start < best[0]):
                best = (end - start, symbol)
        return best[1] if best else None


def _scopes(paths: Sequence[Path], roots: list[RootRow]) -> list[Scope]:
    scopes: list[Scope] = []
    for given in paths:
        path = Path(given).expanduser().resolve()
        # Folders added inside this path hold their own files (the innermost owns them).
        inside = [Scope(r.id) for r in folders_inside(path, roots, lambda r: r.path)]
        root = owning_root(path, roots, lambda r: r.path)
        if root is None and not inside:
            raise PathOutsideRootsError(f"{given} is not inside any indexed folder.")
        if root is not None:
            rel = path.relative_to(root.path).as_posix()
            # A path given is that file or folder (ripgrep's PATH), never a glob and never
            # a name to find anywhere: `src` is not `lib/src`, `app/[slug]` is that folder.
            scopes.append(Scope(root.id, None if rel == "." else literal_path_regex(rel)))
        scopes += inside
    return scopes
