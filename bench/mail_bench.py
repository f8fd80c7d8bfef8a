"""Change emails end to end: render + build + send N copies of one change to a local SMTP sink.

    PYTHONPATH=src python bench/mail_bench.py [--recipients 10000] [--connections 4]

Sinks run in their own processes on 127.0.0.1: aiosmtpd's ``Sink`` handler, and postfix's
``smtp-sink`` when ``which smtp-sink`` finds it. For each sink it measures

- ``raw``: what the sink alone takes: one pre-built message sent N times by a minimal asyncio
  client (same command sequence as aiosmtplib, no pipelining, no parsing), 1 and C connections;
- ``client``: the same pre-built message through :class:`SmtpMailer` (aiosmtplib's own cost);
- ``e2e``: Recipient values -> :func:`build_message` -> :meth:`SmtpMailer.send`, in batches of
  ``--batch`` (as an outbox would), 1 and C connections, with the peak RSS of that process.

and, once, the build alone (render once + stamp N copies, no network) and, when dkimpy is
importable, the cost of DKIM-signing a copy. Every measurement runs in a fresh subprocess, so
its peak RSS is its own. The machine has 2 cores: client and sink share them, so the numbers
are a floor for a relay on another host. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from policywatch.config import MailConfig, SiteConfig  # noqa: E402
from policywatch.mail import (  # noqa: E402
    ChangeNotice,
    OutgoingMessage,
    Recipient,
    RenderedChange,
    SmtpMailer,
    build_message,
    render_change,
)
from policywatch.models import Change, Clause, Diff, DiffStats, Revision, Side  # noqa: E402

HOST = "127.0.0.1"
SENDER = "Example Co. <privacy@example.com>"
SITE = SiteConfig(name="Example Co.", base_url="https://example.com")

# synthetic clause text (no corpus text is copied): a few hundred characters each, like the
# sentences of a real policy
_TEXT = (
    "we may collect use share retain process your personal information including contact "
    "details device identifiers location data purchase history with our service providers "
    "advertising partners affiliates for analytics fraud prevention personalised offers "
    "and legal compliance where permitted by applicable law in accordance with this policy"
)
_WORDS = _TEXT.split()


def _sentence(seed: int, words: int = 38) -> str:
    digest = hashlib.sha256(str(seed).encode()).digest() * 2
    picked = [_WORDS[b % len(_WORDS)] for b in digest[:words]]
    return (" ".join(picked)).capitalize() + "."


def make_notice(clauses: int = 12) -> ChangeNotice:
    def clause(i: int, text: str) -> Clause:
        return Clause(i, "sentence", text, ("Sharing your information", "Partners"), text.lower())

    changes: list[Change] = []
    for i in range(clauses):
        if i % 3 == 0:
            changes.append(
                Change(
                    "added",
                    None,
                    clause(i, _sentence(i)),
                    categories=("third-party-sharing",),
                    material=True,
                    reasons=("adds recipient: advertising partners",),
                )
            )
        elif i % 3 == 1:
            old, new = _sentence(i), _sentence(i + 1000)
            changes.append(
                Change(
                    "modified",
                    clause(i, old),
                    clause(i, new),
                    words=(("-", old), ("+", new)),
                    categories=("data-retention", "first-party-collection"),
                    material=True,
                    reasons=("longer retention: 30 days -> 2 years",),
                )
            )
        else:
            changes.append(Change("removed", clause(i, _sentence(i)), None, categories=()))
    t0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    prev, rev = "a" * 40, "b" * 40
    diff = Diff(
        Side("old", prev, t0),
        Side("new", rev, t0),
        tuple(changes),
        DiffStats(added=4, modified=4, removed=4),
        material=True,
    )
    revision = Revision("privacy", rev, t0, "change", material=True, summary="Adds partners")
    return ChangeNotice.from_diff(
        diff, revision, site=SITE, title="Privacy policy", domain="example.com"
    )


def recipient(i: int) -> Recipient:
    token = hashlib.sha256(f"u{i}".encode()).hexdigest()[:43]
    return Recipient(
        email=f"reader{i}@example.org",
        unsubscribe_url=f"https://example.com/unsubscribe/{token}",
        subscriber=i,
        opt_out_url=f"https://example.com/opt-out/{token}",
    )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- measurements (each in its own process) ------------------------------------------------------


def run_build(n: int) -> dict[str, float]:
    started = time.perf_counter()
    rendered = render_change(make_notice())
    render_ms = (time.perf_counter() - started) * 1000
    people = [recipient(i) for i in range(n)]
    started = time.perf_counter()
    total = 0
    for r in people:
        total += len(build_message(rendered, r, sender=SENDER))
    build_us = (time.perf_counter() - started) / n * 1e6
    started = time.perf_counter()
    for i in range(n):
        recipient(i)
    recipient_us = (time.perf_counter() - started) / n * 1e6
    out = {
        "render_ms": render_ms,
        "build_us_per_msg": build_us,
        "recipient_us_per_msg": recipient_us,
        "avg_bytes": total / n,
        "peak_rss_mb": _peak_mb(),
    }
    out.update(_dkim_cost(rendered))
    return out


def _dkim_cost(rendered: RenderedChange) -> dict[str, float]:
    try:
        import dkim  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
    except ImportError:
        return {}
    if shutil.which("openssl") is None:
        return {}
    from policywatch.mail import DkimSigner

    key = subprocess.run(["openssl", "genrsa", "2048"], check=True, capture_output=True).stdout
    signer = DkimSigner(domain="example.com", selector="bench", private_key=key)
    count = 100
    started = time.perf_counter()
    for i in range(count):
        build_message(rendered, recipient(i), sender=SENDER, dkim=signer)
    return {"dkim_ms_per_msg": (time.perf_counter() - started) / count * 1000}


async def _read_reply(reader: asyncio.StreamReader) -> bytes:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("sink closed the connection")
        if line[3:4] != b"-":
            if not line.startswith((b"2", b"3")):
                raise RuntimeError(f"sink answered {line!r}")
            return line


async def _raw_blast(port: int, n: int, connections: int, data: bytes) -> None:
    stuffed = data.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed

    async def one(count: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        await _read_reply(reader)
        writer.write(b"EHLO bench.local\r\n")
        await _read_reply(reader)
        for _ in range(count):
            for command in (
                b"MAIL FROM:<privacy@example.com>\r\n",
                b"RCPT TO:<reader@example.org>\r\n",
                b"DATA\r\n",
            ):
                writer.write(command)
                await _read_reply(reader)
            writer.write(stuffed + b".\r\n")
            await _read_reply(reader)
        writer.write(b"QUIT\r\n")
        await _read_reply(reader)
        writer.close()
        await writer.wait_closed()

    shares = [n // connections + (1 if k < n % connections else 0) for k in range(connections)]
    await asyncio.gather(*(one(s) for s in shares))


def _mailer(port: int, connections: int) -> SmtpMailer:
    config = MailConfig(host=HOST, port=port, sender=SENDER, rate=1e9, connections=connections)
    return SmtpMailer(config, local_hostname="bench.local")


async def _client(port: int, n: int, connections: int, data: bytes, batch: int) -> None:
    async with _mailer(port, connections) as mailer:
        for start in range(0, n, batch):
            msgs = [
                OutgoingMessage(i, f"reader{i}@example.org", data)
                for i in range(start, min(n, start + batch))
            ]
            results = await mailer.send(msgs)
            if not all(r.ok for r in results):
                raise RuntimeError(f"not sent: {[r for r in results if not r.ok][:1]}")


async def _e2e(port: int, n: int, connections: int, batch: int) -> None:
    rendered = render_change(make_notice())
    async with _mailer(port, connections) as mailer:
        for start in range(0, n, batch):
            msgs = []
            for i in range(start, min(n, start + batch)):
                r = recipient(i)
                msgs.append(OutgoingMessage(i, r.email, build_message(rendered, r, sender=SENDER)))
            results = await mailer.send(msgs)
            if not all(r.ok for r in results):
                raise RuntimeError(f"not sent: {[r for r in results if not r.ok][:1]}")


def run_send(kind: str, port: int, n: int, connections: int, batch: int) -> dict[str, float]:
    data = build_message(render_change(make_notice()), recipient(0), sender=SENDER)
    if kind == "raw":
        coro = _raw_blast(port, n, connections, data)
    elif kind == "client":
        coro = _client(port, n, connections, data, batch)
    else:
        coro = _e2e(port, n, connections, batch)
    started = time.perf_counter()
    asyncio.run(coro)
    seconds = time.perf_counter() - started
    return {"msgs_per_s": n / seconds, "seconds": seconds, "peak_rss_mb": _peak_mb()}


# -- orchestration --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sink exited: {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5) as s:
                s.recv(512)
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("sink did not start")


def start_sinks() -> list[tuple[str, int, subprocess.Popen[bytes]]]:
    sinks = []
    port = _free_port()
    aiosmtpd = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-c",
            "aiosmtpd.handlers.Sink",
            "-l",
            f"{HOST}:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sinks.append(("aiosmtpd Sink", port, aiosmtpd))
    exe = shutil.which("smtp-sink")
    if exe:
        port = _free_port()
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        postfix = subprocess.Popen(
            [exe, *user, f"{HOST}:{port}", "256"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        sinks.append(("postfix smtp-sink", port, postfix))
    for _, port, proc in sinks:
        _wait_port(port, proc)
    return sinks


def _child(args: list[str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version

    return (
        f"{cpu}, {os.cpu_count()} cores; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; aiosmtplib {version('aiosmtplib')}, "
        f"aiosmtpd {version('aiosmtpd')}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        kind = args.child[0]
        if kind == "build":
            print(json.dumps(run_build(args.recipients)))
        else:
            port, conns = int(args.child[1]), int(args.child[2])
            print(json.dumps(run_send(kind, port, args.recipients, conns, args.batch)))
        return

    n = args.recipients
    print(machine())
    build = _child(["--recipients", str(n), "--child", "build"])
    print(
        f"build: render once {build['render_ms']:.2f} ms; "
        f"build_message {build['build_us_per_msg']:.1f} µs/msg "
        f"(+ Recipient value {build['recipient_us_per_msg']:.1f} µs); "
        f"{build['avg_bytes'] / 1024:.1f} KiB/msg; peak RSS {build['peak_rss_mb']:.0f} MB"
        + (
            f"; DKIM signing {build['dkim_ms_per_msg']:.2f} ms/msg"
            if "dkim_ms_per_msg" in build
            else ""
        )
    )
    sinks = start_sinks()
    try:
        for name, port, _ in sinks:
            for kind in ("raw", "client", "e2e"):
                for conns in sorted({1, args.connections}):
                    r = _child(
                        [
                            "--recipients",
                            str(n),
                            "--batch",
                            str(args.batch),
                            "--child",
                            kind,
                            str(port),
                            str(conns),
                        ]
                    )
                    print(
                        f"{name:18s} {kind:6s} {conns} conn: {r['msgs_per_s']:7.0f} msgs/s "
                        f"({r['seconds']:.2f} s, peak RSS {r['peak_rss_mb']:.0f} MB)"
                    )
    finally:
        for _, _, proc in sinks:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
