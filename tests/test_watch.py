"""Watching web pages end to end: a real local site, a real git archive, the real tracker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pagesite as _pagesite
from pagesite import Page, PageSite
from policywatch.config import load_config
from policywatch.tracker import Tracker

pagesite = _pagesite.pagesite

PARAGRAPHS = [
    "We collect the name and e-mail address you give us when you create an account.",
    "We use your e-mail address to send receipts and to answer your questions.",
    "We share delivery addresses with the courier that brings your parcel.",
    "We keep order records for six years because tax law requires it.",
    "You can ask for a copy of your data, or ask us to correct or delete it.",
    "We protect your information with encryption in transit and strict access controls.",
]


def html(*paragraphs: str, noise: str = "") -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<!doctype html><html><head><title>Privacy</title><script>var t = 1;</script></head>"
        f"<body><nav>Home | Shop | {noise}</nav><main><h1>Privacy policy</h1>{body}</main>"
        "<footer>Example Co.</footer></body></html>"
    )


def make_tracker(
    tmp_path: Path, site: PageSite, *, select: str = "main", extra: str = ""
) -> Tracker:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[fetch]
timeout = "5s"
retries = 0

[[policy]]
id = "privacy"
title = "Privacy policy"
source = "{site.url("/privacy")}"
select = ["{select}"]
{extra}
"""
    )
    return Tracker(load_config(config))


def status(tracker: Tracker) -> tuple[str, str | None]:
    (result,) = tracker.check().results
    return result.status, result.error


def test_first_fetch_then_304_then_a_change(tmp_path: Path, pagesite: PageSite) -> None:
    pagesite.pages["/privacy"] = Page(html(*PARAGRAPHS))
    tracker = make_tracker(tmp_path, pagesite)
    assert status(tracker) == ("first", None)
    assert status(make_tracker(tmp_path, pagesite)) == ("unchanged", None)
    assert pagesite.conditional["/privacy"] == 1  # the server's own ETag went back

    pagesite.pages["/privacy"] = Page(
        html(*PARAGRAPHS, "We share your e-mail address with advertising partners.")
    )
    tracker = make_tracker(tmp_path, pagesite)
    (result,) = tracker.check().results
    assert result.status == "changed" and result.material
    text = tracker.archive.read("privacy", result.revision.id)  # type: ignore[union-attr]
    assert "advertising partners" in text and "var t" not in text and "Home" not in text
    assert (
        tracker.archive.read_snapshot("privacy", "latest") == pagesite.pages["/privacy"].payload()
    )
    feeds = tmp_path / "feeds"
    assert (feeds / "all.atom").exists() and (feeds / "privacy.atom").exists()
    assert "advertising partners" in (feeds / "privacy.atom").read_text()


def test_noise_outside_the_selection_records_nothing(tmp_path: Path, pagesite: PageSite) -> None:
    pagesite.pages["/privacy"] = Page(html(*PARAGRAPHS, noise="Sale ends today"))
    assert status(make_tracker(tmp_path, pagesite)) == ("first", None)
    pagesite.pages["/privacy"] = Page(html(*PARAGRAPHS, noise="New arrivals"))
    assert status(make_tracker(tmp_path, pagesite)) == ("unchanged", None)
    assert len(make_tracker(tmp_path, pagesite).log("privacy")) == 1


@pytest.mark.parametrize(
    ("page", "needle"),
    [
        (Page("oops", status=500, content_type="text/plain"), "500"),
        (Page("", status=200), "empty body"),
        (
            Page(html("Just a moment...", "Checking your browser before accessing the site.")),
            "words",
        ),
        (
            Page(html(*(["Please verify you are a human to continue to this page."] * 8))),
            "challenge",
        ),
        (Page("<html><body><div>no main element here</div></body></html>"), "main"),
        (Page(b"\x00\x01\x02\xff" * 400, content_type="text/html"), "binary"),
    ],
)
def test_failures_leave_the_archive_untouched(
    tmp_path: Path, pagesite: PageSite, page: Page, needle: str
) -> None:
    pagesite.pages["/privacy"] = Page(html(*PARAGRAPHS))
    tracker = make_tracker(tmp_path, pagesite)
    tracker.check()
    before = tracker.log("privacy")
    pagesite.pages["/privacy"] = page
    tracker = make_tracker(tmp_path, pagesite)
    (result,) = tracker.check(["privacy"]).results
    assert result.status == "error" and result.revision is None
    assert needle in (result.error or "").lower()
    assert tracker.log("privacy") == before


