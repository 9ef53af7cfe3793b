"""Prose split at its headings: one section per Markdown heading.

ATX (``## Title``) and setext (``Title`` over ``===``) headings count, outside fenced code
blocks and YAML front matter; the lines before the first heading are a section of their
own, without a title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

_MARKDOWN_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_MARKDOWN_SETEXT = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
_MARKDOWN_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


@dataclass(frozen=True)
class Section:
    """Rows ``first_row`` to ``end_row`` (exclusive), 0-based; the heading on the first."""

    first_row: int
    end_row: int
    title: str | None  # None before the first heading, or for an empty heading
    heading_row: int | None


def markdown_sections(lines: list[str]) -> list[Section]:
    """One section per heading, from the heading to the line before the next one."""
    headings = list(_markdown_headings(lines))
    sections: list[Section] = []
    if not headings or headings[0][0] > 0:
        sections.append(Section(0, headings[0][0] if headings else len(lines), None, None))
    bounds = [row for row, _ in headings] + [len(lines)]
    for (row, title), end in zip(headings, bounds[1:], strict=True):
        sections.append(Section(row, end, title or None, row))
    return sections


def _markdown_headings(lines: list[str]) -> Iterable[tuple[int, str]]:
    """(row, title) of each ATX (``## Title``) and setext (``Title\\n===``) heading, outside
    fenced code blocks and YAML front matter."""
    fence = ""
    row = 0
    if lines and lines[0].strip() == "---":  # front matter: skip to its closing line
        row = next((r + 1 for r in range(1, len(lines)) if lines[r].strip() in ("---", "...")), 0)
    while row < len(lines):
        line = lines[row]
        opener = _MARKDOWN_FENCE.match(line)
        if fence:
            if opener and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence):
                fence = ""
        elif opener:
            fence = opener.group(1)
        elif atx := _MARKDOWN_ATX.match(line):
            yield row, (atx.group(2) or "").strip()
        elif (
            row + 1 < len(lines)
            and line.strip()
            and _MARKDOWN_SETEXT.match(lines[row + 1])
            and not _MARKDOWN_ATX.match(line)
        ):
            yield row, line.strip()
            row += 1
        row += 1
