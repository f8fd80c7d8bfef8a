"""Import a whole real policy history and compare with a plain shell commit loop.

    PYTHONPATH=src python bench/import_bench.py [BUNDLE] [--shell-limit N] [--no-per-path]

Clones the Open Terms Archive ``pga-versions`` bundle into a temporary folder and imports every
document (one policy per ``<Service>/<Terms type>.md`` file at HEAD):

1. ``import_histories``: all documents in one history walk and one fast-import stream;
2. ``import_history`` once per document, as ``policywatch import`` does (skip: ``--no-per-path``);
3. a plain shell loop, ``git add && git commit`` per revision with GIT_AUTHOR_DATE and
   GIT_COMMITTER_DATE, writing the same commits (same text, message, identity and dates) as run 1:
   its final commit id must equal run 1's.

``describe`` is deliberately cheap (kind "first"/"change", no semantic diff), so the numbers are
the archive's cost alone. Then times ``log(policy)`` and ``resolve`` on the result, with and
without the commit-graph. Skips with a message when the bundle is absent.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

from policywatch.archive import GitArchive
from policywatch.history import Description, import_histories, import_history

T = TypeVar("T")
BUNDLE = Path("/work/shared/corpus/pga-versions.bundle")


def describe(previous: str | None, new: str) -> Description:
    if previous is None:
        return Description(kind="first", material=False, summary="First record")
    return Description(kind="change", material=False, summary="Record new changes")


def policy_id(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.removesuffix(".md").lower()).strip("-")[:64].strip("-")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def timed(fn: Callable[[], T]) -> tuple[float, float, T]:
    """(wall seconds, CPU seconds of this process and its children, result)."""
    before = os.times()
    start = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - start
    after = os.times()
    cpu = sum(after[:4]) - sum(before[:4])
    return wall, cpu, result


def median_ms(fn: Callable[[], object], runs: int = 7) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


SHELL_LOOP = r"""
set -eu
cd "$DST"
while IFS=' ' read -r rev dir stamp; do
  mkdir -p "$dir"
  git -C "$SRC" cat-file blob "$rev:$dir/policy.md" > "$dir/policy.md"
  msg=$(git -C "$SRC" cat-file commit "$rev")
  git add "$dir/policy.md"
  printf '%s\n' "${msg#*$'\n\n'}" | GIT_AUTHOR_DATE="@$stamp +0000" \
    GIT_COMMITTER_DATE="@$stamp +0000" git commit -q --cleanup=verbatim -F -
done < "$MANIFEST"
"""

READS_ONLY = r"""
set -eu
cd "$DST"
while IFS=' ' read -r rev dir stamp; do
  git -C "$SRC" cat-file blob "$rev:$dir/policy.md" > /dev/null
  msg=$(git -C "$SRC" cat-file commit "$rev")
