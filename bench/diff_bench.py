"""Whole-process timing of `policywatch diff --format json` vs `git diff --no-index --word-diff`.

Usage (from the repository root)::

    python bench/diff_bench.py                     # the Facebook pair from /work/shared/corpus
    python bench/diff_bench.py OLD.md NEW.md --runs 21
    python bench/diff_bench.py --cmd '{python} -c "..." {old} {new}'

The machine is shared and noisy, so the two commands run alternately and the ratio of medians is
the number to quote. Peak memory comes from ``os.wait4`` (the child's own ``ru_maxrss``), so no
``/usr/bin/time`` is needed. ``--inproc`` also times the diff and the JSON rendering inside this
process, which separates the engine from interpreter start-up and imports.

The corpus is read only here (bench scripts may use /work/shared; tests may not).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUNDLE = Path("/work/shared/corpus/pga-versions.bundle")
PAIR_COMMIT = "e4da78fa"
PAIR_PATH = "Facebook/Privacy Policy.md"

CLI = "{python} -m policywatch diff {old} {new} --format json"
#: until the CLI can read files end to end: the same work without the command-line layer
LIBRARY = (
    "{python} -c 'import sys; from pathlib import Path; "
    "from policywatch.diff import compare; from policywatch.models import Side; "
    "from policywatch.render import render_json; "
    "a, b = sys.argv[1:3]; "
    "d = compare(Path(a).read_text(), Path(b).read_text(), old_side=Side(a), new_side=Side(b)); "
    "sys.stdout.write(render_json(d))' {old} {new}"
)
GIT = "git diff --no-index --word-diff {old} {new}"


def facebook_pair(work: Path) -> tuple[Path, Path]:
    """The 290 KB Facebook privacy-policy revision and its parent, from the corpus bundle."""
    repo = work / "pga"
    if not repo.exists():
        subprocess.run(["git", "clone", "-q", str(BUNDLE), str(repo)], check=True)
    old, new = work / "facebook-old.md", work / "facebook-new.md"
    for rev, dest in ((f"{PAIR_COMMIT}^", old), (PAIR_COMMIT, new)):
        blob = subprocess.run(
            ["git", "-C", str(repo), "show", f"{rev}:{PAIR_PATH}"], check=True, capture_output=True
        ).stdout
        dest.write_bytes(blob)
    return old, new


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in KiB and exit status of one run (output discarded)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else b""
    if proc.returncode not in (0, 1):  # git diff exits 1 when the files differ
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {err.decode(errors='replace')}")
    return elapsed, usage.ru_maxrss, proc.returncode


def in_process(old: Path, new: Path, runs: int) -> None:
    """Print the median milliseconds of each stage inside one warm process."""
    from policywatch.clauses import segment
    from policywatch.diff import compare, diff_clauses
    from policywatch.models import Side
    from policywatch.render import render_json

    a, b = old.read_text(), new.read_text()
    stages: dict[str, list[float]] = {"segment both": [], "diff_clauses": [], "render_json": []}
    for _ in range(runs):
        t0 = time.perf_counter()
        ca, cb = segment(a), segment(b)
        t1 = time.perf_counter()
        diff_clauses(ca, cb)
        t2 = time.perf_counter()
        d = compare(a, b, old_side=Side(str(old)), new_side=Side(str(new)))
        t3 = time.perf_counter()
        render_json(d)
        t4 = time.perf_counter()
        stages["segment both"].append(t1 - t0)
        stages["diff_clauses"].append(t2 - t1)
        stages["render_json"].append(t4 - t3)
    ca, cb = segment(a), segment(b)
    print(f"clauses: {len(ca)} old, {len(cb)} new; {diff_clauses(ca, cb)[1]}")
    for name, values in stages.items():
        print(f"in-process {name}: {statistics.median(values) * 1000:.1f} ms (median of {runs})")


def history(work: Path, count: int, runs: int) -> None:
    """In-process diff_clauses time over consecutive revisions of the Facebook policy: most are
    small edits, a few are rewrites, which is where the similarity passes and word diffs cost."""
    from policywatch.clauses import segment
    from policywatch.diff import diff_clauses

    facebook_pair(work)
    repo = work / "pga"
    revs = subprocess.run(
        ["git", "-C", str(repo), "log", "--format=%h", f"-{count + 1}", "--", PAIR_PATH],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    texts = {
        rev: subprocess.run(
            ["git", "-C", str(repo), "show", f"{rev}:{PAIR_PATH}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for rev in revs
    }
    print(
        "\n| old -> new | clauses | diff_clauses ms | added | removed | modified | moved"
        " | editorial |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for new, old in itertools.pairwise(revs):
        a, b = segment(texts[old]), segment(texts[new])
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            _, st = diff_clauses(a, b)
            times.append(time.perf_counter() - start)
        print(
            f"| {old} -> {new} | {len(a)}/{len(b)} | {statistics.median(times) * 1000:.1f} "
            f"| {st.added} | {st.removed} | {st.modified} | {st.moved} | {st.editorial} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", nargs="?", type=Path)
    parser.add_argument("new", nargs="?", type=Path)
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (default 15)")
    parser.add_argument(
        "--cmd", default=None, help=f"command template with {{python}} {{old}} {{new}} ({CLI!r})"
    )
    parser.add_argument(
        "--library", action="store_true", help="time a python -c calling compare + render_json"
    )
    parser.add_argument("--inproc", action="store_true", help="also time stages in this process")
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        metavar="N",
        help="also time diff_clauses over the last N revisions of the Facebook policy",
    )
    args = parser.parse_args()

    work = Path(tempfile.gettempdir()) / "policywatch-diff-bench"
    work.mkdir(exist_ok=True)
    old, new = (args.old, args.new) if args.old and args.new else facebook_pair(work)
    template = args.cmd or (LIBRARY if args.library else CLI)
    fmt = {"python": shlex.quote(sys.executable), "old": shlex.quote(str(old))}
    fmt["new"] = shlex.quote(str(new))
    ours = shlex.split(template.format(**fmt))
    git = shlex.split(GIT.format(**fmt))
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # an installed package has its .pyc files; without them every run would recompile the sources
    env.pop("PYTHONDONTWRITEBYTECODE", None)

    run_once(ours, env)  # warm the page cache and .pyc files
    run_once(git, env)
    ours_t: list[float] = []
    git_t: list[float] = []
    ours_rss: list[int] = []
    git_rss: list[int] = []
    for _ in range(args.runs):
        t, rss, _ = run_once(ours, env)
        ours_t.append(t)
        ours_rss.append(rss)
        t, rss, _ = run_once(git, env)
        git_t.append(t)
        git_rss.append(rss)

    ours_ms, git_ms = statistics.median(ours_t) * 1000, statistics.median(git_t) * 1000
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"pair: {old} ({old.stat().st_size:,} B) -> {new} ({new.stat().st_size:,} B)")
    print(f"policywatch: {' '.join(ours)[:120]}")
    print()
    print("| command | median ms | min ms | peak RSS MiB |")
    print("|---|---|---|---|")
    print(
        f"| policywatch diff (json) | {ours_ms:.1f} | {min(ours_t) * 1000:.1f} "
        f"| {max(ours_rss) / 1024:.1f} |"
    )
    print(
        f"| git diff --no-index --word-diff | {git_ms:.1f} | {min(git_t) * 1000:.1f} "
        f"| {max(git_rss) / 1024:.1f} |"
    )
    print(f"\nratio (median): {ours_ms / git_ms:.1f}x over {args.runs} alternating runs")
    if args.inproc:
        sys.path.insert(0, src)
        print()
        in_process(old, new, args.runs)
    if args.history:
        sys.path.insert(0, src)
        history(work, args.history, 5)


if __name__ == "__main__":
    main()
