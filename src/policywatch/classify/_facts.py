"""Read what one clause says about personal data: the facts materiality compares.

A clause is cut into *statements* (at ``;``, full stops, "but", ", which" ...) because a negation
only reaches as far as its statement: in "we collect your e-mail address, but we do not sell it"
the e-mail address is collected, the selling is denied. Inside a statement, what follows "except"
or "unless" is the opposite of the main part ("we do not share it except with service providers":
sharing with service providers happens).

Each action verb (collect, share, sell ...) is *negated* when a negative word precedes it closely
in its statement; each data type, recipient, purpose or place takes the polarity of the nearest
action before it (or after it, when none precedes). Phrases that contain a negative word without
negating anything ("including but not limited to", "do not track", "if you do not want ...") are
blanked first. This is a heuristic reading, not a parse: it is tuned to the way policies state
practices ("we may share X with Y for Z") and promises ("we will never sell X").
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, TypeVar

from . import _lexicon as lx
from ._match import CueSet
from ._text import fold

__all__ = ["Facts", "Period", "Promise", "analyze", "promise_label", "right_kind"]

_T = TypeVar("_T")

PeriodKind = Literal["fixed", "until-deleted", "vague", "indefinite"]
#: (action, preposition, target): ("sell", "to", "data brokers"); ("sell", "", "") is unqualified
Promise = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Period:
    """A retention period a clause states. ``days`` orders fixed periods; others are kinds."""

    kind: PeriodKind
    label: str
    days: float = math.inf


@dataclass(frozen=True, slots=True)
class Facts:
    """What a clause states, each tuple in order of first appearance, without repeats."""

    data: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    transfers: tuple[str, ...] = ()
    #: canonical actions stated without negation (collect, use, share, sell, ...)
    practices: tuple[str, ...] = ()
    #: rights and choices offered (labels of ``RIGHTS``)
    rights: tuple[str, ...] = ()
    #: rights and choices explicitly denied ("you cannot opt out")
    denied_rights: tuple[str, ...] = ()
    promises: tuple[Promise, ...] = ()
    #: "your consent" when a practice is conditioned on it
    conditions: tuple[str, ...] = ()
    #: "only ..." phrases that restrict a practice
    limits: tuple[str, ...] = ()
    #: a promise is hedged ("we do not currently sell")
    hedged: bool = False
    retention: tuple[Period, ...] = field(default=())

    @property
    def is_practice(self) -> bool:
        """True when the clause states (without negation) something done with data."""
        return bool(self.practices or self.recipients or self.transfers)


_KIND_DATA, _KIND_RECIPIENT, _KIND_PURPOSE, _KIND_PLACE, _KIND_RIGHT, _KIND_ACTION = range(6)
#: not facts but the marks negation is read from, found in the same pass over the words
_KIND_NOT_NEGATION, _KIND_NEGATION, _KIND_SPLIT = range(6, 9)
_GERUND = {action: gerund for action, gerund, _ in lx.ACTIONS}
_RIGHT_KIND = {label: kind for label, kind, _ in lx.RIGHTS}


def _build() -> tuple[CueSet, tuple[tuple[int, str, int], ...]]:
    patterns: list[str] = []
    meta: list[tuple[int, str, int]] = []  # (kind, label, rank within its table)
    tables: tuple[tuple[int, tuple[tuple[str, str], ...]], ...] = (
        (_KIND_DATA, lx.DATA),
        (_KIND_RECIPIENT, lx.RECIPIENTS),
        (_KIND_PURPOSE, lx.PURPOSES),
        (_KIND_PLACE, lx.PLACES),
        (_KIND_RIGHT, tuple((label, pattern) for label, _, pattern in lx.RIGHTS)),
        (_KIND_ACTION, tuple((action, pattern) for action, _, pattern in lx.ACTIONS)),
        (_KIND_NOT_NEGATION, tuple(("", pattern) for pattern in lx.NOT_A_NEGATION)),
        (_KIND_NEGATION, tuple(("", pattern) for pattern in lx.NEGATION)),
        (_KIND_SPLIT, tuple(("", pattern) for pattern in lx.SPLIT_WORDS)),
    )
    for kind, table in tables:
        for rank, (label, pattern) in enumerate(table):
            patterns.append(pattern)
            meta.append((kind, label, rank))
    return CueSet(patterns), tuple(meta)


_CUES, _META = _build()
#: a negative word reaches this many characters forward (about eight words)
_REACH = 60
#: how far before an action its subject is looked for ("you can share", "they may use")
_SUBJECT_REACH = 40
#: an action is stated by the site, denied by the site, or someone else's (the reader's advice,
#: another company's practice): the last one says nothing about the site
_STATED, _DENIED, _FOREIGN = range(3)
_ONLY_WORDS = 6
_FUNCTION_WORDS = frozenset(
    ("to", "for", "with", "and", "or", "the", "a", "an", "of", "in", "by", "your", "our", "their")
)


class _Part:
    """One statement's main part or its exception part.

    (A plain class: a dataclass costs ~0.5 ms at every start of the command line.)
    """

    __slots__ = ("actions", "end", "items", "rights", "start", "state")

    def __init__(self, start: int, end: int) -> None:
        self.start = start
        self.end = end
        #: state of action-less items: the main part's, or the opposite for an exception part
        self.state = 0
        self.actions: list[tuple[int, str, int]] = []  # (pos, action, state)
        self.items: list[tuple[int, int, str]] = []  # (pos, kind, label)
        #: the part offers or denies a right: its action-less items are what the right is about
        self.rights = False


def _statements(text: str, words: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans between the cuts of ``SPLIT`` and the (already found) ``SPLIT_WORDS``."""
    cuts = [m.span() for m in lx.SPLIT.finditer(text)] + words
    cuts.sort()
    spans = []
    start = 0
    for cut_start, cut_end in cuts:
        if cut_start > start:
            spans.append((start, cut_start))
        start = max(start, cut_end)
    if start < len(text):
        spans.append((start, len(text)))
    return spans or [(0, len(text))]


