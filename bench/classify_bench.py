"""Benchmark policywatch.classify: speed and agreement with the OPP-115 validation labels.

    PYTHONPATH=src python bench/classify_bench.py [--shared /work/shared] [--policies N]

Measures
- ``categorize`` throughput (clauses/s, one core, the result cache cleared before each pass) on
  the 550 OPP-115 validation segments and, when the corpus bundle is there, on the sentences of a
  few real policies (cloned into a temporary directory; their text is never written anywhere);
- ``analyze`` throughput (the per-clause reading behind materiality) on the same sentences;
- precision / recall / F1 per category on the validation split, with micro and macro averages
  over all twelve categories and macro over the nine practice categories (the figure published
  baselines quote).

The validation labels are only *measured* against: nothing is learnt from them. The test split
is never opened. Without the shared folder (a user's clone) the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from policywatch.classify import analyze, annotate, categorize
from policywatch.classify._categories import _categorize
from policywatch.classify._facts import analyze as _analyze_cached
from policywatch.models import CATEGORIES, Change, Clause, ClauseKind

PRACTICES = CATEGORIES[:9]
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"(])")
_MARKUP = re.compile(r"^[#>*\-+\d.\s|]+|[*_`]|\[([^\]]*)\]\([^)]*\)")


def load_validation(shared: Path) -> list[tuple[str, set[str]]]:
    path = shared / "eval" / "opp115" / "validation.jsonl"
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            item = json.loads(line)
            rows.append((item["text"], set(item["categories"])))
    return rows


def corpus_sentences(shared: Path, policies: int, clone: Path | None) -> list[str]:
    """Sentences of the latest version of a few privacy policies of the pga corpus."""
    if clone is not None and (clone / ".git").exists():
        return _sentences(clone, policies)
    bundle = shared / "corpus" / "pga-versions.bundle"
    if not bundle.exists():
        return []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["git", "clone", "-q", str(bundle), tmp], check=True, capture_output=True)
        return _sentences(Path(tmp), policies)


def _sentences(checkout: Path, policies: int) -> list[str]:
    sentences: list[str] = []
    for path in sorted(checkout.glob("*/Privacy Policy.md"))[:policies]:
        for paragraph in path.read_text(encoding="utf-8").split("\n"):
            text = _MARKUP.sub(lambda m: m.group(1) or "", paragraph).strip()
            sentences.extend(s for s in _SENTENCE.split(text) if len(s) > 3)
    return sentences


def _clauses(text: str) -> list[Clause]:
    """A rough clause split (headings, list items, sentences) standing in for the real one."""
    found: list[tuple[ClauseKind, str, tuple[str, ...]]] = []
    section: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        heading = re.match(r"(#+)\s*(.*)", line)
        if heading:
            title = _MARKUP.sub(lambda m: m.group(1) or "", heading.group(2)).strip()
            section = [*section[: len(heading.group(1)) - 1], title]
            found.append(("heading", title, tuple(section[:-1])))
            continue
        kind: ClauseKind = "item" if re.match(r"([-*+]|\d+\.)\s", line) else "sentence"
        line = _MARKUP.sub(lambda m: m.group(1) or "", line).strip()
        parts = [line] if kind == "item" else _SENTENCE.split(line)
        found.extend((kind, part, tuple(section)) for part in parts if len(part) > 3)
    return [
        Clause(i, kind, t, sec, re.sub(r"\W+", " ", t.lower()).strip())
        for i, (kind, t, sec) in enumerate(found)
    ]


def _changes(old: list[Clause], new: list[Clause]) -> list[Change]:
    """Added, removed and modified clauses by a plain sequence alignment (not policywatch.diff)."""
    matcher = difflib.SequenceMatcher(None, [c.key for c in old], [c.key for c in new], False)
    changes: list[Change] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        olds, news = old[i1:i2], new[j1:j2]
        while (
            olds and news and difflib.SequenceMatcher(None, olds[0].key, news[0].key).ratio() > 0.6
        ):
            changes.append(Change("modified", olds.pop(0), news.pop(0)))
        changes += [Change("removed", c, None) for c in olds]
        changes += [Change("added", None, c) for c in news]
    return changes


def history(checkout: Path, policies: int) -> list[str]:
    """Annotate every recorded change of a few privacy policies; counts only, no corpus text."""
    lines = ["| policy | revisions | changed clauses | material | annotate ms (total) |"]
    lines.append("|---|---:|---:|---:|---:|")
    kinds: Counter[str] = Counter()
    for path in sorted(checkout.glob("*/Privacy Policy.md"))[:policies]:
        rel = str(path.relative_to(checkout))
        log = subprocess.run(
            ["git", "-C", str(checkout), "log", "--format=%H", "--", rel],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[::-1]
        texts = [
            subprocess.run(
                ["git", "-C", str(checkout), "show", f"{commit}:{rel}"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            for commit in log
        ]
        changed = material = 0
        spent = 0.0
        for old, new in itertools.pairwise(texts):
            # error pages and empty captures are flips of the whole text, not policy changes
            if old == new or min(len(old), len(new)) < 2000:
                continue
            old_clauses, new_clauses = _clauses(old), _clauses(new)
            changes = _changes(old_clauses, new_clauses)
            start = time.perf_counter()
            annotated = annotate(changes, old_clauses=old_clauses, new_clauses=new_clauses)
            spent += time.perf_counter() - start
            changed += len(annotated)
            for change in annotated:
                if change.material:
                    material += 1
                    kinds.update({r.split(":")[0] for r in change.reasons})
        lines.append(
            f"| {path.parent.name} | {len(texts)} | {changed} | {material} | {spent * 1000:.0f} |"
        )
    lines.append(
        "\nreasons of material changes: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common())
    )
    return lines


def rate(texts: Sequence[str], fn: Callable[[str], object], clear: Callable[[], None]) -> float:
    """Items per second over at least ~0.5 s, caches cleared before each pass."""
    done = 0
    start = time.perf_counter()
    while True:
        clear()
        for text in texts:
            fn(text)
        done += len(texts)
        elapsed = time.perf_counter() - start
        if elapsed > 0.5:
            return done / elapsed


def scores(rows: list[tuple[str, set[str]]]) -> tuple[list[str], dict[str, float]]:
    tp = dict.fromkeys(CATEGORIES, 0)
    fp = dict.fromkeys(CATEGORIES, 0)
    fn = dict.fromkeys(CATEGORIES, 0)
    for text, gold in rows:
        predicted = set(categorize(text))
        for c in CATEGORIES:
            tp[c] += c in predicted and c in gold
            fp[c] += c in predicted and c not in gold
            fn[c] += c in gold and c not in predicted
    lines = [
        "| category | support | precision | recall | F1 |",
        "|---|---:|---:|---:|---:|",
    ]
    f1: dict[str, float] = {}
    for c in CATEGORIES:
        p = tp[c] / (tp[c] + fp[c]) if tp[c] + fp[c] else 0.0
        r = tp[c] / (tp[c] + fn[c]) if tp[c] + fn[c] else 0.0
        f1[c] = 2 * p * r / (p + r) if p + r else 0.0
        lines.append(f"| {c} | {tp[c] + fn[c]} | {p:.2f} | {r:.2f} | {f1[c]:.2f} |")
    t, f_p, f_n = sum(tp.values()), sum(fp.values()), sum(fn.values())
    micro_p, micro_r = t / (t + f_p), t / (t + f_n)
    summary = {
        "micro": 2 * micro_p * micro_r / (micro_p + micro_r),
        "macro": sum(f1.values()) / len(CATEGORIES),
        "macro9": sum(f1[c] for c in PRACTICES) / len(PRACTICES),
    }
    return lines, summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=Path("/work/shared"))
    parser.add_argument("--policies", type=int, default=8, help="corpus policies to time")
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        help="also annotate the recorded changes of N corpus privacy policies (needs --corpus)",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=Path("/tmp/pga"),
        help="an existing clone of pga-versions.bundle (else the bundle is cloned to a temp dir)",
    )
    args = parser.parse_args(argv)
    shared: Path = args.shared
    if not (shared / "eval" / "opp115" / "validation.jsonl").exists():
        print(f"skipped: {shared}/eval/opp115/validation.jsonl not found (no shared data here)")
        return 0

    rows = load_validation(shared)
    segments = [text for text, _ in rows]
    sentences = corpus_sentences(shared, args.policies, args.corpus)

    print(f"# classify bench, {datetime.now(UTC):%Y-%m-%d}")
    print(
        f"\nmachine: {os.cpu_count()} CPUs (nproc), Python {platform.python_version()}, "
        f"{platform.machine()}\n"
    )
    print("| input | items | categorize /s | analyze /s |")
    print("|---|---:|---:|---:|")
    seg_rate = rate(segments, categorize, _categorize.cache_clear)
    seg_facts = rate(segments, analyze, _analyze_cached.cache_clear)
    mean = sum(map(len, segments)) / len(segments)
    print(
        f"| OPP-115 validation segments (mean {mean:.0f} chars) | {len(segments)} | "
        f"{seg_rate:,.0f} | {seg_facts:,.0f} |"
    )
    if sentences:
        mean = sum(map(len, sentences)) / len(sentences)
        sent_rate = rate(sentences, categorize, _categorize.cache_clear)
        sent_facts = rate(sentences, analyze, _analyze_cached.cache_clear)
        print(
            f"| corpus policy sentences, {args.policies} policies (mean {mean:.0f} chars) | "
            f"{len(sentences)} | {sent_rate:,.0f} | {sent_facts:,.0f} |"
        )
    else:
        print("| corpus policy sentences | - | skipped: no corpus bundle | |")

    if args.history:
        print("\n## Materiality over recorded policy histories (pga corpus)\n")
        if (args.corpus / ".git").exists():
            print("\n".join(history(args.corpus, args.history)))
        else:
            print(f"skipped: {args.corpus} is not a clone of pga-versions.bundle")

    lines, summary = scores(rows)
    print("\n## Agreement with OPP-115 validation labels (550 segments)\n")
    print("\n".join(lines))
    print(
        f"\nmicro-F1 {summary['micro']:.3f}, macro-F1 {summary['macro']:.3f} (12 categories), "
        f"macro-F1 {summary['macro9']:.3f} (9 practice categories)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
