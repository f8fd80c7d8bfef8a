"""Measure extraction against a reference: our Markdown vs Open Terms Archive's, word by word.

    PYTHONPATH=src python bench/extraction_bench.py [CORPUS] [--runs N] [--show CASE]
                                                    [--json OUT] [--dump DIR]

CORPUS defaults to ``/work/shared/eval/extraction`` (40 real privacy-policy and terms pages; see
its README.md). Each case folder holds ``snapshot.html`` (the page as fetched),
``declaration.json`` (the ``select``/``remove`` CSS selectors the archive used) and
``expected.md`` (the text the archive extracted from that page). The script prints "skipped" and
exits 0 when the corpus is absent (a user's clone does not have it).

For each case it runs :func:`policywatch.extract.extract` exactly as ``policywatch check`` would
with those selectors in ``config.toml``: a :class:`Snapshot` of the page bytes as served
(``text/html``, charset ``utf-8`` -- the corpus README says every snapshot is UTF-8 and some are
DOM fragments with no ``<meta charset>``, so this is what the server's Content-Type carries) and
``select``/``remove`` as tuples (a single string becomes a one-element tuple, as in the config).

Comparison is a bag of words, because the two sides are different Markdown dialects (setext vs
ATX headings, ``*   `` vs ``- `` bullets, escapes) and only the text a reader sees matters:

* every line of both files goes through :func:`policywatch.clauses.readable` -- markup, images
  and *link targets* removed, link text kept. Link targets do not count: they are not text a
  reader reads, and the archive makes relative links absolute while we keep them as written;
* setext underlines (``===``/``---``) and rules are punctuation and vanish at the next step;
* words are maximal runs of letters and digits (``[^\\W_]+``) after ``casefold()``: punctuation
  and underscores split and disappear, so ``don't`` is ``don`` + ``t`` on both sides;
* precision = shared words / our words, recall = shared words / reference words, with multiset
  (Counter) overlap, F1 their harmonic mean.

Overall figures are *micro* (summed over all words of all pages, so long pages weigh more) and
*macro* (the mean of per-page figures, each page weighing the same). A page where extraction
raises counts as P = R = F1 = 0 in the macro means and contributes its reference words as missed
in the micro ones; the exception and its message are listed. Time is the median of ``--runs``
calls of ``extract`` (decode + parse + select + convert), on the machine the script runs on.

``--show CASE`` prints the words we miss and the words we add most for one case (to find the
construct behind a low score); ``--dump DIR`` writes our Markdown per case for inspection;
``--json OUT`` saves per-case numbers (to compare before/after a change). None of these are
committed: the corpus text stays out of the project.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from policywatch.clauses import readable
from policywatch.errors import PolicywatchError
from policywatch.extract import EXTRACTOR_VERSION, extract
from policywatch.models import Snapshot

CORPUS = Path("/work/shared/eval/extraction")
_WORD = re.compile(r"[^\W_]+")


def words(markdown: str) -> Counter[str]:
    """The bag of readable words of a Markdown text (link targets, markup and punctuation gone)."""
    bag: Counter[str] = Counter()
    for line in markdown.splitlines():
        if line.strip():
            bag.update(_WORD.findall(readable(line).casefold()))
    return bag


_LIST_MARK = re.compile(r"^\s*(?:>\s*)*(?:[-*+]|\d{1,9}[.)])\s+")


def lines(markdown: str) -> Counter[tuple[str, ...]]:
    """The bag of lines, each as its words, list and quote markers dropped.

    A structural check the bag of words cannot make: two paragraphs run together, a heading
    glued to its text or a list flattened into one line keep every word but lose these lines.
    """
    bag: Counter[tuple[str, ...]] = Counter()
    for line in markdown.splitlines():
        found = _WORD.findall(readable(_LIST_MARK.sub("", line)).casefold())
        if found:
            bag[tuple(found)] += 1
    return bag


def line_shared(ours: Counter[tuple[str, ...]], reference: Counter[tuple[str, ...]]) -> int:
    """Words on lines that both sides have, word for word."""
    return sum(len(k) * n for k, n in (ours & reference).items())


def selectors(value: object) -> tuple[str, ...]:
    """A declaration's ``select``/``remove``: a string or a list, like config.toml accepts."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"unsupported selector value {value!r} (only CSS strings are compared)")


