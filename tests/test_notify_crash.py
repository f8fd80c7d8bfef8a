"""Real sender processes: killed mid-run, or two at once, against a real (slow) SMTP server.

The promise (CONTRACT "Email"): each subscriber gets each change at most once, across crashes
and restarts. What an SMTP client cannot promise is the message in flight when it dies (the
server may have accepted it just before); that one may come again, with the same Message-ID.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import smtpfixture as _smtpfixture
import storefixture
from policywatch.cli import cli
from smtpfixture import SmtpServer

smtp_server = _smtpfixture.smtp_server
database_url = storefixture.database_url

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parent.parent
REVISED = REPO_ROOT / "docs" / "examples" / "privacy-2026-07.md"


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def notify_process(site: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])]
    )
    return subprocess.Popen(
        [sys.executable, "-m", "policywatch", "notify", "--config", "config.toml", *args],
        cwd=site,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def sent(output: str) -> int:
    found = re.search(r"\bsent (\d+)", output)
    assert found, output
    return int(found.group(1))


def queue_change(site: Path, subscribers: int) -> list[str]:
    """``subscribers`` confirmed addresses and one material change queued for each of them."""
    emails = [f"reader{n:03d}@example.org" for n in range(subscribers)]
    run("subscribers", "add", *emails)
    run("check")
    (site / "policies" / "privacy.md").write_text(REVISED.read_text())
    assert "material" in run("check")
    return emails


def wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def by_recipient(server: SmtpServer) -> dict[str, list[str]]:
    """Message-IDs each recipient received, in arrival order."""
    got: dict[str, list[str]] = defaultdict(list)
    for arrived in server.arrived:
        (rcpt,) = arrived.rcpt_tos
        got[rcpt].append(str(arrived.message()["Message-ID"]))
    return got


@pytest.fixture
def mailsite(
    site: Path, smtp_server: SmtpServer, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The example site mailing through the test server, on the parametrised database."""
    monkeypatch.setenv("POLICYWATCH_DATABASE_URL", database_url)
    config = site / "config.toml"
    text = config.read_text().replace("port = 25", f"port = {smtp_server.port}")
    text = text.replace('host = "localhost"', 'host = "127.0.0.1"')
    config.write_text(text)
    yield site


def set_connections(site: Path, n: int) -> None:
    config = site / "config.toml"
    config.write_text(config.read_text().replace("[mail]\n", f"[mail]\nconnections = {n}\n"))


def test_a_sender_killed_mid_run_loses_nobody_and_repeats_only_the_message_in_flight(
    mailsite: Path, smtp_server: SmtpServer
) -> None:
    set_connections(mailsite, 1)
    emails = queue_change(mailsite, 8)
    smtp_server.delay = 0.25
    lease = 3.0
    first = notify_process(mailsite, "--lease", f"{lease:g}s")
    try:
        wait_for(lambda: len(smtp_server.arrived) >= 3)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
    killed_at = time.monotonic()
    assert first.returncode == -signal.SIGKILL
    before = len(smtp_server.arrived)
    assert before < len(emails), "the sender finished before it could be killed"

    # the dead sender's rows are leased to it: nobody may take them until the lease runs out
    early = notify_process(mailsite)
    out, _ = early.communicate(timeout=30)
    assert early.returncode == 0, out
    assert sent(out) == 0, out
    time.sleep(max(0.0, killed_at + lease + 0.3 - time.monotonic()))

    second = notify_process(mailsite)
    out, _ = second.communicate(timeout=60)
    assert second.returncode == 0, out

    got = by_recipient(smtp_server)
    assert sorted(got) == emails  # everyone reached
    repeated = {rcpt: ids for rcpt, ids in got.items() if len(ids) > 1}
    # the server had taken the last message and not yet said so: that one, and only that one
    # (one connection sends one message at a time), was in flight and comes again
    assert len(repeated) == 1, repeated
    for rcpt, ids in repeated.items():
        assert len(set(ids)) == 1, ids  # a repeat carries the same Message-ID ...
        copies = {a.data for a in smtp_server.arrived if a.rcpt_tos == (rcpt,)}
        assert len(copies) == 1  # ... and is the same message, byte for byte
    assert len({ids[0] for ids in got.values()}) == len(emails)
    assert sent(out) == len(emails) - before + len(repeated)
    # and nothing more is ever sent
    third = notify_process(mailsite)
    out, _ = third.communicate(timeout=30)
    assert sent(out) == 0
    assert sum(len(ids) for ids in got.values()) == len(smtp_server.arrived)


def test_two_senders_at_once_never_send_one_email_twice(
    mailsite: Path, smtp_server: SmtpServer
) -> None:
    set_connections(mailsite, 2)
    emails = queue_change(mailsite, 50)
    smtp_server.delay = 0.08
    first = notify_process(mailsite, "--batch", "3")
    try:
        wait_for(lambda: len(smtp_server.arrived) >= 1)
        second = notify_process(mailsite, "--batch", "3")
        out2, _ = second.communicate(timeout=60)
    finally:
        out1, _ = first.communicate(timeout=60)
    assert first.returncode == 0 and second.returncode == 0, (out1, out2)
    got = by_recipient(smtp_server)
    assert sorted(got) == emails
    assert all(len(ids) == 1 for ids in got.values())
    assert sent(out1) + sent(out2) == len(emails)
    assert sent(out1) > 0 and sent(out2) > 0, (out1, out2)  # they really ran side by side
