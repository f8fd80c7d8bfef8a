"""Two clause lists -> the changes a reader would name: alignment, moves, edits, word diffs.

The engine works in four passes, each one only on what the previous passes left unmatched:

1. **Anchors.** Clauses with equal ``key`` are aligned with a patience-style method: strip the
   common head and tail, anchor on keys that occur exactly once on each side (their longest
   increasing run), recurse into the gaps, and fall back to :class:`difflib.SequenceMatcher`
   (autojunk off) only in gaps without such unique keys. Unique keys make good anchors because
   boilerplate ("Learn more.") repeats all over a policy and would otherwise pin the alignment to
   the wrong place. An anchored pair whose ``text`` differs is ``editorial``; equal text is
   unchanged (counted, not listed).
2. **Moves.** An equal key left unmatched on both sides can only cross an anchor, so it was
   relocated rather than shifted by insertions: ``moved``. This runs before the similarity pass so
   that a relocated clause is not mistaken for an edit of a different clause that happens to sit
   where it used to be.
3. **Edits in place.** Inside each gap between consecutive anchors, similar clauses (word-token Dice
   >= 0.5, or one containing >= 80% of the other's words, for splits and merges) are paired as
   ``modified``, best pairs first. Candidates come from an inverted index that ignores very common
   tokens, so a huge gap costs O(tokens x cap) and never goes quadratic. A heading left alone on
   each side of a gap is a renamed heading and is paired regardless of similarity.
4. **Edits far away.** Whatever is still unmatched is paired across gaps when strongly similar
   (Dice >= 0.75): a clause moved *and* edited is ``modified`` with both indexes.

Everything else is ``added`` / ``removed``.

A split sentence (one old clause becoming two new ones) pairs the old clause with its most similar
successor as ``modified``; the remainder is ``added``. A merge is the mirror image. We keep this
over inventing a 1:n change because every downstream consumer (classifier, JSON schema, emails)
speaks in 1:1 changes, and the word diff of the pair still shows the reader what happened.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from math import ceil

from .clauses import segment
from .models import Change, ChangeKind, Clause, Diff, DiffStats, Document, Side

__all__ = ["compare", "diff_clauses", "word_diff"]

#: Dice coefficient at or above which two clauses in the same gap are one clause edited
SIMILAR = 0.5
#: ... and across gaps (relocated and edited): stricter, as the search space is the whole document
STRONGLY_SIMILAR = 0.75
#: share of the smaller clause's words found in the larger one that marks a split or merge
CONTAINED = 0.8
#: the containment rule only applies when the smaller clause has at least this many words ...
CONTAINED_MIN_WORDS = 5
#: ... and the larger one at most this many times as many: a split into more parts than that
#: (a table cell rewritten as prose) is a rewrite, and a long clause "contains" most short ones
CONTAINED_MAX_RATIO = 4
#: candidate checks allowed per clause of a gap (and at least MIN_WORK per gap) before the
#: similarity search stops probing the most common words; keeps a rewritten policy near-linear
WORK_PER_CLAUSE = 16
MIN_WORK = 2048
#: how many clauses either side of its relative position a split/merge candidate may sit
NEIGHBOURS = 3

_WORD = re.compile(r"\w+")
#: lossless tokeniser for word diffs: every character belongs to exactly one token
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
#: first code point used to encode tokens as characters (past ASCII and Latin-1, which
#: diff-match-patch's semantic clean-up treats specially)
_CHAR_BASE = 0x100
_SURROGATES = range(0xD800, 0xE000)

_DMP_OP = {-1: "-", 0: "=", 1: "+"}


# -- word diff -------------------------------------------------------------------------------------


def _words_of(kind: ChangeKind, old: Clause, new: Clause) -> tuple[tuple[str, str], ...] | None:
    """Word ops over the readable text for modified and editorial changes. An edit invisible in the
    readable text (a link target, emphasis) has none: the ops always rebuild ``text`` exactly."""
    if kind == "modified" or (kind == "editorial" and old.text != new.text):
        return word_diff(old.text, new.text)
    return None


def word_diff(a: str, b: str) -> tuple[tuple[str, str], ...]:
    """Word-level diff of ``a`` into ``b`` as ``(op, text)`` pairs, op in ``=``, ``-``, ``+``.

    Each word, run of white space and punctuation mark becomes one character (diff-match-patch's
    lines-to-chars trick applied to words) so that edits never cut a word in half. The time-out is
    disabled: with a time-out diff-match-patch silently returns a coarser diff, and the same pair
    must always diff the same way. Concatenating the ``=`` and ``-`` texts gives ``a``; ``=`` and
    ``+`` give ``b``.
    """
    if a == b:
        return (("=", a),) if a else ()
    table: dict[str, str] = {}  # token -> its character
    back: dict[str, str] = {}  # character -> its token

    def encode(text: str) -> str:
        tokens = _TOKEN.findall(text)
        for tok in tokens:
            if tok not in table:
                code = _CHAR_BASE + len(table)
                if code >= _SURROGATES.start:
                    code += len(_SURROGATES)
                table[tok] = chr(code)
                back[chr(code)] = tok
        return "".join(map(table.__getitem__, tokens))

    from diff_match_patch import diff_match_patch  # ~3 ms to import; only edits need it

    ea, eb = encode(a), encode(b)
    dmp = diff_match_patch()
    dmp.Diff_Timeout = 0
    diffs = dmp.diff_main(ea, eb, False)
    dmp.diff_cleanupSemantic(diffs)

    def decode(chars: str) -> str:
        return "".join(map(back.__getitem__, chars))

    merged: list[tuple[str, str]] = []
    for op, chars in diffs:
        if not chars:
            continue
        sym, text = _DMP_OP[op], decode(chars)
        if merged and merged[-1][0] == sym:
            merged[-1] = (sym, merged[-1][1] + text)
        else:
            merged.append((sym, text))
    return tuple(merged)


# -- pass 1: anchors -------------------------------------------------------------------------------


def _longest_increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Longest run of ``pairs`` (sorted by first item) increasing in the second: patience sort."""
    tails: list[int] = []  # tails[k] = smallest second item ending a run of length k + 1
    tail_at: list[int] = []  # index in pairs of that tail
    back: list[int] = [-1] * len(pairs)
    for n, (_, j) in enumerate(pairs):
        k = bisect_left(tails, j)
        if k == len(tails):
            tails.append(j)
            tail_at.append(n)
        else:
            tails[k] = j
            tail_at[k] = n
        back[n] = tail_at[k - 1] if k else -1
    run: list[tuple[int, int]] = []
    n = tail_at[-1] if tail_at else -1
    while n >= 0:
        run.append(pairs[n])
        n = back[n]
    run.reverse()
    return run