@dataclass
class Result:
    case: str
    kb: float
    ref_words: int
    our_words: int = 0
    shared: int = 0
    ms: float = 0.0
    error: str | None = None
    line_ours: int = 0
    line_ref: int = 0
    line_shared: int = 0

    @property
    def precision(self) -> float:
        return self.shared / self.our_words if self.our_words else 0.0

    @property
    def recall(self) -> float:
        return self.shared / self.ref_words if self.ref_words else 0.0

    @property
    def f1(self) -> float:
        return f1(self.precision, self.recall)

    @property
    def line_f1(self) -> float:
        p = self.line_shared / self.line_ours if self.line_ours else 0.0
        r = self.line_shared / self.line_ref if self.line_ref else 0.0
        return f1(p, r)


def f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def run_case(folder: Path, runs: int) -> tuple[Result, str | None, str]:
    content = (folder / "snapshot.html").read_bytes()
    declaration = json.loads((folder / "declaration.json").read_text(encoding="utf-8"))
    expected = (folder / "expected.md").read_text(encoding="utf-8")
    reference = words(expected)
    ref_lines = lines(expected)
    result = Result(
        case=folder.name,
        kb=len(content) / 1024,
        ref_words=sum(reference.values()),
        line_ref=sum(len(k) * n for k, n in ref_lines.items()),
    )
    snapshot = Snapshot(
        source=declaration.get("fetch") or folder.name,
        content=content,
        media_type="text/html",
        fetched_at=datetime.now(UTC),
        charset="utf-8",
    )
    select = selectors(declaration.get("select"))
    remove = selectors(declaration.get("remove"))
    samples: list[float] = []
    text: str | None = None
    try:
        for _ in range(runs):
            start = time.perf_counter()
            text = extract(snapshot, select=select, remove=remove).text
            samples.append((time.perf_counter() - start) * 1000)
    except PolicywatchError as exc:  # an expected, reported failure (ExtractError ...)
        result.error = f"{type(exc).__name__}: {exc}"
        return result, None, expected
    except Exception as exc:  # a bug: report it with the others rather than stop the run
        result.error = f"BUG {type(exc).__name__}: {exc}"
        return result, None, expected
    assert text is not None
    ours = words(text)
    result.our_words = sum(ours.values())
    result.shared = sum((ours & reference).values())
    result.ms = statistics.median(samples)
    our_lines = lines(text)
    result.line_ours = sum(len(k) * n for k, n in our_lines.items())
    result.line_shared = line_shared(our_lines, ref_lines)
    return result, text, expected


