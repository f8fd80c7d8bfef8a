"""Run many word-anchored patterns over one text fast.

Python's ``re`` only skips ahead quickly when a pattern starts with a literal; a pattern starting
with ``\\b`` (all of ours: cues are whole words) is tried at every character, ~7 µs per pattern on
a 400-character paragraph. With a few hundred cues that is far too slow for the 5,000 clauses/s
the CLI needs. So each pattern's possible first characters (its *anchors*) are read off its
source, the text's word starts are found once, and a pattern is only tried (``match`` at that
position) where a word starts with one of its anchors. Patterns whose anchors cannot be read
(they start with ``\\d``, a character class or an optional group) are searched the slow way; keep
those few.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["CueSet", "anchors"]

_WORD_START = re.compile(r"[a-z0-9]+")
_QUANTIFIERS = "?*{"
_LITERAL = frozenset("abcdefghijklmnopqrstuvwxyz0123456789 '-@,:;\"/")
#: escapes that stand for one literal character
_ESCAPED = frozenset(".-'()/&+ @,:;?*[]{}|$^\"")
#: anchors are compared on up to this many leading characters
_KEY = 3
#: words remembered per CueSet before the memo starts afresh (bounds memory on odd input)
_MEMO_LIMIT = 50_000


def _closing(source: str, start: int) -> int:
    """Index of the parenthesis closing the group that opens at ``source[start]``."""
    depth = 0
    i = start
    while i < len(source):
        c = source[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = source.index("]", i + 2)
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError(f"unbalanced parenthesis in {source!r}")


def _split_alternatives(source: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    last = 0
    i = 0
    while i < len(source):
        c = source[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = source.index("]", i + 2) + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(source[last:i])
            last = i + 1
        i += 1
    parts.append(source[last:])
    return parts


def _prefixes(source: str) -> set[str] | None:
    """Literal prefixes that every match of ``source`` starts with one of, or None if unknown."""
    if source.startswith("(?:"):
        end = _closing(source, 0)
        found: set[str] = set()
        quantifier = source[end + 1 : end + 2]
        if quantifier in ("?", "*"):
            # an optional group: a match starts inside it or with what follows it
            rest = _prefixes(source[end + 2 :])
            if rest is None:
                return None
            found |= rest
        elif quantifier == "{":
            return None
        for alternative in _split_alternatives(source[3:end]):
            sub = _prefixes(alternative)
            if sub is None:
                return None
            found |= sub
        return found
    run: list[str] = []
    i = 0
    while i < len(source) and len(run) < _KEY:
        c = source[i]
        if c == "\\" and source[i + 1 : i + 2] in _ESCAPED and source[i + 1 : i + 2] != "":
            literal, width = source[i + 1], 2
        elif c in _LITERAL:
            literal, width = c, 1
        else:
            break
        if source[i + width : i + width + 1] in tuple(_QUANTIFIERS):
            break
        run.append(literal)
        i += width
    return {"".join(run)} if run else None


def anchors(pattern: str) -> set[str] | None:
    """The literal word starts a ``\\b``-anchored pattern can match at (None: search it)."""
    alternatives = _split_alternatives(pattern)
    if len(alternatives) > 1:
        found: set[str] = set()
        for alternative in alternatives:
            sub = anchors(alternative)
            if sub is None:
                return None
            found |= sub
        return found
    source = pattern
    while source.startswith(("(?<!", "(?<=")):
        source = source[_closing(source, 0) + 1 :]
    if source.startswith("(?:") and _closing(source, 0) == len(source) - 1:
        return anchors(source[3:-1])
    if not source.startswith(r"\b"):
        return None
    return _prefixes(source[2:])


class CueSet:
    """Patterns found in one pass over a text's word starts.

    ``find(text)`` returns ``(pattern index, match)`` for every position where a pattern matches
    starting at a word start (and every match of the patterns without anchors), in no particular
    order. Overlapping matches of the same pattern at different word starts are all reported.

    Which patterns can start at a word depends only on the word and the character after it, and
    policies reuse a small vocabulary, so the candidates are memoised per word: after warm-up a
    word costs one dictionary lookup.
    """

    __slots__ = ("_compiled", "_exact", "_memo", "_prefix", "_sources", "_unanchored")

    def __init__(self, patterns: Sequence[str]) -> None:
        self._sources = tuple(patterns)
        # compiled on first use: a diff of a few clauses needs few of them, and compiling all
        # would cost tens of milliseconds at every start of the command line
        self._compiled: list[re.Pattern[str] | None] = [None] * len(patterns)
        #: anchors by their (truncated) text, and by each shorter prefix of it
        exact: dict[str, list[int]] = {}
        prefix: dict[str, list[int]] = {}
        unanchored: list[int] = []
        for index, pattern in enumerate(patterns):
            starts = anchors(pattern)
            if starts is None or "" in starts:
                unanchored.append(index)
                continue
            for start in sorted({s[:_KEY] for s in starts}):
                exact.setdefault(start, []).append(index)
                for n in range(1, len(start)):
                    prefix.setdefault(start[:n], []).append(index)
        self._exact = {k: tuple(v) for k, v in exact.items()}
        self._prefix = {k: tuple(v) for k, v in prefix.items()}
        self._unanchored = tuple(unanchored)
        self._memo: dict[str, tuple[int, ...]] = {}

    @property
    def patterns(self) -> tuple[str, ...]:
        return self._sources

    def _compile(self, index: int) -> re.Pattern[str]:
        pattern = self._compiled[index] = re.compile(self._sources[index])
        return pattern

    @property
    def unanchored(self) -> tuple[int, ...]:
        """Indexes of the patterns searched the slow way (see the module docstring)."""
        return self._unanchored

    def _candidates(self, key: str) -> tuple[int, ...]:
        """Patterns that may match where ``key`` (a word and the character after it) starts."""
        found: list[int] = []
        for n in range(1, min(len(key), _KEY) + 1):
            found.extend(self._exact.get(key[:n], ()))
        if len(key) < _KEY:  # an anchor longer than the key may still match: let match decide
            found.extend(self._prefix.get(key, ()))
        if len(self._memo) > _MEMO_LIMIT:
            self._memo.clear()
        result = self._memo[key] = tuple(sorted(set(found)))
        return result

    def find(self, text: str) -> list[tuple[int, re.Match[str]]]:
        compiled = self._compiled
        memo = self._memo
        found = [
            (i, m)
            for i in self._unanchored
            for m in (compiled[i] or self._compile(i)).finditer(text)
        ]
        for word in _WORD_START.finditer(text):
            pos, end = word.span()
            key = text[pos : end + 1]
            candidates = memo.get(key)
            if candidates is None:
                candidates = self._candidates(key)
            for index in candidates:
                match = (compiled[index] or self._compile(index)).match(text, pos)
                if match is not None:
                    found.append((index, match))
        return found
