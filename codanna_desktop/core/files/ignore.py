"""Which paths under a root are left out of the index: gitignore semantics, for one root.

A path is ignored when any of its folders is named in ``excluded_dirs`` (``.git``,
``node_modules``...: names that are never the project's own code), when a folder holds
what marks it as generated (a virtualenv's ``pyvenv.cfg``, a ``CACHEDIR.TAG``), or when
ignore rules say so; ``why_ignored`` says which, for the person. Rules come, from
strongest to weakest:

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

No line in someone's repository may stop the indexer: pathspec turns a run of ``*`` into
nested ``[^/]*``s that Python's regex engine backtracks through exponentially (twelve
stars and a letter: over 20 s for one path). Runs of stars are read as git's wildmatch
reads them, and the patterns are matched by RE2 (linear time) whenever RE2 takes every
pattern of a file; only a file RE2 refuses (a line of non-UTF-8 bytes) falls back to
Python's engine.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from pathspec import GitIgnoreSpec
from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

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
            pattern = GitIgnoreSpecPattern(collapse_star_runs(line))
        except Exception:  # pathspec raises re.error, ValueError or its own error type
            continue
        if pattern.include is not None:  # None: blank line or comment
            patterns.append(pattern)
    return _spec(patterns) if patterns else None


def _spec(patterns: list[GitIgnoreSpecPattern]) -> GitIgnoreSpec:
    """RE2 matches in linear time; Python's re only for a set RE2 refuses (or when RE2
    is not installed), whose star runs are collapsed at least."""
    try:
        return GitIgnoreSpec(patterns, backend="re2")
    except Exception:  # no re2 module, re2.error, or a surrogate-escaped byte
        return GitIgnoreSpec(patterns, backend="simple")


def collapse_star_runs(line: str) -> str:
    """The line with each run of two or more ``*`` as git's wildmatch reads it: ``**``
    when the run is a whole path segment, else a single ``*`` (escaped stars stay)."""
    if "**" not in line:
        return line
    start = 1 if line.startswith("!") else 0
    out = [line[:start]]
    i, n = start, len(line)
    while i < n:
        char = line[i]
        if char == "\\":
            out.append(line[i : i + 2])
            i += 2
            continue
        if char != "*":
            out.append(char)
            i += 1
            continue
        end = i
        while end < n and line[end] == "*":
            end += 1
        whole_segment = (i == start or line[i - 1] == "/") and (
            end == n or line[end] == "/" or not line[end:].strip(" ")  # git drops trailing spaces
        )
        out.append("**" if whole_segment and end - i > 1 else "*")
        i = end
    return "".join(out)


# The first line of a Cache Directory Tagging file (bford.info/cachedir): cargo's target/,
# many build tools' output and caches carry one.
_CACHEDIR_SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"


def generated_folder_marker(folder: Path) -> str | None:
    """Why a folder is recognised as holding no code of the project's own, by what it
    holds rather than its name (a folder named ``build`` or ``env`` may be source): a
    Python virtualenv (``pyvenv.cfg``), a conda environment (``conda-meta``), or a folder
    tagged as a cache or build output (``CACHEDIR.TAG``). None otherwise."""
    if (folder / "pyvenv.cfg").is_file():
        return "a Python virtualenv (pyvenv.cfg)"
    if (folder / "conda-meta").is_dir():
        return "a conda environment (conda-meta)"
    try:
        with open(folder / "CACHEDIR.TAG", "rb") as tag:
            if tag.read(len(_CACHEDIR_SIGNATURE)) == _CACHEDIR_SIGNATURE:
                return "a cache or build output (CACHEDIR.TAG)"
    except OSError:
        pass
    return None


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

    def why_ignored(self, abs_path: Path, is_dir: bool) -> str | None:
        """Why the path is left out, in words for the person; None if it is not."""
        parts = self._relative_parts(abs_path)
        if not parts:
            return None
        for depth in range(1, len(parts) + 1):
            reason = self._reason(parts[:depth], is_dir=is_dir or depth < len(parts))
            if reason is not None:
                return reason
        return None

    def _decide(self, parts: RelParts, is_dir: bool) -> bool:
        """The rules for this one path, its ancestors being known to be kept."""
        return self._reason(parts, is_dir) is not None

    def _reason(self, parts: RelParts, is_dir: bool) -> str | None:
        """Why the rules leave this one path out (its ancestors being kept), or None."""
        if parts[-1] in self._excluded_dirs and is_dir:
            return f"a skipped folder name ({parts[-1]})"
        if not self._excluded_dirs.isdisjoint(parts[:-1]):
            return "inside a skipped folder"
        if is_dir:
            marker = generated_folder_marker(self.root.joinpath(*parts))
            if marker is not None:
                return marker
        suffix = "/" if is_dir else ""  # how pathspec tells a folder from a file
        verdict = self._check(self._extra, parts, suffix)
        if verdict is not None:
            return "the ignore patterns in the settings" if verdict else None
        for depth in range(len(parts) - 1, -1, -1):
            spec = self._folder_spec(parts[:depth])
            verdict = self._check(spec, parts[depth:], suffix)
            if verdict is not None:
                where = "/".join(parts[:depth])
                return f"an ignore file in {where or 'the folder'}" if verdict else None
        verdict = self._check(self._git_exclude_spec(), parts, suffix)
        if verdict is not None:
            return ".git/info/exclude" if verdict else None
        for root_below, spec in self._above_root():
            verdict = self._check(spec, root_below + parts, suffix)
            if verdict is not None:
                return "an ignore file above the folder" if verdict else None
        return None

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
    # One pattern at a time through _spec: a pattern's own match_file is Python's re.
    kept = [p for p in spec.patterns if not (p.include and _spec([p]).check_file(folder).include)]
    return _spec(kept) if kept else None
