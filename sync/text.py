"""Lossless three-way merge of plain text (titles and bodies).

Lines are merged first (merge3); a region both sides changed is merged again word by word. Where both sides changed
the same words, both versions are kept, the stored one first, unless one version already contains every word of the
other: then only that one is kept, so text typed on both sides (or retyped) is not doubled.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence

from merge3 import Merge3

# Words, runs of whitespace, and single punctuation marks: fine enough that edits to different words of one line merge
# cleanly, coarse enough that a word a user typed is never split across a merge boundary.
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")

Conflict = tuple[list[str], list[str], list[str]]


def merge_text(base: str | None, stored: str, mine: str) -> str:
    """Merge `mine` (a device's edit of `base`) into `stored` (what the server holds now).

    `base` None means the common ancestor is unknown (pruned history): the lines both texts share stand in for it, so
    every difference counts as an insertion and nothing either side has is dropped.
    """
    if base is None:
        base = _common(stored, mine)
    if mine in (base, stored):
        return stored
    if stored == base:
        return mine
    out: list[str] = []
    lines = Merge3(base.splitlines(keepends=True), stored.splitlines(keepends=True), mine.splitlines(keepends=True))
    for group in lines.merge_groups():
        if group[0] == "conflict":
            out.append(_merge_words("".join(group[1]), "".join(group[2]), "".join(group[3])))
        else:
            out.append("".join(group[1]))
    return "".join(out)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _merge_words(base: str, stored: str, mine: str) -> str:
    out: list[str] = []
    for part in _coalesce(Merge3(tokens(base), tokens(stored), tokens(mine)).merge_groups()):
        out.append(_both(*part) if isinstance(part, tuple) else part)
    return "".join(out)


def _coalesce(groups: Iterator[tuple[object, ...]]) -> list[str | Conflict]:
    """Text and conflicts, where conflicts separated only by whitespace or punctuation become one.

    Without this, two rewrites of a sentence that happen to share its spaces would interleave word by word.
    """
    parts: list[str | Conflict] = []
    for group in groups:
        if group[0] != "conflict":
            parts.append("".join(group[1]))  # type: ignore[arg-type]
            continue
        region: Conflict = (list(group[1]), list(group[2]), list(group[3]))  # type: ignore[call-overload]
        if len(parts) >= 2 and isinstance(parts[-2], tuple) and _is_filler(parts[-1]):
            gap = parts.pop()
            assert isinstance(gap, str)
            prev = parts.pop()
            assert isinstance(prev, tuple)
            region = (prev[0] + [gap] + region[0], prev[1] + [gap] + region[1], prev[2] + [gap] + region[2])
        parts.append(region)
    return parts


def _is_filler(part: str | Conflict) -> bool:
    return isinstance(part, str) and not any(c.isalnum() for c in part)


def _both(_base: list[str], stored_words: list[str], mine_words: list[str]) -> str:
    """Both versions of one place, stored first; just one if it already holds every word of the other."""
    stored, mine = "".join(stored_words), "".join(mine_words)
    if _contains(mine_words, stored_words):
        return mine
    if _contains(stored_words, mine_words):
        return stored
    if stored and mine and not stored[-1].isspace() and not mine[0].isspace():
        return stored + ("\n" if "\n" in stored + mine else " ") + mine
    return stored + mine


def _contains(long: Sequence[str], short: Sequence[str]) -> bool:
    """Whether every word of `short` appears in `long` in order (whitespace ignored)."""
    it = iter([w for w in long if not w.isspace()])
    return all(any(w == x for x in it) for w in short if not w.isspace())


def _common(a: str, b: str) -> str:
    """The lines `a` and `b` share, in order."""
    la, lb = a.splitlines(keepends=True), b.splitlines(keepends=True)
    blocks = difflib.SequenceMatcher(None, la, lb, autojunk=False).get_matching_blocks()
    return "".join("".join(la[i : i + n]) for i, _, n in blocks)
