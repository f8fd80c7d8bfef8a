"""``policywatch serve`` as a real process: it serves, checks, sends, posts the webhook, and
stops cleanly on SIGTERM; and the background sender gives back what it has not sent."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import smtpfixture as _smtpfixture
from policywatch.cli import cli
from policywatch.config import load_config
from policywatch.serve import BackgroundSender, RedactingAccessLogger
from policywatch.tracker import Tracker
from smtpfixture import SmtpServer

smtp_server = _smtpfixture.smtp_server

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parent.parent
REVISED = REPO_ROOT / "docs" / "examples" / "privacy-2026-07.md"
LINK = re.compile(r"http://localhost:8080(/(?:confirm|unsubscribe|opt-out)/[A-Za-z0-9_-]+)")


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def wait_for(condition: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def mailsite(site: Path, smtp_server: SmtpServer) -> Path:
    config = site / "config.toml"
    text = config.read_text().replace("port = 25", f"port = {smtp_server.port}")
    config.write_text(text.replace('host = "localhost"', 'host = "127.0.0.1"'))
    return site


class Server:
    """A ``policywatch serve`` child process and the URL it listens on."""

    def __init__(self, site: Path) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])]
        )
        self.log = site / "serve.log"
        self._err = self.log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "policywatch",
                "serve",
                "--port",
                "0",
                "--config",
                "config.toml",
            ],
            cwd=site,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # printed once listening (or EOF if it died)
        found = re.match(r"policywatch serving (http://\S+)", line)
        assert found, f"serve printed {line!r}; log:\n{self.log.read_text()}"
        self.url = found.group(1)

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def post(self, path: str, data: dict[str, str]) -> tuple[int, bytes]:
        body = urllib.parse.urlencode(data).encode()
        request = urllib.request.Request(self.url + path, data=body, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        finally:
            assert self.proc.stdout is not None
            self.proc.stdout.close()
            self._err.close()
        return code


@pytest.fixture
def serve() -> Iterator[Callable[[Path], Server]]:
    started: list[Server] = []

    def start(site: Path) -> Server:
        server = Server(site)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.stop()


def links(server: SmtpServer, index: int) -> dict[str, str]:
    body = server.arrived[index].message().get_body(("plain",))
    assert body is not None
    text = body.get_content()  # type: ignore[attr-defined]
    return {m.group(1).split("/")[1]: m.group(1) for m in LINK.finditer(text)}


def test_serve_answers_checks_and_stops_cleanly(
    mailsite: Path, smtp_server: SmtpServer, serve: Callable[[Path], Server]
) -> None:
    server = serve(mailsite)
    status, body = server.get("/healthz")
    assert status == 200
    health = json.loads(body)
    assert health["database"] == "ok" and health["archive"] == "ok"
    assert health["sender"] == "ok" and health["scheduler"] in ("leader", "standby")
    # alone on its archive, this process takes the scheduler's lease and runs the checks
    wait_for(lambda: json.loads(server.get("/healthz")[1])["scheduler"] == "leader")
    # the scheduler's first check records the policy that was never checked
    wait_for(lambda: json.loads(server.get("/api/policies")[1])["policies"][0]["latest"])
    status, body = server.get("/")
    assert status == 200 and b"Privacy policy" in body
    status, _ = server.post("/subscribe", {"email": "ann@example.org"})
    assert status == 200
    wait_for(lambda: smtp_server.recipients() == ["ann@example.org"])
    confirm = links(smtp_server, 0)["confirm"]
    assert server.post(confirm, {})[0] == 200
    assert server.stop() == 0
    log = server.log.read_text()
    assert "Traceback" not in log
    assert confirm not in log and "/confirm/…" in log  # no capability in the access log


def test_serve_sends_what_is_queued_and_posts_objections_to_the_webhook(
    mailsite: Path, smtp_server: SmtpServer, serve: Callable[[Path], Server]
) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(500 if len(received) == 1 else 204)  # refuse the first try
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        config = mailsite / "config.toml"
        webhook = f"http://127.0.0.1:{hook.server_address[1]}/objections"
        config.write_text(config.read_text() + f'\n[optouts]\nwebhook = "{webhook}"\n')
        run("subscribers", "add", "ann@example.org")
        run("check")
        (mailsite / "policies" / "privacy.md").write_text(REVISED.read_text())
        assert "material" in run("check")  # queued, nothing sent yet
        assert smtp_server.arrived == []
        server = serve(mailsite)
        wait_for(lambda: len(smtp_server.arrived) == 1)
        opt_out = links(smtp_server, 0)["opt-out"]
        status, body = server.get(opt_out)
        assert status == 200 and b"advertising partners" in body
        assert server.post(opt_out, {})[0] == 200
        wait_for(lambda: len(received) == 2, timeout=20)  # refused once, retried
        assert server.stop() == 0
    finally:
        hook.shutdown()
        hook.server_close()
    secret = run("optouts", "--webhook-secret").strip()
    headers, body = received[-1]
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Policywatch-Signature"] == f"sha256={expected}"
    entry = json.loads(body)["optout"]
    assert entry["email"] == "ann@example.org" and entry["channel"] == "email-link"
    assert len(smtp_server.arrived) == 1  # and nothing was sent twice


async def test_stopping_the_sender_gives_back_what_it_did_not_send(
    mailsite: Path, smtp_server: SmtpServer
) -> None:
    emails = [f"reader{n}@example.org" for n in range(12)]
    run("subscribers", "add", *emails)
    run("check")
    (mailsite / "policies" / "privacy.md").write_text(REVISED.read_text())
    run("check")
    smtp_server.delay = 0.2
    tracker = Tracker(load_config(mailsite / "config.toml"))
    try:
        sender = BackgroundSender(tracker, every=60)
        sender.start()
        while len(smtp_server.arrived) < 2:
            await asyncio.sleep(0.02)
        started = time.monotonic()
        await asyncio.to_thread(sender.stop)
        # the chunk in flight (4 connections, one message each) finishes; nothing more starts
        assert time.monotonic() - started < 2.0
        counts = tracker.store.outbox_counts()
        assert counts["sending"] == 0  # every lease given back
        assert counts["sent"] == len(smtp_server.arrived) < len(emails)
        assert counts["queued"] == len(emails) - counts["sent"]
    finally:
        tracker.close()


async def test_healthz_answers_503_when_the_sender_thread_died(
    mailsite: Path,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    aiohttp_client: Any,
) -> None:
    """Pages still work, but nobody would be mailed: a supervisor must hear of it. (A bug that
    kills the thread cannot be caused for real, so one is put in.)"""
    from policywatch.notify import Notifier
    from policywatch.web import create_app
    from policywatch.web.typedefs import HEALTH

    async def broken(self: Notifier, *args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in sending")

    monkeypatch.setattr(Notifier, "send", broken)
    tracker = Tracker(load_config(mailsite / "config.toml"))
    try:
        sender = BackgroundSender(tracker, every=60)
        app = create_app(tracker.config, tracker=tracker)
        app[HEALTH]["sender"] = sender.health
        client = await aiohttp_client(app)
        assert sender.health() == ("stopped", False)  # not started yet
        sender.start()
        for _ in range(250):
            if sender.health()[0] == "stopped":
                break
            await asyncio.sleep(0.02)
        response = await client.get("/healthz")
        assert response.status == 503
        body = await response.json()
        assert body["status"] == "error" and body["sender"] == "stopped"
        assert body["archive"] == "ok" and body["database"] == "ok"
        assert (await client.get("/")).status == 200
    finally:
        sender.stop()
        tracker.close()


def test_the_access_log_keeps_no_token() -> None:
    import logging

    from aiohttp.test_utils import make_mocked_request
    from aiohttp.web import Response

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("test-access")
    logger.addHandler(Keep())
    logger.setLevel(logging.INFO)
    access = RedactingAccessLogger(logger, "")
    for path in ("/unsubscribe/AbC_-123", "/opt-out/xyz?x=1", "/policies/privacy?from=a"):
        access.log(make_mocked_request("POST", path), Response(status=200), 0.01)
    assert "/unsubscribe/…" in records[0] and "AbC" not in records[0]
    assert "/opt-out/…" in records[1] and "xyz" not in records[1]
    assert "/policies/privacy" in records[2] and "from=" not in records[2]
