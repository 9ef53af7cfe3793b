"""Search filters shared by the lexical side, both vector stores and the catalog.

A path filter is a glob over the path relative to its root:
- no glob characters: a prefix (``src/core`` matches everything under it, ``src/core.py``
  matches that file);
- no ``/``: matched against the file name anywhere (``*.py``, ``test_*``);
- otherwise matched against the whole relative path; ``**`` spans folders, ``*`` and ``?``
  stay within one.
The glob is turned into a regex that Python, tantivy (Rust regex) and PostgreSQL (``~``)
all read the same way: only ``.``, ``*``, ``[^/]``, groups and escaped literals are used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_GLOB_CHARS = set("*?[")
# Characters with a meaning in any of the three regex dialects; escaped with a backslash.
# Nothing else is escaped: Rust reads ``\<`` as a word boundary.
_REGEX_SPECIAL = set(".^$*+?()[]{}|\\")


def _escape(ch: str) -> str:
    return "\\" + ch if ch in _REGEX_SPECIAL else ch


def glob_to_regex(glob: str) -> str:
    """A full-match regex (no anchors: tantivy's regex query is anchored already)."""
    glob = glob.strip().replace("\\", "/").lstrip("./") if glob.strip() != "." else ""
    if not glob:
        return ".*"
    if not _GLOB_CHARS & set(glob):
        prefix = "".join(_escape(c) for c in glob.rstrip("/"))
        return f"{prefix}(/.*)?"
    anywhere = "/" not in glob.rstrip("/")
    out: list[str] = []
    i = 0
    while i < len(glob):
        ch = glob[i]
        if glob.startswith("**/", i):
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
        elif ch == "[":
            end = glob.find("]", i + 2)
            if end == -1:
                out.append(_escape(ch))
                i += 1
            else:
                body = glob[i + 1 : end]
                negate = body.startswith("!")
                body = body[1:] if negate else body
                body = "".join("\\" + c if c in "\\]^" else c for c in body)
                out.append(f"[^/{body}]" if negate else f"[{body}]")
                i = end + 1
        else:
            out.append(_escape(ch))
            i += 1
    regex = "".join(out)
    if glob.endswith("/"):
        regex = regex.rstrip("/") + "/.*"
    if anywhere:
        return f"(.*/)?{regex}(/.*)?"
    return f"{regex}(/.*)?"


def path_matches(glob: str | None, rel_path: str) -> bool:
    if not glob:
        return True
    return re.fullmatch(glob_to_regex(glob), rel_path) is not None


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
        return glob_to_regex(self.path_glob) if self.path_glob else None
