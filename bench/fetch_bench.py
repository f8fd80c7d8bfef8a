"""Benchmark HttpFetcher: 1,000 policy pages from a local server, three passes.

    PYTHONPATH=src python bench/fetch_bench.py [--pages 1000] [--hosts 1] [--per-host 2]

Passes: first (every page 200), unchanged (every page 304 Not Modified), and 10% changed (100
pages 200, the rest 304). For each: wall time, sources/s, CPU seconds of the fetcher process and
of the server process, and the fetcher's peak RSS. The server is nginx when it is installed,
otherwise an aiohttp static server (ETag + Last-Modified + 304, like nginx) in a separate process,
so the fetcher's CPU numbers are its own. ``--hosts K`` spreads the pages over K loopback
addresses (127.0.0.1 .. 127.0.0.K) to show the per-host limit at work. Pages are synthetic HTML
(20-120 KB, generated here), not copied from any corpus. Only 127.0.0.0/8 is ever contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

VOCABULARY = (
    "we collect personal information when you use our services including your name email address "
    "device identifiers and usage data to provide improve and secure the services share with "
    "service providers advertising partners affiliates as required by law retain for as long as "
    "necessary you may access correct delete object restrict processing contact us cookies"
)
WORDS = VOCABULARY.split()


def make_page(i: int, rng: random.Random, extra: str = "") -> bytes:
    size = rng.randint(20_000, 120_000)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Privacy policy {i}</title></head><body><nav>Home | About</nav><main>",
        f"<h1>Privacy policy of site {i}</h1>",
    ]
    length = sum(map(len, parts))
    n = 0
    while length < size:
        n += 1
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30))).capitalize()
        block = f"<h2>Section {n}</h2>" if n % 12 == 0 else f"<p>{sentence}.</p>"
        parts.append(block)
        length += len(block)
    parts.append(f"{extra}</main><footer>(c) site {i}</footer></body></html>")
    return "".join(parts).encode()


# -- server side (separate process) -------------------------------------------------------------


def serve(root: str, hosts: int) -> None:
    """aiohttp static server on 127.0.0.1..127.0.0.K, one shared port; prints it and waits."""
    from aiohttp import web

    async def main() -> None:
        app = web.Application()
        app.router.add_static("/", root)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        first = web.TCPSite(runner, "127.0.0.1", 0)
        await first.start()
        port = runner.addresses[0][1]
        for k in range(2, hosts + 1):
            await web.TCPSite(runner, f"127.0.0.{k}", port).start()
        print(port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def start_nginx(root: Path, hosts: int, port: int) -> subprocess.Popen[bytes]:
    conf = root.parent / "nginx.conf"
    listens = "\n".join(f"listen 127.0.0.{k}:{port};" for k in range(1, hosts + 1))
    conf.write_text(
        f"""daemon off; worker_processes 1; pid {root.parent}/nginx.pid;
error_log {root.parent}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{ access_log off; default_type text/html; etag on;
  client_body_temp_path {root.parent}/tmp;
  server {{ {listens} root {root}; keepalive_requests 100000; }} }}
"""
    )
    return subprocess.Popen(["nginx", "-c", str(conf), "-p", str(root.parent)])


# -- fetcher side -------------------------------------------------------------------------------


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(args: argparse.Namespace, root: Path, port: int, server_pid: int) -> list[str]:
    from policywatch.config import FetchConfig, PolicyConfig
    from policywatch.sources import FetchResult, HttpFetcher, Validators, fetch_all

    policies = [
        PolicyConfig(
            id=f"p{i}",
            title=f"Policy {i}",
            source=f"http://127.0.0.{i % args.hosts + 1}:{port}/p{i}.html",
        )
        for i in range(args.pages)
    ]
    config = FetchConfig(per_host=args.per_host, timeout=timedelta(seconds=30))
    rows = []
    validators: dict[str, Validators] = {}
    rng = random.Random(7)
    print(f"fetcher RSS before the first pass: {peak_rss_mb():.0f} MB", file=sys.stderr)
    async with HttpFetcher(config) as fetcher:
        for name in ("first", "unchanged", "10% changed"):
            if name == "10% changed":
                for i in rng.sample(range(args.pages), args.pages // 10):
                    page = root / f"p{i}.html"
                    page.write_bytes(make_page(i, random.Random(i), extra="<p>New clause.</p>"))
            cpu0, srv0, t0 = cpu_self(), cpu_of(server_pid), time.perf_counter()
            results = await fetch_all(fetcher, policies, validators)
            wall = time.perf_counter() - t0
            cpu, srv = cpu_self() - cpu0, cpu_of(server_pid) - srv0
            ok = [r for r in results.values() if isinstance(r, FetchResult)]
            errors = len(results) - len(ok)
            full = sum(1 for r in ok if not r.not_modified)
            body = sum(len(r.snapshot.content) for r in ok if r.snapshot) / 1e6
            validators = {k: r.validators for k, r in results.items() if isinstance(r, FetchResult)}
            del results, ok
            rows.append(
                f"| {name} | {full} | {args.pages - full - errors} | {errors} | {body:.1f} "
                f"| {wall:.2f} | {args.pages / wall:,.0f} | {cpu:.2f} | {srv:.2f} "
                f"| {peak_rss_mb():.0f} |"
            )
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=1)
    parser.add_argument("--per-host", type=int, default=2)
    parser.add_argument("--serve", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.hosts)
        return

    with tempfile.TemporaryDirectory(prefix="pw-fetch-bench-") as tmp:
        root = Path(tmp) / "www"
        root.mkdir()
        (Path(tmp) / "tmp").mkdir()
        for i in range(args.pages):
            (root / f"p{i}.html").write_bytes(make_page(i, random.Random(i)))
        nginx = shutil.which("nginx")
        if nginx:
            import socket

            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            server = start_nginx(root, args.hosts, port)
            time.sleep(0.5)
            kind = "nginx"
        else:
            server = subprocess.Popen(
                [sys.executable, __file__, "--serve", str(root), "--hosts", str(args.hosts)],
                stdout=subprocess.PIPE,
            )
            assert server.stdout is not None
            port = int(server.stdout.readline())
            kind = "aiohttp static (separate process)"
        try:
            import aiohttp

            print(
                f"# {args.pages} pages, {args.hosts} host(s), per_host={args.per_host}, "
                f"server: {kind}; Python {platform.python_version()}, aiohttp {aiohttp.__version__}"
            )
            print(
                "| pass | 200 | 304 | errors | MB read | wall s | sources/s | fetcher CPU s "
                "| server CPU s | fetcher peak RSS MB |"
            )
            print("|---|---|---|---|---|---|---|---|---|---|")
            asyncio.run(run(args, root, port, server.pid))
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
