"""Whole-process timing of `policywatch diff --format json` vs `git diff --no-index --word-diff`.

Usage (from the repository root)::

    python bench/diff_bench.py                     # the Facebook pair from /work/shared/corpus
    python bench/diff_bench.py --runs 21 --stages  # + where the time goes, stage by stage
    python bench/diff_bench.py --before ../old-checkout/src   # the same run on other sources too
    python bench/diff_bench.py OLD.md NEW.md --cmd '{python} -c "..." {old} {new}'

The machine is shared and noisy, so the commands run alternately and the ratio of medians is the
number to quote; CPU time (user + system of the child) is printed too, as it moves less with the
load than wall time. Peak memory comes from ``os.wait4`` (the child's own ``ru_maxrss``), so no
``/usr/bin/time`` is needed.

Like an installed package, the runs may write bytecode, and with it the classifier's cache of
compiled cues (``policywatch/classify/_cache.py``), which the warm-up run fills: the timed runs
are those of a user's second and later diffs. ``--cold-cues`` deletes that cache before every run
(a first run after installing or upgrading).

``--stages`` runs a child that times each stage once, cold, as the command line meets them
(imports, segmenting both documents, diffing the clauses, classifying, rendering), and prints the
medians over the runs. ``--inproc`` times the library stages again and again in this process
(warm), and ``--history N`` times ``diff_clauses`` over the last N revisions of the Facebook
policy. The corpus is read only here (bench scripts may use /work/shared; tests may not).
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
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
SRC = Path(__file__).resolve().parents[1] / "src"

CLI = "{python} -m policywatch diff {old} {new} --format json"
#: compare + render_json, without the command-line layer and the classifier
LIBRARY = (
    "{python} -c 'import sys; from pathlib import Path; "
    "from policywatch.diff import compare; from policywatch.models import Side; "
    "from policywatch.render import render_json; "
    "a, b = sys.argv[1:3]; "
    "d = compare(Path(a).read_text(), Path(b).read_text(), old_side=Side(a), new_side=Side(b)); "
    "sys.stdout.write(render_json(d))' {old} {new}"
)
GIT = "git diff --no-index --word-diff {old} {new}"

#: one cold pass through the stages of `policywatch diff OLD NEW --format json`, CPU ms each
STAGES = """
import json, sys, time
clock = time.process_time
t0 = clock()
import click
t1 = clock()
from policywatch import cli
from policywatch.classify import annotate
from policywatch.clauses import segment
from policywatch.diff import diff_clauses
from policywatch.extract import read_document
from policywatch.models import Diff, Side
from policywatch.render import render_json
from pathlib import Path
t2 = clock()
a, b = read_document(Path(sys.argv[1])), read_document(Path(sys.argv[2]))
t3 = clock()
old, new = segment(a), segment(b)
t4 = clock()
changes, stats = diff_clauses(old, new)
t5 = clock()
changes = annotate(changes)
t6 = clock()
out = render_json(Diff(Side(sys.argv[1]), Side(sys.argv[2]), changes, stats))
t7 = clock()
stamps = (t0, t1, t2, t3, t4, t5, t6, t7)
names = ("import click", "import policywatch", "read", "segment both", "diff_clauses",
         "annotate", "render_json")
