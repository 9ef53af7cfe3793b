"""Search filters shared by the lexical side, both vector stores and the catalog.

A path filter is one or more globs over the path relative to its root, separated by
spaces or commas (``src/**/*.py, !tests/``); a glob starting with ``!`` leaves out what
it matches. Each glob:
- with no ``/`` matches a file or folder name anywhere (``ctx.py``, ``*.py``, ``tests``),
  as ripgrep's ``-g`` does;
- with no glob characters but a ``/`` is a prefix (``src/core`` matches everything under
  it, ``src/core.py`` that file);
- otherwise is matched against the whole relative path; ``**`` spans folders, ``*`` and
  ``?`` stay within one, ``{a,b}`` is either, ``[a-z]`` one of those (``[!a-z]`` or
  ``[^a-z]`` none of them).
A glob may also start with an added folder's name, as results show paths
(``flask/src``): that limits the search to the folder and matches the rest inside it.
Globs are turned into regexes that Python, tantivy (Rust regex) and PostgreSQL (``~``)
all read the same way: only ``.``, ``*``, ``[^/]``, groups, ``|`` and escaped literals.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from codanna_desktop.core.errors import PathFilterError

if TYPE_CHECKING:
    from collections.abc import Sequence

_GLOB_CHARS = set("*?[{")
# Characters with a meaning in any of the three regex dialects; escaped with a backslash.
# Nothing else is escaped: Rust reads ``\<`` as a word boundary.
_REGEX_SPECIAL = set(".^$*+?()[]{}|\\")
# Inside a class: what ends it, negates it, makes a range, an escape, a nested class or
# a set operation (Rust's `&&`, `--`, `~~`; Python warns on those and on `||`).
_CLASS_SPECIAL = set("]^-\\[&~|")


def _escape(ch: str) -> str:
    return "\\" + ch if ch in _REGEX_SPECIAL else ch


def _class(glob: str, start: int) -> tuple[str, int] | None:
    """The ``[...]`` at `start` as a regex class and the index after it; None when no
    ``]`` closes it (the ``[`` is then a literal). As in ripgrep and git, ``!`` or ``^``
    first negates, a ``]`` first is a member, ``a-z`` is a range and a ``-`` first or last
    is a member. Every other member is written out on its own, escaped where any of the
    three dialects gives it a meaning inside a class (Rust reads ``[[:alpha:]]``, ``&&``,
    ``--`` and ``~~`` as set syntax, Python warns on them), so all three read it alike.
    A range that runs backwards (``[z-a]``) is refused, as ripgrep refuses it."""
    first = start + 1
    negate = glob[first : first + 1] in ("!", "^")
    first += negate
    end = glob.find("]", first + 1)
    if end == -1:
        return None
    body, members, k = glob[first:end], [], 0
    while k < len(body):
        low = body[k]
        if k + 2 < len(body) and body[k + 1] == "-":
            high = body[k + 2]
            if ord(low) > ord(high):
                raise PathFilterError(
                    f"The path filter “{glob}” has a range that runs backwards, “{low}-{high}”:"
                    f" write it from low to high, “{high}-{low}”."
                )
            members.append(f"{_class_member(low)}-{_class_member(high)}")
            k += 3
        else:
            members.append(_class_member(low))
            k += 1
    body_regex = "".join(members)
    return (f"[^/{body_regex}]" if negate else f"[{body_regex}]"), end + 1


def _class_member(ch: str) -> str:
    return "\\" + ch if ch in _CLASS_SPECIAL else ch


def glob_to_regex(glob: str) -> str:
    """A full-match regex (no anchors: tantivy's regex query is anchored already)."""
    glob = glob.strip().replace("\\", "/")
    while glob.startswith("./"):  # relative to the folder, as typed; not a leading dot
        glob = glob[2:]
    glob = glob.lstrip("/")
    if glob in ("", "."):
        return ".*"
    if not _GLOB_CHARS & set(glob):
        if "/" not in glob.rstrip("/"):  # a bare name: that file or folder anywhere
            return f"(.*/)?{literal_path_regex(glob)}"
        return literal_path_regex(glob)
    anywhere = "/" not in glob.rstrip("/")
    out: list[str] = []
    # Open {a,b} groups, innermost last: where each began in `out` and its commas (which
    # are alternatives). One whose `}` never comes (it stood inside a class: `{[}]`) is
    # given back its characters at the end.
    braces: list[list[int]] = []
    i = 0
    while i < len(glob):
        ch = glob[i]
        if ch == "{" and glob.find("}", i) != -1:
            braces.append([len(out)])
            out.append("(")
            i += 1
        elif ch == "," and braces:
            braces[-1].append(len(out))
            out.append("|")
            i += 1
        elif ch == "}" and braces:
            out.append(")")
            braces.pop()
            i += 1
        elif glob.startswith("**/", i):
            out.append("(.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[" and (read := _class(glob, i)) is not None:
            regex_class, i = read
            out.append(regex_class)
        else:
            out.append(_escape(ch))
            i += 1
    for group in braces:
        out[group[0]] = _escape("{")
        for comma in group[1:]:
            out[comma] = _escape(",")
    regex = "".join(out)
    if glob.endswith("/"):
        regex = regex.rstrip("/") + "/.*"
    if anywhere:
        return f"(.*/)?{regex}(/.*)?"
    return f"{regex}(/.*)?"


def literal_path_regex(rel_path: str) -> str:
    """A full-match regex for one file or folder, by its path relative to its root, taken
    as written: a real path, not a glob (``app/[slug]`` is the folder of that name)."""
    return "".join(_escape(c) for c in rel_path.strip("/")) + "(/.*)?"


def split_globs(text: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The globs to include and (after ``!``) to leave out, from what the person typed."""
    words: list[str] = []
    current, depth = "", 0
    for ch in text or "":
        if ch == "{":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        if (ch.isspace() or ch == ",") and not depth:
            if current:
                words.append(current)
            current = ""
        else:
            current += ch
    if current:
        words.append(current)
    includes = tuple(w for w in words if not w.startswith("!"))
    excludes = tuple(w[1:] for w in words if w.startswith("!") and len(w) > 1)
    return includes, excludes


def globs_to_regex(globs: Sequence[str]) -> str | None:
    """One full-match regex for any of `globs`; None for none."""
    if not globs:
        return None
    if len(globs) == 1:
        return glob_to_regex(globs[0])
    return "|".join(f"({glob_to_regex(g)})" for g in globs)


@dataclass(frozen=True)
class SearchFilters:
    languages: tuple[str, ...] = ()
    root_ids: tuple[int, ...] = ()
    path_glob: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.languages or self.root_ids or self.path_glob)

    @property
    def path_regex(self) -> str | None:
        """What a path must match (None: any path)."""
        return globs_to_regex(split_globs(self.path_glob)[0])

    @property
    def path_exclude_regex(self) -> str | None:
        """What a path must not match (None: nothing is left out)."""
        return globs_to_regex(split_globs(self.path_glob)[1])

    def read_folder_names(self, roots: Sequence[tuple[int, str]]) -> SearchFilters:
        """Read globs written as results show paths, from the folder's name
        (``flask/src``): when every included glob starts with the name of an added folder
        and a ``/``, the search is limited to those folders and the rest of each glob is
        matched inside them. `roots` are (root id, folder name). Otherwise the globs are
        paths inside the folders, as they are."""
        includes, excludes = split_globs(self.path_glob)
        names: dict[str, list[int]] = {}
        for root_id, name in roots:
            names.setdefault(name, []).append(root_id)
        scoped: set[int] = set()
        rest: list[str] = []
        for glob in includes:
            head, slash, tail = glob.lstrip("./").partition("/")
            if head not in names or not slash:
                return self
            scoped.update(names[head])
            rest.append(tail or "**")
        if not scoped:
            return self
        if self.root_ids:
            # A folder chosen in the panel and one named in the path: both must hold.
            scoped &= set(self.root_ids)
        root_ids = tuple(sorted(scoped)) or (NO_ROOT,)
        words = [*rest, *(f"!{g}" for g in excludes)]
        return replace(self, root_ids=root_ids, path_glob=" ".join(words) or None)


# A root id no folder has: a scope that leaves no folder matches nothing.
NO_ROOT = -1
