"""``policywatch serve``: the web app, the scheduler and the mail sender in one process.

::

    aiohttp (event loop, main thread)   pages, feeds, API, subscription forms, confirmations
    PolicyScheduler (its own threads)   checks each policy on its grid, if it holds the lease
    BackgroundSender (its own thread)   outbox -> SMTP every few seconds, opt-out webhook

The sender has a thread and an event loop of its own because the outbox and the store block
(SQL, git, diffing a change to render it): run on the web app's loop they would stall every
page while a batch goes out. Every process sends, leader or not: outbox rows are leased, so
two senders never take the same row, and a second ``serve`` on the same database adds sending
capacity instead of idling. Only one posts to the webhook at a time (a database lock).

Shutdown (SIGINT or SIGTERM): stop listening and finish the requests in progress, stop the
scheduler (a running check completes), let the sender finish the chunk it is sending and give
back the rows it holds, then close the database. A second signal exits at once; what was in
flight is then safe too (leases expire, the archive reconciles), only slower to resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .errors import PolicywatchError
from .notify import LEASE, notify_owner

if TYPE_CHECKING:
    from .config import Config
    from .tracker import Tracker

__all__ = ["BackgroundSender", "RedactingAccessLogger", "run"]

log = logging.getLogger(__name__)

#: seconds between two looks at the outbox when nothing wakes the sender earlier
SEND_EVERY = 5.0
#: seconds between two reconciliations of the archive with the database (crash repair)
RECONCILE_EVERY = 300.0
#: rows claimed at a time: small, so a shutdown waits for little
SEND_BATCH = 50
#: seconds the sender gets to finish its chunk on shutdown before it is cancelled
STOP_GRACE = 30.0
#: back-off after the mail server itself failed (doubles, capped)
FATAL_BACKOFF = (30.0, 900.0)

_TOKEN_PATH = re.compile(r"^/(confirm|unsubscribe|opt-out)/[^/?]+")


class BackgroundSender:
    """Sends what the outbox holds and feeds the opt-out webhook, in a thread of its own.

    :meth:`nudge` (from any thread) starts a cycle now: after a check queued mail, after an
    objection was recorded. :meth:`stop` blocks until the thread is done.
    """

    def __init__(
        self,
        tracker: Tracker,
        *,
        every: float = SEND_EVERY,
        owner: str | None = None,
        batch: int = SEND_BATCH,
        lease: timedelta = LEASE,
        reconcile_every: float = RECONCILE_EVERY,
    ) -> None:
        self.tracker = tracker
        self.every = every
        self.owner = owner or f"serve:{notify_owner()}"
        self.batch = batch
        self.lease = lease
        self.reconcile_every = reconcile_every
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._fatal = 0
        self._not_before = 0.0
        self._reconciled = float("-inf")
        #: cycles run so far (for the tests and the log)
        self.cycles = 0

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the sender is already running")
        self._thread = threading.Thread(target=self._run, name="policywatch-sender", daemon=True)
        self._thread.start()
        self._ready.wait()

    def health(self) -> tuple[str, bool]:
        """For ``/healthz``: "ok", "retrying" (the mail server fails; mail waits, nothing is
        lost: not this process's fault) or "stopped" (the thread died: nothing is sent)."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return "stopped", False
        return ("retrying" if self._fatal else "ok"), True

    def nudge(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(wake.set)

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Finish the chunk being sent (at most ``grace`` seconds), give the rest back."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        stop, task = self._stop, self._task
        with contextlib.suppress(RuntimeError):
            if stop is not None:
                loop.call_soon_threadsafe(stop.set)
        thread.join(grace)
        if thread.is_alive() and task is not None:
            log.warning("the sender did not finish within %gs: cancelling it", grace)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)
            thread.join(10.0)
        self._thread = None

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # never silently: a dead sender means no mail
            log.exception("the sender stopped")
        finally:
            self._ready.set()

    async def _main(self) -> None:
        import aiohttp

        from .mail import SmtpMailer
        from .webhook import OptoutWebhook

        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._wake, self._stop = asyncio.Event(), asyncio.Event()
        self._ready.set()
        mailer = SmtpMailer(self.tracker.config.mail)
        webhook = OptoutWebhook(self.tracker, owner=self.owner)
        session = aiohttp.ClientSession() if webhook.enabled else None
        try:
            while not self._stop.is_set():
                self._wake.clear()
                await self._cycle(mailer, webhook, session)
                waits = [asyncio.ensure_future(e.wait()) for e in (self._wake, self._stop)]
                try:
                    await asyncio.wait(
                        waits, timeout=self.every, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    for w in waits:
                        w.cancel()
        finally:
            try:
                given = self.tracker.store.release(self.owner)
                if given:
                    log.info("gave back %d email(s) not yet sent", given)
            except PolicywatchError as exc:
                log.warning("could not give back the leased emails: %s", exc)
            await mailer.close()
            if session is not None:
                await session.close()

    async def _cycle(self, mailer: Any, webhook: Any, session: Any) -> None:
        assert self._stop is not None
        self.cycles += 1
        now = time.monotonic()
        notifier = self.tracker.notifier
        try:
            if now - self._reconciled >= self.reconcile_every:
                self._reconciled = now
                queued = notifier.reconcile()
                if queued:
                    log.info("queued %d email(s) the database had missed", queued)
            if now >= self._not_before:
                report = await notifier.send(
                    mailer, owner=self.owner, batch=self.batch, lease=self.lease, stop=self._stop
                )
                if report.sent or report.retried or report.failed:
                    log.info(
                        "sent %d, to retry %d, failed %d",
                        report.sent,
                        report.retried,
                        report.failed,
                    )
                if report.fatal is not None:
                    self._fatal += 1
                    base, cap = FATAL_BACKOFF
                    pause = min(base * 2 ** (self._fatal - 1), cap)
                    self._not_before = now + pause
                    log.error(
                        "the mail server failed: %s; nothing was suppressed, trying again in %.0fs",
                        report.fatal,
                        pause,
                    )
                else:
                    self._fatal = 0
            if session is not None and webhook.due():
                await webhook.deliver(session)
        except PolicywatchError as exc:  # the database or the archive is away: try again later
            log.error("sending failed: %s", exc)


class RedactingAccessLogger(AbstractAccessLogger):
    """The access log without the tokens of email links: whoever reads the log must not be
    able to confirm, unsubscribe or object for anyone. The query string is left out too."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        path = _TOKEN_PATH.sub(lambda m: f"/{m.group(1)}/…", request.path)
        self.logger.info(
            '%s "%s %s" %s %s %.3fs',
            request.remote,
            request.method,
            path,
            response.status,
            response.body_length,
            time,
        )


def _url(address: Any) -> str:
    host, port = address[0], address[1]
    return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"


def _prepare(tracker: Tracker) -> None:
    """Open what the tracker opens lazily, before several threads could race to open it."""
    tracker.store  # noqa: B018  (migrates the database)
    tracker.archive  # noqa: B018
    tracker.state  # noqa: B018
    tracker.signer  # noqa: B018
    tracker.dkim  # noqa: B018  (a bad key stops serve now, not at the first email)
    tracker.notifier  # noqa: B018


async def run(
    config: Config,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    ready: Callable[[Sequence[str]], None] | None = None,
    signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM),
) -> None:
    """Serve until one of ``signals``; ``ready`` gets the URLs listened on (``port`` 0 picks
    a free port)."""
    from .schedule import PolicyScheduler
    from .tracker import Tracker
    from .web import create_app
    from .web.typedefs import ACCOUNTS, HEALTH

    tracker = Tracker(config)
    loop = asyncio.get_running_loop()
    prepared = False
    try:
        await asyncio.to_thread(_prepare, tracker)
        prepared = True
        sender = BackgroundSender(tracker)
        app = create_app(config, tracker=tracker)
        app[ACCOUNTS].nudge = sender.nudge
        app[HEALTH]["sender"] = sender.health
        scheduler = PolicyScheduler(
            tracker, store=tracker.store, on_report=lambda report: sender.nudge()
        )
        app[HEALTH]["scheduler"] = scheduler.health
        runner = web.AppRunner(app, handle_signals=False, access_log_class=RedactingAccessLogger)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            try:
                await site.start()
            except OSError as exc:
                raise PolicywatchError(
                    f"cannot listen on {host}:{port}: {exc.strerror or exc}"
                ) from None
            stopping = asyncio.Event()

            def on_signal() -> None:
                if stopping.is_set():
                    log.warning("second signal: exiting now")
                    os._exit(1)
                log.info("stopping (a second signal exits at once)")
                stopping.set()

            for sig in signals:
                loop.add_signal_handler(sig, on_signal)
            try:
                sender.start()
                await loop.run_in_executor(None, scheduler.start)
                if ready is not None:
                    ready([_url(a) for a in runner.addresses])
                await stopping.wait()
            finally:
                for sig in signals:
                    loop.remove_signal_handler(sig)
                await site.stop()
                await loop.run_in_executor(None, scheduler.shutdown)
                await loop.run_in_executor(None, sender.stop)
        finally:
            await runner.cleanup()
    finally:
        await asyncio.to_thread(tracker.close)
        if prepared:
            await asyncio.to_thread(tracker.archive.close)
