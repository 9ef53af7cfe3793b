"""Which paths under a root are left out of the index: gitignore semantics, for one root.

A path is ignored when any of its folders is named in ``excluded_dirs`` (``.git``,
``node_modules``...), or when ignore rules say so. Rules come, from strongest to weakest:

1. ``extra_patterns`` from the settings (root-relative): the user's word beats the repo's,
   both to ignore (``*.log``) and to re-include (``!generated/``);
2. ``.gitignore`` and ``.codannaignore`` files at every level, the deepest folder first;
   in one folder ``.codannaignore`` comes after ``.gitignore``, so it overrides it;
3. ``.git/info/exclude`` of the root.

A root inside a git repository (a subfolder of a checkout added on its own) also follows
the repository's ignore files in the folders above it, up to the repository's top, and
the top's ``.git/info/exclude``, as git and ripgrep do; they rank below every file inside
the root. Patterns there that would ignore the root itself are left out: the person
added that folder on purpose. They are read once; a change to them counts after
``invalidate()`` with no folder. ``folders_with_rules_outside`` names the folders the
watcher must watch besides the root's tree to see such changes.

As in git, the first layer with a matching pattern decides (within a layer the last
matching pattern wins, so ``!negation`` works), and nothing inside an ignored folder can
be re-included, because git never looks inside it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from pathspec import GitIgnoreSpec
from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

IGNORE_FILE_NAMES = (".gitignore", ".codannaignore")
_GIT_EXCLUDE = (".git", "info", "exclude")

RelParts = tuple[str, ...]


def compile_patterns(lines: Iterable[str]) -> GitIgnoreSpec | None:
    """The patterns as one spec, skipping lines pathspec rejects (``[z-a]``, a lone ``!``).

    None when no line holds a pattern, so empty or comment-only files cost nothing later.
    """
    patterns: list[GitIgnoreSpecPattern] = []
    for line in lines:
        try:
            pattern = GitIgnoreSpecPattern(line)
        except Exception:  # pathspec raises re.error, ValueError or its own error type
            continue
        if pattern.include is not None:  # None: blank line or comment
            patterns.append(pattern)
    # pathspec picks RE2 by itself when google-re2 is installed (exact search needs it);
    # its RE2 backend fails on a file's undecodable bytes, so ignore files keep Python's.
    return GitIgnoreSpec(patterns, backend="simple") if patterns else None


def _read_pattern_lines(path: Path) -> list[str]:
    """The lines of an ignore file; a missing or unreadable file has none."""
    try:
        raw = path.read_bytes()
    except OSError:
        return []
    # Git reads these files as bytes; surrogateescape keeps non-UTF-8 bytes matching the
    # non-UTF-8 file names os.scandir returns the same way.
    text = raw.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    return text.splitlines()


def _ignore_file_lines(directory: Path) -> list[str]:
    """The lines of a folder's ignore files, ``.codannaignore`` after ``.gitignore``."""
    return [line for name in IGNORE_FILE_NAMES for line in _read_pattern_lines(directory / name)]


