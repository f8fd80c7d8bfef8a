"""Anchored cue matching (policywatch.classify._match): fast, and exactly a plain regex search.

``CueSet.find`` only tries a pattern's top-level alternatives where the text starts with one of
their anchors, compiles each alternative on its own, and only when a text can hit it. None of that
may change what is found: every test here compares with ``re`` itself. Every sentence was written
for these tests.
"""

from __future__ import annotations

import re

import pytest

from policywatch.classify._categories import _BODY_RULES, _HEADING_RULES
from policywatch.classify._facts import _CUES
from policywatch.classify._match import CueSet, anchors
from policywatch.classify._text import fold

SENTENCES = [
    "We may share your e-mail address and phone number with advertising partners in the U.S.",
    "You can opt-out of the sale of your personal information at any time; we'll honour it.",
    "Third-party service providers (such as payment processors) receive your billing address.",
    "We don't sell personal data to data brokers, but we do use cookies and web beacons.",
    "If you no longer wish to receive newsletters, unsubscribe via the link in each e-mail.",
    "Your precise geolocation is collected when location services are turned on.",
    "Information is retained for 30 days, or for as long as your account is active.",
    "Children under 13 may not use the app; parents can request deletion of their data.",
    "We transfer data outside the EEA, e.g. to the United States, under standard clauses.",
    "Contact our Data Protection Officer at privacy@example.org or P.O. Box 12.",
    "This privacy notice explains how Example Inc. collects, uses and discloses information.",
    "Do Not Track signals are not honoured; use your browser settings to block cookies.",
    "Our affiliates, subsidiaries and acquirers may access, correct or erase records.",
    "We combine device identifiers with IP addresses to measure the performance of ads.",
    "Voice recordings and photos you upload train our machine learning models.",
    "Security: we use encryption (TLS) and reasonable safeguards against unauthorized access.",
    "How long do we keep it? Until you delete your account, or indefinitely for backups.",
    "cookie",  # a text ending in the middle of an anchor
    "e",
    "",
]
TEXTS = [fold(s) for s in SENTENCES]
CUE_SETS = {"facts": _CUES, "body": _BODY_RULES.cues, "headings": _HEADING_RULES.cues}
_WORD_START = re.compile(r"[a-z0-9]+")


def plain_find(
    patterns: tuple[str, ...], unanchored: set[int], text: str
) -> set[tuple[int, int, int]]:
    """What ``find`` promises: a match at every word start, every match of the unanchored."""
    found = set()
    for index, pattern in enumerate(patterns):
        compiled = re.compile(pattern)
        if index in unanchored:
            found |= {(index, *m.span()) for m in compiled.finditer(text)}
            continue
        for word in _WORD_START.finditer(text):
            m = compiled.match(text, word.start())
            if m is not None:
                found.add((index, *m.span()))
    return found


@pytest.mark.parametrize("name", CUE_SETS)
def test_find_is_a_plain_search_at_word_starts(name: str) -> None:
    patterns = CUE_SETS[name].patterns
    cues = CueSet(patterns)  # a fresh one: nothing memoised or compiled yet
    for text in TEXTS:
        got = cues.find(text)
        assert len(got) == len({(i, m.span()) for i, m in got})  # no match reported twice
        assert {(i, *m.span()) for i, m in got} == plain_find(
            patterns, set(cues.unanchored), text
        ), text


@pytest.mark.parametrize("name", CUE_SETS)
def test_every_match_starts_with_an_anchor(name: str) -> None:
    """Anchors are a necessary condition: the whole speed-up rests on it."""
    for pattern in CUE_SETS[name].patterns:
        starts = anchors(pattern)
        if starts is None:
            continue
        compiled = re.compile(pattern)
        for text in TEXTS:
            for pos in range(len(text)):
                if compiled.match(text, pos):
                    assert text.startswith(tuple(starts), pos), (pattern, text[pos:])


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"\be-?mail address(?:es)?\b", {"e-mail address", "email address"}),
        (
            r"\bp\.? ?o\.? box\b",
            {f"p{a}{b}o{c} box" for a in ("", ".") for b in ("", " ") for c in ("", ".")},
        ),
        (r"\bopt(?:-| )?out\b|\bad\b", {"opt-out", "opt out", "optout", "ad"}),
        (r"(?<!payment )\bservice providers?\b", {"service provider"}),
        (r"\b(?:\w+ ){0,3}data\b", None),  # may start with any word: searched whole
    ],
)
def test_anchors_read_optional_characters_and_groups(
    pattern: str, expected: set[str] | None
) -> None:
    found = anchors(pattern)
    if expected is None:
        assert found is None
        return
    assert found is not None
    # anchors stop after about a dozen characters; each expected text starts with one
    assert all(any(text.startswith(a) for a in found) for text in expected)
    assert all(any(text.startswith(a) for text in expected) for a in found)
