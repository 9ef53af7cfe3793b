"""The scope a query names: an added folder ("cookie signing in flask", "flask: cookie
signing") or a language ("parse arguments in rust", "a python file").

A developer with several projects says which one they mean in the words they type.
- A folder named after "in" (or before a colon that starts the query) is where to look,
  as if the folder were picked in the panel: the search is limited to it, and its name is
  taken out of the text searched with the "in", so the word does not pull every file that
  mentions the project (its README, its imports). Only these two forms count: a folder's
  name elsewhere in a sentence may be meant as itself ("start the development server"
  beside a folder named server).
- A language's name is often what is looked for ("read the configuration from a python
  file"): it stays in the text, and results in that language rank first (priors.py; the
  others keep a share of their score).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

# Language names a person writes in a sentence, and the languages they mean. Short names
# that are also words (go, c, r, make) count only after "in" ("retry loop in go").
_LANGUAGE_WORDS: dict[str, tuple[str, ...]] = {
    "python": ("python",), "javascript": ("javascript",), "typescript": ("typescript", "tsx"),
    "rust": ("rust",), "golang": ("go",), "java": ("java",), "kotlin": ("kotlin",),
    "swift": ("swift",), "ruby": ("ruby",), "php": ("php",), "csharp": ("csharp",),
    "c#": ("csharp",), "c++": ("cpp",), "cpp": ("cpp",), "scala": ("scala",),
    "haskell": ("haskell",), "elixir": ("elixir",), "erlang": ("erlang",), "lua": ("lua",),
    "perl": ("perl",), "dart": ("dart",), "julia": ("julia",), "clojure": ("clojure",),
    "ocaml": ("ocaml",), "zig": ("zig",), "bash": ("bash",), "powershell": ("powershell",),
}  # fmt: skip
_AFTER_IN: dict[str, tuple[str, ...]] = {
    "go": ("go",), "c": ("c",), "r": ("r",), "js": ("javascript",), "ts": ("typescript", "tsx"),
    "py": ("python",), "rs": ("rust",), "rb": ("ruby",), "kt": ("kotlin",), "sh": ("bash",),
    "shell": ("bash",),
}  # fmt: skip
# Words before a folder's name that only say it is a place ("in flask", "inside express").
_PLACE_WORDS = frozenset({"in", "inside", "within", "under"})
# A scope is read only from a query with at least this many other words: a folder's name
# alone, or with one more word, is what the person searches for.
MIN_OTHER_WORDS = 2
_PUNCTUATION = ",.;:!?\"'()"


@dataclass(frozen=True)
class Scope:
    text: str  # the query without the words that only name a folder
    text_as_typed: str = ""
    root_ids: tuple[int, ...] = ()  # the folders named, if any: the search is limited to them
    languages: tuple[str, ...] = ()  # the languages named, if any

    @property
    def named(self) -> bool:
        return bool(self.root_ids or self.languages)


def read_scope(query: str, folders: Sequence[tuple[int, str]]) -> Scope:
    """The folders (root id, folder name) and languages `query` names."""
    words = query.split()
    bare = [w.strip(_PUNCTUATION).lower() for w in words]
    by_name: dict[str, list[int]] = {}
    for root_id, name in folders:
        by_name.setdefault(name.lower(), []).append(root_id)
    root_ids: list[int] = []
    languages: list[str] = []
    dropped: set[int] = set()
    for i, word in enumerate(bare):
        after_in = i > 0 and bare[i - 1] == "in"
        places = (i > 0 and bare[i - 1] in _PLACE_WORDS) or (i == 0 and words[0].endswith(":"))
        if word in by_name and places:
            root_ids += by_name[word]
            dropped.update((i - 1, i) if i > 0 else (i,))
        elif word in _LANGUAGE_WORDS:
            languages += _LANGUAGE_WORDS[word]
        elif after_in and word in _AFTER_IN:
            languages += _AFTER_IN[word]
    if len([w for i, w in enumerate(bare) if w and i not in dropped]) < MIN_OTHER_WORDS:
        return Scope(query, query)
    text = " ".join(w for i, w in enumerate(words) if i not in dropped) if root_ids else query
    roots, langs = tuple(dict.fromkeys(root_ids)), tuple(dict.fromkeys(languages))
    return Scope(text, query, roots, langs)
