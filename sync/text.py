"""Lossless three-way merge of plain text (titles and bodies).

Lines are merged first (merge3); a region both sides changed is merged again by words-with-their-spaces, then by single
words, spaces and punctuation marks. Where both sides changed the same words, both versions are kept, the stored one
first, but the words the two versions share appear once: text that both sides typed (or that a device retyped) is not
doubled. Every word either side typed is in the result: only a deletion that met no concurrent change removes text.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence

from merge3 import Merge3

_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")

Same = str
Diff = tuple[str, str]
"""A place where the two versions differ: (stored text, mine text)."""


def _has_word(text: str) -> bool:
    return any(c.isalnum() or c == "_" for c in text)


def _is_filler(text: str) -> bool:
    return not _has_word(text)


SMALL = 300
"""Up to this many items (between the shared ends), filler never anchors an alignment; above, speed comes first."""

Block = tuple[int, int, int]


class _Matcher:
    """A difflib-style matcher (what merge3 expects) that aligns texts on their words.

    A plain matcher happily aligns a blank line, or the ", " after one word, with another one far away: that turns a
    small edit into a large conflict and doubles the words around it. Shared ends are cut off first (most edits are
    local), then small middles are aligned with spaces, punctuation and blank lines unable to anchor a match (exact but
    quadratic); big ones with difflib's fast heuristic, dropping matches made of filler alone.
    """

    def __init__(self, isjunk: object = None, a: Sequence[str] = (), b: Sequence[str] = (), autojunk: bool = True):
        self.a, self.b = a, b

    def get_matching_blocks(self) -> list[Block]:
        a, b = self.a, self.b
        head, tail = _shared_ends(a, b)
        mid_a, mid_b = a[head : len(a) - tail], b[head : len(b) - tail]
        blocks = [(0, 0, head)] if head else []
        if mid_a and mid_b:
            small = max(len(mid_a), len(mid_b)) <= SMALL
            matcher = difflib.SequenceMatcher(_is_filler if small else None, mid_a, mid_b, autojunk=not small)
            for i, j, n in matcher.get_matching_blocks():
                if n and any(map(_has_word, mid_a[i : i + n])):
                    blocks.append((head + i, head + j, n))
        if tail:
            blocks.append((len(a) - tail, len(b) - tail, tail))
        return [*blocks, (len(a), len(b), 0)]

    def get_opcodes(self) -> list[tuple[bool, int, int, int, int]]:
        """(equal, i1, i2, j1, j2) for each stretch, alternating differences and matches."""
        ops: list[tuple[bool, int, int, int, int]] = []
        i = j = 0
        for bi, bj, n in self.get_matching_blocks():
            if i < bi or j < bj:
                ops.append((False, i, bi, j, bj))
            if n:
                ops.append((True, bi, bi + n, bj, bj + n))
            i, j = bi + n, bj + n
        return ops


def merge_text(base: str | None, stored: str, mine: str) -> str:
    """Merge `mine` (a device's edit of `base`) into `stored` (what the server holds now).

    `base` None means the common ancestor is unknown (pruned history): the two texts are then united, every
    difference kept, nothing deleted.
    """
    if base is None:
        return _unite(stored, mine, 0)
    if mine in (base, stored):
        return stored
    if stored == base:
        return mine
    return _merge(base, stored, mine, 0)


def tokens(text: str) -> list[str]:
    """Words, runs of whitespace, single punctuation marks: the finest level, where words are never split."""
    return _TOKEN.findall(text)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _chunks(text: str) -> list[str]:
    """Words with the spaces after them: alone, a space or a comma is too common to align long texts on."""
    return _CHUNK.findall(text)


_LEVELS: tuple[Callable[[str], list[str]], ...] = (_lines, _chunks, tokens)
_CHUNK = re.compile(r"\S+\s*|\s+")


def _merge(base: str, stored: str, mine: str, level: int) -> str:
    """Three-way merge at one level; regions both sides changed go to the next, finer level, then are united."""
    split = _LEVELS[level]
    parts: list[Same | Diff] = []
    for group in Merge3(split(base), split(stored), split(mine), sequence_matcher=_Matcher).merge_groups():
        if group[0] != "conflict":
            parts.append("".join(group[1]))
        elif level + 1 < len(_LEVELS):
            parts.append(_merge("".join(group[1]), "".join(group[2]), "".join(group[3]), level + 1))
        else:
            parts.append(("".join(group[2]), "".join(group[3])))
    return _render(parts, lambda a, b: _unite(a, b, 1))


def _unite(stored: str, mine: str, level: int) -> str:
    """Both versions in one: what they share once; where they differ, the stored text then the device's."""
    if stored == mine:
        return stored
    split = _LEVELS[level]
    if level + 1 < len(_LEVELS):
        return _render(_diff(split(stored), split(mine)), lambda a, b: _unite(a, b, level + 1))
    return _render(_diff(split(stored), split(mine)), _side_by_side)


def _shared_ends(*seqs: Sequence[str]) -> tuple[int, int]:
    """How many items all `seqs` share at the start, and then at the end: the matchers need not look at those."""
    first, shortest = seqs[0], min(map(len, seqs))
    head = 0
    while head < shortest and all(s[head] == first[head] for s in seqs):
        head += 1
    tail = 0
    while tail < shortest - head and all(s[-1 - tail] == first[-1 - tail] for s in seqs):
        tail += 1
    return head, tail


def _diff(a: Sequence[str], b: Sequence[str]) -> list[Same | Diff]:
    ops = _Matcher(None, a, b).get_opcodes()
    return ["".join(a[i1:i2]) if eq else ("".join(a[i1:i2]), "".join(b[j1:j2])) for eq, i1, i2, j1, j2 in ops]


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
        elif isinstance(part, tuple) and len(out) >= 2 and isinstance(out[-2], tuple) and _is_gap(out[-1]):
            gap = out.pop()
            prev = out.pop()
            assert isinstance(gap, str) and isinstance(prev, tuple)
            part = (prev[0] + gap + part[0], prev[1] + gap + part[1])
        out.append(part)
    return out


def _is_gap(part: Same | Diff) -> bool:
    return isinstance(part, str) and _is_filler(part)


def _side_by_side(stored: str, mine: str) -> str:
    """Both versions of one place, stored first; only one if it already has every word of the other, in order."""
    if _contains(mine, stored):
        return mine
    if _contains(stored, mine):
        return stored
    if not stored[-1].isspace() and not mine[0].isspace():
        return stored + ("\n" if "\n" in stored + mine else " ") + mine
    return stored + mine


def _contains(long: str, short: str) -> bool:
    it = iter([t for t in tokens(long) if not t.isspace()])
    return all(any(t == u for u in it) for t in tokens(short) if not t.isspace())