done < "$MANIFEST"
"""


def shell_loop(archive: GitArchive, dst: Path, manifest: Path, script: str) -> None:
    env = {
        **os.environ,
        "SRC": str(archive.path),
        "DST": str(dst),
        "MANIFEST": str(manifest),
        "GIT_AUTHOR_NAME": archive.name,
        "GIT_AUTHOR_EMAIL": archive.email,
        "GIT_COMMITTER_NAME": archive.name,
        "GIT_COMMITTER_EMAIL": archive.email,
    }
    subprocess.run(["bash", "-c", script], env=env, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", nargs="?", type=Path, default=BUNDLE)
    parser.add_argument("--shell-limit", type=int, default=None, help="shell loop: first N only")
    parser.add_argument("--no-per-path", action="store_true", help="skip run 2")
    parser.add_argument(
        "--semantic-only",
        action="store_true",
        help="only run 1, with the real describe (clause diff + classifier), as `import` does",
    )
    args = parser.parse_args()
    if not args.bundle.exists():
        print(f"skipped: {args.bundle} is not here (it is only on the project's bench machine)")
        return 0

    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(git(Path("."), "--version").strip())
    tmp = Path(tempfile.mkdtemp(prefix="pw-import-bench-"))
    try:
        src = tmp / "source"
        subprocess.run(["git", "clone", "-q", str(args.bundle), str(src)], check=True)
        paths = [
            p
            for p in git(src, "ls-files", "-z").split("\0")
            if p.count("/") == 1 and p.endswith(".md")
        ]
        files = [(p, policy_id(p)) for p in paths]
        assert len({pid for _, pid in files}) == len(files), "policy ids collide"
        commits = int(git(src, "rev-list", "--count", "HEAD"))
        print(f"source: {args.bundle.name}, {commits} commits, {len(files)} documents\n")

        if args.semantic_only:
            from policywatch.tracker import describe_change

            def semantic(previous: str | None, new: str) -> Description:
                d = describe_change(previous, new, title="policy")
                return Description(
                    kind=d.kind, material=d.material, summary=d.summary, categories=d.categories
                )

            archive = GitArchive.open(tmp / "semantic")
            wall, cpu, report = timed(
                lambda: import_histories(archive, src, files, describe=semantic)
            )
            n = report.imported
            kinds: dict[str, int] = {}
            for r in archive.log():
                key = f"{r.kind}{' material' if r.material else ''}"
                kinds[key] = kinds.get(key, 0) + 1
            print(
                f"semantic import_histories: {n} revisions in {wall:.1f} s = {n / wall:.0f}/s"
                f"  (CPU {cpu:.1f} s; skipped {report.skipped}, restores {report.restores})"
            )
            print("kinds:", ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
            return 0

        # 1. one bulk import
        bulk = GitArchive.open(tmp / "bulk")
        wall, cpu, report = timed(lambda: import_histories(bulk, src, files, describe=describe))
        n = report.imported
        print(
            f"1. import_histories (bulk):  {n} revisions in {wall:.1f} s = {n / wall:.0f}/s"
            f"  (CPU {cpu:.1f} s; skipped {report.skipped}, restores {report.restores})"
        )
        bulk_rate = n / wall

        # 2. one import per document, as the CLI does
        if not args.no_per_path:
            per = GitArchive.open(tmp / "per-path")

            def each() -> int:
                return sum(
                    import_history(per, src, p, pid, describe=describe).imported for p, pid in files
                )

            wall2, cpu2, n2 = timed(each)
            print(
                f"2. import_history per path: {n2} revisions in {wall2:.1f} s = {n2 / wall2:.0f}/s"
                f"  (CPU {cpu2:.1f} s; {wall2 / len(files) * 1000:.0f} ms per document)"
            )

        # 3. the same commits with a shell loop
        revisions = bulk.log()[::-1][: args.shell_limit]
        manifest = tmp / "manifest"
        manifest.write_text(
            "".join(f"{r.id} {r.policy} {int(r.date.timestamp())}\n" for r in revisions)
        )
        shell = tmp / "shell"
        subprocess.run(["git", "init", "-q", "-b", "main", str(shell)], check=True)
        wall3, cpu3, _ = timed(lambda: shell_loop(bulk, shell, manifest, SHELL_LOOP))
        wall4, _, _ = timed(lambda: shell_loop(bulk, shell, manifest, READS_ONLY))
        same = git(shell, "rev-parse", "HEAD").strip() == revisions[-1].id
        print(
            f"3. shell add+commit loop:    {len(revisions)} revisions in {wall3:.1f} s"
            f" = {len(revisions) / wall3:.0f}/s (CPU {cpu3:.1f} s; of which reading the"
            f" texts and messages {wall4:.1f} s; final commit identical: {same})"
        )
        if args.shell_limit is None:
            print(
                f"   bulk import is {wall3 / (n / bulk_rate):.1f}x faster than the loop"
                f" ({(wall3 - wall4) / (n / bulk_rate):.1f}x not counting the loop's reads)"
            )

        # 4. reading the result
        counts = {pid: len(bulk.log(pid)) for _, pid in files}
        big = max(counts, key=counts.__getitem__)
        small = min(counts, key=counts.__getitem__)
        total = len(bulk.log())
        print(
            f"\n4. reading an archive of {total} commits ({big}: {counts[big]} revisions,"
            f" {small}: {counts[small]})"
        )
        first = bulk.log(big)[-1]
        mid = bulk.log(big)[counts[big] // 2]
        names = [
            "latest",
            "latest~10",
            mid.id[:8],
            mid.date.strftime("%Y-%m-%d"),
            mid.date.isoformat(),
            first.id,
        ]

        def measure(label: str) -> None:
            for pid in (big, small):
                cold = median_ms(partial(lambda p: GitArchive(bulk.path).log(p), pid))
                warm_archive = GitArchive(bulk.path)
                warm_archive.log(pid)
                warm = median_ms(partial(warm_archive.log, pid))
                cli = median_ms(partial(git, bulk.path, "log", "--format=%H", "--", f"{pid}/"))
                print(
                    f"   {label:<18} log({pid}): first call {cold:6.1f} ms, cached {warm:.2f} ms"
                    f"  | git log CLI {cli:.1f} ms"
                )
            a = GitArchive(bulk.path)
            cold_resolve = median_ms(lambda: GitArchive(bulk.path).resolve(big, names[3]))
            a.log(big)
            per_name = median_ms(lambda: [a.resolve(big, name) for name in names]) / len(names)
            every = median_ms(lambda: GitArchive(bulk.path).log(), runs=3)
            print(
                f"   {label:<18} resolve({big}, date) on a new archive object"
                f" {cold_resolve:.1f} ms;"
                f" then {per_name:.3f} ms per name ({', '.join(names[:2])}, prefix, date,"
                f" datetime, full id); log() of all {every:.0f} ms"
            )

        measure("with commit-graph")
        for f in (bulk.git_dir / "objects" / "info").glob("commit-graph*"):
            shutil.rmtree(f) if f.is_dir() else f.unlink()
        measure("no commit-graph")
        wall5, _, _ = timed(bulk.write_commit_graph)
        print(f"   writing the commit-graph (--changed-paths, full): {wall5 * 1000:.0f} ms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