def test_a_drastic_shrink_waits_for_confirmation(tmp_path: Path, pagesite: PageSite) -> None:
    pagesite.pages["/privacy"] = Page(html(*PARAGRAPHS * 3))
    make_tracker(tmp_path, pagesite).check()
    pagesite.pages["/privacy"] = Page(html(*PARAGRAPHS[:4]))
    first = make_tracker(tmp_path, pagesite).check(["privacy"]).results[0]
    assert first.status == "error" and "shrank" in (first.error or "")
    second = make_tracker(tmp_path, pagesite).check(["privacy"]).results[0]
    assert second.status == "changed"


def test_a_flip_flop_is_recorded_as_a_restore(tmp_path: Path, pagesite: PageSite) -> None:
    a = html(*PARAGRAPHS)
    b = html(*PARAGRAPHS, "We may also send you a monthly newsletter if you ask for it.")
    for body in (a, b, a):
        pagesite.pages["/privacy"] = Page(body)
        make_tracker(tmp_path, pagesite).check()
    log = make_tracker(tmp_path, pagesite).log("privacy")
    assert [r.kind for r in log] == ["change", "change", "first"]
    assert log[0].restores == log[2].id


def test_changed_selectors_record_a_technical_revision(tmp_path: Path, pagesite: PageSite) -> None:
    pagesite.pages["/privacy"] = Page(html(*PARAGRAPHS))
    make_tracker(tmp_path, pagesite).check()
    tracker = make_tracker(tmp_path, pagesite, select="body")  # now includes nav and footer
    (result,) = tracker.check().results
    assert result.status == "unchanged"  # the published page did not change
    log = tracker.log("privacy")
    assert [r.kind for r in log] == ["technical", "first"]
    assert "Home" in tracker.archive.read("privacy", log[0].id)
    feed = (tmp_path / "feeds" / "privacy.atom").read_text()
    assert log[0].id not in feed  # never announced


def test_a_failing_source_backs_off_and_is_still_reported(
    tmp_path: Path, pagesite: PageSite
) -> None:
    pagesite.pages["/privacy"] = Page("down", status=503, content_type="text/plain")
    assert status(make_tracker(tmp_path, pagesite))[0] == "error"
    hits = pagesite.hits["/privacy"]
    result = make_tracker(tmp_path, pagesite).check().results[0]
    assert result.status == "error" and "next attempt after" in (result.error or "")
    assert pagesite.hits["/privacy"] == hits  # not contacted while backing off
    make_tracker(tmp_path, pagesite).check(["privacy"])  # named explicitly: tried anyway
    assert pagesite.hits["/privacy"] == hits + 1


def test_check_json_reports_web_errors_with_exit_1(tmp_path: Path, pagesite: PageSite) -> None:
    from click.testing import CliRunner

    from policywatch.cli import cli

    pagesite.pages["/privacy"] = Page("gone", status=404, content_type="text/plain")
    make_tracker(tmp_path, pagesite)  # writes config.toml
    result = CliRunner().invoke(
        cli, ["check", "--config", str(tmp_path / "config.toml"), "--format", "json"]
    )
    assert result.exit_code == 1
    (entry,) = json.loads(result.output)["results"]
    assert entry["status"] == "error" and "404" in entry["error"]
    # the failure streak is visible in the log, as text (on stderr) and as JSON
    config = str(tmp_path / "config.toml")
    log = CliRunner().invoke(cli, ["log", "--config", config])
    assert "privacy: failing, 1 time(s) in a row" in log.output and "404" in log.output
    payload = json.loads(
        CliRunner().invoke(cli, ["log", "--config", config, "--format", "json"]).stdout
    )
    (source,) = payload["sources"]
    assert source["failures"] == 1 and "404" in source["last_error"]
