"""The guards on a fetched text: counted only as far as they need, judged exactly at the edges."""

from __future__ import annotations

import pytest

from policywatch.errors import ExtractError
from policywatch.guards import MIN_WORDS, check_text, shrank, word_count

POLICY_WORDS = "We keep your order history for two years and then delete it. "  # 12 words


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


def test_word_count_stops_at_its_limit_and_is_exact_below_it() -> None:
    text = POLICY_WORDS * 100
    assert word_count(text) == 1200
    assert word_count(text, limit=601) == 601
    assert word_count(words(39), limit=601) == 39
    assert word_count("don't", limit=5) == 2  # the same `\w+` words either way


def test_a_near_empty_text_is_refused_with_its_exact_count() -> None:
    with pytest.raises(ExtractError, match=rf"only {MIN_WORDS - 1} words extracted"):
        check_text(words(MIN_WORDS - 1), source="https://example.org/p")
    check_text(words(MIN_WORDS), source="https://example.org/p")


@pytest.mark.parametrize(("n", "refused"), [(500, True), (600, True), (601, False), (5000, False)])
def test_a_challenge_phrase_condemns_only_a_short_page(n: int, refused: bool) -> None:
    text = "Checking your browser before accessing the site. " + words(n - 7)
    assert word_count(text) == n
    if refused:
        with pytest.raises(ExtractError, match="challenge or access-denied page"):
            check_text(text, source="https://example.org/p")
    else:
        check_text(text, source="https://example.org/p")


def test_a_drastic_shrink_is_measured_on_whole_texts() -> None:
    long = POLICY_WORDS * 100
    assert shrank(POLICY_WORDS * 40, long) == (1200, 480)
    assert shrank(POLICY_WORDS * 60, long) is None
