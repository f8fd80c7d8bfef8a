"""``import``: replaying another repository's history of a file into the archive."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from policywatch.archive import GitArchive
from policywatch.errors import InputError
from policywatch.history import Description, import_histories, import_history

PATH = "Example/Privacy Policy.md"
T0 = datetime(2023, 1, 10, 9, 0, tzinfo=UTC)


class Source:
    """A git repository built with the git CLI, each commit with a chosen author date."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir()
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, date: datetime | None = None) -> str:
        env = {
            **os.environ,
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.path.parent),
            "GIT_AUTHOR_NAME": "Tracker",
            "GIT_AUTHOR_EMAIL": "tracker@example.org",
            "GIT_COMMITTER_NAME": "Tracker",
            "GIT_COMMITTER_EMAIL": "tracker@example.org",
        }
        if date is not None:
            # the committer date says "now" on purpose: only the author date is the observation
            env["GIT_AUTHOR_DATE"] = date.isoformat()
        done = subprocess.run(
            ["git", "-C", str(self.path), *args], env=env, capture_output=True, check=True
        )
        return done.stdout.decode()

    def commit(self, days: float, content: str | bytes | None, path: str = PATH) -> str:
        """Write (or with None, delete) ``path`` and commit it, authored T0 + days."""
        file = self.path / path
        if content is None:
            self.git("rm", "-q", path)
        else:
            file.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                content = content.encode()
            file.write_bytes(content)
            self.git("add", path)
        self.git("commit", "-q", "--allow-empty", "-m", f"day {days}", date=T0 + timedelta(days))
        return self.git("rev-parse", "HEAD").strip()


def describe(previous: str | None, new: str) -> Description:
    if previous is None:
        return Description(kind="first", material=False, summary="First record")
    return Description(
        kind="change",
        material="sell" in new,
        summary=f"{len(previous)} -> {len(new)} chars",
        categories=("third-party-sharing",) if "sell" in new else (),
    )


@pytest.fixture
def source(tmp_path: Path) -> Source:
    return Source(tmp_path / "source")


@pytest.fixture
def archive(tmp_path: Path) -> GitArchive:
    return GitArchive.open(tmp_path / "archive")