def _not_ours(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans of negations that are not the site's (see ``NOT_OURS``), statement by statement.

    Each statement is matched on its own so that ``^`` in the pattern means "statement start".
    """
    found = []
    for start, end in spans:
        piece = text[start:end]
        offset = start + len(piece) - len(piece.lstrip())
        for m in lx.NOT_OURS.finditer(piece.lstrip()):
            found.append((m.start() + offset, m.end() + offset))
    return found


def _is_destination(text: str, pos: int, start: int) -> bool:
    """Whether the place at ``pos`` is where data goes ("stored in the United States")."""
    if text.startswith(("outside", "other countries", "abroad", "internationally"), pos):
        return True
    lead = text[max(start, pos - 40) : pos]
    return bool(
        lx.PLACE_LEAD.search(lead)
        and not lx.PEOPLE_LEAD.search(lead)
        and lx.TRANSFER_CONTEXT.search(text, max(start, pos - 2 * _REACH), pos)
    )


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with ``spans`` (sorted) replaced by spaces, so offsets stay valid."""
    if not spans:
        return text
    pieces = []
    last = 0
    for start, end in spans:
        if end <= last:
            continue
        start = max(start, last)
        pieces.append(text[last:start])
        pieces.append(" " * (end - start))
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _periods(text: str, spans: list[tuple[int, int]]) -> list[Period]:
    found: list[Period] = []
    if lx.RETENTION_CONTEXT.search(text) is None:
        return found
    for start, end in spans:
        for m in lx.DURATION.finditer(text, start, end):
            raw = m.group("n")
            n = float(raw) if raw[0].isdigit() else float(lx.WORD_NUMBERS[raw])
            unit = m.group("unit")
            label = f"{n:g} {unit}{'' if n == 1 else 's'}"
            found.append(Period("fixed", label, n * lx.UNIT_DAYS[unit]))
        if lx.UNTIL_DELETED.search(text, start, end):
            found.append(Period("until-deleted", "until you delete it"))
        if lx.VAGUE.search(text, start, end):
            found.append(Period("vague", "as long as necessary"))
        if lx.EXTENDED.search(text, start, end):
            found.append(Period("vague", "an extended period"))
        if lx.INDEFINITE.search(text, start, end):
            found.append(Period("indefinite", "indefinitely"))
    return found


def _unique(items: list[_T]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys(items))


@lru_cache(maxsize=4096)
def analyze(text: str) -> Facts:
    """The facts one clause states (see the module docstring for how negation is read)."""
    t = fold(text)
    hits = [(_META[index], match) for index, match in _CUES.find(t)]
    not_negations = sorted(m.span() for (kind, _, _), m in hits if kind == _KIND_NOT_NEGATION)
    spans = _statements(t, [m.span() for (kind, _, _), m in hits if kind == _KIND_SPLIT])
    all_negations = sorted(
        m.span()
        for (kind, _, _), m in hits
        if kind == _KIND_NEGATION and not any(a <= m.start() < b for a, b in not_negations)
    )
    # whose negations they are only matters when there are some (most clauses have none)
    foreign = _not_ours(_blank(t, not_negations), spans) if all_negations else []
    is_foreign = [any(a <= s < b for a, b in foreign) for s, _ in all_negations]
    #: the site's own negations (promises), others' (advice, other companies), and all (rights)
    ours = [e for (_, e), f in zip(all_negations, is_foreign, strict=True) if not f]
    others = [e for (_, e), f in zip(all_negations, is_foreign, strict=True) if f]
    every = [e for _, e in all_negations]
    every_start = [s for s, _ in all_negations]

    parts: list[_Part] = []
    for start, end in spans:
        exc = lx.EXCEPTION.search(t, start, end)
        cut = exc.start() if exc else end
        parts.append(_Part(start, cut))
        parts.append(_Part(exc.end() if exc else end, end))
    part_starts = [p.start for p in parts]

    def part_of(pos: int) -> _Part | None:
        i = bisect_right(part_starts, pos) - 1
        if i < 0:
            return None
        part = parts[i]
        return part if pos < part.end else None

    def negation_before(pos: int, part: _Part, ends: list[int]) -> bool:
        j = bisect_right(ends, pos) - 1
        return j >= 0 and ends[j] >= part.start and pos - ends[j] <= _REACH

    def state_of(pos: int, part: _Part) -> int:
        if negation_before(pos, part, others):
            return _FOREIGN
        if lx.OTHER_SUBJECT.search(t, max(part.start, pos - _SUBJECT_REACH), pos):
            return _FOREIGN
        return _DENIED if negation_before(pos, part, ours) else _STATED

    best: dict[int, tuple[int, int, str]] = {}
    for (kind, label, rank), match in hits:
        if kind >= _KIND_NOT_NEGATION:
            continue
        pos = match.start()
        part = part_of(pos)
        if part is None:
            continue
        if kind == _KIND_RIGHT:
            if label in lx.READER_RIGHTS and not lx.READER.search(t, max(0, pos - 50), pos):
                continue
            part.rights = True
            # a specific right wins over a generic one found at the same word
            if pos in best and best[pos][1] <= rank:
                continue
            best[pos] = (kind, rank, label)
        elif kind == _KIND_ACTION:
            part.actions.append((pos, label, state_of(pos, part)))
        else:
            part.items.append((pos, kind, label))

    rights: list[str] = []
    denied: list[str] = []
    for pos in sorted(best):
        part = part_of(pos)
        if part is not None and negation_before(pos, part, every):
            denied.append(best[pos][2])
        else:
            rights.append(best[pos][2])

    data: list[str] = []
    recipients: list[str] = []
    purposes: list[str] = []
    transfers: list[str] = []
    practices: list[str] = []
    promises: list[Promise] = []
    limits: list[str] = []
    conditions: list[str] = []
    hedged = False
    stated = {
        _KIND_DATA: data,
        _KIND_RECIPIENT: recipients,
        _KIND_PURPOSE: purposes,
        _KIND_PLACE: transfers,
    }

    for i in range(0, len(parts), 2):
        main, exception = parts[i], parts[i + 1]
        states = {state for _, _, state in main.actions}
        negative_word = any(main.start <= s < main.end for s in every_start)
        if states:
            main.state = _DENIED if states == {_DENIED} else _STATED
            if states == {_FOREIGN}:
                main.state = _FOREIGN
        else:
            main.state = _DENIED if negative_word else _STATED
        # what follows "except"/"unless" is the opposite of the main part: the recipients
        # excepted from a sharing statement are denied ("with everyone except advertisers")
        exception.state = _STATED if main.state == _DENIED else _FOREIGN
        excepted = main.state == _STATED and any(
            k == _KIND_RECIPIENT for _, k, _ in exception.items
        )
        for part in (main, exception):
            if part.rights:
                # "you can opt out of X for Y", "ask us not to share": a choice about a practice,
                # neither the practice nor a promise
                continue
            if not part.actions and not part.items:
                continue  # nothing stated, denied or limited here (most exception parts)
            denied_items: list[tuple[int, str]] = []
            actions = sorted(part.actions)
            for pos, kind, label in sorted(part.items):
                if kind == _KIND_PLACE and not _is_destination(t, pos, main.start):
                    continue
                if part is exception and excepted:
                    if kind == _KIND_RECIPIENT:
                        denied_items.append((kind, label))
                    continue
                before = [a for a in actions if a[0] <= pos]
                after = [a for a in actions if a[0] > pos]
                if before:
                    state = before[-1][2]
                elif after:
                    state = after[0][2]
                else:
                    state = part.state
                if state == _DENIED:
                    denied_items.append((kind, label))
                elif state == _STATED:
                    stated[kind].append(label)
            practices.extend(action for _, action, state in actions if state == _STATED)
            denied_actions = [a for _, a, state in actions if state == _DENIED]
            if part is exception and excepted:
                denied_actions = [a for _, a, state in main.actions if state == _STATED]
            if denied_actions:
                promises.extend(_promises(denied_actions, denied_items))
                if lx.HEDGE.search(t, main.start, part.end):
                    hedged = True
            if (
                part is main
                and main.state == _STATED
                and main.actions
                and lx.FIRST_PERSON.search(t, main.start, main.end)
            ):
                limits.extend(_limits(t, main.start, main.end))
        statement = t[main.start : exception.end]
        if lx.CONSENT.search(statement) or (
            main.state == _DENIED and lx.WITHOUT_CONSENT.search(statement)
        ):
            conditions.append("your consent")

    return Facts(
        data=_unique(data),
        recipients=_unique(recipients),
        purposes=_unique(purposes),
        transfers=_unique(transfers),
        practices=_unique(practices),
        rights=_unique(rights),
        denied_rights=_unique(denied),
        promises=_unique(promises),
        conditions=_unique(conditions),
        limits=_unique(limits),
        hedged=hedged,
        retention=_unique(_periods(t, spans)),
    )


_PREPOSITION = {
    _KIND_RECIPIENT: {"share": "with", "sell": "to", "transfer": "to"},
    _KIND_DATA: dict.fromkeys(
        ("collect", "use", "share", "sell", "transfer", "retain", "track", "combine"), "of"
    ),
    _KIND_PURPOSE: dict.fromkeys(("collect", "use", "share", "sell", "track", "combine"), "for"),
    _KIND_PLACE: {"transfer": "to", "retain": "in", "share": "to"},
}


def _promises(actions: list[str], items: list[tuple[int, str]]) -> list[Promise]:
    found: list[Promise] = []
    for action in dict.fromkeys(actions):
        qualified = False
        for kind, label in items:
            prep = _PREPOSITION[kind].get(action)
            if prep is None or (kind == _KIND_DATA and label == lx.GENERIC_DATA):
                continue
            found.append((action, prep, label))
            qualified = True
        if not qualified:
            found.append((action, "", ""))
    return found


def _limits(text: str, start: int, end: int) -> list[str]:
    found = []
    for m in lx.LIMIT.finditer(text, start, end):
        if text[max(0, m.start() - 4) : m.start()] == "not ":
            continue
        tail = text[m.end() : end].strip(" ,")
        words = tail.split()[:_ONLY_WORDS]
        while words and words[-1] in _FUNCTION_WORDS:
            words.pop()
        found.append(" ".join([m.group(), *words]).rstrip(",:"))
    return found


def promise_label(promise: Promise) -> str:
    """``("sell", "to", "data brokers")`` -> ``"no selling to data brokers"``."""
    action, prep, target = promise
    gerund = _GERUND[action]
    return f"no {gerund} {prep} {target}" if prep else f"no {gerund}"


def right_kind(label: str) -> str:
    """``"right"`` or ``"choice"``: which word a reason about ``label`` uses."""
    return _RIGHT_KIND[label]
