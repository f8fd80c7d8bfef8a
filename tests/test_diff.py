"""The clause diff engine on hand-made clause lists (segmentation is tested in test_clauses)."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policywatch.diff import compare, diff_clauses, word_diff
from policywatch.models import Change, Clause, DiffStats, Side

_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\xa0": " "})


def key_of(text: str) -> str:
    """A stand-in for clauses.normalise: presentation-insensitive matching form."""
    text = text.translate(_QUOTES).replace("*", "").replace("_", "")
    return re.sub(r"\s+", " ", text).strip().lower()


def clauses(*items: str | tuple[str, str], section: tuple[str, ...] = ()) -> tuple[Clause, ...]:
    """Clauses from texts; ``("heading", text)`` makes a heading."""
    out = []
    for n, item in enumerate(items):
        kind, text = item if isinstance(item, tuple) else ("sentence", item)
        out.append(Clause(n, kind, text, section, key_of(text)))  # type: ignore[arg-type]
    return tuple(out)


def summary(changes: Sequence[Change]) -> list[tuple[str, int | None, int | None]]:
    return [
        (c.kind, c.old.index if c.old else None, c.new.index if c.new else None) for c in changes
    ]


def apply_words(words: Sequence[tuple[str, str]], keep: str) -> str:
    return "".join(text for op, text in words if op in ("=", keep))


S = [
    "We collect the name and email address you give us when you register.",
    "We use cookies to remember your language and your sign-in state.",
    "Payment details are handled by our card processor and never stored by us.",
    "You can ask for a copy of your records at any time by writing to us.",
    "We keep server logs for thirty days to investigate abuse.",
    "Children under thirteen may not open an account.",
    "We will post any change to this notice on this page before it applies.",
    "Questions about this notice can be sent to our privacy team by post.",
]


# -- anchors: unchanged, editorial, shifted --------------------------------------------------------


def test_identical_lists_have_no_changes() -> None:
    changes, stats = diff_clauses(clauses(*S), clauses(*S))
    assert changes == ()
    assert stats == DiffStats(unchanged=len(S))


def test_presentation_change_is_editorial_with_words() -> None:
    old = clauses(*S)
    new = clauses(*S[:3], S[3].replace("any time", "any\xa0time").upper(), *S[4:])
    changes, stats = diff_clauses(old, new)
    assert summary(changes) == [("editorial", 3, 3)]
    assert stats == DiffStats(editorial=1, unchanged=len(S) - 1)
    words = changes[0].words
    assert words is not None
    assert apply_words(words, "-") == old[3].text
    assert apply_words(words, "+") == new[3].text


def test_insertion_at_top_shifts_nothing_into_moved() -> None:
    new_first = "We now also offer a newsletter you can subscribe to."
    changes, stats = diff_clauses(clauses(*S), clauses(new_first, *S))
    assert summary(changes) == [("added", None, 0)]
    assert stats == DiffStats(added=1, unchanged=len(S))


def test_boilerplate_repeats_do_not_pin_the_alignment() -> None:
    """A repeated "Learn more." must not become a move just because a section was inserted."""
    old = clauses(S[0], "Learn more.", S[1], "Learn more.", S[2])
    new = clauses(S[0], "Learn more.", S[5], "Learn more.", S[1], "Learn more.", S[2])
    changes, stats = diff_clauses(old, new)
    assert [c.kind for c in changes] == ["added", "added"]
    assert stats.moved == 0


# -- moves -----------------------------------------------------------------------------------------


def test_relocated_clause_is_moved_with_both_indexes() -> None:
    old = clauses(*S)
    new = clauses(S[0], S[1], S[2], S[4], S[5], S[6], S[3], S[7])
    changes, stats = diff_clauses(old, new)
    assert summary(changes) == [("moved", 3, 6)]
    assert stats == DiffStats(moved=1, unchanged=7)


def test_moved_with_presentation_change_is_still_moved() -> None:
    old = clauses(*S)
    moved = S[1].replace("cookies", "*cookies*")
    new = clauses(S[0], S[2], S[3], S[4], S[5], S[6], moved, S[7])
    changes, _ = diff_clauses(old, new)
    assert summary(changes) == [("moved", 1, 6)]
    assert changes[0].new is not None and changes[0].new.text == moved


def test_moved_and_edited_far_away_is_modified_with_both_indexes() -> None:
    old = clauses(*S)
    edited = S[1].replace("your language", "your preferred language")
    new = clauses(S[0], S[2], S[3], S[4], S[5], S[6], edited, S[7])
    changes, stats = diff_clauses(old, new)
    assert summary(changes) == [("modified", 1, 6)]
    assert stats == DiffStats(modified=1, unchanged=7)
    words = changes[0].words
    assert words is not None and ("+", "preferred ") in words


def test_swapped_blocks_move_the_smaller_one() -> None:
    old = clauses(*S)
    new = clauses(S[6], S[7], *S[:6])
    changes, stats = diff_clauses(old, new)
    assert summary(changes) == [("moved", 6, 0), ("moved", 7, 1)]
    assert stats.unchanged == 6


# -- similarity ------------------------------------------------------------------------------------


def test_reworded_clause_is_modified_with_word_ops() -> None:
    old = clauses(*S)
    reworded = "We keep server logs for ninety days to investigate abuse and fraud."
    new = clauses(*S[:4], reworded, *S[5:])
    changes, stats = diff_clauses(old, new)
    assert summary(changes) == [("modified", 4, 4)]
    assert stats == DiffStats(modified=1, unchanged=7)
    words = changes[0].words
    assert words is not None
    assert ("-", "thirty") in words and ("+", "ninety") in words
    assert apply_words(words, "-") == old[4].text
    assert apply_words(words, "+") == reworded


def test_unrelated_replacement_is_removed_and_added() -> None:
    old = clauses(*S)
    other = "Our offices are closed on public holidays."
    new = clauses(*S[:4], other, *S[5:])
    changes, _ = diff_clauses(old, new)
    assert summary(changes) == [("removed", 4, None), ("added", None, 4)]


def test_split_sentence_pairs_the_larger_part() -> None:
    long = (
        "We share your delivery address with our courier and we share your phone number "
        "with the courier so that they can reach you on the day of delivery."
    )
    part1 = "We share your delivery address with our courier."
    part2 = "We share your phone number with the courier so that they can reach you on the day."
    changes, stats = diff_clauses(clauses(S[0], long, S[2]), clauses(S[0], part1, part2, S[2]))
    assert summary(changes) == [("added", None, 1), ("modified", 1, 2)]
    assert stats == DiffStats(added=1, modified=1, unchanged=2)


def test_merged_sentences_pair_the_larger_part() -> None:
    part1 = "We share your delivery address with our courier."
    part2 = "We share your phone number with the courier so that they can reach you on the day."
    merged = (
        "We share your delivery address with our courier and we share your phone number "
        "with the courier so that they can reach you on the day of delivery."
    )
    changes, stats = diff_clauses(clauses(S[0], part1, part2, S[2]), clauses(S[0], merged, S[2]))
    assert sorted(summary(changes), key=str) == [("modified", 2, 1), ("removed", 1, None)]
    assert stats == DiffStats(removed=1, modified=1, unchanged=2)


def test_a_long_clause_does_not_swallow_a_short_one() -> None:
    """Most words of a short clause appear in any long one: containment alone is no evidence."""
    long = (
        "Where the law of your country allows it, we process the information you give us, the "
        "information we observe when you use the shop, and the information partners send us, "
        "to run the service, to keep it secure, to measure how well it works, to improve it, to "
        "show you offers, and to meet our legal duties to tax and other public authorities."
    )
    short = "We keep the information you give us secure."
    changes, _ = diff_clauses(clauses(S[0], long, S[2]), clauses(S[0], short, S[2]))
    assert summary(changes) == [("removed", 1, None), ("added", None, 1)]


def test_renamed_heading_alone_in_its_gap_is_modified() -> None:
    old = clauses(("heading", "Cookies"), S[1], ("heading", "Contact"), S[7])
    new = clauses(("heading", "Tracking technologies"), S[1], ("heading", "Contact"), S[7])
    changes, _ = diff_clauses(old, new)
    assert summary(changes) == [("modified", 0, 0)]


def test_removed_clause_is_placed_where_it_was() -> None:
    old = clauses(*S)
    new = clauses(S[0], S[1], S[3], S[4], "We now sell gift cards.", S[5], S[6], S[7])
    changes, _ = diff_clauses(old, new)
    assert summary(changes) == [("removed", 2, None), ("added", None, 4)]


# -- bounded work and determinism ------------------------------------------------------------------


def _random_sentence(rnd: random.Random, vocab: Sequence[str]) -> str:
    return " ".join(rnd.choice(vocab) for _ in range(rnd.randint(6, 30))) + "."


def test_rewritten_policy_of_3000_clauses_stays_fast() -> None:
    """A full rewrite is one 3,000 x 3,000 gap: the similarity search must not go quadratic."""
    rnd = random.Random(7)
    vocab = [f"word{n}" for n in range(2000)] + ["the", "we", "your", "data", "and"] * 40
    old = clauses(*(_random_sentence(rnd, vocab) for _ in range(3000)))
    new = clauses(*(_random_sentence(rnd, vocab) for _ in range(3000)))
    start = time.perf_counter()
    _, stats = diff_clauses(old, new)
    elapsed = time.perf_counter() - start
    assert stats.added + stats.modified == 3000
    assert elapsed < 3.0, f"{elapsed:.2f}s"


def test_result_does_not_depend_on_hash_seed(tmp_path: Path) -> None:
    """Ties are broken by position, never by set or dict iteration order."""
    script = (
        "import json, sys\n"
        "from policywatch.models import Clause\n"
        "from policywatch.diff import diff_clauses\n"
        "def c(ts):\n"
        "    return tuple(Clause(i, 'sentence', t, (), t.lower()) for i, t in enumerate(ts))\n"
        "old = c(['a b c d e f', 'a b c d e g', 'x y z', 'learn more', 'p q r s'])\n"
        "new = c(['a b c d e h', 'learn more', 'a b c d e k', 'x y z w', 'p q r t'])\n"
        "ch, st = diff_clauses(old, new)\n"
        "print(json.dumps([(x.kind, x.old and x.old.index, x.new and x.new.index) for x in ch]))\n"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": src}
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1
    assert json.loads(outputs.pop())  # and it did find changes


# -- word diff -------------------------------------------------------------------------------------


def test_word_diff_never_cuts_a_word() -> None:
    words = word_diff("We share data with partners.", "We shared data with vendors.")
    assert words == (
        ("=", "We "),
        ("-", "share"),
        ("+", "shared"),
        ("=", " data with "),
        ("-", "partners"),
        ("+", "vendors"),
        ("=", "."),
    )


def test_word_diff_of_equal_and_empty_texts() -> None:
    assert word_diff("", "") == ()
    assert word_diff("same", "same") == (("=", "same"),)
    assert word_diff("", "new text") == (("+", "new text"),)
    assert word_diff("old text", "") == (("-", "old text"),)


def test_word_diff_handles_many_distinct_tokens() -> None:
    """More distinct tokens than the BMP has below the surrogates must still round-trip."""
    a = " ".join(f"t{n}" for n in range(60000))
    b = a.replace("t59999", "changed")
    words = word_diff(a, b)
    assert apply_words(words, "-") == a
    assert apply_words(words, "+") == b
    assert ("+", "changed") in words


# -- properties ------------------------------------------------------------------------------------

_WORDS = [
    "we", "collect", "share", "your", "data", "with", "partners", "for", "advertising", "keep",
    "logs", "days", "cookies", "account", "delete", "request", "law", "children", "email", "you",
]  # fmt: skip


def _presentation(text: str, rnd: random.Random) -> str:
    choice = rnd.randrange(3)
    if choice == 0:
        return text.upper()
    if choice == 1:
        return text.replace(" ", "\xa0", 1)
    return f"*{text}*"


@st.composite
def edited_lists(draw: st.DrawFn) -> tuple[list[str], list[str], bool]:
    """An old clause list and an edited copy; the flag says whether edits were presentation only."""
    sentence = st.lists(st.sampled_from(_WORDS), min_size=1, max_size=12).map(" ".join)
    old = draw(st.lists(sentence, min_size=0, max_size=25))
    new = list(old)
    presentation_only = draw(st.booleans())
    rnd = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(0, 8))):
        op = (
            "presentation"
            if presentation_only
            else draw(st.sampled_from(["insert", "delete", "replace", "move", "presentation"]))
        )
        if op == "insert":
            new.insert(draw(st.integers(0, len(new))), draw(sentence))
        elif not new:
            continue
        elif op == "delete":
            del new[draw(st.integers(0, len(new) - 1))]
        elif op == "replace":
            new[draw(st.integers(0, len(new) - 1))] = draw(sentence)
        elif op == "move":
            item = new.pop(draw(st.integers(0, len(new) - 1)))
            new.insert(draw(st.integers(0, len(new))), item)
        else:
            k = draw(st.integers(0, len(new) - 1))
            new[k] = _presentation(new[k], rnd)
    return old, new, presentation_only


@settings(max_examples=300, deadline=None)
@given(edited_lists())
def test_every_clause_is_accounted_for_exactly_once(
    case: tuple[list[str], list[str], bool],
) -> None:
    old_texts, new_texts, presentation_only = case
    old, new = clauses(*old_texts), clauses(*new_texts)
    changes, stats = diff_clauses(old, new)

    listed_old = [c.old.index for c in changes if c.old is not None]
    listed_new = [c.new.index for c in changes if c.new is not None]
    assert len(listed_old) == len(set(listed_old))
    assert len(listed_new) == len(set(listed_new))
    assert len(listed_old) + stats.unchanged == len(old)
    assert len(listed_new) + stats.unchanged == len(new)
    counted = stats.added + stats.removed + stats.modified + stats.moved + stats.editorial
    assert counted == len(changes)

    for change in changes:
        assert (change.old is None) == (change.kind == "added")
        assert (change.new is None) == (change.kind == "removed")
        if change.old is not None:
            assert change.old is old[change.old.index]
        if change.new is not None:
            assert change.new is new[change.new.index]
        if change.kind in ("editorial", "moved"):
            assert change.old is not None and change.new is not None
            assert change.old.key == change.new.key
        if change.kind in ("modified", "editorial"):
            assert change.old is not None and change.new is not None and change.words is not None
            assert apply_words(change.words, "-") == change.old.text
            assert apply_words(change.words, "+") == change.new.text

    if presentation_only:
        assert {c.kind for c in changes} <= {"editorial"}

    same, same_stats = diff_clauses(old, old)
    assert same == ()
    assert same_stats == DiffStats(unchanged=len(old))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80))
def test_word_ops_rebuild_both_texts(a: str, b: str) -> None:
    words = word_diff(a, b)
    assert apply_words(words, "-") == a
    assert apply_words(words, "+") == b
    assert all(text for _, text in words)
    assert all(x[0] != y[0] for x, y in pairwise(words))


# -- data cases: real Markdown through real segmentation ------------------------------------------

CASES = Path(__file__).parent / "data" / "diff"


def _case_names() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if (p / "expected.json").exists())


def _expected_changes(diff_changes: Sequence[Change]) -> list[dict[str, str | None]]:
    return [
        {
            "kind": c.kind,
            "old": c.old.text if c.old else None,
            "new": c.new.text if c.new else None,
        }
        for c in diff_changes
    ]


@pytest.mark.parametrize("case", _case_names())
def test_data_case(case: str) -> None:
    """Each case's expected.json lists every change (kind, old text, new text) and the stats."""
    folder = CASES / case
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    diff = compare(
        (folder / "old.md").read_text(encoding="utf-8"),
        (folder / "new.md").read_text(encoding="utf-8"),
        old_side=Side("old.md"),
        new_side=Side("new.md"),
    )
    want = [{k: c[k] for k in ("kind", "old", "new")} for c in expected["changes"]]
    assert _expected_changes(diff.changes) == want
    assert diff.stats == DiffStats(**expected["stats"])
    assert diff.editorial_only == expected["editorial_only"]
    for change in diff.changes:
        if change.kind in ("modified", "editorial"):
            assert change.old and change.new
            if change.kind == "editorial" and change.old.text == change.new.text:
                # markup or a link target changed: nothing to show in the readable text
                assert change.words is None and change.old.source != change.new.source
                continue
            assert change.words is not None
            assert apply_words(change.words, "-") == change.old.text
            assert apply_words(change.words, "+") == change.new.text


@pytest.mark.parametrize(
    "case",
    [
        n
        for n in _case_names()
        if "material" in json.loads((CASES / n / "expected.json").read_text())
    ],
)
def test_data_case_materiality(case: str) -> None:
    """With the classifier plugged in, presentation-only cases are never material."""
    classify = pytest.importorskip("policywatch.classify")
    folder = CASES / case
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    diff = compare(
        (folder / "old.md").read_text(encoding="utf-8"),
        (folder / "new.md").read_text(encoding="utf-8"),
        old_side=Side("old.md"),
        new_side=Side("new.md"),
        annotate=classify.annotate,
    )
    assert diff.material is expected["material"]
    assert [c.kind for c in diff.changes] == [c["kind"] for c in expected["changes"]]


def test_every_case_folder_is_complete() -> None:
    folders = sorted(p.name for p in CASES.iterdir() if p.is_dir())
    assert folders == _case_names()
    assert len(folders) >= 18