def show(case: str, text: str | None, expected: str, top: int = 40) -> None:
    """What differs for one case: words, then the longest lines only one side has."""
    if text is None:
        print(f"{case}: extraction failed")
        return
    reference, ours = words(expected), words(text)
    missing = reference - ours
    extra = ours - reference
    print(f"\n{case}: {sum(missing.values())} words missed, {sum(extra.values())} added")
    print("  missed:", ", ".join(f"{w}×{n}" for w, n in missing.most_common(top)))
    print("  added: ", ", ".join(f"{w}×{n}" for w, n in extra.most_common(top)))
    ref_lines, our_lines = lines(expected), lines(text)
    for label, only in (
        ("lines missed", ref_lines - our_lines),
        ("lines added", our_lines - ref_lines),
    ):
        print(f"  {label}:")
        for line, n in sorted(only.items(), key=lambda kv: -len(kv[0]) * kv[1])[:8]:
            print(f"    {n}× {' '.join(line)[:110]}")


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import selectolax

    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, {cpu}, "
        f"Python {platform.python_version()}, selectolax {selectolax.__version__}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=CORPUS)
    parser.add_argument("--runs", type=int, default=3, help="timed calls per page (median)")
    parser.add_argument("--show", action="append", default=[], metavar="CASE")
    parser.add_argument("--json", type=Path, metavar="OUT")
    parser.add_argument("--dump", type=Path, metavar="DIR")
    args = parser.parse_args()

    if not args.corpus.is_dir():
        print(f"skipped: extraction corpus {args.corpus} not found")
        return 0
    cases = sorted(p for p in args.corpus.iterdir() if (p / "snapshot.html").is_file())
    if not cases:
        print(f"skipped: no case folders with snapshot.html in {args.corpus}")
        return 0

    print(f"extractor version {EXTRACTOR_VERSION}; {machine()}")
    results: list[Result] = []
    for folder in cases:
        result, text, expected = run_case(folder, max(1, args.runs))
        results.append(result)
        if args.dump and text is not None:
            args.dump.mkdir(parents=True, exist_ok=True)
            (args.dump / f"{folder.name}.md").write_text(text, encoding="utf-8")
        if folder.name in args.show:
            show(folder.name, text, expected)

    print(
        f"\n{'case':38} {'KB':>6} {'ref w':>7} {'our w':>7} {'P':>6} {'R':>6} {'F1':>6}"
        f" {'lineF1':>6} {'ms':>6}"
    )
    for r in sorted(results, key=lambda r: r.f1):
        if r.error:
            print(f"{r.case:38} {r.kb:6.0f} {r.ref_words:7d}       -  FAILED  {r.error}")
            continue
        print(
            f"{r.case:38} {r.kb:6.0f} {r.ref_words:7d} {r.our_words:7d} "
            f"{r.precision:6.3f} {r.recall:6.3f} {r.f1:6.3f} {r.line_f1:6.3f} {r.ms:6.1f}"
        )

    ours = sum(r.our_words for r in results)
    ref = sum(r.ref_words for r in results)
    shared = sum(r.shared for r in results)
    p, rc = (shared / ours if ours else 0.0), (shared / ref if ref else 0.0)
    mp = statistics.fmean(r.precision for r in results)
    mr = statistics.fmean(r.recall for r in results)
    mf = statistics.fmean(r.f1 for r in results)
    lp = sum(r.line_shared for r in results) / max(1, sum(r.line_ours for r in results))
    lr = sum(r.line_shared for r in results) / max(1, sum(r.line_ref for r in results))
    lmf = statistics.fmean(r.line_f1 for r in results)
    ok = [r for r in results if not r.error]
    times = [r.ms for r in ok]
    failed = [r for r in results if r.error]
    print(f"\n{len(results)} pages, {len(failed)} failed")
    print(f"micro (over {ref} reference words): P {p:.4f}  R {rc:.4f}  F1 {f1(p, rc):.4f}")
    print(f"macro (mean over {len(results)} pages): P {mp:.4f}  R {mr:.4f}  F1 {mf:.4f}")
    print(
        f"lines (words on lines found word for word on the other side): "
        f"micro P {lp:.4f}  R {lr:.4f}  F1 {f1(lp, lr):.4f}; macro F1 {lmf:.4f}"
    )
    if times:
        kb = sum(r.kb for r in ok)
        print(
            f"time per page: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms, "
            f"total {sum(times):.0f} ms for {kb / 1024:.1f} MB "
            f"({sum(times) / (kb / 1024):.1f} ms per MB)"
        )
    for r in failed:
        print(f"failed: {r.case}: {r.error}")

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "extractor": EXTRACTOR_VERSION,
                    "machine": machine(),
                    "micro": {"p": p, "r": rc, "f1": f1(p, rc)},
                    "macro": {"p": mp, "r": mr, "f1": mf},
                    "lines": {"p": lp, "r": lr, "f1": f1(lp, lr), "macro_f1": lmf},
                    "cases": {
                        r.case: {
                            "p": r.precision,
                            "r": r.recall,
                            "f1": r.f1,
                            "line_f1": r.line_f1,
                            "ms": r.ms,
                            "our_words": r.our_words,
                            "ref_words": r.ref_words,
                            "error": r.error,
                        }
                        for r in results
                    },
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
