"""Find the files of a root worth indexing.

``Scanner.scan`` walks a root without recursion, prunes ignored folders before entering
them, follows symlinked folders while refusing loops, leaves out links that lead out of the
root unless ``follow_links_outside`` is on (ripgrep does not follow links either), and
reports every file it leaves out with a reason a person understands. Reading a file's text
is read.py's part; the scanner carries the size limit both use.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from codanna_desktop.core.errors import RootNotFoundError
from codanna_desktop.core.files.ignore import IgnoreRules
from codanna_desktop.core.files.read import SourceText, read_source
from codanna_desktop.core.files.skips import (
    SkipReason,
    file_kind,
    link_target,
    os_reason,
    size_detail,
)
from codanna_desktop.core.settings import DEFAULT_EXCLUDED_DIRS, Settings

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_MAX_FILE_SIZE = 1024 * 1024


@dataclass(frozen=True)
class ScannedFile:
    abs_path: Path
    rel_path: str  # "/"-separated, relative to the root
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class SkippedFile:
    rel_path: str  # "/"-separated, relative to the root; "." is the root itself
    reason: SkipReason
    detail: str = ""


@dataclass
class ScanResult:
    files: list[ScannedFile]
    skipped: list[SkippedFile]
    # A cancelled scan saw only part of the root: absent files are not deleted files.
    cancelled: bool = field(default=False)

    def skip_counts(self) -> dict[str, int]:
        """Reason (as shown to users) -> how many files were skipped for it."""
        return dict(Counter(skipped.reason.value for skipped in self.skipped))


@dataclass
class _Folder:
    """A folder waiting on the walk, with the folders that lead to it (by device and inode,
    each with the path to show) so a symlink back into them is recognised as a loop."""

    abs_path: Path
    rel_prefix: str  # "" for the root, else "a/b/"
    on_walk: dict[tuple[int, int], str]


class Scanner:
    def __init__(
        self,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        excluded_dirs: Sequence[str] = DEFAULT_EXCLUDED_DIRS,
        extra_patterns: Sequence[str] = (),
        follow_links_outside: bool = False,
    ) -> None:
        self.max_file_size = max_file_size
        self.excluded_dirs = tuple(excluded_dirs)
        self.extra_patterns = tuple(extra_patterns)
        self.follow_links_outside = follow_links_outside
        self._rules: dict[Path, IgnoreRules] = {}
        self._rules_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Scanner:
        return cls(
            settings.max_file_size,
            settings.excluded_dirs,
            settings.ignore_patterns,
            settings.follow_links_outside,
        )

    def configure(self, settings: Settings) -> None:
        """Take the file rules of changed settings; the next scan applies them."""
        with self._rules_lock:
            self.max_file_size = settings.max_file_size
            self.excluded_dirs = tuple(settings.excluded_dirs)
            self.extra_patterns = tuple(settings.ignore_patterns)
            self.follow_links_outside = settings.follow_links_outside
            self._rules.clear()  # each root's rules are made anew from these

    def rules_for(self, root: Path) -> IgnoreRules:
        """The ignore rules of a root, made once and kept (the watcher invalidates them)."""
        key = Path(os.path.abspath(root))
        with self._rules_lock:
            rules = self._rules.get(key)
            if rules is None:
                rules = IgnoreRules(key, self.excluded_dirs, self.extra_patterns)
                self._rules[key] = rules
            return rules

    def link_outside(self, root: Path, abs_path: Path) -> str | None:
        """Where the path really is, when that is outside the root and links out of a root
        are not followed; None when the path may be indexed as far as links go."""
        if self.follow_links_outside:
            return None
        return _outside(abs_path, os.path.realpath(root))

    # -- walking -----------------------------------------------------------------------

    def scan(self, root: Path, cancel: threading.Event | None = None) -> ScanResult:
        """Every indexable file under root, and every file left out with its reason.

        Ignored files are neither: they are not the user's code. Raises RootNotFoundError
        if root is not a folder.
        """
        root = Path(os.path.abspath(root))
        try:
            root_stat = os.stat(root)
        except OSError as exc:
            raise RootNotFoundError(
                f"The folder {root} cannot be opened: {os_reason(exc)}."
            ) from exc
        if not stat.S_ISDIR(root_stat.st_mode):
            raise RootNotFoundError(f"{root} is not a folder.")
        rules = self.rules_for(root)
        root_real = os.path.realpath(root)
        result = ScanResult(files=[], skipped=[])
        on_walk = _ancestors_of(root)
        on_walk[_identity(root_stat, root)] = "."
        stack = [_Folder(root, "", on_walk)]
        while stack:
            if cancel is not None and cancel.is_set():
                result.cancelled = True
                break
            folder = stack.pop()
            subfolders: list[_Folder] = []
            for entry in _list_folder(folder, result):
                self._visit(entry, folder, rules, root_real, result, subfolders)
            stack.extend(reversed(subfolders))  # popped in name order
        result.files.sort(key=lambda scanned: scanned.rel_path)
        result.skipped.sort(key=lambda skipped: skipped.rel_path)
        return result

    def _visit(
        self,
        entry: os.DirEntry[str],
        folder: _Folder,
        rules: IgnoreRules,
        root_real: str,
        result: ScanResult,
        subfolders: list[_Folder],
    ) -> None:
        rel_path = folder.rel_prefix + entry.name
        abs_path = folder.abs_path / entry.name

        def skip(reason: SkipReason, detail: str) -> None:
            result.skipped.append(SkippedFile(rel_path, reason, detail))

        if not _is_utf8_name(entry.name):
            # The catalog and the indexes store text; such a name cannot be stored as it is.
            rel_path = folder.rel_prefix + os.fsencode(entry.name).decode("utf-8", "replace")
            skip(SkipReason.UNREADABLE, "the name is not valid UTF-8")
            return
        try:
            is_dir = entry.is_dir()  # follows symlinks, like the walk does
        except OSError:
            is_dir = False
        if rules.is_ignored(abs_path, is_dir):
            if is_dir:  # a folder left out is said, with why; ignored files are not code
                skip(SkipReason.FOLDER_LEFT_OUT, rules.why_ignored(abs_path, True) or "")
            return
        try:
            info = entry.stat()
        except FileNotFoundError:
            if entry.is_symlink() and os.path.lexists(abs_path):
                skip(SkipReason.NOT_A_FILE, f"broken symbolic link to {link_target(abs_path)}")
            else:
                skip(SkipReason.VANISHED, "deleted before it could be read")
            return
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                skip(SkipReason.SYMLINK_LOOP, "the symbolic link points back to itself")
            else:
                skip(SkipReason.UNREADABLE, os_reason(exc))
            return

        outside = None
        if entry.is_symlink() and not self.follow_links_outside:
            outside = _outside(abs_path, root_real)
        if stat.S_ISDIR(info.st_mode):
            key = _identity(info, abs_path)
            if key in folder.on_walk:
                skip(SkipReason.SYMLINK_LOOP, f"leads back to {folder.on_walk[key]}")
            elif outside is not None:
                skip(SkipReason.LINK_OUTSIDE, outside_detail(outside))
            else:
                on_walk = {**folder.on_walk, key: rel_path}
                subfolders.append(_Folder(abs_path, rel_path + "/", on_walk))
        elif outside is not None:
            skip(SkipReason.LINK_OUTSIDE, outside_detail(outside))
        elif not stat.S_ISREG(info.st_mode):
            skip(SkipReason.NOT_A_FILE, file_kind(info.st_mode))
        elif info.st_size > self.max_file_size:
            skip(SkipReason.TOO_LARGE, size_detail(info.st_size, self.max_file_size))
        else:
            result.files.append(ScannedFile(abs_path, rel_path, info.st_size, info.st_mtime_ns))

    def read_source(self, abs_path: Path) -> SourceText:
        """The file's text, read once and decoded within this scanner's size limit.
        Raises FileSkipped with the reason."""
        return read_source(abs_path, self.max_file_size)


def _list_folder(folder: _Folder, result: ScanResult) -> list[os.DirEntry[str]]:
    """The folder's entries by name; a folder that cannot be listed is reported instead."""
    rel_path = folder.rel_prefix.rstrip("/") or "."
    try:
        with os.scandir(folder.abs_path) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        result.skipped.append(
            SkippedFile(rel_path, SkipReason.VANISHED, "the folder was removed while listed")
        )
    except OSError as exc:
        result.skipped.append(
            SkippedFile(rel_path, SkipReason.UNREADABLE, f"folder: {os_reason(exc)}")
        )
    return []


def _ancestors_of(root: Path) -> dict[tuple[int, int], str]:
    """The folders above the root: a symlink to one of them would walk into the root again."""
    ancestors: dict[tuple[int, int], str] = {}
    for parent in root.resolve().parents:
        try:
            ancestors[_identity(os.stat(parent), parent)] = str(parent)
        except OSError:
            continue
    return ancestors


def _outside(abs_path: Path, root_real: str) -> str | None:
    """The path's real location when that is not the root or under it."""
    real = os.path.realpath(abs_path)
    inside = real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)
    return None if inside else real


def outside_detail(target: str) -> str:
    """What a person reads for a link that was not followed out of its folder."""
    return f"leads to {target}; follow_links_outside = true in the settings follows it"


def _identity(info: os.stat_result, path: Path) -> tuple[int, int]:
    if info.st_ino == 0:  # DirEntry.stat on Windows leaves it empty; os.stat fills it
        info = os.stat(path)
    return info.st_dev, info.st_ino


def _is_utf8_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # os.scandir keeps undecodable bytes as lone surrogates
        return False
    return True
