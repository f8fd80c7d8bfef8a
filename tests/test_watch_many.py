"""A check over several web sources: what each 304 reports when others change in the same pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import pagesite as _pagesite
from pagesite import Page, PageSite
from policywatch.config import load_config
from policywatch.tracker import CheckReport, Tracker

pagesite = _pagesite.pagesite

IDS = ("alpha", "beta", "gamma")
SENTENCES = [
    "We collect the name and e-mail address you give us when you open an account.",
    "We use your address to deliver the goods you order and to send you receipts.",
    "We keep invoices for seven years because accounting rules require it.",
    "You may ask for a copy of your data or ask us to correct or erase it at any time.",
    "We protect your information with encryption and limit who can see it.",
]


def page(pid: str, extra: str = "") -> Page:
    body = "".join(f"<p>{s}</p>" for s in [f"This is the {pid} policy.", *SENTENCES, extra] if s)
    return Page(f"<html><body><nav>Menu</nav><main><h1>{pid}</h1>{body}</main></body></html>")


def tracker(tmp_path: Path, site: PageSite, select: str = "main") -> Tracker:
    policies = "".join(
        f'[[policy]]\nid = "{pid}"\ntitle = "{pid}"\nsource = "{site.url("/" + pid)}"\n'
        f'select = ["{select}"]\n\n'
        for pid in IDS
    )
    config = tmp_path / "config.toml"
    config.write_text(f'[fetch]\ntimeout = "5s"\nretries = 0\n\n{policies}')
    return Tracker(load_config(config))


def by_policy(report: CheckReport) -> dict[str, tuple[str, str | None]]:
    return {r.policy: (r.status, r.revision.id if r.revision else None) for r in report.results}


def test_each_304_reports_its_own_latest_revision(tmp_path: Path, pagesite: PageSite) -> None:
    for pid in IDS:
        pagesite.pages[f"/{pid}"] = page(pid)
    first = by_policy(tracker(tmp_path, pagesite).check())
    assert {s for s, _ in first.values()} == {"first"}

    pagesite.pages["/beta"] = page("beta", "We now share your e-mail address with advertisers.")
    t = tracker(tmp_path, pagesite)
    second = by_policy(t.check())
    assert second["alpha"] == ("unchanged", first["alpha"][1])
    assert second["gamma"] == ("unchanged", first["gamma"][1])
    assert second["beta"][0] == "changed" and second["beta"][1] != first["beta"][1]
    assert pagesite.conditional["/alpha"] == pagesite.conditional["/gamma"] == 1

    third = by_policy(tracker(tmp_path, pagesite).check())
    assert third == {pid: ("unchanged", second[pid][1]) for pid in IDS}
    for pid in IDS:
        assert third[pid][1] == t.archive.latest(pid).id  # type: ignore[union-attr]


def test_a_304_after_a_technical_revision_reports_that_revision(
    tmp_path: Path, pagesite: PageSite
) -> None:
    for pid in IDS:
        pagesite.pages[f"/{pid}"] = page(pid)
    tracker(tmp_path, pagesite).check()
    t = tracker(tmp_path, pagesite, select="body")  # the menu joins the text: re-extracted
    after = by_policy(t.check())
    for pid in IDS:
        latest = t.archive.latest(pid)
        assert latest is not None and latest.kind == "technical"
        assert after[pid] == ("unchanged", latest.id)


def test_a_pass_writes_in_chunks_and_the_history_reads_as_git_has_it(
    tmp_path: Path, pagesite: PageSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seven new sources with chunks of three: three branch updates (3, 3, 1 commits), every
    change queued and the archive marked reconciled at the tip; the cached history the tracker
    carried across the chunks is exactly what a fresh reader gets from git."""
    import policywatch.tracker as tracker_module
    from policywatch.archive import GitArchive

    monkeypatch.setattr(tracker_module, "WRITE_CHUNK", 3)
    ids = [f"p{i}" for i in range(7)]
    for pid in ids:
        pagesite.pages[f"/{pid}"] = page(pid)
    policies = "".join(
        f'[[policy]]\nid = "{pid}"\ntitle = "{pid}"\nsource = "{pagesite.url("/" + pid)}"\n'
        'select = ["main"]\n\n'
        for pid in ids
    )
    config = tmp_path / "config.toml"
    config.write_text(f'[fetch]\ntimeout = "5s"\nretries = 0\n\n{policies}')
    t = Tracker(load_config(config))
    t.archive.log()  # a cached (empty) history that must be carried through every chunk
    report = t.check()
    assert {r.status for r in report.results} == {"first"}

    reflog = subprocess.run(
        ["git", "reflog", "--format=%gs", "main"],
        cwd=t.config.archive.path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    updates = [line for line in reflog if line.startswith("policywatch:")]
    assert updates == [
        "policywatch: 1 revision(s)",
        "policywatch: 3 revision(s)",
        "policywatch: 3 revision(s)",
    ]
    fresh = GitArchive(t.config.archive.path)
    assert [r.id for r in t.archive.log()] == [r.id for r in fresh.log()]
    for pid in ids:
        assert t.archive.log(pid) == fresh.log(pid)
    changes = t.store.changes()
    assert sorted(c.policy for c in changes) == ids
    assert {c.revision for c in changes} == {r.revision.id for r in report.results if r.revision}
    tip = fresh.tip()
    assert (t.archive.git_dir / "policywatch" / "reconciled").read_text().split()[0] == tip

    # the next pass after one change: the carried caches still agree with git
    pagesite.pages["/p3"] = page("p3", "We now share your e-mail address with advertisers.")
    second = by_policy(t.check())
    assert second["p3"][0] == "changed"
    again = GitArchive(t.config.archive.path)
    assert t.archive.log("p3") == again.log("p3") and t.archive.log() == again.log()


def test_a_source_whose_latest_revision_is_in_the_future_fails_alone(tmp_path: Path) -> None:
    """A clock that went backwards is one source's error: the others in the same chunk are
    still recorded, and nothing is written for that source."""
    from datetime import UTC, datetime, timedelta

    policies_dir = tmp_path / "policies"
    policies_dir.mkdir()
    for pid in ("early", "late"):
        (policies_dir / f"{pid}.md").write_text(f"# {pid}\n\n{' '.join(SENTENCES)}\n")
    config = tmp_path / "config.toml"
    config.write_text(
        "".join(
            f'[[policy]]\nid = "{pid}"\ntitle = "{pid}"\nsource = "policies/{pid}.md"\n\n'
            for pid in ("early", "late")
        )
    )
    t = Tracker(load_config(config))
    future = t.archive.record(
        "late",
        "# late\n\nA text from the future.\n",
        observed_at=datetime.now(UTC) + timedelta(days=1),
        kind="first",
        summary="from a machine whose clock ran ahead",
        source="policies/late.md",
    )
    assert future is not None
    report = by_policy(t.check())
    assert report["early"][0] == "first"
    assert report["late"] == ("error", None)
    error = next(r.error for r in t.check().results if r.policy == "late")
    assert error is not None and "clock" in error and future.id[:12] in error
    assert t.archive.latest("late") == future
    assert [r.policy for r in t.archive.log()] == ["late", "early"]
