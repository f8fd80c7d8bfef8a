"""Clause changes -> material or not, with reasons. The rules are in the package docstring."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..models import CATEGORIES, Change, Clause
from ._categories import categorize
from ._facts import Facts, Period, Promise, analyze, promise_label, right_kind
from ._lexicon import GENERIC_DATA

__all__ = ["annotate"]

#: practices whose first appearance in a clause is itself a widening ("we collect and *sell*")
_WIDENING_PRACTICES = ("share", "sell", "transfer", "track", "combine")
_PRACTICE_NAMES = {
    "share": "sharing",
    "sell": "selling",
    "transfer": "transfer",
    "track": "tracking",
    "combine": "combining",
}


class _Pool:
    """Everything one side of the diff states, across the clauses annotate can see.

    A fact that only moves from one clause to another (a sentence split in two, a promise
    restated under another heading) is neither gained nor lost. (A plain class: a dataclass
    costs ~0.5 ms at every start of the command line.)
    """

    __slots__ = (
        "conditions",
        "data",
        "denied_rights",
        "limits",
        "periods",
        "practices",
        "promises",
        "purposes",
        "recipients",
        "rights",
        "transfers",
    )

    def __init__(self) -> None:
        self.data: set[str] = set()
        self.recipients: set[str] = set()
        self.purposes: set[str] = set()
        self.transfers: set[str] = set()
        self.practices: set[str] = set()
        self.rights: set[str] = set()
        self.denied_rights: set[str] = set()
        self.promises: set[Promise] = set()
        self.conditions: set[str] = set()
        self.limits: set[str] = set()
        self.periods: set[str] = set()

    def add(self, facts: Facts) -> None:
        self.data.update(facts.data)
        self.recipients.update(facts.recipients)
        self.purposes.update(facts.purposes)
        self.transfers.update(facts.transfers)
        self.practices.update(facts.practices)
        self.rights.update(facts.rights)
        self.denied_rights.update(facts.denied_rights)
        self.promises.update(facts.promises)
        self.conditions.update(facts.conditions)
        self.limits.update(facts.limits)
        self.periods.update(p.label for p in facts.retention)


def _pool(clauses: Iterable[Clause]) -> _Pool:
    pool = _Pool()
    for clause in clauses:
        if clause.kind != "heading":
            pool.add(analyze(clause.text))
    return pool


def _kept(promise: Promise, promises: set[Promise]) -> bool:
    """A promise survives if restated, or if the unqualified promise covers it."""
    action = promise[0]
    return promise in promises or (action, "", "") in promises


def _gains(new: Facts, old: Facts | None, pool: _Pool, *, listed: bool) -> list[str]:
    """What ``new`` states that ``old`` (and the rest of the old side) did not."""
    reasons: list[str] = []
    if new.is_practice or listed or (old is not None and old.is_practice):
        data = [d for d in new.data if d not in pool.data]
        recipients = [r for r in new.recipients if r not in pool.recipients]
        purposes = [p for p in new.purposes if p not in pool.purposes]
        transfers = [t for t in new.transfers if t not in pool.transfers]
        practices = [
            p for p in new.practices if p in _WIDENING_PRACTICES and p not in pool.practices
        ]
        # a named recipient or place says more than "adds practice: sharing" / "transfer"
        if recipients:
            practices = [p for p in practices if p != "share"]
        if transfers:
            practices = [p for p in practices if p != "transfer"]
        # "personal data" names nothing new: every policy is about it
        if GENERIC_DATA in data:
            data.remove(GENERIC_DATA)
        reasons += [f"adds data: {d}" for d in data]
        reasons += [f"adds recipient: {r}" for r in recipients]
        reasons += [f"adds purpose: {p}" for p in purposes]
        reasons += [f"adds practice: {_PRACTICE_NAMES[p]}" for p in practices]
        reasons += [f"adds transfer: {t}" for t in transfers]
    reasons += [
        f"limits {right_kind(r)}: {r}" for r in new.denied_rights if r not in pool.denied_rights
    ]
    return reasons


def _losses(old: Facts, new: Facts | None, pool: _Pool) -> list[str]:
    """What ``old`` promised or offered that ``new`` (and the rest of the new side) does not."""
    reasons = [
        f"removes promise: {promise_label(p)}" for p in old.promises if not _kept(p, pool.promises)
    ]
    reasons += [f"removes condition: {c}" for c in old.conditions if c not in pool.conditions]
    if old.limits and not (new is not None and new.limits):
        lost = [limit for limit in old.limits if limit not in pool.limits]
        reasons += [f"removes limit: {limit}" for limit in lost[:1]]
    reasons += [f"removes {right_kind(r)}: {r}" for r in old.rights if r not in pool.rights]
    if new is not None and new.hedged and not old.hedged and new.promises:
        reasons.append(f"weakens promise: {promise_label(new.promises[0])}")
    return reasons


_RANK = {"until-deleted": 0, "fixed": 1, "vague": 2, "indefinite": 3}


def _longest(periods: Sequence[Period]) -> Period:
    return max(periods, key=lambda p: (_RANK[p.kind], p.days))


def _retention(old: Sequence[Period], new: Sequence[Period], pool: _Pool) -> list[str]:
    """Compare the retention periods of two versions of a clause.

    "Until you delete it" cannot be ordered against a fixed period; losing it (the reader's own
    control over how long data is kept) counts as lengthening, gaining it does not.
    """
    if not new:
        bounded = [p for p in old if p.kind in ("fixed", "until-deleted")]
        if bounded and not any(p.label in pool.periods for p in bounded):
            return [f"removes retention limit: {_longest(bounded).label}"]
        return []
    if not old:
        return []
    old_rest = [p for p in old if p.kind != "until-deleted"]
    new_rest = [p for p in new if p.kind != "until-deleted"]
    old_user = len(old_rest) < len(old)
    new_user = len(new_rest) < len(new)
    if old_rest and new_rest:
        before, after = _longest(old_rest), _longest(new_rest)
        if (_RANK[after.kind], after.days) > (_RANK[before.kind], before.days):
            return [f"longer retention: {before.label} -> {after.label}"]
        if old_user and not new_user:
            return [f"longer retention: until you delete it -> {after.label}"]
        return []
    if old_user and not new_user:
        return [f"longer retention: until you delete it -> {_longest(new_rest).label}"]
    if old_rest and not new_rest and _longest(old_rest).kind == "fixed":
        # a fixed bound replaced by the reader's own deletion: possibly much longer
        return [f"longer retention: {_longest(old_rest).label} -> until you delete it"]
    return []


def _unique(reasons: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(reasons))


def _categories(change: Change) -> tuple[str, ...]:
    """The new clause's categories; the old one's for a removal; both for a modification."""
    if change.kind == "modified":
        clauses = [c for c in (change.old, change.new) if c is not None]
    else:
        clauses = [_primary(change)]
    found: set[str] = set()
    for clause in clauses:
        found.update(categorize(clause.text, clause.section))
    return tuple(c for c in CATEGORIES if c in found)


def _primary(change: Change) -> Clause:
    clause = change.old if change.kind == "removed" else change.new
    if clause is None:
        raise ValueError(f"a {change.kind!r} change needs its {_side(change)} clause")
    return clause


def _side(change: Change) -> str:
    return "old" if change.kind == "removed" else "new"


def _reasons(change: Change, old_pool: _Pool, new_pool: _Pool) -> tuple[str, ...]:
    if change.kind in ("moved", "editorial"):
        return ()
    if change.kind == "added":
        clause = _primary(change)
        if clause.kind == "heading":
            return ()
        facts = analyze(clause.text)
        listed = clause.kind in ("item", "row")
        reasons = _gains(facts, None, old_pool, listed=listed)
        # a period stated with keeping is a retention practice; "we delete X after 30 days"
        # alone is a limit, which narrows
        if "retain" in facts.practices:
            periods = [p.label for p in facts.retention if p.label not in old_pool.periods]
            reasons += [f"adds retention: {label}" for label in periods[:1]]
        return _unique(reasons)
    if change.kind == "removed":
        clause = _primary(change)
        if clause.kind == "heading":
            return ()
        facts = analyze(clause.text)
        return _unique(_losses(facts, None, new_pool) + _retention(facts.retention, (), new_pool))
    if change.old is None or change.new is None:
        raise ValueError("a 'modified' change needs both its old and its new clause")
    if change.new.kind == "heading" and change.old.kind == "heading":
        return ()
    old, new = analyze(change.old.text), analyze(change.new.text)
    listed = change.new.kind in ("item", "row")
    reasons = _gains(new, old, old_pool, listed=listed)
    reasons += _retention(old.retention, new.retention, new_pool)
    reasons += _losses(old, new, new_pool)
    return _unique(reasons)


def annotate(
    changes: Sequence[Change],
    *,
    old_clauses: Sequence[Clause] = (),
    new_clauses: Sequence[Clause] = (),
) -> tuple[Change, ...]:
    """Copies of ``changes`` with ``categories``, ``material`` and ``reasons`` filled in.

    ``old_clauses`` / ``new_clauses`` are optionally all clauses of the two documents: a fact
    already stated anywhere in the old document is not "added", and a promise still stated
    anywhere in the new one is not "removed". Without them only the changed clauses are pooled,
    which already absorbs sentences that were split, merged or moved and edited.
    """
    old_pool = _pool([*old_clauses, *(c.old for c in changes if c.old is not None)])
    new_pool = _pool([*new_clauses, *(c.new for c in changes if c.new is not None)])
    annotated = []
    for change in changes:
        reasons = _reasons(change, old_pool, new_pool)
        annotated.append(
            # what dataclasses.replace builds, without its per-call field introspection
            Change(
                change.kind,
                change.old,
                change.new,
                change.words,
                categories=_categories(change),
                material=bool(reasons),
                reasons=reasons,
            )
        )
    return tuple(annotated)
