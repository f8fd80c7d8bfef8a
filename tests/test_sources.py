"""HttpFetcher against a real local aiohttp server (tests/sitefixture.py); no mocked client."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import sitefixture
import smtpfixture
from policywatch.config import FetchConfig, PolicyConfig
from policywatch.errors import ConfigError, FetchError, SourceError
from policywatch.models import Snapshot
from policywatch.sources import (
    MAX_BACKOFF,
    FetchResult,
    HttpFetcher,
    Validators,
    fetch_all,
    fetch_in_background,
    media_type_of,
    next_attempt,
    parse_retry_after,
    sniff_media_type,
)
from sitefixture import ETAG, LAST_MODIFIED, LATIN1_HTML, PDF_BYTES, POLICY_HTML, Site
from smtpfixture import TlsFiles

# the server fixtures, used by name as test arguments
http_site = sitefixture.http_site
threaded_site = sitefixture.threaded_site

UA = "policywatch-test/1.0 (+https://example.org/about-our-watcher)"
FAST = FetchConfig(
    timeout=timedelta(seconds=2),
    user_agent=UA,
    per_host=4,
    max_bytes=64 * 1024,
    max_redirects=5,
    retries=2,
)


def policy(url: str, pid: str = "privacy") -> PolicyConfig:
    return PolicyConfig(id=pid, title="Privacy", source=url)


def make(config: FetchConfig = FAST, **kwargs: float) -> HttpFetcher:
    return HttpFetcher(config, backoff=kwargs.pop("backoff", 0.001), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def fetcher() -> AsyncIterator[HttpFetcher]:
    f = make()
    try:
        yield f
    finally:
        await f.close()


async def failure(fetcher: HttpFetcher, url: str) -> FetchError:
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(policy(url), None)
    return info.value


# -- the happy path and conditional GET -------------------------------------------------------


async def test_first_fetch_returns_snapshot_and_server_validators(
    http_site: Site, fetcher: HttpFetcher
) -> None:
    url = http_site.url("/policy")
    result = await fetcher.fetch(policy(url), None)

    assert result.status == 200 and not result.not_modified and result.attempts == 1
    assert result.url == url
    assert result.validators == Validators(etag=ETAG, last_modified=LAST_MODIFIED)
    snap = result.snapshot
    assert snap is not None
    assert snap.content == POLICY_HTML
    assert (snap.media_type, snap.charset) == ("text/html", "utf-8")
    assert (snap.etag, snap.last_modified) == (ETAG, LAST_MODIFIED)
    assert snap.source == url
    assert snap.fetched_at.tzinfo is UTC

    (seen,) = http_site.seen("/policy")
    assert seen.headers["User-Agent"] == UA
    assert "gzip" in seen.headers["Accept-Encoding"]
    assert "If-None-Match" not in seen.headers and "If-Modified-Since" not in seen.headers


async def test_conditional_get_sends_the_servers_own_validators_back(
    http_site: Site, fetcher: HttpFetcher
) -> None:
    url = http_site.url("/policy")
    first = await fetcher.fetch(policy(url), None)
    second = await fetcher.fetch(policy(url), first.validators)

    assert second.not_modified and second.snapshot is None and second.status == 304
    assert second.validators == first.validators
    last = http_site.seen("/policy")[-1]
    assert last.headers["If-None-Match"] == ETAG
    assert last.headers["If-Modified-Since"] == LAST_MODIFIED


async def test_last_modified_alone_is_enough_for_a_304(
    http_site: Site, fetcher: HttpFetcher
) -> None:
    result = await fetcher.fetch(
        policy(http_site.url("/policy")), Validators(last_modified=LAST_MODIFIED)
    )
    assert result.not_modified
    assert result.validators.etag == ETAG  # refreshed from the 304


async def test_a_stale_etag_gets_the_full_body(http_site: Site, fetcher: HttpFetcher) -> None:
    stale = Validators(etag='"policy-v0"', last_modified=LAST_MODIFIED)
    result = await fetcher.fetch(policy(http_site.url("/policy")), stale)
    assert not result.not_modified and result.snapshot is not None
    assert result.validators.etag == ETAG


async def test_validators_round_trip_through_a_snapshot() -> None:
    snap = Snapshot(
        "u", b"", "text/html", datetime.now(UTC), etag='W/"x"', last_modified=LAST_MODIFIED
    )
    assert Validators.of(snap).headers() == {
        "If-None-Match": 'W/"x"',
        "If-Modified-Since": LAST_MODIFIED,
    }
    assert Validators().headers() == {}


# -- retries -----------------------------------------------------------------------------------


async def test_a_500_is_retried_and_the_retry_succeeds(
    http_site: Site, fetcher: HttpFetcher
) -> None:
    result = await fetcher.fetch(policy(http_site.url("/flaky")), None)
    assert result.status == 200 and result.attempts == 2
    assert http_site.count("/flaky") == 2


async def test_a_source_that_stays_down_is_a_transient_error_after_the_retries(
    http_site: Site, fetcher: HttpFetcher
) -> None:
    url = http_site.url("/down")
    err = await failure(fetcher, url)
    assert err.transient and err.status == 503 and err.url == url
    assert err.policy == "privacy"
    assert "503" in str(err) and "3 attempts" in str(err)
    assert http_site.count("/down") == FAST.retries + 1


async def test_no_retries_configured_means_one_request(http_site: Site) -> None:
    async with make(FetchConfig(user_agent=UA, retries=0)) as fetcher:
        err = await failure(fetcher, http_site.url("/down"))
    assert err.transient
    assert http_site.count("/down") == 1


async def test_retry_after_is_honoured(http_site: Site, fetcher: HttpFetcher) -> None:
    start = time.monotonic()
    result = await fetcher.fetch(policy(http_site.url("/busy?after=1")), None)
    elapsed = time.monotonic() - start
    assert result.status == 200 and result.attempts == 2
    assert elapsed >= 0.95  # the backoff alone would have been ~1 ms
    first, second = http_site.seen("/busy")
    assert second.at - first.at >= 0.95


async def test_a_retry_after_longer_than_the_run_waits_fails_at_once(http_site: Site) -> None:
    async with make(max_retry_after=5) as fetcher:
        err = await failure(fetcher, http_site.url("/busy?after=3600"))
    assert err.transient and err.status == 429
    assert "3600" in str(err)
    assert http_site.count("/busy") == 1


async def test_a_404_is_permanent_and_not_retried(http_site: Site, fetcher: HttpFetcher) -> None:
    err = await failure(fetcher, http_site.url("/missing"))
    assert not err.transient and err.status == 404
    assert isinstance(err, SourceError)
    assert http_site.count("/missing") == 1


async def test_a_slow_answer_times_out_and_is_transient(http_site: Site) -> None:
    config = FetchConfig(user_agent=UA, timeout=timedelta(milliseconds=150), retries=1)
    async with make(config) as fetcher:
        start = time.monotonic()
        err = await failure(fetcher, http_site.url("/slow?delay=1"))
        elapsed = time.monotonic() - start
    assert err.transient and err.status is None
    assert "0.15 s" in str(err) and "timeout" in str(err)
    assert http_site.count("/slow") == 2
    assert elapsed < 0.9


async def test_the_timeout_covers_a_body_that_trickles(http_site: Site) -> None:
    config = FetchConfig(user_agent=UA, timeout=timedelta(milliseconds=150), retries=0)
    async with make(config) as fetcher:
        err = await failure(fetcher, http_site.url("/slow-body?delay=1"))
    assert err.transient and "timeout" in str(err)


async def test_a_refused_connection_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with make(FetchConfig(user_agent=UA, retries=1)) as fetcher:
        err = await failure(fetcher, f"http://127.0.0.1:{port}/policy")
    assert err.transient and err.status is None
    assert "connection failed" in str(err)


# -- bounds ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/big", "/big-chunked", "/bomb"])
async def test_a_body_past_the_cap_is_refused(
    http_site: Site, fetcher: HttpFetcher, path: str
) -> None:
    err = await failure(fetcher, http_site.url(f"{path}?size=1000000"))
    assert not err.transient and err.status == 200
    assert "65,536 bytes" in str(err) and "max_bytes" in str(err)
    assert http_site.count(path) == 1


async def test_a_body_at_the_cap_is_accepted(http_site: Site, fetcher: HttpFetcher) -> None:
    result = await fetcher.fetch(policy(http_site.url(f"/big?size={FAST.max_bytes}")), None)
    assert result.snapshot is not None and len(result.snapshot.content) == FAST.max_bytes


async def test_a_redirect_chain_is_followed_and_the_final_url_recorded(
    http_site: Site, fetcher: HttpFetcher
) -> None:
    result = await fetcher.fetch(policy(http_site.url("/r/3")), Validators(etag=ETAG))
    assert result.url == http_site.url("/policy")
    assert result.not_modified  # the validators travel with every hop
    assert [r.path for r in http_site.requests] == ["/r/3", "/r/2", "/r/1", "/r/0", "/policy"]


async def test_too_many_redirects_is_a_permanent_error(http_site: Site) -> None:
    async with make(FetchConfig(user_agent=UA, max_redirects=2)) as fetcher:
        err = await failure(fetcher, http_site.url("/r/3"))
    assert not err.transient and err.status == 302
    assert "more than 2 redirects" in str(err) and "max_redirects" in str(err)
    assert len(http_site.requests) == 3


@pytest.mark.parametrize("path", ["/to-ftp", "/no-location"])
async def test_a_redirect_outside_http_is_not_followed(
    http_site: Site, fetcher: HttpFetcher, path: str
) -> None:
    err = await failure(fetcher, http_site.url(path))
    assert not err.transient and err.status == 302
    assert len(http_site.requests) == 1


async def test_a_file_source_is_not_fetched_over_http(fetcher: HttpFetcher) -> None:
    with pytest.raises(FetchError, match="not an http"):
        await fetcher.fetch(policy("/srv/policies/privacy.md"), None)


async def test_no_cookie_is_kept_between_requests(http_site: Site, fetcher: HttpFetcher) -> None:
    await fetcher.fetch(policy(http_site.url("/cookie")), None)
    await fetcher.fetch(policy(http_site.url("/cookie")), None)
    assert all("Cookie" not in r.headers for r in http_site.requests)


# -- content types -----------------------------------------------------------------------------


async def test_the_header_charset_is_recorded(http_site: Site, fetcher: HttpFetcher) -> None:
    result = await fetcher.fetch(policy(http_site.url("/latin1")), None)
    assert result.snapshot is not None
    assert result.snapshot.charset == "iso-8859-1"
    assert result.snapshot.content == LATIN1_HTML  # bytes untouched: decoding is extraction's


async def test_gzip_is_asked_for_and_decoded(http_site: Site, fetcher: HttpFetcher) -> None:
    result = await fetcher.fetch(policy(http_site.url("/gzip")), None)
    assert result.snapshot is not None and result.snapshot.content == POLICY_HTML
    assert http_site.seen("/gzip")[0].headers["Accept-Encoding"] == "gzip, deflate"


async def test_a_pdf_is_a_pdf(http_site: Site, fetcher: HttpFetcher) -> None:
    result = await fetcher.fetch(policy(http_site.url("/pdf")), None)
    assert result.snapshot is not None
    assert result.snapshot.media_type == "application/pdf"
    assert result.snapshot.content == PDF_BYTES


async def test_octet_stream_is_sniffed(http_site: Site, fetcher: HttpFetcher) -> None:
    result = await fetcher.fetch(policy(http_site.url("/octet")), None)
    assert result.snapshot is not None and result.snapshot.media_type == "text/html"


async def test_an_unsupported_type_is_a_permanent_error(
    http_site: Site, fetcher: HttpFetcher
) -> None:
    err = await failure(fetcher, http_site.url("/json"))
    assert not err.transient and "application/json" in str(err)


@pytest.mark.parametrize(
    ("header", "body", "expected"),
    [
        ("text/html; charset=UTF-8", b"", ("text/html", "utf-8")),
        ('application/xhtml+xml; charset="windows-1252"', b"", ("text/html", "windows-1252")),
        ("text/markdown", b"", ("text/markdown", None)),
        ("TEXT/PLAIN;charset=us-ascii", b"", ("text/plain", "us-ascii")),
        ("application/pdf", b"", ("application/pdf", None)),
        (None, b"%PDF-1.7 ...", ("application/pdf", None)),
        (None, b"\xef\xbb\xbf  <!DOCTYPE html><p>x", ("text/html", None)),
        ("application/octet-stream", b'<?xml version="1.0"?>\n<html>', ("text/html", None)),
        (None, b"---\ntitle: Privacy\n---\n# Privacy", ("text/markdown", None)),
        (None, b"# Privacy\n\nWe keep nothing.", ("text/markdown", None)),
        (None, b"We keep nothing.", ("text/plain", None)),
        (None, b"\x89PNG\r\n\x1a\n\x00\x00", (None, None)),
        ("image/png", b"<html>", (None, None)),
    ],
)
def test_media_type_of(header: str | None, body: bytes, expected: tuple[str | None, ...]) -> None:
    assert media_type_of(header, body) == expected


def test_sniff_reads_utf16_html() -> None:
    assert sniff_media_type("\ufeff<html><body>x".encode("utf-16")) == "text/html"


# -- politeness and many sources at once -------------------------------------------------------


async def test_per_host_concurrency_is_bounded(http_site: Site) -> None:
    config = FetchConfig(user_agent=UA, per_host=2)
    policies = [policy(http_site.url(f"/hold/{i}"), f"p{i}") for i in range(8)]
    async with make(config) as fetcher:
        results = await fetch_all(fetcher, policies, {})
    assert all(isinstance(r, FetchResult) for r in results.values())
    assert http_site.max_in_flight == 2  # never more, and the limit is actually used


async def test_min_gap_spaces_request_starts_to_one_host(http_site: Site) -> None:
    config = FetchConfig(user_agent=UA, per_host=4, min_gap=timedelta(milliseconds=100))
    policies = [policy(http_site.url(f"/hold/{i}"), f"p{i}") for i in range(4)]
    async with make(config) as fetcher:
        await fetch_all(fetcher, policies, {})
    starts = sorted(r.at for r in http_site.requests)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # arrival times at the server: a stall of this shared machine can shift one by a few ms,
    # never the whole spacing (without the gap, all four would arrive within a few ms)
    assert min(gaps) >= 0.07 and sum(gaps) / len(gaps) >= 0.09


async def test_a_fetch_cancelled_while_waiting_for_the_gap_gives_its_slot_back(
    http_site: Site,
) -> None:
    config = FetchConfig(user_agent=UA, per_host=1, min_gap=timedelta(seconds=30))
    async with make(config) as fetcher:
        await fetcher.fetch(policy(http_site.url("/policy"), "a"), None)
        waiting = asyncio.create_task(fetcher.fetch(policy(http_site.url("/policy"), "b"), None))
        await asyncio.sleep(0.05)  # b holds the host's only slot and sleeps out the gap
        gate = fetcher._gates["127.0.0.1"]
        assert gate.slots.locked()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert not gate.slots.locked()  # otherwise the host would be blocked for the whole run
    assert len(http_site.requests) == 1


async def test_fetch_all_isolates_failures(http_site: Site) -> None:
    policies = [
        policy(http_site.url("/policy"), "ok"),
        policy(http_site.url("/missing"), "gone"),
        policy(http_site.url("/down"), "down"),
        policy(http_site.url("/policy"), "same"),
    ]
    previous = {"same": Validators(etag=ETAG)}
    async with make() as fetcher:
        results = await fetch_all(fetcher, policies, previous)
    assert list(results) == ["ok", "gone", "down", "same"]
    ok, gone, down, same = results.values()
    assert isinstance(ok, FetchResult) and ok.snapshot is not None
    assert isinstance(gone, FetchError) and not gone.transient and gone.policy == "gone"
    assert isinstance(down, FetchError) and down.transient and down.policy == "down"
    assert isinstance(same, FetchResult) and same.not_modified


async def test_a_fetcher_can_be_closed_and_used_again(http_site: Site) -> None:
    fetcher = make()
    await fetcher.fetch(policy(http_site.url("/policy")), None)
    await fetcher.close()
    result = await fetcher.fetch(policy(http_site.url("/policy")), None)
    await fetcher.close()
    assert result.status == 200


def test_a_fetcher_reused_in_a_new_loop_after_close_works(threaded_site: Site) -> None:
    fetcher = make()

    async def run() -> FetchResult:
        try:
            return await fetcher.fetch(policy(threaded_site.url("/policy")), None)
        finally:
            await fetcher.close()

    assert asyncio.run(run()).status == 200
    assert asyncio.run(run()).status == 200


# -- pure helpers ------------------------------------------------------------------------------


def test_next_attempt_doubles_from_base_and_caps_at_a_day() -> None:
    t0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    base = timedelta(minutes=30)
    waits = [next_attempt(n, t0, base) - t0 for n in range(1, 8)]
    assert waits[:6] == [timedelta(minutes=30 * 2**i) for i in range(6)]
    assert waits[6] == MAX_BACKOFF == timedelta(hours=24)
    assert next_attempt(10_000, t0, base) == t0 + MAX_BACKOFF
    assert next_attempt(0, t0, base) == t0
    assert next_attempt(3, t0, base) == next_attempt(3, t0, base)  # deterministic


def test_next_attempt_refuses_a_non_positive_base() -> None:
    with pytest.raises(ValueError, match="base"):
        next_attempt(1, datetime(2024, 5, 1, tzinfo=UTC), timedelta(0))


def test_parse_retry_after() -> None:
    now = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 0 ", now) == 0.0
    assert parse_retry_after("Wed, 01 May 2024 10:01:30 GMT", now) == 90.0
    assert parse_retry_after("Wed, 01 May 2024 09:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-5", now) is None
    assert parse_retry_after(None, now) is None


# -- fetching in the background while the caller works ---------------------------------------

threaded_site = sitefixture.threaded_site


def test_background_fetches_arrive_as_they_complete_with_bodies_bounded(
    threaded_site: Site,
) -> None:
    """A slow consumer never has more than ``ahead`` fetched bodies waiting for it: a fetch
    starts only when one is taken. 304s hold no body and no place."""
    site = threaded_site
    pages = [policy(site.url(f"/hold/{i}"), f"p{i}") for i in range(8)]
    same = [policy(site.url("/policy"), f"same{i}") for i in range(4)]
    previous = {p.id: Validators(etag=ETAG) for p in same}
    seen: dict[str, FetchResult] = {}
    for k, (pol, outcome) in enumerate(
        fetch_in_background(FAST, pages + same, previous, ahead=2), start=1
    ):
        assert isinstance(outcome, FetchResult)
        seen[pol.id] = outcome
        started = len([r for r in site.requests if r.path.startswith("/hold/")])
        assert started <= k + 2  # never more bodies in flight or waiting than taken + ahead
        time.sleep(0.1)  # the caller extracts and records meanwhile
    assert sorted(seen) == sorted(p.id for p in pages + same)
    assert all(seen[p.id].not_modified and seen[p.id].snapshot is None for p in same)
    assert all(seen[p.id].snapshot is not None for p in pages)


def test_stopping_early_cancels_the_fetches_and_ends_the_thread(threaded_site: Site) -> None:
    site = threaded_site
    pages = [policy(site.url(f"/hold/{i}"), f"p{i}") for i in range(40)]
    config = FetchConfig(user_agent=UA, per_host=1, timeout=timedelta(seconds=5))
    stream = fetch_in_background(config, pages, {}, ahead=4)
    first = next(stream)
    assert first[0].id == "p0"
    stream.close()
    assert not [t for t in threading.enumerate() if t.name == "policywatch fetch"]
    time.sleep(0.2)
    assert len(site.requests) < 10  # the other 30-odd were never asked for


def test_a_bug_in_the_fetching_is_raised_to_the_caller(
    threaded_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a FetchError (those are outcomes) but a fault that cannot be caused for real."""

    async def broken(self: HttpFetcher, pol: PolicyConfig, previous: object) -> FetchResult:
        raise RuntimeError("a bug")

    monkeypatch.setattr(HttpFetcher, "fetch", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        list(fetch_in_background(FAST, [policy(threaded_site.url("/policy"))], {}))
    assert not [t for t in threading.enumerate() if t.name == "policywatch fetch"]


# -- https with a private CA ------------------------------------------------------------------

tls_files = smtpfixture.tls_files


@pytest.fixture
async def https_site(tls_files: TlsFiles) -> AsyncIterator[str]:
    """The policy page over TLS, with a certificate from a throwaway CA."""
    from aiohttp import web

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=POLICY_HTML, content_type="text/html")

    app = web.Application()
    app.router.add_get("/policy", page)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls_files.server_context())
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}/policy"
    finally:
        await runner.cleanup()


