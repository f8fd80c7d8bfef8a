"""Reading policy sources over HTTP: politely, conditionally, within bounds.

A watcher fetches the same few pages again and again, for years, from servers it does not own.
That shapes every choice here:

* **Polite.** At most ``[fetch] per_host`` requests in flight to one host, and at least
  ``[fetch] min_gap`` between two request starts to it (OTA fetches one page at a time because
  parallel requests got it 403s). An honest ``User-Agent``; no cookies kept, not even between two
  sources of the same site, so one source's session never changes what another one shows.
* **Conditional.** The server's *own* ``ETag`` and ``Last-Modified`` go back as ``If-None-Match``
  and ``If-Modified-Since``. Sending our clock instead (as urlwatch does) makes servers answer 200
  every time. A 304 reads no body and yields no snapshot.
* **Bounded.** A total timeout per request, a body cap that is checked while streaming (a server
  that lies about ``Content-Length`` or a gzip bomb cannot fill memory), a redirect limit, and
  only http/https targets: nothing but the source and the hosts it redirects to is contacted.
* **Honest about failure.** Every failure is a :class:`~policywatch.errors.FetchError` carrying
  ``url``, ``status`` and ``transient``. Timeouts, dropped connections, 408, 429 and 5xx are
  retried within the run (exponential backoff with jitter, honouring ``Retry-After``); the rest
  fail at once. Across runs, :func:`next_attempt` spaces out a source that keeps failing.

aiohttp is imported here and nowhere else; the tracker imports this module lazily so that
``policywatch diff`` never pays for it. Library exceptions never leave this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import queue
import random
import ssl
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Final, Protocol, cast

import aiohttp
from yarl import URL

from .config import FetchConfig, PolicyConfig
from .errors import FetchError
from .models import Snapshot
from .tls import verifying_context

__all__ = [
    "MAX_BACKOFF",
    "FetchResult",
    "Fetcher",
    "HttpFetcher",
    "Validators",
    "fetch_all",
    "fetch_in_background",
    "fetch_one",
    "media_type_of",
    "next_attempt",
    "parse_retry_after",
    "sniff_media_type",
]

#: the longest :func:`next_attempt` ever waits: a source is looked at at least once a day
MAX_BACKOFF: Final = timedelta(hours=24)

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_ACCEPT: Final = (
    "text/html,application/xhtml+xml;q=0.9,text/markdown;q=0.9,text/plain;q=0.8,"
    "application/pdf;q=0.8,*/*;q=0.1"
)
#: declared media types we know how to extract, mapped to the four the extractor accepts
_MEDIA_TYPES: Final = {
    "text/html": "text/html",
    "application/xhtml+xml": "text/html",
    "text/plain": "text/plain",
    "text/markdown": "text/markdown",
    "text/x-markdown": "text/markdown",
    "application/pdf": "application/pdf",
    "application/x-pdf": "application/pdf",
}
#: declared types that say nothing: look at the bytes instead
_UNDECLARED: Final = frozenset(
    {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}
)
_HTML_STARTS: Final = ("<!doctype html", "<html", "<head", "<body", "<title", "<meta", "<!--")
_CHUNK: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class Validators:
    """The validators a server sent with its last full answer, verbatim.

    They are opaque: a weak ``W/"..."`` ETag and an HTTP-date ``Last-Modified`` are sent back
    exactly as received, because only the server knows how to compare them with its own.
    """

    etag: str | None = None
    last_modified: str | None = None

    @classmethod
    def of(cls, snapshot: Snapshot) -> Validators:
        """The validators recorded with a snapshot (what the archive keeps between runs)."""
        return cls(etag=snapshot.etag, last_modified=snapshot.last_modified)

    def headers(self) -> dict[str, str]:
        """The conditional request headers these validators allow (empty when there are none)."""
        out: dict[str, str] = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one successful fetch returned.

    ``snapshot`` is None exactly when ``not_modified`` (the server answered 304 to our
    validators). ``url`` is the final URL after redirects: a source that now redirects elsewhere
    is worth telling its owner about. ``validators`` are the ones to send next time (a 304 may
    refresh them; when it does not, the previous ones are kept). ``attempts`` counts tries in
    this run, 1 when the first one succeeded.
    """

    snapshot: Snapshot | None
    not_modified: bool
    url: str
    status: int
    validators: Validators
    attempts: int = 1


