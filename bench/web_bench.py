"""Web app benchmark: feeds (304 and 200) under load, and the diff page of a 290 KB pair.

    PYTHONPATH=src python bench/web_bench.py          # corpus bundle from /work/shared/corpus
    PYTHONPATH=src python bench/web_bench.py --duration 5 --connections 50

Builds a temp site whose archive holds two revisions of ``Facebook/Privacy Policy.md`` (e4da78fa
and its parent, 220 KB -> 290 KB, from the pga-versions bundle; the text stays in /tmp), starts
``create_app`` in a separate process (one process, as ``policywatch serve`` runs it) and measures:

- the diff page: the first request (resolve, read, diff, classify, lay out, render), a render
  from the cached diff (the other view), a repeat (the rendered-page cache), and wrk on it
  (304 on If-None-Match, 200 from the page cache);
- ``/feeds/facebook.atom`` with wrk (2 threads, N connections): 200s, and 304s on If-None-Match,
  first served from the file ``check`` wrote, then built in memory (the feeds dir removed).

wrk comes from Debian's ``wrk`` package; without it a multi-process aiohttp load generator is
used instead (it needs more CPU per request, so it reads lower).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import Message
from pathlib import Path

BUNDLE = Path("/work/shared/corpus/pga-versions.bundle")
PAIR_COMMIT = "e4da78fa"
PAIR_PATH = "Facebook/Privacy Policy.md"


def site(work: Path, repo: Path) -> Path:
    """A site with one policy and two recorded revisions; returns the config path."""
    from policywatch.config import load_config
    from policywatch.tracker import Tracker

    root = work / "site"
    (root / "policies").mkdir(parents=True)
    config = root / "config.toml"
    config.write_text(
        '[site]\nname = "Bench Co."\nbase_url = "http://127.0.0.1:8080"\n\n'
        '[[policy]]\nid = "facebook"\ntitle = "Facebook privacy policy"\n'
        'source = "policies/facebook.md"\n',
        encoding="utf-8",
    )
    source = root / "policies" / "facebook.md"
    for rev in (f"{PAIR_COMMIT}^", PAIR_COMMIT):
        blob = subprocess.run(
            ["git", "-C", str(repo), "show", f"{rev}:{PAIR_PATH}"], check=True, capture_output=True
        ).stdout
        source.write_bytes(blob)
        tracker = Tracker(load_config(config))
        try:
            t = time.perf_counter()
            (result,) = tracker.check().results
            print(
                f"recorded {rev}: {len(blob):,} B, {result.status}"
                f" ({(time.perf_counter() - t) * 1000:.0f} ms)"
            )
        finally:
            tracker.archive.close()
    return config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(config: Path, port: int) -> None:
    from aiohttp import web

    from policywatch.config import load_config
    from policywatch.web import create_app

    web.run_app(
        create_app(load_config(config)),
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=None,
        handle_signals=True,
    )


class Server:
    def __init__(self, config: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(config), str(self.port)]
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("the server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise SystemExit("the server did not shut down within 15 s of SIGTERM") from None


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, Message, float]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers=headers or {})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(request) as response:
            body = response.read()
            status, hdrs = response.status, response.headers
    except urllib.error.HTTPError as exc:  # 304 arrives as an "error"
        body, status, hdrs = exc.read(), exc.code, exc.headers
    return status, body, hdrs, time.perf_counter() - t


def diff_page(base: str, runs: int) -> None:
    url = f"{base}/policies/facebook/diff"
    status, body, _, first = get(url)
    assert status == 200, status
    changes = len(re.findall(rb'id="change-\d+"', body))
    print(f"diff page: {len(body):,} B, {changes} changes")
    print(f"  first request (diff + classify + render): {first * 1000:8.1f} ms")
    status, _, _, side = get(url + "?view=side")
    assert status == 200
    print(f"  other view, from the cached diff:         {side * 1000:8.1f} ms")
    repeats = [get(url)[3] for _ in range(runs)]
    print(
        f"  repeat (page cache), median of {runs}:      {statistics.median(repeats) * 1000:8.1f} ms"
        f" (min {min(repeats) * 1000:.1f})"
    )
    status, _, _, api = get(f"{base}/api/policies/facebook/diff")
    print(f"  /api diff (policywatch.diff/1) first:     {api * 1000:8.1f} ms")


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str]) -> float:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    out = subprocess.run([*argv, url], check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)$", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)$", out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    extra = f", {non2xx.group(1)} non-2xx/3xx" if non2xx else ""
    print(
        f"    {rate:10,.0f} req/s   p50 {p50.group(1) if p50 else '?'}"
        f"  p99 {p99.group(1) if p99 else '?'}{extra}"
    )
    return rate


async def _hammer(url: str, seconds: float, connections: int, headers: dict[str, str]) -> int:
    import aiohttp

    done = 0
    stop = time.monotonic() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.monotonic() < stop:
            async with session.get(url, headers=headers) as response:
                await response.read()
                done += 1

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(connections)))
    return done


def python_load(url: str, seconds: int, connections: int, headers: dict[str, str]) -> float:
    t = time.perf_counter()
    done = asyncio.run(_hammer(url, seconds, connections, headers))
    rate = done / (time.perf_counter() - t)
    print(f"    {rate:10,.0f} req/s   (aiohttp load generator, one process)")
    return rate


def feeds(base: str, seconds: int, connections: int) -> bytes:
    url = f"{base}/feeds/facebook.atom"
    status, body, hdrs, first = get(url)
    assert status == 200
    etag = hdrs["ETag"]
    status, _, _, _ = get(url, {"If-None-Match": etag})
    assert status == 304, status
    print(f"  first request {first * 1000:.1f} ms, {len(body):,} B, ETag {etag}")
    load = wrk if shutil.which("wrk") else python_load
    print("  304 (If-None-Match):")
    load(url, seconds, connections, {"If-None-Match": etag})
    print("  200:")
    load(url, seconds, connections, {})
    return body


def pages(base: str, seconds: int, connections: int) -> None:
    """The diff page under load: revalidated (304) and from the rendered-page cache (200)."""
    url = f"{base}/policies/facebook/diff"
    _, _, hdrs, _ = get(url)
    load = wrk if shutil.which("wrk") else python_load
    print("  304 (If-None-Match):")
    load(url, seconds, connections, {"If-None-Match": hdrs["ETag"]})
    print("  200 (rendered-page cache, 276 KB each):")
    load(url, seconds, connections, {})


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--runs", type=int, default=20, help="repeats of the cached diff page")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="web-bench-") as tmp:
        work = Path(tmp)
        repo = work / "pga"
        subprocess.run(["git", "clone", "-q", str(args.bundle), str(repo)], check=True)
        config = site(work, repo)

        feeds_dir = config.parent / "feeds"
        server = Server(config)
        try:
            diff_page(server.base, args.runs)
            print("diff page under load:")
            pages(server.base, args.duration, args.connections)
            print("feed served from the file check wrote ([feeds] dir):")
            written = feeds(server.base, args.duration, args.connections)
            assert written == (feeds_dir / "facebook.atom").read_bytes()
        finally:
            server.stop()

        shutil.rmtree(feeds_dir)
        server = Server(config)
        try:
            print("feed built in memory (no [feeds] dir):")
            built = feeds(server.base, args.duration, args.connections)
            print(f"  same bytes as the file: {built == written}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