async def test_a_private_ca_is_trusted_only_when_configured(
    https_site: str, tls_files: TlsFiles
) -> None:
    async with make(FAST) as fetcher:
        with pytest.raises(FetchError, match="TLS failed") as refused:
            await fetcher.fetch(policy(https_site), None)
    assert not refused.value.transient  # a bad certificate does not heal in seconds
    trusting = FetchConfig(user_agent=UA, timeout=timedelta(seconds=5), ca_file=tls_files.ca)
    async with make(trusting) as fetcher:
        result = await fetcher.fetch(policy(https_site), None)
    assert result.snapshot is not None and result.snapshot.content == POLICY_HTML
    # another CA than the one that signed the certificate: still refused
    wrong = FetchConfig(user_agent=UA, timeout=timedelta(seconds=5), ca_file=tls_files.other_ca)
    async with make(wrong) as fetcher:
        with pytest.raises(FetchError, match="TLS failed"):
            await fetcher.fetch(policy(https_site), None)


async def test_a_ca_file_that_is_not_pem_is_a_config_error(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    config = FetchConfig(user_agent=UA, ca_file=bogus)
    async with make(config) as fetcher:
        with pytest.raises(ConfigError, match=r"fetch\.ca_file"):
            await fetcher.fetch(policy("https://127.0.0.1:9/policy"), None)
