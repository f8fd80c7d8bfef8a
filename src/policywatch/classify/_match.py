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
from collections.abc import Iterator, Sequence

__all__ = ["CueSet", "anchors"]

_WORD_START = re.compile(r"[a-z0-9]+")
_QUANTIFIERS = "?*{"
_LITERAL = frozenset("abcdefghijklmnopqrstuvwxyz0123456789 '-@,:;\"/")
#: escapes that stand for one literal character
_ESCAPED = frozenset(".-'()/&+ @,:;?*[]{}|$^\"")
#: the anchor dictionaries are keyed by up to this many leading characters
_KEY = 3


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

    ``find(text)`` yields ``(pattern index, match)`` for every position where a pattern matches
    starting at a word start (and every match of the patterns without anchors), in no particular
    order. Overlapping matches of the same pattern at different word starts are all reported.
    """

    __slots__ = ("_by_key", "_compiled", "_unanchored")

    def __init__(self, patterns: Sequence[str]) -> None:
        self._compiled = tuple(re.compile(p) for p in patterns)
        by_key: list[dict[str, list[int]]] = [{} for _ in range(_KEY + 1)]
        unanchored: list[int] = []
        for index, pattern in enumerate(patterns):
            starts = anchors(pattern)
            if starts is None or "" in starts:
                unanchored.append(index)
                continue
            for start in starts:
                key = start[:_KEY]
                by_key[len(key)].setdefault(key, []).append(index)
        self._by_key = tuple({k: tuple(v) for k, v in d.items()} for d in by_key)
        self._unanchored = tuple(unanchored)

    @property
    def unanchored(self) -> tuple[int, ...]:
        """Indexes of the patterns searched the slow way (see the module docstring)."""
        return self._unanchored

    def find(self, text: str) -> Iterator[tuple[int, re.Match[str]]]:
        compiled = self._compiled
        _, one, two, three = self._by_key
        for index in self._unanchored:
            for match in compiled[index].finditer(text):
                yield index, match
        for word in _WORD_START.finditer(text):
            pos = word.start()
            for table, width in ((three, 3), (two, 2), (one, 1)):
                candidates = table.get(text[pos : pos + width])
                if candidates is None:
                    continue
                for index in candidates:
                    found = compiled[index].match(text, pos)
                    if found is not None:
                        yield index, found
