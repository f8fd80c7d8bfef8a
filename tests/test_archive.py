"""GitArchive against real git repositories in tmp_path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from policywatch.archive import SUBJECT_MAX, Archive, GitArchive, content_hash
from policywatch.errors import ArchiveError, RevisionNotFound
from policywatch.models import Snapshot

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
SRC = str(Path(__file__).resolve().parent.parent / "src")


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    full = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(repo.parent),
        "GIT_AUTHOR_NAME": "Someone",
        "GIT_AUTHOR_EMAIL": "someone@example.org",
        "GIT_COMMITTER_NAME": "Someone",
        "GIT_COMMITTER_EMAIL": "someone@example.org",
        **(env or {}),
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=full, capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.fixture
def archive(tmp_path: Path) -> GitArchive:
    return GitArchive.open(tmp_path / "archive")


def rec(archive: GitArchive, policy: str, text: str, days: float, **kw: object) -> str:
    rev = archive.record(
        policy,
        text,
        observed_at=T0 + timedelta(days=days),
        kind=kw.pop("kind", "change"),  # type: ignore[arg-type]
        summary=str(kw.pop("summary", f"{policy} on day {days}")),
        source=str(kw.pop("source", f"policies/{policy}.md")),
        **kw,  # type: ignore[arg-type]
    )
    assert rev is not None
    return rev.id


# -- opening ---------------------------------------------------------------------------------


def test_open_creates_a_non_bare_repository_on_main(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "archive"
    GitArchive.open(path)
    assert git(path, "rev-parse", "--is-bare-repository").strip() == "false"
    assert git(path, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    GitArchive.open(path)  # opening again is fine


def test_open_refuses_a_non_empty_directory_that_is_not_a_repository(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ArchiveError, match="not empty and is not a git repository"):
        GitArchive.open(tmp_path)
    assert not (tmp_path / ".git").exists()


def test_open_without_create_and_other_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="no archive"):
        GitArchive.open(tmp_path / "missing", create=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ArchiveError, match="not a directory"):
        GitArchive.open(tmp_path / "file")
    with pytest.raises(ArchiveError, match="not a git repository"):
        GitArchive(tmp_path)


def test_a_detached_head_is_refused(archive: GitArchive) -> None:
    first = rec(archive, "privacy", "one\n", 0)
    git(archive.path, "checkout", "-q", "--detach", first)
    with pytest.raises(ArchiveError, match="HEAD is detached"):
        GitArchive(archive.path)


def test_an_empty_archive_answers_with_nothing(archive: GitArchive) -> None:
    protocol: Archive = archive  # mypy checks that GitArchive implements the protocol
    assert protocol.log() == []
    assert archive.log() == []
    assert archive.latest("privacy") is None
    assert archive.policies() == []
    assert archive.recent_hashes("privacy", 5) == []
    with pytest.raises(RevisionNotFound, match="unknown policy 'privacy'"):
        archive.resolve("privacy", "latest")


# -- recording -------------------------------------------------------------------------------


def test_record_round_trips_through_git(archive: GitArchive) -> None:
    when = datetime(2024, 3, 1, 13, 30, 5, 999, tzinfo=timezone(timedelta(hours=2)))
    rev = archive.record(
        "privacy",
        "We collect your email.\n",
        observed_at=when,
        kind="change",
        summary="1 added; material: adds data collected: email",
        source="https://example.com/privacy",
        material=True,
        categories=["first-party-collection", "user-choice"],
        restores="a" * 40,
    )
    assert rev is not None
    assert rev.date == datetime(2024, 3, 1, 11, 30, 5, tzinfo=UTC)  # UTC, whole seconds
    assert archive.log("privacy") == [rev]
    assert archive.log() == [rev]
    assert archive.read("privacy", rev.id) == "We collect your email.\n"
    assert rev.content_hash == content_hash("We collect your email.\n")

    raw = git(archive.path, "log", "-1", "--format=%an <%ae> %aI|%cn <%ce> %cI|%B")
    author, committer, message = raw.split("|", 2)
    assert author == committer == "policywatch <policywatch@localhost> 2024-03-01T11:30:05+00:00"
    subject, _, trailers = message.strip().partition("\n\n")
    assert subject == "1 added; material: adds data collected: email"
    assert trailers.splitlines()[:7] == [
        "Policy: privacy",
        "Source: https://example.com/privacy",
        f"Content-Hash: {rev.content_hash}",
        "Kind: change",
        "Material: yes",
        "Categories: first-party-collection, user-choice",
        f"Restores: {'a' * 40}",
    ]
    assert trailers.splitlines()[7].startswith("Policywatch-Version: ")


def test_an_unchanged_text_writes_nothing(archive: GitArchive) -> None:
    rec(archive, "privacy", "Same.\n", 0, kind="first")
    tip = git(archive.path, "rev-parse", "main")
    for kind in ("change", "technical"):
        assert (
            archive.record(
                "privacy",
                "Same.\n",
                observed_at=T0 + timedelta(days=1),
                kind=kind,
                summary="again",
                source="x",
            )
            is None
        )
    assert git(archive.path, "rev-parse", "main") == tip
    # one byte differs: a revision
    assert archive.record(
        "privacy",
        "Same.\r\n",
        observed_at=T0 + timedelta(days=1),
        kind="editorial",
        summary="line ends",
        source="x",
    )


def test_committer_identity_is_configurable(tmp_path: Path) -> None:
    archive = GitArchive.open(
        tmp_path / "a", name="Example Co. archive", email="privacy@example.com"
    )
    rec(archive, "privacy", "x\n", 0)
    assert git(archive.path, "log", "-1", "--format=%an %ae %cn %ce").split() == [
        "Example",
        "Co.",
        "archive",
        "privacy@example.com",
        "Example",
        "Co.",
        "archive",
        "privacy@example.com",
    ]


def test_dates_must_be_aware_and_not_go_back(archive: GitArchive) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        archive.record(
            "privacy", "x", observed_at=datetime(2024, 1, 1), kind="first", summary="s", source="s"
        )
    rec(archive, "privacy", "one\n", 5)
    with pytest.raises(ArchiveError, match="before the latest revision"):
        rec(archive, "privacy", "two\n", 4)
    rec(archive, "terms", "other policies are independent\n", 1)


def test_summaries_and_values_become_one_line(archive: GitArchive) -> None:
    long = "word " * 60 + "\nsecond line"
    rev = archive.record(
        "privacy", "x\n", observed_at=T0, kind="first", summary=long, source="a\nb"
    )
    assert rev is not None
    # the commit subject is shortened; the whole summary is kept in a trailer
    assert rev.summary == " ".join(long.split())
    subject = subprocess.run(
        ["git", "-C", str(archive.path), "log", "-1", "--format=%s"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert len(subject) <= SUBJECT_MAX and subject.endswith("…")
    assert rev.source == "a b"
    assert archive.log("privacy") == [rev]
    blank = archive.record(
        "privacy", "y\n", observed_at=T0, kind="change", summary="  ", source="s"
    )
    assert blank is not None and blank.summary == "change revision of privacy"
    assert archive.log("privacy")[0] == blank


def test_bad_policy_ids_are_refused_before_writing(archive: GitArchive) -> None:
    for bad in ("../etc", "Privacy", "", "a/b", ".git"):
        with pytest.raises(ValueError, match="bad policy id"):
            rec(archive, bad, "x", 0)
    assert archive.log() == []


def test_snapshot_is_stored_beside_the_text(archive: GitArchive) -> None:
    html = Snapshot(
        source="https://x",
        content=b"<p>Hi</p>",
        media_type="text/html; charset=utf-8",
        fetched_at=T0,
    )
    first = rec(archive, "privacy", "Hi\n", 0, snapshot=html)
    pdf = Snapshot(
        source="https://x", content=b"%PDF-1.7", media_type="application/pdf", fetched_at=T0
    )
    second = rec(archive, "privacy", "Hi there\n", 1, snapshot=pdf)
    third = rec(archive, "privacy", "Hi again\n", 2)
    assert archive.read_snapshot("privacy", first) == b"<p>Hi</p>"
    assert archive.read_snapshot("privacy", second) == b"%PDF-1.7"
    # a text never sits beside another revision's snapshot
    assert archive.read_snapshot("privacy", third) is None
    files = git(archive.path, "ls-tree", "-r", "--name-only", second).split()
    assert files == ["privacy/policy.md", "privacy/snapshot.pdf"]
    assert archive.policies() == ["privacy"]


def test_the_worktree_follows_the_branch(archive: GitArchive) -> None:
    rec(archive, "privacy", "one\n", 0)
    rec(archive, "terms", "two\n", 1)
    assert (archive.path / "privacy" / "policy.md").read_text() == "one\n"
    assert git(archive.path, "status", "--porcelain") == ""


def test_a_second_archive_object_sees_new_revisions(archive: GitArchive) -> None:
    other = GitArchive(archive.path)
    assert other.latest("privacy") is None
    rec(archive, "privacy", "one\n", 0)
    latest = other.latest("privacy")
    assert latest is not None and other.read("privacy", latest.id) == "one\n"


def test_the_saved_history_is_used_only_at_its_own_tip(archive: GitArchive) -> None:
    """The next process at the same tip loads the history from the saved file; a file from
    another tip, or a damaged one, is ignored and the history read from git again."""
    rec(archive, "privacy", "one\n", 0, material=True, categories=("data-retention",))
    rec(archive, "terms", "t\n", 1, restores=None)
    archive.sync_worktree()  # the end of a burst of writes saves what was carried
    saved = archive.git_dir / "policywatch" / "history.json"
    assert json.loads(saved.read_text())["tip"] == archive.tip()
    from_git = GitArchive(archive.path)
    from_git._history_file = lambda: archive.git_dir / "none.json"  # type: ignore[method-assign]
    expected = from_git.log()
    assert [r.id for r in expected] == [r.id for r in archive.log()]
    assert GitArchive(archive.path).log() == expected  # loaded, and equal to git's own

    # doctored but at the right tip: trusted (which shows it is what is read) ...
    data = json.loads(saved.read_text())
    data["revisions"][0][5] = "from the saved file"
    saved.write_text(json.dumps(data))
    assert GitArchive(archive.path).log()[0].summary == "from the saved file"
    # ... at another tip: ignored
    rec(GitArchive(archive.path), "privacy", "two\n", 2)
    fresh = GitArchive(archive.path).log()
    assert len(fresh) == 3 and "from the saved file" not in {r.summary for r in fresh}
    assert json.loads(saved.read_text())["tip"] == archive.tip()  # saved again at the new tip
    damaged = json.dumps({"version": 1, "tip": archive.tip(), "revisions": [[1]]})
    for garbage in ("{not json", damaged):
        saved.write_text(garbage)
        assert GitArchive(archive.path).log() == fresh


def test_an_error_inside_a_batch_leaves_the_branch_alone(archive: GitArchive) -> None:
    rec(archive, "privacy", "one\n", 0)
    tip = git(archive.path, "rev-parse", "main")
    with pytest.raises(RuntimeError), archive.batch() as batch:
        batch.record(
            "privacy",
            "two\n",
            observed_at=T0 + timedelta(days=1),
            kind="change",
            summary="s",
            source="s",
        )
        raise RuntimeError("crash before the end")
    assert git(archive.path, "rev-parse", "main") == tip
    assert git(archive.path, "for-each-ref", "--format=%(refname)").split() == ["refs/heads/main"]
    assert [r.id for r in archive.log()] == [tip.strip()]
    rec(archive, "privacy", "two\n", 1)  # the lock was released


# -- the lock --------------------------------------------------------------------------------


def test_the_lock_keeps_a_second_writer_out_until_its_holder_is_gone(tmp_path: Path) -> None:
    archive = GitArchive.open(tmp_path / "a", lock_timeout=0.3)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {SRC!r})
            from pathlib import Path
            from policywatch.archive import GitArchive
            with GitArchive({str(archive.path)!r}).batch():
                print("locked", flush=True)
                time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(ArchiveError, match=f"locked by process {holder.pid}"):
            rec(archive, "privacy", "x\n", 0)
        assert archive.log() == []
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate()
    # the holder died without cleaning up: its lock is stale and is broken
    assert (archive.git_dir / "policywatch.lock").exists()
    rec(archive, "privacy", "x\n", 0)
    assert not (archive.git_dir / "policywatch.lock").exists()


# -- reading ---------------------------------------------------------------------------------


def test_log_is_newest_first_by_observation_date(archive: GitArchive) -> None:
    a = rec(archive, "privacy", "p1\n", 10)
    b = rec(archive, "terms", "t1\n", 2)  # committed later, observed earlier
    c = rec(archive, "terms", "t2\n", 11)
    assert [r.id for r in archive.log()] == [c, a, b]
    assert [r.id for r in archive.log(limit=2)] == [c, a]
    assert [r.id for r in archive.log("terms")] == [c, b]
    assert archive.log("nothing") == [] and archive.log("../x") == []
    assert archive.policies() == ["privacy", "terms"]


def test_commits_written_by_other_tools_are_sorted_and_parsed(archive: GitArchive) -> None:
    mine = rec(archive, "privacy", "one\n", 10)
    (archive.path / "privacy" / "policy.md").write_text("hand edit\n")
    git(archive.path, "add", "-A")
    date = (T0 + timedelta(days=3)).isoformat()
    git(
        archive.path,
        "commit",
        "-q",
        "-m",
        "Fix a typo\n\nsome prose: that is not a trailer\n\nkind:   editorial\nMATERIAL: Yes",
        env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date},
    )
    hand = git(archive.path, "rev-parse", "HEAD").strip()
    revs = archive.log("privacy")
    assert [r.id for r in revs] == [mine, hand]  # by date, not by commit order
    assert (revs[1].kind, revs[1].material, revs[1].summary) == ("editorial", True, "Fix a typo")
    assert revs[1].content_hash == "" and revs[1].source == ""
    # no Policy trailer: not a revision in the all-policies log, whose commits name their policy
    assert [r.id for r in archive.log()] == [mine]
    assert archive.recent_hashes("privacy", 5)[1] == (hand, content_hash("hand edit\n"))


def test_latest_previous_and_recent_hashes(archive: GitArchive) -> None:
    ids = [rec(archive, "privacy", f"v{i}\n", i) for i in range(4)]
    latest = archive.latest("privacy")
    assert latest is not None and latest.id == ids[3]
    prev = archive.previous(latest)
    assert prev is not None and prev.id == ids[2]
    first = archive.resolve("privacy", ids[0])
    assert archive.previous(first) is None
    assert archive.recent_hashes("privacy", 2) == [
        (ids[3], content_hash("v3\n")),
        (ids[2], content_hash("v2\n")),
    ]


def test_resolve_latest_prefix_and_dates(archive: GitArchive) -> None:
    first = rec(archive, "privacy", "v1\n", 0)  # 2024-03-01 12:00
    second = archive.record(
        "privacy",
        "v2\n",
        observed_at=datetime(2024, 3, 5, 23, 59, 59, tzinfo=UTC),
        kind="change",
        summary="s",
        source="s",
    )
    assert second is not None
    third = rec(archive, "privacy", "v3\n", 10)  # 2024-03-11 12:00
    r = archive.resolve
    assert r("privacy", "latest").id == third
    assert r("privacy", " LATEST~0 ").id == third
    assert r("privacy", "latest~1").id == second.id
    assert r("privacy", "latest~").id == second.id
    assert r("privacy", "latest~2").id == first
    assert r("privacy", first[:4]).id == first
    assert r("privacy", first.upper()).id == first
    assert r("privacy", "2024-03-01").id == first
    assert r("privacy", "2024-03-04").id == first
    assert r("privacy", "2024-03-05").id == second.id  # in force at the end of that day
    assert r("privacy", "2024-03-05T23:59:58Z").id == first
    assert r("privacy", "2024-03-06T01:00:00+01:00").id == second.id
    assert r("privacy", "2024-03-06T00:00:00").id == second.id  # naive: UTC
    assert r("privacy", "2030-01-01").id == third
    assert archive.read("privacy", "latest~1") == "v2\n"


def test_resolve_errors_name_the_policy_and_help(archive: GitArchive) -> None:
    first = rec(archive, "privacy", "v1\n", 0)
    other = rec(archive, "terms", "t1\n", 1)
    rec(archive, "privacy", "v2\n", 2)
    cases = {
        "latest~2": "only 2 revision",
        "2024-02-29": "the first revision is from 2024-03-01",
        "2024-03-01T11:00:00Z": "the first revision is from 2024-03-01",
        "2024-02-30": "not a valid date",
        "abc": "not a revision name",
        "yesterday": "not a revision name",
        "ffffffffff": "no revision with an id starting",
        other[:8]: "is a revision of 'terms', not of 'privacy'",
    }
    for name, problem in cases.items():
        with pytest.raises(RevisionNotFound, match=problem) as info:
            archive.resolve("privacy", name)
        assert info.value.policy == "privacy" and info.value.name == name
        assert str(info.value).startswith("privacy: ")
    with pytest.raises(RevisionNotFound, match=r"unknown policy 'cookies'.*known: privacy, terms"):
        archive.resolve("cookies", first)
    with pytest.raises(RevisionNotFound):
        archive.read("terms", first)


def test_an_ambiguous_prefix_says_so(archive: GitArchive) -> None:
    # 1,500 revisions make a shared 4-digit prefix all but certain (p(none) ~ e^-17)
    with archive.batch() as batch:
        for i in range(1500):
            batch.record(
                "privacy",
                f"v{i}\n",
                observed_at=T0 + timedelta(hours=i),
                kind="change",
                summary="s",
                source="s",
            )
    counts = Counter(r.id[:4] for r in archive.log("privacy"))
    prefix = next(p for p, n in counts.items() if n > 1)
    with pytest.raises(RevisionNotFound, match=f"prefix '{prefix}' is ambiguous"):
        archive.resolve("privacy", prefix)


def test_one_policys_log_is_the_same_sliced_from_the_whole_history(tmp_path: Path) -> None:
    for day, policy in enumerate(["a", "b", "a", "c", "b", "a"]):
        rec(GitArchive.open(tmp_path / "archive"), policy, f"text {day}\n", day)
    fresh = GitArchive.open(tmp_path / "archive")
    path_limited = {p: fresh.log(p) for p in ("a", "b", "c", "zz")}
    sliced = GitArchive.open(tmp_path / "archive")
    sliced.log()  # reads everything once; per-policy logs now come from it
    assert {p: sliced.log(p) for p in ("a", "b", "c", "zz")} == path_limited
    assert [len(path_limited[p]) for p in "abc"] == [3, 2, 1]
    rec(sliced, "c", "newer\n", 10)  # the branch moved: no stale slice
    assert sliced.log("c")[0].summary == "c on day 10"


def test_histories_carried_across_writes_equal_a_fresh_read(tmp_path: Path) -> None:
    archive = GitArchive.open(tmp_path / "archive")
    rec(archive, "a", "one\n", 0)
    archive.log()
    archive.log("a")
    archive.log("b")  # cached as empty, then written below
    for day, policy in enumerate(["b", "a", "c", "b"], start=1):
        rec(archive, policy, f"text {day}\n", day)  # caches are carried, not re-read
    fresh = GitArchive.open(tmp_path / "archive")
    for policy in (None, "a", "b", "c"):
        assert archive.log(policy) == fresh.log(policy)
    assert archive.policies() == fresh.policies() == ["a", "b", "c"]


def test_the_worktree_can_be_refreshed_once_after_many_writes(tmp_path: Path) -> None:
    archive = GitArchive.open(tmp_path / "archive")
    archive.defer_worktree = True
    for day, policy in enumerate(["a", "b", "c"]):
        rec(archive, policy, f"text {day}\n", day)
    assert not (tmp_path / "archive" / "c" / "policy.md").exists()  # deferred
    archive.sync_worktree()
    assert (tmp_path / "archive" / "c" / "policy.md").read_text() == "text 2\n"
