"""Time feed builds on a synthetic history (no corpus text): ``python bench/feed_bench.py [N]``.

N revisions spread over 10 policies, each change listing 5 clauses. Prints the time of one
``all.atom`` build, one complete per-policy feed, and a full ``write_feeds`` run (first and
unchanged re-run, which must write nothing).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from policywatch.feeds import FeedChange, FeedEntry, SiteInfo, build_feed, write_feeds

T = TypeVar("T")
SITE = SiteInfo(name="Bench Co.", base_url="https://bench.example")


def history(n: int) -> list[FeedEntry]:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        policy = f"p{i % 10}"
        k = i // 10
        clauses = tuple(
            FeedChange(
                kind="modified",
                old_text=f"Clause {j} of revision {k} says something about data. " * 3,
                new_text=f"Clause {j} of revision {k + 1} says something else about data. " * 3,
                section=("Section", f"Part {j}"),
                categories=("first-party-collection",),
                reasons=("new data collected: location",) if j == 0 else (),
                material=j == 0,
            )
            for j in range(5)
        )
        out.append(
            FeedEntry(
                policy=policy,
                policy_title=f"Policy {policy}",
                revision=f"{policy}r{k:05d}",
                previous=f"{policy}r{k - 1:05d}" if k else None,
                date=start + timedelta(hours=7 * i),
                kind="change" if k else "first",
                material=True,
                summary="5 modified; material: new data collected: location",
                categories=("first-party-collection",),
                changes=clauses if k else (),
            )
        )
    return out


def timed(label: str, fn: Callable[[], T]) -> T:
    t = time.perf_counter()
    result = fn()
    print(f"{label:<34} {1000 * (time.perf_counter() - t):8.1f} ms")
    return result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    entries = history(n)
    print(f"{n} revisions, 10 policies")
    data = timed("all.atom (50 newest)", lambda: build_feed(SITE, entries))
    print(f"{'  size':<34} {len(data) / 1024:8.1f} KiB")
    data = timed(
        "p0.atom complete", lambda: build_feed(SITE, entries, policy=("p0", "P0"), page_size=None)
    )
    print(f"{'  size':<34} {len(data) / 1024:8.1f} KiB")
    policies = [(f"p{i}", f"Policy p{i}") for i in range(10)]
    with tempfile.TemporaryDirectory() as tmp:
        written = timed(
            "write_feeds (first run)", lambda: write_feeds(Path(tmp), SITE, policies, entries)
        )
        print(f"{'  files written':<34} {len(written):8d}")
        again = timed(
            "write_feeds (unchanged)", lambda: write_feeds(Path(tmp), SITE, policies, entries)
        )
        print(f"{'  files written':<34} {len(again):8d}")


if __name__ == "__main__":
    main()