def tip(archive: GitArchive) -> str:
    return subprocess.run(
        ["git", "-C", str(archive.path), "for-each-ref", "--format=%(refname) %(objectname)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_import_keeps_author_dates_and_orders_by_them(source: Source, archive: GitArchive) -> None:
    source.commit(0, "one\n")
    source.commit(20, "three\n")
    source.commit(10, "two\n")  # committed last, observed in between
    report = import_history(archive, source.path, PATH, "example", describe=describe)
    assert (report.imported, report.skipped, report.already) == (3, 0, 0)
    assert (report.first, report.last) == (T0, T0 + timedelta(20))
    revs = archive.log("example")
    assert [r.date for r in revs] == [T0 + timedelta(d) for d in (20, 10, 0)]
    assert [archive.read("example", r.id) for r in revs] == ["three\n", "two\n", "one\n"]
    assert [r.kind for r in revs] == ["change", "change", "first"]
    assert revs[0].source == f"{source.path}:{PATH}"
    # the branch was written in date order too: "latest" is the last commit
    assert (
        revs[0].id
        == subprocess.run(
            ["git", "-C", str(archive.path), "rev-parse", "main"], capture_output=True, text=True
        ).stdout.strip()
    )


def test_describe_sees_the_previous_text_and_its_answer_is_recorded(
    source: Source, archive: GitArchive
) -> None:
    seen: list[tuple[str | None, str]] = []

    def spy(previous: str | None, new: str) -> Description:
        seen.append((previous, new))
        return describe(previous, new)

    source.commit(0, "We keep data.\n")
    source.commit(1, "We keep and sell data.\n")
    import_history(archive, source.path, PATH, "example", describe=spy, source="ota:example")
    assert seen == [(None, "We keep data.\n"), ("We keep data.\n", "We keep and sell data.\n")]
    latest = archive.latest("example")
    assert latest is not None
    assert (latest.material, latest.categories, latest.summary, latest.source) == (
        True,
        ("third-party-sharing",),
        "14 -> 23 chars",
        "ota:example",
    )


def test_unchanged_contents_deletions_and_readditions_are_skipped(
    source: Source, archive: GitArchive
) -> None:
    source.commit(0, "one\n")
    source.commit(1, "one\n", path="Example/other.md")  # does not touch PATH
    (source.path / PATH).chmod(0o755)
    source.commit(2, "one\n")  # mode change only: same content
    source.commit(3, None)  # deleted ...
    source.commit(4, "one\n")  # ... and back as it was
    source.commit(5, None)
    source.commit(6, "two\n")  # back with a new text
    report = import_history(archive, source.path, PATH, "example", describe=describe)
    assert (report.imported, report.skipped) == (2, 2)
    assert [archive.read("example", r.id) for r in archive.log("example")] == ["two\n", "one\n"]


def test_the_file_is_followed_through_renames(source: Source, archive: GitArchive) -> None:
    source.commit(0, "old name, first text\n" * 5, path="Example/Privacy.md")
    source.commit(1, "old name, second text\n" * 5, path="Example/Privacy.md")
    source.git("mv", "Example/Privacy.md", PATH)
    source.commit(2, "old name, second text\n" * 5)  # a pure rename: no new revision
    source.commit(3, "new name, third text\n" * 5)
    report = import_history(archive, source.path, PATH, "example", describe=describe)
    assert (report.imported, report.skipped) == (3, 1)
    assert report.first == T0


def test_importing_twice_adds_nothing_and_later_commits_are_added(
    source: Source, archive: GitArchive
) -> None:
    source.commit(0, "one\n")
    source.commit(1, "two\n")
    import_history(archive, source.path, PATH, "example", describe=describe)
    before = tip(archive)
    again = import_history(archive, source.path, PATH, "example", describe=describe)
    assert (again.imported, again.already, again.first) == (0, 2, None)
    assert tip(archive) == before
    source.commit(2, "three\n")
    source.commit(0.5, "older than what the archive has\n")
    more = import_history(archive, source.path, PATH, "example", describe=describe)
    assert (more.imported, more.already) == (1, 3)
    assert archive.read("example", "latest") == "three\n"


def test_restores_of_one_of_the_last_five_revisions_are_marked(
    source: Source, archive: GitArchive
) -> None:
    texts = ["A\n", "B\n", "A\n", "C\n", "D\n", "E\n", "F\n", "G\n", "C\n", "H\n", "D\n"]
    for day, text in enumerate(texts):
        source.commit(day, text)
    report = import_history(archive, source.path, PATH, "example", describe=describe)
    revs = archive.log("example")[::-1]  # oldest first, like texts
    assert report.restores == 2
    assert revs[2].restores == revs[0].id  # A again, two revisions later
    assert revs[8].restores == revs[3].id  # C again, five revisions later: still in the window
    assert revs[10].restores is None  # D again, but six revisions later
    assert [r.restores for r in revs if r.restores] == [revs[0].id, revs[3].id]


def test_restores_reach_into_what_the_archive_already_had(
    source: Source, archive: GitArchive
) -> None:
    source.commit(0, "A\n")
    source.commit(1, "B\n")
    import_history(archive, source.path, PATH, "example", describe=describe)
    source.commit(2, "A\n")
    import_history(archive, source.path, PATH, "example", describe=describe)
    revs = archive.log("example")
    assert revs[0].restores == revs[2].id


def test_import_writes_what_record_writes(source: Source, tmp_path: Path) -> None:
    """Same layout, trailers and dates: the very same commit ids."""
    texts = ["A\n", "B sell\n", "A\n"]
    for day, text in enumerate(texts):
        source.commit(day, text)
    imported = GitArchive.open(tmp_path / "imported")
    import_history(imported, source.path, PATH, "example", describe=describe, source="s")
    recorded = GitArchive.open(tmp_path / "recorded")
    previous: str | None = None
    ids: list[str] = []
    for day, text in enumerate(texts):
        d = describe(previous, text)
        rev = recorded.record(
            "example",
            text,
            observed_at=T0 + timedelta(day),
            kind=d.kind,
            summary=d.summary,
            source="s",
            material=d.material,
            categories=d.categories,
            restores=ids[0] if day == 2 else None,
        )
        assert rev is not None
        ids.append(rev.id)
        previous = text
    assert [r.id for r in imported.log()] == [r.id for r in recorded.log()] == ids[::-1]


def test_several_files_in_one_import(source: Source, archive: GitArchive) -> None:
    source.commit(0, "privacy 1\n")
    source.commit(1, "terms 1\n", path="Example/Terms.md")
    source.commit(2, "privacy 2\n")
    report = import_histories(
        archive,
        source.path,
        [(PATH, "privacy"), ("Example/Terms.md", "terms")],
        describe=describe,
    )
    assert report.imported == 3
    assert [r.policy for r in archive.log()] == ["privacy", "terms", "privacy"]
    assert archive.policies() == ["privacy", "terms"]


def test_a_failure_midway_leaves_the_branch_where_it_was(
    source: Source, archive: GitArchive
) -> None:
    source.commit(0, "one\n")
    import_history(archive, source.path, PATH, "example", describe=describe)
    before = tip(archive)
    for day, text in enumerate(["two\n", "three\n", "four\n"], start=1):
        source.commit(day, text)
    calls = 0

    def flaky(previous: str | None, new: str) -> Description:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("the classifier fell over")
        return describe(previous, new)

    with pytest.raises(RuntimeError, match="fell over"):
        import_history(archive, source.path, PATH, "example", describe=flaky)
    assert tip(archive) == before
    assert [archive.read("example", r.id) for r in archive.log("example")] == ["one\n"]
    # nothing is left locked or half done: the next import does the whole job
    assert import_history(archive, source.path, PATH, "example", describe=describe).imported == 3


def test_bad_utf8_names_the_commit_and_the_path(source: Source, archive: GitArchive) -> None:
    source.commit(0, "fine\n")
    bad = source.commit(1, b"caf\xe9\n")
    with pytest.raises(InputError, match=f"not valid UTF-8 at commit {bad[:12]}") as info:
        import_history(archive, source.path, PATH, "example", describe=describe)
    assert info.value.path == PATH
    assert archive.log() == []


def test_unusable_repositories_and_paths(
    source: Source, archive: GitArchive, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="no commits"):
        import_history(archive, source.path, PATH, "example", describe=describe)
    source.commit(0, "one\n")
    with pytest.raises(InputError, match=r"Example/Nope.md: .* is not in the history"):
        import_history(archive, source.path, "Example/Nope.md", "example", describe=describe)
    (tmp_path / "plain").mkdir()
    with pytest.raises(InputError, match="plain: not a git repository"):
        import_history(archive, tmp_path / "plain", PATH, "example", describe=describe)
    with pytest.raises(InputError, match="missing: no such directory"):
        import_history(archive, tmp_path / "missing", PATH, "example", describe=describe)
    with pytest.raises(InputError, match="expected a file path"):
        import_history(archive, source.path, "../x.md", "example", describe=describe)
    assert archive.log() == []