class IgnoreRules:
    """The ignore rules of one root. Parsed ignore files are cached per folder; call
    ``invalidate`` when one changes. Safe to use from several threads."""

    def __init__(
        self, root: Path, excluded_dirs: Sequence[str], extra_patterns: Sequence[str]
    ) -> None:
        self.root = Path(os.path.abspath(root))
        self._resolved_root = self.root.resolve()
        self._excluded_dirs = frozenset(excluded_dirs)
        self._extra = compile_patterns(extra_patterns)
        self._lock = threading.Lock()
        # Bumped by every invalidate, so a spec parsed before it is never cached after it.
        self._generation = 0
        self._folder_specs: dict[RelParts, GitIgnoreSpec | None] = {}
        # One-element tuple once .git/info/exclude is read (its spec may be None).
        self._exclude: tuple[GitIgnoreSpec | None] | None = None
        # Folder decisions, so checking a file's ancestors costs dictionary lookups.
        self._dir_ignored: dict[RelParts, bool] = {}
        # The enclosing repository's rules above the root, once read (see _above_root).
        self._above: list[tuple[RelParts, GitIgnoreSpec | None]] | None = None

    # -- public ------------------------------------------------------------------------

    def is_ignored(self, abs_path: Path, is_dir: bool) -> bool:
        """True if the path under the root is left out; a path outside the root is not."""
        parts = self._relative_parts(abs_path)
        if not parts:
            return False  # the root itself, or not under it
        for depth in range(1, len(parts)):
            if self._is_dir_ignored(parts[:depth]):
                return True
        if is_dir:
            return self._is_dir_ignored(parts)
        return self._decide(parts, is_dir=False)

    def invalidate(self, directory: Path | None = None) -> None:
        """An ignore file in ``directory`` changed (None: forget every parsed file).

        An ignore file's own path is accepted too, as is ``.git/info`` or ``.git``.
        """
        with self._lock:
            self._generation += 1
            self._dir_ignored.clear()
            if directory is None:
                self._folder_specs.clear()
                self._exclude = None
                self._above = None
                return
            if self.is_ignore_file(directory):
                directory = directory.parent
            parts = self._relative_parts(directory)
            if parts is None:
                return
            if parts[:1] == (".git",):
                self._exclude = None
            else:
                self._folder_specs.pop(parts, None)

    def folders_with_rules_outside(self) -> list[Path]:
        """Folders whose ignore files apply to this root but that a watch on the root's
        tree does not see: those above it up to its repository's top, and the top's
        ``.git/info`` (the root's own when it is the top: ``.git`` itself gets no watch)."""
        folders = _folders_up_to_repository_top(self.root)
        if folders is None:
            return []
        top = folders[-1] if folders else self.root
        return [f for f in [*folders, top.joinpath(*_GIT_EXCLUDE[:-1])] if f.is_dir()]

    @staticmethod
    def folder_governed_by(ignore_file: Path) -> Path:
        """The folder whose contents an ignore file's rules cover (``.git/info/exclude``:
        the repository's top)."""
        if ignore_file.parts[-3:] == _GIT_EXCLUDE:
            return ignore_file.parents[2]
        return ignore_file.parent

    @staticmethod
    def is_ignore_file(path: Path) -> bool:
        """True for a file whose change alters the rules (the watcher then calls invalidate)."""
        return path.name in IGNORE_FILE_NAMES or path.parts[-3:] == _GIT_EXCLUDE

    # -- matching ----------------------------------------------------------------------

    def _relative_parts(self, abs_path: Path) -> RelParts | None:
        path = Path(os.path.abspath(abs_path))
        for base in (self.root, self._resolved_root):
            try:
                return path.relative_to(base).parts
            except ValueError:
                continue
        return None

    def _is_dir_ignored(self, parts: RelParts) -> bool:
        cached = self._dir_ignored.get(parts)
        if cached is not None:
            return cached
        generation = self._generation
        ignored = self._decide(parts, is_dir=True)
        with self._lock:
            if generation == self._generation:
                self._dir_ignored[parts] = ignored
        return ignored

    def _decide(self, parts: RelParts, is_dir: bool) -> bool:
        """The rules for this one path, its ancestors being known to be kept."""
        if parts[-1] in self._excluded_dirs and is_dir:
            return True
        if not self._excluded_dirs.isdisjoint(parts[:-1]):
            return True
        suffix = "/" if is_dir else ""  # how pathspec tells a folder from a file
        verdict = self._check(self._extra, parts, suffix)
        if verdict is not None:
            return verdict
        for depth in range(len(parts) - 1, -1, -1):
            spec = self._folder_spec(parts[:depth])
            verdict = self._check(spec, parts[depth:], suffix)
            if verdict is not None:
                return verdict
        verdict = self._check(self._git_exclude_spec(), parts, suffix)
        if verdict is not None:
            return verdict
        for root_below, spec in self._above_root():
            verdict = self._check(spec, root_below + parts, suffix)
            if verdict is not None:
                return verdict
        return False

    @staticmethod
    def _check(spec: GitIgnoreSpec | None, parts: RelParts, suffix: str) -> bool | None:
        """True: a pattern ignores it; False: a ``!`` pattern keeps it; None: no match."""
        if spec is None:
            return None
        return spec.check_file("/".join(parts) + suffix).include

    # -- ignore files ------------------------------------------------------------------

    def _folder_spec(self, folder: RelParts) -> GitIgnoreSpec | None:
        if folder in self._folder_specs:
            return self._folder_specs[folder]
        generation = self._generation
        spec = compile_patterns(_ignore_file_lines(self.root.joinpath(*folder)))
        with self._lock:
            if generation == self._generation:
                self._folder_specs[folder] = spec
        return spec

    def _git_exclude_spec(self) -> GitIgnoreSpec | None:
        loaded = self._exclude
        if loaded is not None:
            return loaded[0]
        generation = self._generation
        spec = compile_patterns(_read_pattern_lines(self.root.joinpath(*_GIT_EXCLUDE)))
        with self._lock:
            if generation == self._generation:
                self._exclude = (spec,)
        return spec

    def _above_root(self) -> list[tuple[RelParts, GitIgnoreSpec | None]]:
        """The enclosing repository's rules, nearest folder first, each with the root's
        path relative to its folder; empty when the root is not inside a repository."""
        loaded = self._above
        if loaded is not None:
            return loaded
        generation = self._generation
        above = _repository_layers_above(self.root)
        with self._lock:
            if generation == self._generation:
                self._above = above
        return above


def _repository_layers_above(root: Path) -> list[tuple[RelParts, GitIgnoreSpec | None]]:
    """For each folder from the root's parent up to the top of the git repository that
    holds the root: (root's parts relative to it, its ignore files' spec), and last the
    top's .git/info/exclude. Empty when no folder above the root holds ``.git``, or when
    the root itself is a repository's top."""
    folders = _folders_up_to_repository_top(root)
    if not folders:
        return []  # the root is a repository's top, or not inside a repository
    sources = [(folder, _ignore_file_lines(folder)) for folder in folders]
    top = folders[-1]
    sources.append((top, _read_pattern_lines(top.joinpath(*_GIT_EXCLUDE))))
    layers: list[tuple[RelParts, GitIgnoreSpec | None]] = []
    for folder, lines in sources:
        below = root.relative_to(folder).parts
        spec = _keeping_folder(compile_patterns(lines), "/".join(below) + "/")
        if spec is not None:
            layers.append((below, spec))
    return layers


def _folders_up_to_repository_top(root: Path) -> list[Path] | None:
    """The folders from the root's parent up to the top of the git repository holding the
    root: empty when the root itself is a top, None when no repository holds it (ignore
    files above it mean nothing to git then)."""
    if (root / ".git").exists():
        return []
    folders: list[Path] = []
    for folder in root.parents:
        folders.append(folder)
        if (folder / ".git").exists():
            return folders
    return None


def _keeping_folder(spec: GitIgnoreSpec | None, folder: str) -> GitIgnoreSpec | None:
    """The spec without the patterns that ignore ``folder`` (and so all inside it)."""
    if spec is None:
        return None
    kept = [p for p in spec.patterns if not (p.include and p.match_file(folder) is not None)]
    return GitIgnoreSpec(kept, backend="simple") if kept else None