def _anchors(a: Sequence[int], b: Sequence[int]) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` with ``a[i] == b[j]``, increasing on both sides, covering every equal pair
    that does not cross another (so equal keys left over are true relocations)."""
    out: list[tuple[int, int]] = []
    stack = [(0, len(a), 0, len(b))]
    while stack:
        alo, ahi, blo, bhi = stack.pop()
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            out.append((alo, blo))
            alo += 1
            blo += 1
        while alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:
            ahi -= 1
            bhi -= 1
            out.append((ahi, bhi))
        if alo == ahi or blo == bhi:
            continue
        count_a = Counter(a[alo:ahi])
        where_b: dict[int, int] = {}
        for j in range(blo, bhi):
            where_b[b[j]] = -1 if b[j] in where_b else j
        unique = [
            (i, where_b[a[i]])
            for i in range(alo, ahi)
            if count_a[a[i]] == 1 and where_b.get(a[i], -1) >= 0
        ]
        if unique:
            pi, pj = alo, blo
            for i, j in _longest_increasing(unique):
                out.append((i, j))
                stack.append((pi, i, pj, j))
                pi, pj = i + 1, j + 1
            stack.append((pi, ahi, pj, bhi))
            continue
        from difflib import SequenceMatcher  # rarely needed: gaps without a unique key

        matcher = SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
        for block in matcher.get_matching_blocks():
            out.extend((alo + block.a + k, blo + block.b + k) for k in range(block.size))
    out.sort()
    return out


# -- passes 3 and 4: similarity --------------------------------------------------------------------


def _words(key: str) -> frozenset[str]:
    return frozenset(_WORD.findall(key.lower()))


class _Bag:
    """The word sets of the clauses still unmatched, with each set's words ordered rarest first.

    The order (by document frequency over both sides) drives prefix filtering: two sets with
    Dice >= t share at least ``ceil(t * |x| / (2 - t))`` words, so each must share one of its
    rarest ``|x| - that + 1`` words with the other. Indexing and probing only those prefixes keeps
    the candidate search exact while skipping the common words that make it quadratic."""

    def __init__(self, old: dict[int, frozenset[str]], new: dict[int, frozenset[str]]) -> None:
        df: Counter[str] = Counter()
        for words in (*old.values(), *new.values()):
            df.update(words)
        self.old = old
        self.new = new
        self._rank = df.__getitem__
        self._old_order: dict[int, list[str]] = {}
        self._new_order: dict[int, list[str]] = {}

    def _sorted(self, words: frozenset[str]) -> list[str]:
        rank = self._rank
        return sorted(words, key=lambda w: (rank(w), w))

    def old_order(self, i: int) -> list[str]:
        order = self._old_order.get(i)
        if order is None:
            order = self._old_order[i] = self._sorted(self.old[i])
        return order

    def new_order(self, j: int) -> list[str]:
        order = self._new_order.get(j)
        if order is None:
            order = self._new_order[j] = self._sorted(self.new[j])
        return order


def _prefix(order: list[str], threshold: float) -> list[str]:
    size = len(order)
    return order[: size - ceil(threshold * size / (2 - threshold)) + 1]


def _greedy(candidates: list[tuple[float, float, int, int]]) -> list[tuple[int, int]]:
    """One-to-one pairs, best score first; ties to the closest relative positions, then to
    document order, so the result is deterministic and repeated boilerplate pairs locally."""
    candidates.sort()
    used_old: set[int] = set()
    used_new: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for _, _, j, i in candidates:
        if i in used_old or j in used_new:
            continue
        used_old.add(i)
        used_new.add(j)
        pairs.append((i, j))
    return pairs


def _similar(
    olds: Sequence[int], news: Sequence[int], bag: _Bag, threshold: float
) -> list[tuple[int, int]]:
    """Pair clauses whose word sets have Dice >= ``threshold``.

    Exact while the candidate checks fit a budget linear in the clause count; beyond it (a
    rewritten policy: thousands of unrelated clauses in one gap) the words with the longest
    posting lists are no longer probed, most common first, so the work stays bounded and only
    pairs that share nothing but frequent words can be missed."""
    if not olds or not news:
        return []
    postings: defaultdict[str, list[int]] = defaultdict(list)
    for n, i in enumerate(olds):
        for w in _prefix(bag.old_order(i), threshold):
            postings[w].append(n)
    probes = [_prefix(bag.new_order(j), threshold) for j in news]
    demand = Counter(w for probe in probes for w in probe if w in postings)
    work = sum(len(postings[w]) * c for w, c in demand.items())
    budget = max(MIN_WORK, WORK_PER_CLAUSE * (len(olds) + len(news)))
    if work > budget:
        for w in sorted(demand, key=lambda w: (-len(postings[w]), w)):
            if work <= budget:
                break
            work -= len(postings.pop(w)) * demand[w]
    xs = [bag.old[i] for i in olds]
    sizes = [len(x) for x in xs]
    scale = len(olds) / len(news)
    low, high = threshold / (2 - threshold), (2 - threshold) / threshold
    candidates: list[tuple[float, float, int, int]] = []
    for m, j in enumerate(news):
        y = bag.new[j]
        ly = len(y)
        lo, hi = low * ly, high * ly  # sizes that can reach the threshold at all
        seen: set[int] = set()
        for w in probes[m]:
            hits = postings.get(w)
            if hits is not None:
                seen.update(hits)
        for n in seen:
            lx = sizes[n]
            if lo <= lx <= hi:
                dice = 2 * len(xs[n] & y) / (lx + ly)
                if dice >= threshold:
                    candidates.append((-dice, abs(n - m * scale), j, olds[n]))
    return _greedy(candidates)


def _contained(olds: Sequence[int], news: Sequence[int], bag: _Bag) -> list[tuple[int, int]]:
    """Pair a split or merged sentence with its largest part: one side holds >= ``CONTAINED`` of
    the other's words. Only near neighbours (by relative position in the gap) are tried, because
    a split stays in place and this keeps the pass linear."""
    if not olds or not news:
        return []
    scale = len(news) / len(olds)
    candidates: list[tuple[float, float, int, int]] = []
    for n, i in enumerate(olds):
        x = bag.old[i]
        centre = round(n * scale)
        for m in range(max(0, centre - NEIGHBOURS), min(len(news), centre + NEIGHBOURS + 1)):
            j = news[m]
            y = bag.new[j]
            small, large = sorted((len(x), len(y)))
            if small < CONTAINED_MIN_WORDS or large > CONTAINED_MAX_RATIO * small:
                continue
            common = len(x & y)
            if common >= CONTAINED * small:
                candidates.append((-2 * common / (len(x) + len(y)), abs(m - centre), j, i))
    return _greedy(candidates)


# -- the engine ------------------------------------------------------------------------------------


def _pair_gap(
    olds: list[int],
    news: list[int],
    old: Sequence[Clause],
    new: Sequence[Clause],
    bag: _Bag,
    old_to: list[int],
    new_to: list[int],
    pair: Callable[[int, int, ChangeKind, bool], None],
) -> None:
    """Pass 3 in one gap: similar pairs, then split/merge parts, then a lone renamed heading."""
    for i, j in _similar(olds, news, bag, SIMILAR):
        pair(i, j, "modified", True)
    olds = [i for i in olds if old_to[i] < 0]
    news = [j for j in news if new_to[j] < 0]
    for i, j in _contained(olds, news, bag):
        pair(i, j, "modified", True)
    heads_o = [i for i in olds if old_to[i] < 0 and old[i].kind == "heading"]
    heads_n = [j for j in news if new_to[j] < 0 and new[j].kind == "heading"]
    if len(heads_o) == 1 and len(heads_n) == 1:
        pair(heads_o[0], heads_n[0], "modified", True)


def diff_clauses(
    old: Sequence[Clause], new: Sequence[Clause]
) -> tuple[tuple[Change, ...], DiffStats]:
    """Align two clause lists into changes ordered by position in the new document.

    Removed clauses are placed where they were: after the new-side partner of the nearest
    preceding old clause that stayed in sequence. Every old and every new clause is accounted for
    exactly once, either listed in a change or counted as unchanged."""
    ids: dict[str, int] = {}
    a = [ids.setdefault(c.key, len(ids)) for c in old]
    b = [ids.setdefault(c.key, len(ids)) for c in new]

    old_to: list[int] = [-1] * len(old)
    new_to: list[int] = [-1] * len(new)
    kind_of: dict[int, ChangeKind | None] = {}  # old index -> kind (None = unchanged)
    in_sequence: set[int] = set()  # old indexes paired without crossing anchors

    def pair(i: int, j: int, kind: ChangeKind, sequential: bool) -> None:
        old_to[i], new_to[j] = j, i
        kind_of[i] = kind
        if sequential:
            in_sequence.add(i)

    anchors = _anchors(a, b)
    for i, j in anchors:
        old_to[i], new_to[j] = j, i
        o, n = old[i], new[j]
        kind_of[i] = None if o.text == n.text and o.source == n.source else "editorial"
    in_sequence.update(i for i, _ in anchors)

    # pass 2: equal keys that cross an anchor were relocated
    waiting: defaultdict[int, list[int]] = defaultdict(list)
    for i, key in enumerate(a):
        if old_to[i] < 0:
            waiting[key].append(i)
    if waiting:
        taken: Counter[int] = Counter()
        for j, key in enumerate(b):
            if new_to[j] < 0 and taken[key] < len(waiting.get(key, ())):
                pair(waiting[key][taken[key]], j, "moved", False)
                taken[key] += 1

    # word sets only for what is left: on a typical revision most clauses are anchored by now,
    # and when one side has nothing left (pure additions or removals) there is nothing to pair
    old_words = {i: _words(old[i].key) for i in range(len(old)) if old_to[i] < 0}
    new_words = (
        {j: _words(new[j].key) for j in range(len(new)) if new_to[j] < 0} if old_words else {}
    )
    if old_words and new_words:
        bag = _Bag(old_words, new_words)
        # pass 3: similar clauses inside each gap between anchors
        gaps_left = 0  # gaps still holding unmatched clauses after pass 3
        bounds = [(-1, -1), *anchors, (len(old), len(new))]
        for (pi, pj), (ni, nj) in pairwise(bounds):
            if ni - pi == 1 and nj - pj == 1:
                continue
            olds = [i for i in range(pi + 1, ni) if old_to[i] < 0]
            news = [j for j in range(pj + 1, nj) if new_to[j] < 0]
            if olds and news:
                _pair_gap(olds, news, old, new, bag, old_to, new_to, pair)
                olds = [i for i in olds if old_to[i] < 0]
                news = [j for j in news if new_to[j] < 0]
            gaps_left += bool(olds or news)

        # pass 4: strongly similar clauses anywhere (moved and edited); pointless when all that
        # is left sits in one gap, which pass 3 has already searched with a lower threshold
        if gaps_left > 1:
            olds = [i for i in old_words if old_to[i] < 0]
            news = [j for j in new_words if new_to[j] < 0]
            for i, j in _similar(olds, news, bag, STRONGLY_SIMILAR):
                pair(i, j, "modified", False)

    return _assemble(old, new, old_to, new_to, kind_of, in_sequence)


def _assemble(
    old: Sequence[Clause],
    new: Sequence[Clause],
    old_to: Sequence[int],
    new_to: Sequence[int],
    kind_of: dict[int, ChangeKind | None],
    in_sequence: set[int],
) -> tuple[tuple[Change, ...], DiffStats]:
    keyed: list[tuple[tuple[int, int, int], Change]] = []
    counts: Counter[str] = Counter()
    last = -1
    for i, c in enumerate(old):
        j = old_to[i]
        if j < 0:
            keyed.append(((last, 1, i), Change("removed", c, None)))
            counts["removed"] += 1
            continue
        if i in in_sequence:
            last = max(last, j)
        kind = kind_of[i]
        if kind is None:
            counts["unchanged"] += 1
            continue
        counts[kind] += 1
        words = _words_of(kind, c, new[j])
        keyed.append(((j, 0, 0), Change(kind, c, new[j], words)))
    for j, c in enumerate(new):
        if new_to[j] < 0:
            keyed.append(((j, 0, 0), Change("added", None, c)))
            counts["added"] += 1
    keyed.sort(key=lambda kc: kc[0])
    stats = DiffStats(
        added=counts["added"],
        removed=counts["removed"],
        modified=counts["modified"],
        moved=counts["moved"],
        editorial=counts["editorial"],
        unchanged=counts["unchanged"],
    )
    return tuple(change for _, change in keyed), stats


# -- documents -------------------------------------------------------------------------------------


def compare(
    old: Document | str,
    new: Document | str,
    *,
    old_side: Side,
    new_side: Side,
    annotate: Callable[[Sequence[Change]], Iterable[Change]] | None = None,
) -> Diff:
    """Segment two documents, diff their clauses and let ``annotate`` (the classifier) fill in
    categories, materiality and reasons. The diff is material when any change is."""
    changes, stats = diff_clauses(segment(old), segment(new))
    if annotate is not None:
        changes = tuple(annotate(changes))
    return Diff(
        old=old_side,
        new=new_side,
        changes=changes,
        stats=stats,
        material=any(change.material for change in changes),
    )
