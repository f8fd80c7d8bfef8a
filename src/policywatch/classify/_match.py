"""Run many word-anchored patterns over one text fast.

Python's ``re`` only skips ahead quickly when a pattern starts with a literal; a pattern starting
with ``\\b`` (all of ours: cues are whole words) is tried at every character, ~7 µs per pattern on
a 400-character paragraph. With a few hundred cues that is far too slow for the 5,000 clauses/s
the CLI needs. So each pattern's possible beginnings (its *anchors*: literal strings every match
starts with one of) are read off its source, the text's word starts are found once, and a pattern
is only tried (``match`` at that position) where the text starts with one of its anchors.
Patterns whose anchors cannot be read (they may start with ``\\d``, a character class or nothing
at all) are searched the slow way; keep those few.

Compiling is the other cost: ~100 µs for a typical cue, ~1 ms for the longest, some 30 ms for all
of them, which a command line pays at every start. So each top-level alternative of a pattern is
compiled on its own, and only once a text starts with one of *its* anchors: a policy that never
says "shine the light" never compiles ``\\bshine the light\\b``. The first alternative (in the
pattern's order) that matches gives the pattern's match, as it would in the whole pattern. The
compiled alternatives and the anchors read off each pattern are kept between runs (``_cache``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise

from . import _cache

__all__ = ["CueSet", "anchors"]

#: a word start and the key candidates are looked up by: the word and the character after it
_WORD_KEY = re.compile(r"[a-z0-9]+[^a-z0-9]?")
_LITERAL = frozenset("abcdefghijklmnopqrstuvwxyz0123456789 '-@,:;\"/")
#: escapes that stand for one literal character
_ESCAPED = frozenset(".-'()/&+ @,:;?*[]{}|$^\"")
#: zero-width escapes: they constrain a match but add nothing to its text
_ZERO_WIDTH = frozenset("bB")
#: anchors are indexed by up to this many leading characters (then checked in full)
_KEY = 3
#: anchors are read up to about this length: longer ones would hardly tell more words apart
_MAX_LENGTH = 12
#: an alternative's anchors stop branching at about this many (shorter anchors stay valid)
_MAX_ANCHORS = 32
#: words remembered per CueSet before the memo starts afresh (bounds memory on odd input)
_MEMO_LIMIT = 50_000

# -- reading a pattern's structure --------------------------------------------------------------
#
# Escapes and character classes are masked first (same length), so that every "(", ")" and "|"
# left is structural; then the innermost groups are masked repeatedly, which records where each
# group closes and where its own alternatives are split, all in C-speed substitutions.

_ESCAPE = re.compile(r"\\.", re.DOTALL)
#: a run of unescaped literal characters (``_LITERAL``)
_RUN = re.compile(r"[a-z0-9 '\-@,:;\"/]+")
_QUANTIFIER_CHARS = frozenset("?*+{")
_CLASS = re.compile(r"\[\^?\]?[^\]]*\]")
_INNERMOST = re.compile(r"\([^()]*\)")


class _Shape:
    """Where each group of a pattern closes and where its alternatives are split."""

    __slots__ = ("closing", "pipes", "top")

    def __init__(self, source: str) -> None:
        #: index of "(" -> index of its ")"
        self.closing: dict[int, int] = {}
        #: index of "(" -> indexes of the "|" directly inside the group
        self.pipes: dict[int, list[int]] = {}
        masked = _ESCAPE.sub("__", source)
        if "[" in masked:
            masked = _CLASS.sub(lambda m: "_" * len(m.group()), masked)
        while "(" in masked:
            masked = _INNERMOST.sub(self._group, masked)
        #: indexes of the top-level "|"
        self.top = _pipes(masked, 0)

    def _group(self, m: re.Match[str]) -> str:
        start, end = m.span()
        self.closing[start] = end - 1
        if "|" in m.group():
            self.pipes[start] = _pipes(m.group(), start)
        return "_" * (end - start)


def _pipes(masked: str, offset: int) -> list[int]:
    found = []
    i = masked.find("|")
    while i >= 0:
        found.append(offset + i)
        i = masked.find("|", i + 1)
    return found


def _bounds(start: int, end: int, pipes: list[int]) -> list[tuple[int, int]]:
    """The spans of the alternatives between ``start`` and ``end`` split at ``pipes`` (the
    "|" of that group, in order)."""
    if not pipes:
        return [(start, end)]
    return [(a + 1, b) for a, b in pairwise([start - 1, *pipes, end])]


def _quantifier(source: str, i: int, end: int) -> tuple[str, int]:
    """The quantifier at ``source[i]`` ("" if none) and the index after it. A ``{`` (a counted
    repeat, or a literal brace) is only reported: reading stops before it."""
    q = source[i : i + 1] if i < end else ""
    if q == "{":
        return q, i
    if q in ("?", "*", "+"):
        i += 1
    else:
        return "", i
    if source[i : i + 1] in ("?", "+"):  # lazy or possessive: the same texts
        i += 1
    return q, i


def _starts(
    source: str, shape: _Shape, i: int, end: int, room: int = _MAX_LENGTH
) -> tuple[set[str], set[str]]:
    """Literal beginnings of the sequence ``source[i:end]``, read up to ``room`` characters.

    Returns ``(whole, partial)``: texts that the sequence consumes in full (it is literal to its
    end), and texts a match of it begins with where reading had to stop. Every match of the
    sequence begins with one of the two. Optional characters and groups branch ("e-?mail":
    "e-mail", "email"); anything else (a class, ``\\w``, a counted repeat) stops the reading.
    """
    whole = {""}
    partial: set[str] = set()
    while i < end:
        c = source[i]
        if c in _LITERAL:
            run = _RUN.match(source, i, end)
            assert run is not None
            after = run.end()
            if after < end and source[after] in _QUANTIFIER_CHARS:
                after -= 1  # the last character is quantified: read it on its own below
            if after > i:
                whole = {s + source[i:after] for s in whole}
                i = after
                if min(map(len, whole)) >= room:
                    break
                continue
        if c == "(":
            close = shape.closing[i]
            if source.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
                i = close + 1  # a look-around consumes nothing
                continue
            if source.startswith("(?:", i):
                inner = i + 3
            elif source.startswith("(?", i):
                break  # a named group, inline flags ...: stop reading
            else:
                inner = i + 1
            texts: set[str] = set()
            stopped: set[str] = set()
            left = room - min(map(len, whole))
            for a, b in _bounds(inner, close, shape.pipes.get(i, [])):
                w, p = _starts(source, shape, a, b, left)
                texts |= w
                stopped |= p
            after = close + 1
        elif c == "\\":
            escaped = source[i + 1 : i + 2]
            if escaped in _ZERO_WIDTH:
                i += 2
                continue
            if escaped not in _ESCAPED:
                break
            texts, stopped, after = {escaped}, set(), i + 2
        elif c in _LITERAL:
            texts, stopped, after = {c}, set(), i + 1
        else:
            break
        quantifier, after = _quantifier(source, after, end)
        if quantifier == "{":
            break  # maybe none, maybe several: stop before it
        if "" not in whole and len(whole) * (len(texts) + len(stopped) + 1) > _MAX_ANCHORS:
            break  # enough told apart: stop before the anchors multiply
        partial |= {s + t for s in whole for t in stopped}
        if quantifier == "":
            whole = {s + t for s in whole for t in texts}
        elif quantifier == "?":
            whole |= {s + t for s in whole for t in texts}
        else:  # "*" or "+": what one repeat begins with is all that is known
            partial |= {s + t for s in whole for t in texts}
            if quantifier == "+":
                whole = set()
        i = after
        if not whole or min(map(len, whole)) >= room:
            break
    else:
        return whole, partial
    return set(), partial | whole


def _alternative_anchors(source: str, shape: _Shape, start: int, end: int) -> set[str] | None:
    """Anchors of one ``\\b``-anchored alternative, or None when it is not anchored."""
    while source.startswith(("(?<!", "(?<="), start):
        start = shape.closing[start] + 1
    if source.startswith("(?:", start) and shape.closing[start] == end - 1:
        alternatives = _bounds(start + 3, end - 1, shape.pipes.get(start, []))
        found: set[str] = set()
        for a, b in alternatives:
            sub = _alternative_anchors(source, shape, a, b)
            if sub is None:
                return None
            found |= sub
        return found
    if not source.startswith(r"\b", start):
        return None
    whole, partial = _starts(source, shape, start + 2, end)
    found = whole | partial
    return None if not found or "" in found else found


def _split(pattern: str) -> tuple[_Shape, list[tuple[int, int]]]:
    shape = _Shape(pattern)
    return shape, _bounds(0, len(pattern), shape.top)


def anchors(pattern: str) -> set[str] | None:
    """The literal texts a ``\\b``-anchored pattern's matches start with (None: search it)."""
    shape, alternatives = _split(pattern)
    found: set[str] = set()
    for start, end in alternatives:
        sub = _alternative_anchors(pattern, shape, start, end)
        if sub is None:
            return None
        found |= sub
    return found


#: what the anchors read by this module are kept under: a new version of it reads them afresh
_ALTERNATIVES = f"alternatives {_cache.source_stamp(__file__)}"


def _alternatives(pattern: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each top-level alternative of ``pattern`` with its anchors (sorted); empty when one of
    them has none, and the pattern must be searched whole. Kept between runs (``_cache``)."""
    found = _cache.lookup(_ALTERNATIVES, pattern)
    if found is None:
        shape, bounds = _split(pattern)
        alternatives: list[tuple[str, tuple[str, ...]]] = []
        for a, b in bounds:
            starts = _alternative_anchors(pattern, shape, a, b)
            if starts is None:
                alternatives = []
                break
            alternatives.append(
                (pattern if len(bounds) == 1 else pattern[a:b], tuple(sorted(starts)))
            )
        found = tuple(alternatives)
        _cache.remember(_ALTERNATIVES, pattern, found)
    return found  # type: ignore[no-any-return]


#: a memo entry: (pattern index, alternative index, anchors to check in the text or None)
_Candidate = tuple[int, int, tuple[str, ...] | None]


class CueSet:
    """Patterns found in one pass over a text's word starts.

    ``find(text)`` returns ``(pattern index, match)`` for every position where a pattern matches
    starting at a word start (and every match of the patterns without anchors), in no particular
    order. Overlapping matches of the same pattern at different word starts are all reported.

    Which alternatives can start at a word depends only on the word and the character after it
    (and, for an anchor longer than that, on the text that follows), and policies reuse a small
    vocabulary, so the candidates are memoised per word: after warm-up a word costs one
    dictionary lookup, and most words have no candidate at all.
    """

    __slots__ = (
        "_alternatives",
        "_anchors",
        "_buckets",
        "_compiled",
        "_exact",
        "_joined",
        "_memo",
        "_owner",
        "_prefix",
        "_sources",
        "_unanchored",
        "_whole",
    )

    def __init__(self, patterns: Sequence[str]) -> None:
        self._sources = tuple(patterns)
        # compiled on first use: a diff of a few clauses needs few of them, and compiling all
        # would cost tens of milliseconds at every start of the command line
        self._whole: list[re.Pattern[str] | None] = [None] * len(patterns)
        #: per alternative: its source, the pattern it belongs to, its anchors (and each anchor
        #: behind a NUL, so that "some anchor starts with this key" is one substring test)
        self._alternatives: list[str] = []
        self._owner: list[int] = []
        self._anchors: list[tuple[str, ...]] = []
        self._joined: list[str] = []
        #: alternatives by the first ``_KEY`` characters of their anchors, and by each shorter
        #: prefix of those
        exact: dict[str, list[int]] = {}
        prefix: dict[str, list[int]] = {}
        unanchored: list[int] = []
        for index, pattern in enumerate(patterns):
            alternatives = _alternatives(pattern)
            if not alternatives:
                unanchored.append(index)
                continue
            for source, starts in alternatives:
                alternative = len(self._alternatives)
                self._alternatives.append(source)
                self._owner.append(index)
                self._anchors.append(starts)
                self._joined.append("".join("\0" + s for s in starts))
                for start in sorted({s[:_KEY] for s in starts}):
                    exact.setdefault(start, []).append(alternative)
                    for n in range(1, len(start)):
                        prefix.setdefault(start[:n], []).append(alternative)
        self._compiled: list[re.Pattern[str] | None] = [None] * len(self._alternatives)
        self._exact = {k: tuple(v) for k, v in exact.items()}
        self._prefix = {k: tuple(v) for k, v in prefix.items()}
        self._unanchored = tuple(unanchored)
        self._memo: dict[str, tuple[_Candidate, ...]] = {}
        #: ``_bucket`` of each three-character word start seen
        self._buckets: dict[str, tuple[int, ...]] = {}

    @property
    def patterns(self) -> tuple[str, ...]:
        return self._sources

    def _compile(self, alternative: int) -> re.Pattern[str]:
        pattern = self._compiled[alternative] = _cache.compile(self._alternatives[alternative])
        return pattern

    def _compile_whole(self, index: int) -> re.Pattern[str]:
        pattern = self._whole[index] = _cache.compile(self._sources[index])
        return pattern

    @property
    def unanchored(self) -> tuple[int, ...]:
        """Indexes of the patterns searched the slow way (see the module docstring)."""
        return self._unanchored

    def _candidates(self, key: str) -> tuple[_Candidate, ...]:
        """Alternatives that may match where ``key`` (a word and the character after it) starts.

        Each comes with the anchors the text must start with there, or None when one of them
        lies within ``key`` and so is known to be there. (A key may pass the test against
        ``_joined`` by accident, e.g. one holding a NUL; the check in ``find`` stays exact.)
        """
        if len(key) >= _KEY:
            alternatives = self._buckets.get(key[:_KEY])
            if alternatives is None:
                alternatives = self._buckets[key[:_KEY]] = self._bucket(key[:_KEY])
        else:  # an anchor longer than the key may still match: the text decides
            alternatives = tuple(sorted({*self._bucket(key), *self._prefix.get(key, ())}))
        if len(self._memo) > _MEMO_LIMIT:
            self._memo.clear()
        if not alternatives:  # most words
            self._memo[key] = ()
            return ()
        result: list[_Candidate] = []
        marked = "\0" + key
        owner = self._owner
        for alternative in alternatives:
            starts = self._anchors[alternative]
            if key.startswith(starts):
                result.append((owner[alternative], alternative, None))
            elif marked in self._joined[alternative]:
                result.append((owner[alternative], alternative, starts))
        candidates = self._memo[key] = tuple(result)
        return candidates

    def _bucket(self, start: str) -> tuple[int, ...]:
        """Alternatives with an anchor that ``start`` (up to ``_KEY`` characters) begins with."""
        exact = self._exact
        found = {a for n in range(1, len(start) + 1) for a in exact.get(start[:n], ())}
        return tuple(sorted(found))

    def find(self, text: str) -> list[tuple[int, re.Match[str]]]:
        compiled = self._compiled
        whole = self._whole
        memo = self._memo
        found = [
            (i, m)
            for i in self._unanchored
            for m in (whole[i] or self._compile_whole(i)).finditer(text)
        ]
        for word in _WORD_KEY.finditer(text):
            key = word.group()
            candidates = memo.get(key)
            if candidates is None:
                candidates = self._candidates(key)
            if not candidates:
                continue
            pos = word.start()
            matched = -1  # the pattern that matched here: its later alternatives are not tried
            for index, alternative, starts in candidates:
                if index == matched or (starts is not None and not text.startswith(starts, pos)):
                    continue
                match = (compiled[alternative] or self._compile(alternative)).match(text, pos)
                if match is not None:
                    found.append((index, match))
                    matched = index
        return found