print(json.dumps({n: 1000 * (b - a) for n, a, b in zip(names, stamps, stamps[1:])}))
"""


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


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS in KiB of one run (output discarded)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else b""
    if proc.returncode not in (0, 1):  # git diff exits 1 when the files differ
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {err.decode(errors='replace')}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def cue_caches(src: Path) -> list[str]:
    return glob.glob(str(src / "policywatch" / "classify" / "__pycache__" / "cues.*"))


def environment(src: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(src) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # an installed package has its .pyc files; without them every run would recompile the sources
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def compare_runs(
    commands: list[tuple[str, list[str], dict[str, str], Path | None]], runs: int, cold_cues: bool
) -> None:
    """Run the commands alternately and print a table (the last command is git, the base)."""
    for _, argv, env, _ in commands:  # warm the page cache, .pyc files and cue caches
        run_once(argv, env)
    wall: dict[str, list[float]] = {label: [] for label, *_ in commands}
    cpu: dict[str, list[float]] = {label: [] for label, *_ in commands}
    rss: dict[str, int] = {label: 0 for label, *_ in commands}
    for _ in range(runs):
        for label, argv, env, src in commands:
            if cold_cues and src is not None:
                for path in cue_caches(src):
                    os.unlink(path)
            w, c, r = run_once(argv, env)
            wall[label].append(w)
            cpu[label].append(c)
            rss[label] = max(rss[label], r)
    base = commands[-1][0]
    git_wall, git_cpu = statistics.median(wall[base]), statistics.median(cpu[base])
    print("| command | median ms | min ms | x git | CPU median ms | x git | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for label, *_ in commands:
        w, c = statistics.median(wall[label]), statistics.median(cpu[label])
        print(
            f"| {label} | {w * 1000:.1f} | {min(wall[label]) * 1000:.1f} | {w / git_wall:.1f} "
            f"| {c * 1000:.1f} | {c / git_cpu:.1f} | {rss[label] / 1024:.1f} |"
        )
    print(f"\n{runs} alternating runs")


def stages(old: Path, new: Path, sources: list[tuple[str, Path]], runs: int) -> None:
    """Median CPU ms of each stage of a cold child process, per source tree."""
    results: dict[str, list[dict[str, float]]] = {label: [] for label, _ in sources}
    for _ in range(runs):
        for label, src in sources:
            out = subprocess.run(
                [sys.executable, "-c", STAGES, str(old), str(new)],
                env=environment(src),
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results[label].append(json.loads(out))
    names = list(results[sources[0][0]][0])
    print("\n| stage (cold, CPU ms, median) | " + " | ".join(label for label, _ in sources) + " |")
    print("|---|" + "---|" * len(sources))
    for name in [*names, "total"]:
        cells = []
        for label, _ in sources:
            values = [sum(r.values()) if name == "total" else r[name] for r in results[label]]
            cells.append(f"{statistics.median(values):.1f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


def in_process(old: Path, new: Path, runs: int) -> None:
    """Print the median milliseconds of each library stage inside one warm process."""
    from policywatch.clauses import segment
    from policywatch.diff import compare, diff_clauses
    from policywatch.models import Side
    from policywatch.render import render_json

    a, b = old.read_text(), new.read_text()
    timings: dict[str, list[float]] = {"segment both": [], "diff_clauses": [], "render_json": []}
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
        timings["segment both"].append(t1 - t0)
        timings["diff_clauses"].append(t2 - t1)
        timings["render_json"].append(t4 - t3)
    ca, cb = segment(a), segment(b)
    print(f"clauses: {len(ca)} old, {len(cb)} new; {diff_clauses(ca, cb)[1]}")
    for name, values in timings.items():
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
    parser.add_argument(
        "--before",
        type=Path,
        metavar="SRC",
        help="also time the same command on another source tree (e.g. a checkout of main)",
    )
    parser.add_argument(
        "--cold-cues", action="store_true", help="delete the compiled-cue cache before each run"
    )
    parser.add_argument("--stages", action="store_true", help="also time each stage, cold")
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

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        f", load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    print(f"pair: {old} ({old.stat().st_size:,} B) -> {new} ({new.stat().st_size:,} B)")
    print(f"policywatch: {' '.join(ours)[:120]}\n")
    commands: list[tuple[str, list[str], dict[str, str], Path | None]] = [
        ("policywatch diff (json)", ours, environment(SRC), SRC)
    ]
    if args.before:
        before = args.before.resolve()
        commands.append((f"policywatch diff (json) @ {before}", ours, environment(before), before))
    commands.append(("git diff --no-index --word-diff", git, environment(SRC), None))
    compare_runs(commands, args.runs, args.cold_cues)
    if args.stages:
        sources = [("this tree", SRC)]
        if args.before:
            sources.append(("before", args.before.resolve()))
        stages(old, new, sources, args.runs)
    if args.inproc:
        sys.path.insert(0, str(SRC))
        print()
        in_process(old, new, args.runs)
    if args.history:
        sys.path.insert(0, str(SRC))
        history(work, args.history, 5)


if __name__ == "__main__":
    main()