class Fetcher(Protocol):
    """Anything that turns a configured policy into a :class:`FetchResult`.

    ``fetch`` raises :class:`~policywatch.errors.FetchError` and nothing else on purpose.
    ``close`` releases connections; a fetcher may be reused after it, in another event loop.
    """

    async def fetch(self, policy: PolicyConfig, previous: Validators | None) -> FetchResult: ...

    async def close(self) -> None: ...


class _Transient(Exception):
    """One attempt failed in a way another attempt may fix (internal to HttpFetcher)."""

    def __init__(
        self, message: str, *, url: URL, status: int | None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class _Hop:
    """A redirect answer: where to go next."""

    status: int
    target: URL


class _HostGate:
    """Per-host politeness: a semaphore for concurrency and a clock for the minimum gap.

    The gap is between request *starts*: the lock is held while sleeping so that waiters are
    released one at a time, each ``gap`` after the previous one.
    """

    __slots__ = ("lock", "next_start", "slots")

    def __init__(self, per_host: int) -> None:
        self.slots = asyncio.Semaphore(per_host)
        self.lock = asyncio.Lock()
        self.next_start = 0.0

    async def enter(self, gap: float) -> None:
        """Wait for a slot, then for the gap; pair with :meth:`leave`. (Two plain methods rather
        than an ``asynccontextmanager``: this runs once per request, and a generator-based
        context costs more than the rest of the gate.)"""
        await self.slots.acquire()
        if gap <= 0:
            return
        try:
            async with self.lock:
                loop = asyncio.get_running_loop()
                wait = self.next_start - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                self.next_start = loop.time() + gap
        except BaseException:  # cancelled while waiting: give the slot back
            self.slots.release()
            raise

    def leave(self) -> None:
        self.slots.release()


class HttpFetcher:
    """The real :class:`Fetcher`: one aiohttp session shared by every source of a run.

    The session is created lazily, inside the running loop (aiohttp binds it to that loop), and
    :meth:`close` forgets it, so ``asyncio.run(...)`` per run works as long as each run ends with
    ``close()`` (or ``async with HttpFetcher(config) as fetcher``).

    ``backoff`` is the first in-run retry delay in seconds (doubled each retry, plus up to 50%
    jitter). ``max_retry_after`` caps how long a ``Retry-After`` is waited for inside a run; a
    server asking for longer gets no retry now and the failure is reported as transient, for the
    scheduler's cross-run backoff to handle. ``connections`` is the connector's total limit.
    """

    def __init__(
        self,
        config: FetchConfig,
        *,
        backoff: float = 1.0,
        max_retry_after: float = 120.0,
        connections: int = 64,
        rng: random.Random | None = None,
    ) -> None:
        if backoff < 0 or max_retry_after < 0 or connections < 1:
            raise ValueError("backoff and max_retry_after must be >= 0, connections >= 1")
        self.config = config
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.connections = connections
        self._rng = rng or random.Random()
        self._timeout = config.timeout.total_seconds()
        self._gap = config.min_gap.total_seconds()
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gates: dict[str, _HostGate] = {}

    async def __aenter__(self) -> HttpFetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        session, self._session, self._loop = self._session, None, None
        self._gates.clear()
        if session is not None:
            await session.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None:
            if self._loop is not loop:
                raise RuntimeError(
                    "HttpFetcher is used in another event loop than the one that opened its"
                    " session; await close() at the end of each run"
                )
            return self._session
        connector = aiohttp.TCPConnector(
            limit=self.connections, limit_per_host=0, ssl=_ssl_context(self.config)
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # no cookie survives a response: sources stay independent of each other
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={
                "User-Agent": self.config.user_agent,
                "Accept": _ACCEPT,
                # only what aiohttp decodes without extra packages
                "Accept-Encoding": "gzip, deflate",
            },
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            auto_decompress=True,
            trust_env=False,  # no proxy or .netrc from the environment: only the source's host
            max_field_size=16384,  # some sites send Set-Cookie/CSP headers past aiohttp's 8 KiB
        )
        self._loop = loop
        return self._session

    def _gate(self, url: URL) -> _HostGate:
        host = (url.host or "").lower()
        gate = self._gates.get(host)
        if gate is None:
            gate = self._gates[host] = _HostGate(self.config.per_host)
        return gate

    # -- one fetch ---------------------------------------------------------------------------

    async def fetch(self, policy: PolicyConfig, previous: Validators | None) -> FetchResult:
        """Fetch one policy, retrying transient failures; raise :class:`FetchError` otherwise."""
        url = _source_url(policy)
        attempts = 0
        while True:
            attempts += 1
            try:
                result = await self._attempt(policy, url, previous)
            except _Transient as failure:
                if attempts > self.config.retries:
                    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
                    raise FetchError(
                        f"{failure.message} (gave up after {tries})",
                        url=str(failure.url),
                        status=failure.status,
                        transient=True,
                        policy=policy.id,
                    ) from failure.__cause__
                if failure.retry_after is not None and failure.retry_after > self.max_retry_after:
                    raise FetchError(
                        f"{failure.message}; the server asks to retry after"
                        f" {failure.retry_after:.0f} s, longer than this run waits"
                        f" ({self.max_retry_after:.0f} s)",
                        url=str(failure.url),
                        status=failure.status,
                        transient=True,
                        policy=policy.id,
                    ) from None
                await asyncio.sleep(self._delay(attempts, failure.retry_after))
                continue
            return result if attempts == 1 else replace(result, attempts=attempts)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        base: float = self.backoff * 2.0 ** (attempt - 1)
        delay = base + self._rng.uniform(0, base / 2)
        return max(delay, retry_after) if retry_after is not None else delay

    async def _attempt(
        self, policy: PolicyConfig, url: URL, previous: Validators | None
    ) -> FetchResult:
        """One try: follow redirects by hand, each hop through its own host's gate."""
        session = self._ensure_session()
        conditional = previous.headers() if previous else {}
        current = url
        last_status = None
        for _ in range(self.config.max_redirects + 1):
            outcome = await self._request(session, policy, current, conditional, previous)
            if isinstance(outcome, FetchResult):
                return outcome
            current, last_status = outcome.target, outcome.status
        raise FetchError(
            f"{url}: more than {self.config.max_redirects} redirects (last to {current})"
            " ([fetch] max_redirects)",
            url=str(url),
            status=last_status,
            transient=False,
            policy=policy.id,
        )

    async def _request(
        self,
        session: aiohttp.ClientSession,
        policy: PolicyConfig,
        url: URL,
        conditional: Mapping[str, str],
        previous: Validators | None,
    ) -> FetchResult | _Hop:
        gate = self._gate(url)
        await gate.enter(self._gap)
        try:
            async with session.get(url, headers=conditional, allow_redirects=False) as resp:
                return await self._answer(resp, policy, url, conditional, previous)
        except TimeoutError as exc:
            raise _Transient(
                f"{url}: no complete answer within {self._timeout:g} s ([fetch] timeout)",
                url=url,
                status=None,
            ) from exc
        except aiohttp.ClientSSLError as exc:
            # a bad certificate does not heal in seconds; retrying only hammers the host
            raise FetchError(
                f"{url}: TLS failed: {exc}", url=str(url), transient=False, policy=policy.id
            ) from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise _Transient(
                f"{url}: connection failed: {_describe(exc)}", url=url, status=None
            ) from exc
        except aiohttp.ClientError as exc:
            raise FetchError(
                f"{url}: {_describe(exc)}", url=str(url), transient=False, policy=policy.id
            ) from exc
        finally:
            gate.leave()

    async def _answer(
        self,
        resp: aiohttp.ClientResponse,
        policy: PolicyConfig,
        url: URL,
        conditional: Mapping[str, str],
        previous: Validators | None,
    ) -> FetchResult | _Hop:
        status = resp.status
        what = f"{url}: HTTP {status} {resp.reason or ''}".rstrip()
        if status in _REDIRECTS:
            target = _redirect_target(url, resp.headers.get("Location"), what, status, policy)
            return _Hop(status, target)
        if status == 304:
            if not conditional or previous is None:
                raise FetchError(
                    f"{what} to a request without validators",
                    url=str(url),
                    status=status,
                    policy=policy.id,
                )
            validators = Validators(
                etag=resp.headers.get("ETag") or previous.etag,
                last_modified=resp.headers.get("Last-Modified") or previous.last_modified,
            )
            return FetchResult(None, True, str(url), status, validators)
        if 200 <= status < 300:
            content = await self._read_capped(resp, policy, url)
            fetched_at = datetime.now(UTC)
            media_type, charset = media_type_of(resp.headers.get("Content-Type"), content)
            if media_type is None:
                raise FetchError(
                    f"{url}: unsupported content ({resp.headers.get('Content-Type')!r}, "
                    "not HTML, Markdown, plain text or PDF)",
                    url=str(url),
                    status=status,
                    policy=policy.id,
                )
            validators = Validators(
                etag=resp.headers.get("ETag"), last_modified=resp.headers.get("Last-Modified")
            )
            snapshot = Snapshot(
                source=policy.source,
                content=content,
                media_type=media_type,
                fetched_at=fetched_at,
                charset=charset,
                etag=validators.etag,
                last_modified=validators.last_modified,
            )
            return FetchResult(snapshot, False, str(url), status, validators)
        if status in (408, 429) or status >= 500:
            now = _server_date(resp.headers.get("Date"))
            retry_after = parse_retry_after(resp.headers.get("Retry-After"), now)
            raise _Transient(what, url=url, status=status, retry_after=retry_after)
        raise FetchError(what, url=str(url), status=status, transient=False, policy=policy.id)

    async def _read_capped(
        self, resp: aiohttp.ClientResponse, policy: PolicyConfig, url: URL
    ) -> bytes:
        """Stream the (decoded) body, stopping as soon as it passes ``max_bytes``.

        ``Content-Length`` is trusted only to refuse early, and only without a
        ``Content-Encoding`` (it then counts compressed bytes). The cap applies to the decoded
        body, so a small gzip that inflates to gigabytes stops at the cap too.
        """
        cap = self.config.max_bytes

        def too_big() -> FetchError:
            return FetchError(
                f"{url}: the body is larger than the limit of {cap:,} bytes ([fetch] max_bytes)",
                url=str(url),
                status=resp.status,
                transient=False,
                policy=policy.id,
            )

        length = resp.content_length
        if length is not None and length > cap and not resp.headers.get("Content-Encoding"):
            resp.close()
            raise too_big()
        body = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > cap:
                resp.close()  # drop the connection: the rest of the body is never read
                raise too_big()
        return bytes(body)


# -- many at once ---------------------------------------------------------------------------


async def fetch_one(
    fetcher: Fetcher, policy: PolicyConfig, previous: Validators | None
) -> FetchResult | FetchError:
    """Fetch one policy; a :class:`FetchError` is returned, not raised, with its policy set."""
    try:
        return await fetcher.fetch(policy, previous)
    except FetchError as exc:
        if exc.policy is None:
            exc.policy = policy.id
        return exc


async def fetch_all(
    fetcher: Fetcher, policies: Iterable[PolicyConfig], previous: Mapping[str, Validators]
) -> dict[str, FetchResult | FetchError]:
    """Fetch every policy concurrently in the running loop, keyed by policy id.

    Concurrency is bounded by the fetcher (per host), not here: every source starts at once and
    waits for its host's turn. A :class:`FetchError` is returned in place of its result, so one
    failing source never cancels or hides the others. Anything else is a bug and propagates.
    """
    todo = list(policies)
    results = await asyncio.gather(*(fetch_one(fetcher, p, previous.get(p.id)) for p in todo))
    return {p.id: r for p, r in zip(todo, results, strict=True)}


#: how many fetched bodies :func:`fetch_in_background` holds for its consumer at most
FETCH_AHEAD: Final = 64


def fetch_in_background(
    config: FetchConfig,
    policies: Sequence[PolicyConfig],
    previous: Mapping[str, Validators],
    *,
    ahead: int = FETCH_AHEAD,
) -> Iterator[tuple[PolicyConfig, FetchResult | FetchError]]:
    """Fetch in a thread with its own event loop, yielding each outcome as it completes.

    The caller extracts, diffs and records while later pages are still on the wire, instead of
    waiting for the slowest source before starting: against real servers a pass is mostly
    waiting. Memory stays bounded: at most ``ahead`` fetched bodies wait for the caller (a
    fetch starts only when one of them is taken).

    Outcomes without a body (304s and errors) need no work from the caller and hold no place:
    they come together at the end. Handing each one over on its own woke the caller's thread a
    thousand times in an unchanged pass and cost it a fifth of its time in GIL hand-offs.

    Closing the iterator early (the caller failed, or stopped) cancels the fetches still running
    and waits for the thread. A bug in the fetching (anything but a :class:`FetchError`, which
    is yielded) is raised here.
    """
    if ahead < 1:
        raise ValueError("ahead must be >= 1")
    out: queue.SimpleQueue[object] = queue.SimpleQueue()
    loop = asyncio.new_event_loop()
    room = asyncio.Semaphore(ahead)  # bound to `loop` when first awaited there

    async def run() -> None:
        light: list[tuple[PolicyConfig, FetchResult | FetchError]] = []
        async with HttpFetcher(config) as fetcher:

            async def one(policy: PolicyConfig) -> None:
                await room.acquire()
                outcome = await fetch_one(fetcher, policy, previous.get(policy.id))
                if isinstance(outcome, FetchResult) and outcome.snapshot is not None:
                    out.put((policy, outcome))
                else:
                    room.release()  # nothing held: the place is free again at once
                    light.append((policy, outcome))

            await asyncio.gather(*(one(p) for p in policies))
        out.put(_Light(light))

    main = loop.create_task(run())

    def work() -> None:
        asyncio.set_event_loop(loop)  # this thread's loop, for anything that asks for it
        try:
            loop.run_until_complete(main)
        except BaseException as exc:  # handed to the consumer, raised there
            out.put(_Failed(exc))
        finally:
            try:
                # as asyncio.run does: nothing left pending (a bug in one fetch leaves the
                # others running when gather gives up)
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())  # the DNS threads
            finally:
                asyncio.set_event_loop(None)
                loop.close()
                out.put(_DONE)

    def release() -> None:
        room.release()

    thread = threading.Thread(target=work, name="policywatch fetch", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                if isinstance(item.exc, asyncio.CancelledError):
                    return
                raise item.exc
            if isinstance(item, _Light):
                yield from item.outcomes
                continue
            with contextlib.suppress(RuntimeError):  # the loop is already closed: all done
                loop.call_soon_threadsafe(release)
            yield cast("tuple[PolicyConfig, FetchResult]", item)
    finally:
        if thread.is_alive():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(main.cancel)
        thread.join()


@dataclass(frozen=True, slots=True)
class _Failed:
    exc: BaseException


@dataclass(frozen=True, slots=True)
class _Light:
    outcomes: list[tuple[PolicyConfig, FetchResult | FetchError]]


_DONE: Final = object()


# -- across runs ----------------------------------------------------------------------------


def next_attempt(failures: int, last_failure: datetime, base: timedelta) -> datetime:
    """When to try a source again after ``failures`` consecutive failed runs.

    ``base`` after the first failure, then doubling: ``base * 2 ** (failures - 1)``, never more
    than :data:`MAX_BACKOFF` (24 h), so a source that is down for a week is still looked at daily
    and picked up again within a day of coming back. With no failures the source is due at
    ``last_failure`` (i.e. on its normal schedule). Deterministic on purpose: the scheduler
    spreads its jobs with its own jitter, and tests can state exact times. A typical ``base`` is
    the policy's check interval or a quarter of it.
    """
    if base <= timedelta(0):
        raise ValueError("base must be a positive duration")
    if failures <= 0:
        return last_failure
    cap = MAX_BACKOFF.total_seconds()
    # the exponent is bounded first so that a source failing for years cannot overflow
    seconds = min(base.total_seconds() * 2.0 ** min(failures - 1, 64), cap)
    return last_failure + timedelta(seconds=seconds)


# -- helpers (pure) -------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date.

    ``now`` should be the server's ``Date`` when it sent one, so that a date is read against the
    server's clock rather than ours. A date in the past means "now" (0). Garbage means no hint.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


def media_type_of(content_type: str | None, content: bytes) -> tuple[str | None, str | None]:
    """``(media type for the extractor, charset)`` from a Content-Type header and the body.

    The charset is the transport's declaration only (``Snapshot.charset``); in-document
    declarations are the extractor's business. A missing or ``application/octet-stream`` type is
    sniffed from the bytes; a declared known type is trusted. The media type is None when the
    body is neither declared nor recognisable as something we can extract.
    """
    declared, charset = _parse_content_type(content_type)
    if declared in _MEDIA_TYPES:
        return _MEDIA_TYPES[declared], charset
    if declared in _UNDECLARED or declared.startswith("text/") or declared.endswith("+xml"):
        return sniff_media_type(content), charset
    return None, charset


def sniff_media_type(content: bytes) -> str | None:
    """Guess the media type of an undeclared body from its first kilobyte.

    PDF by its magic number; HTML by a leading tag (after a BOM, white space or an XML
    declaration); Markdown by front matter or a leading ``#`` heading; other text as plain text.
    Bytes with NULs that are not UTF-16 text are binary: None.
    """
    head = content[:1024]
    if b"%PDF-" in head:
        return "application/pdf"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", errors="replace")
    elif b"\x00" in head:
        return None
    else:
        text = head.decode("latin-1")
    text = text.lstrip("\ufeff\xef\xbb\xbf \t\r\n").lower()
    if text.startswith("<?xml"):
        end = text.find("?>")
        text = text[end + 2 :].lstrip() if end >= 0 else ""
    if text.startswith(_HTML_STARTS) or "<html" in text:
        return "text/html"
    if text.startswith(("---\n", "---\r\n", "# ")) or text.startswith("#\t"):
        return "text/markdown"
    return "text/plain"


def _parse_content_type(value: str | None) -> tuple[str, str | None]:
    if not value:
        return "", None
    parts = value.split(";")
    media = parts[0].strip().lower()
    charset = None
    for param in parts[1:]:
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip('"').strip("'").lower() or None
    return media, charset


def _ssl_context(config: FetchConfig) -> ssl.SSLContext | bool:
    """Certificates are always verified: against the system's store, plus ``[fetch] ca_file``
    when set (see :mod:`policywatch.tls`)."""
    if config.ca_file is None:
        return True  # aiohttp's own verified default: no second copy of the system's CAs
    return verifying_context(config.ca_file, key="fetch.ca_file", system_store=True)


def _source_url(policy: PolicyConfig) -> URL:
    try:
        url = URL(policy.source)
    except (TypeError, ValueError) as exc:
        raise FetchError(
            f"{policy.source}: not a valid URL ({exc})", url=policy.source, policy=policy.id
        ) from None
    if url.scheme not in ("http", "https") or not url.host:
        raise FetchError(
            f"{policy.source}: not an http(s) URL", url=policy.source, policy=policy.id
        )
    return url


def _redirect_target(
    url: URL, location: str | None, what: str, status: int, policy: PolicyConfig
) -> URL:
    if not location:
        raise FetchError(
            f"{what} without a Location header", url=str(url), status=status, policy=policy.id
        )
    try:
        target = url.join(URL(location))
    except (TypeError, ValueError):
        raise FetchError(
            f"{what} to an invalid Location {location!r}",
            url=str(url),
            status=status,
            policy=policy.id,
        ) from None
    if target.scheme not in ("http", "https") or not target.host:
        raise FetchError(
            f"{what} to {location!r}: only http and https redirects are followed",
            url=str(url),
            status=status,
            policy=policy.id,
        )
    return target


def _server_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
