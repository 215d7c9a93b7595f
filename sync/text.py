"""Lossless three-way merge of plain text (titles and bodies).

Lines are merged first (merge3); a region both sides changed is merged again word by word. Where both sides changed
the same words, both versions are kept, the stored one first, but the words the two versions share appear once: text
that both sides typed (or that a device retyped) is not doubled.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence

from merge3 import Merge3

# Words, runs of whitespace, and single punctuation marks: fine enough that edits to different words of one line merge
# cleanly, coarse enough that a word a user typed is never split across a merge boundary.
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")

Same = str
Diff = tuple[str, str]
"""A place where the two versions differ: (stored text, mine text)."""


def _has_word(text: str) -> bool:
    return any(c.isalnum() or c == "_" for c in text)


def _is_filler(text: str) -> bool:
    return not _has_word(text)


def _matcher(autojunk: bool) -> type[difflib.SequenceMatcher[str]]:
    """A SequenceMatcher that aligns on items with words in them: spaces, blank lines and punctuation can extend a
    match but never anchor one. A plain matcher aligns a blank line (or the ", " after one word) with another one
    far away, which turns a small edit into a large conflict and doubles the text around it."""

    class Matcher(difflib.SequenceMatcher[str]):
        def __init__(self, isjunk: object = None, a: Sequence[str] = "", b: Sequence[str] = "", _: bool = True):
            super().__init__(_is_filler, a, b, autojunk)

    return Matcher


# Lines: popular lines (a repeated "- [ ]") may be skipped as anchors for speed. Words inside a conflict: never, as a
# small vocabulary would leave nothing to align on and both versions would be kept whole.
_Lines = _matcher(autojunk=True)
_Words = _matcher(autojunk=False)


def merge_text(base: str | None, stored: str, mine: str) -> str:
    """Merge `mine` (a device's edit of `base`) into `stored` (what the server holds now).

    `base` None means the common ancestor is unknown (pruned history): the two texts are then united, every
    difference kept, nothing deleted.
    """
    if base is None:
        return _unite_lines(stored, mine)
    if mine in (base, stored):
        return stored
    if stored == base:
        return mine
    out: list[str] = []
    lines = Merge3(_lines(base), _lines(stored), _lines(mine), sequence_matcher=_Lines)
    for group in lines.merge_groups():
        if group[0] == "conflict":
            out.append(_merge_words("".join(group[1]), "".join(group[2]), "".join(group[3])))
        else:
            out.append("".join(group[1]))
    return "".join(out)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _merge_words(base: str, stored: str, mine: str) -> str:
    """One region both sides changed, merged word by word; where the same words changed, the versions are united."""
    parts: list[Same | Diff] = []
    for group in Merge3(tokens(base), tokens(stored), tokens(mine), sequence_matcher=_Words).merge_groups():
        if group[0] == "conflict":
            parts.append(("".join(group[2]), "".join(group[3])))  # type: ignore[arg-type]
        else:
            parts.append("".join(group[1]))  # type: ignore[arg-type]
    return _render(parts, lambda a, b: _unite(tokens(a), tokens(b)))


def _unite_lines(stored: str, mine: str) -> str:
    """Both texts in one, line by line first: shared lines once, differing stretches united word by word."""
    return _render(_diff(_Lines, _lines(stored), _lines(mine)), lambda a, b: _unite(tokens(a), tokens(b)))


def _unite(stored: list[str], mine: list[str]) -> str:
    """Both versions in one: shared words once, and where they differ the stored words, then the device's."""
    return _render(_diff(_Words, stored, mine), _side_by_side)


def _diff(matcher: type[difflib.SequenceMatcher[str]], a: list[str], b: list[str]) -> list[Same | Diff]:
    ops = matcher(None, a, b).get_opcodes()
    return ["".join(a[i1:i2]) if op == "equal" else ("".join(a[i1:i2]), "".join(b[j1:j2])) for op, i1, i2, j1, j2 in ops]


def _render(parts: Iterable[Same | Diff], resolve: Callable[[str, str], str]) -> str:
    return "".join(resolve(*p) if isinstance(p, tuple) else p for p in _coalesce(parts))


def _coalesce(parts: Iterable[Same | Diff]) -> list[Same | Diff]:
    """Differences separated only by spaces or punctuation become one difference.

    Two rewrites of a sentence share its spaces; without this they would come out interleaved word by word.
    """
    out: list[Same | Diff] = []
    for part in parts:
        if isinstance(part, tuple) and out and isinstance(out[-1], tuple):
            prev = out.pop()
            assert isinstance(prev, tuple)
            part = (prev[0] + part[0], prev[1] + part[1])
        elif isinstance(part, tuple) and len(out) >= 2 and isinstance(out[-2], tuple) and _is_filler(out[-1]):
            gap = out.pop()
            prev = out.pop()
            assert isinstance(gap, str) and isinstance(prev, tuple)
            part = (prev[0] + gap + part[0], prev[1] + gap + part[1])
        out.append(part)
    return out


def _side_by_side(stored: str, mine: str) -> str:
    """Both versions of one place, stored first; only one if it already contains the other."""
    if stored in mine:
        return mine
    if mine in stored:
        return stored
    if not stored[-1].isspace() and not mine[0].isspace():
        return stored + ("\n" if "\n" in stored + mine else " ") + mine
    return stored + mine
