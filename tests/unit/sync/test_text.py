"""Three-way text merge: table of the spec's cases, then Hypothesis properties."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.text import merge_text, tokens

CASES = [
    # (name, base, stored, mine, expected)
    ("only mine changed", "a\nb\n", "a\nb\n", "a\nB\n", "a\nB\n"),
    ("only stored changed", "a\nb\n", "A\nb\n", "a\nb\n", "A\nb\n"),
    ("different lines", "a\nb\nc\n", "A\nb\nc\n", "a\nb\nC\n", "A\nb\nC\n"),
    (
        "different words of one line",
        "the quick fox",
        "the quick brown fox",
        "the quick fox jumps",
        "the quick brown fox jumps",
    ),
    ("same word changed: both, stored first", "the cat", "the dog", "the cow", "the dog cow"),
    ("both appended", "hello", "hello world", "hello there", "hello world there"),
    ("whole sentence rewritten", "a b c d", "w x y z", "p q r s", "w x y z p q r s"),
    ("identical change not doubled", "x\n", "x\nnew line\n", "x\nnew line\n", "x\nnew line\n"),
    ("one extends the other's insertion", "a", "a b", "a b c", "a b c"),
    ("shared typing appears once", "x", "x A T", "x T B", "x A T B"),
    ("delete meets unseen insertion", "one two three", "one two 2b three", "one three", "one two 2b three"),
    ("stored deleted what mine changed", "a\nb\nc\n", "a\nc\n", "a\nB\nc\n", "a\nB\nc\n"),
    ("mine deleted what stored changed", "a\nb\nc\n", "a\nB\nc\n", "a\nc\n", "a\nB\nc\n"),
    ("last line without newline", "a\nx", "a\nx1", "a\nx2", "a\nx1 x2"),
    ("unknown base: union", None, "shopping: milk eggs", "shopping: milk bread eggs", "shopping: milk bread eggs"),
    ("unknown base, equal texts", None, "same", "same", "same"),
    ("empty base, both typed", "", "from phone", "from laptop", "from phone laptop"),
    ("unicode words", "café ☕", "café ☕ noir", "grand café ☕", "grand café ☕ noir"),
]


@pytest.mark.parametrize(("name", "base", "stored", "mine", "expected"), CASES, ids=[c[0] for c in CASES])
def test_merge_table(name: str, base: str | None, stored: str, mine: str, expected: str) -> None:
    assert merge_text(base, stored, mine) == expected


# Documents are lists of units (a word and the separator after it). Base words are unique ("b0", "b1", ...) so that
# "survives" and "appears once" can be checked exactly; inserted words are unique per side ("s0", "m0", ...).
SEPARATORS = st.sampled_from([" ", "\n", ", ", ". ", "  ", "\n\n"])
Unit = tuple[str, str]


@st.composite
def documents(draw: st.DrawFn) -> list[Unit]:
    seps = draw(st.lists(SEPARATORS, max_size=12))
    return [(f"b{i}", sep) for i, sep in enumerate(seps)]


@st.composite
def edited(draw: st.DrawFn, doc: list[Unit], prefix: str) -> tuple[list[Unit], set[str]]:
    """A copy of `doc` with random deletions, replacements and insertions; and the fresh words it still holds."""
    units = list(doc)
    for n in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        word = f"{prefix}{n}"
        if op == "insert" or not units:
            units.insert(draw(st.integers(0, len(units))), (word, draw(SEPARATORS)))
        elif op == "delete":
            units.pop(draw(st.integers(0, len(units) - 1)))
        else:
            i = draw(st.integers(0, len(units) - 1))
            units[i] = (word, units[i][1])
    return units, {w for w, _ in units if w.startswith(prefix)}


def text(units: list[Unit]) -> str:
    return "".join(w + s for w, s in units)


@st.composite
def three_way(draw: st.DrawFn) -> tuple[str, str, str, set[str], set[str]]:
    base = draw(documents())
    stored, stored_new = draw(edited(base, "s"))
    mine, mine_new = draw(edited(base, "m"))
    kept = {w for w, _ in base} & {w for w, _ in stored} & {w for w, _ in mine}
    return text(base), text(stored), text(mine), stored_new | mine_new, kept


Case = tuple[str, str, str, set[str], set[str]]


def check_no_inserted_word_is_lost(case: Case) -> None:
    base, stored, mine, inserted, _ = case
    assert inserted <= set(tokens(merge_text(base, stored, mine)))


def check_words_both_sides_kept_survive_once(case: Case) -> None:
    base, stored, mine, inserted, kept = case
    words = tokens(merge_text(base, stored, mine))
    assert kept <= set(words)
    for word in kept | inserted:
        assert words.count(word) <= 1, word


def check_unchanged_side_gives_the_other(case: Case) -> None:
    base, stored, mine, _, _ = case
    assert merge_text(base, stored, base) == stored
    assert merge_text(base, base, mine) == mine


def check_identical_edits_not_doubled(case: Case) -> None:
    base, stored, _, _, _ = case
    assert merge_text(base, stored, stored) == stored


def check_deterministic(case: Case) -> None:
    base, stored, mine, _, _ = case
    assert merge_text(base, stored, mine) == merge_text(base, stored, mine)


def check_unknown_base_keeps_every_word(case: Case) -> None:
    _, stored, mine, _, _ = case
    assert set(tokens(stored)) | set(tokens(mine)) <= set(tokens(merge_text(None, stored, mine)))


def words(text: str) -> set[str]:
    # Whitespace is left out: two runs of it that end up side by side read back as one token.
    return {t for t in tokens(text) if not t.isspace()}


def check_arbitrary_text_keeps_every_new_word(base: str, stored: str, mine: str) -> None:
    new = (words(stored) | words(mine)) - words(base)
    assert new <= words(merge_text(base, stored, mine))


CHECKS = [
    check_no_inserted_word_is_lost,
    check_words_both_sides_kept_survive_once,
    check_unchanged_side_gives_the_other,
    check_identical_edits_not_doubled,
    check_deterministic,
    check_unknown_base_keeps_every_word,
]
ANY_TEXT = st.text(max_size=60)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_property(check: Callable[[Case], None]) -> None:
    settings(max_examples=300, deadline=None)(given(three_way())(check))()


def test_property_arbitrary_text() -> None:
    settings(max_examples=300, deadline=None)(
        given(ANY_TEXT, ANY_TEXT, ANY_TEXT)(check_arbitrary_text_keeps_every_new_word)
    )()


@pytest.mark.slow
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_property_long(check: Callable[[Case], None]) -> None:
    settings(max_examples=5_000, deadline=None)(given(three_way())(check))()


@pytest.mark.slow
def test_property_arbitrary_text_long() -> None:
    checked = given(ANY_TEXT, ANY_TEXT, ANY_TEXT)(check_arbitrary_text_keeps_every_new_word)
    settings(max_examples=5_000, deadline=None)(checked)()
