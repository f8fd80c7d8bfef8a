"""Time the text stages on real policies (needs /work/shared's corpus; not part of the tests).

    git clone /work/shared/corpus/pga-versions.bundle /tmp/pga
    PYTHONPATH=src python bench/bench_text.py [/tmp/pga]

segment(): the 290 KB Facebook privacy policy. html_to_markdown(): the same policy rendered to
HTML (markdown-it-py, if installed) and dressed like a real page -- every block wrapped in nested
divs with classes, spans around sentences, a navigation bar, a cookie banner, scripts -- to about
the size of a large policy page.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from policywatch.clauses import segment
from policywatch.extract import html_to_markdown


def best_of(fn, runs=9):  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return min(times), statistics.median(times)


def dressed_page(markdown: str) -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    body = body.replace("<p>", '<div class="x1 x2"><div class="_9xo5"><span class="t">').replace(
        "</p>", "</span></div></div>"
    )
    nav = "".join(f'<li><a href="/p{i}?utm_source=nav">Item {i}</a></li>' for i in range(200))
    scripts = "<script>" + "var a=1;" * 2000 + "</script>"
    return (
        "<!doctype html><html><head><title>Policy</title><style>.x1{color:red}</style>"
        f"{scripts}</head><body><nav><ul>{nav}</ul></nav>"
        '<div class="cookie" style="display: none"><p>We use cookies</p></div>'
        f'<main><div class="wrap"><article>{body}</article></div></main>'
        f"<footer><p>Footer</p></footer>{scripts}</body></html>"
    )


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/pga")
    policy = (root / "Facebook" / "Privacy Policy.md").read_text()
    clauses = segment(policy)
    lo, med = best_of(lambda: segment(policy))
    print(
        f"segment: {len(policy) / 1024:.0f} KB -> {len(clauses)} clauses:"
        f" best {lo:.1f} ms, median {med:.1f} ms"
    )
    try:
        page = dressed_page(policy)
    except ImportError:
        print("html_to_markdown: markdown-it-py not installed, skipped")
        return
    markdown = html_to_markdown(page)
    lo, med = best_of(lambda: html_to_markdown(page))
    print(
        f"html_to_markdown: {len(page.encode()) / 1024:.0f} KB page"
        f" -> {len(markdown) / 1024:.0f} KB Markdown: best {lo:.1f} ms, median {med:.1f} ms"
    )
    lo, med = best_of(lambda: segment(markdown))
    print(f"segment(converted page): best {lo:.1f} ms, median {med:.1f} ms")


if __name__ == "__main__":
    main()
