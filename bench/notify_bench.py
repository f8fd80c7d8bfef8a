"""One material change to 10,000 subscribers, end to end: outbox -> `policywatch notify` -> SMTP.

    PYTHONPATH=src python bench/notify_bench.py [--subscribers 10000] [--connections 4]

A temporary site (the example config and policy) gets N confirmed subscribers, a first check, then
the revised example policy (a material change) and a second check, which fans the change out into
the outbox (timed). Then the real command, `python -m policywatch notify`, runs as a subprocess
under `/usr/bin/time -v` against an SMTP sink in its own process (postfix `smtp-sink` when
installed, else aiosmtpd's `Sink`): emails per second end to end (claim, build, send, mark sent,
chunk by chunk as in production) and peak RSS. The sink's own capacity is in bench/mail.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.5) as s:
                s.recv(512)
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("sink did not start")


def start_sink() -> tuple[str, int, subprocess.Popen[bytes]]:
    port = free_port()
    exe = shutil.which("smtp-sink")
    if exe:
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        proc = subprocess.Popen([exe, *user, f"{HOST}:{port}", "256"])
        name = "postfix smtp-sink"
    else:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-c",
                "aiosmtpd.handlers.Sink",
                "-l",
                f"{HOST}:{port}",
            ]
        )
        name = "aiosmtpd Sink"
    wait_port(port)
    return name, port, proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()

    from policywatch.config import load_config
    from policywatch.tracker import Tracker

    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="pw-notify-bench-"))
    sink_name, port, sink = start_sink()
    try:
        shutil.copy(ROOT / "config.toml", tmp / "config.toml")
        shutil.copytree(ROOT / "policies", tmp / "policies")
        config_file = tmp / "config.toml"
        text = config_file.read_text()
        text = text.replace('host = "localhost"', f'host = "{HOST}"').replace(
            "port = 25", f"port = {port}\nrate = 100000\nconnections = {args.connections}"
        )
        config_file.write_text(text)
        tracker = Tracker(load_config(config_file))
        t = time.perf_counter()
        for i in range(args.subscribers):
            tracker.store.subscribe(
                f"reader{i}@example.org", (), "all", confirmed=True, source="bench"
            )
        print(f"{args.subscribers} subscribers added in {time.perf_counter() - t:.1f} s")
        tracker.check()
        shutil.copy(
            ROOT / "docs" / "examples" / "privacy-2026-07.md", tmp / "policies" / "privacy.md"
        )
        t = time.perf_counter()
        (result,) = tracker.check().results
        fan = time.perf_counter() - t
        queued = tracker.store.outbox_counts()
        print(f"check recording the change and fanning it out: {fan:.2f} s; outbox {queued}")
        assert result.material
        tracker.close()

        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        t = time.perf_counter()
        proc = subprocess.run(
            [
                "/usr/bin/time",
                "-v",
                sys.executable,
                "-m",
                "policywatch",
                "notify",
                "--config",
                str(config_file),
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        wall = time.perf_counter() - t
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
        print(proc.stdout.strip())
        sent = int(m.group(1)) if (m := re.search(r"sent (\d+)", proc.stdout)) else 0
        print(
            f"notify -> {sink_name}, {args.connections} connections: {sent} emails in {wall:.1f} s"
            f" = {sent / wall:.0f} emails/s (whole process); peak RSS"
            f" {int(rss.group(1)) / 1024 if rss else float('nan'):.0f} MB"
        )
        return 0 if proc.returncode == 0 else 1
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
