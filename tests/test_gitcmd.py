"""The archive's git plumbing on real repositories: refs as git leaves them, objects, failures."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from policywatch.gitcmd import Git, GitFailed, NotARepository


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    Git.init(path)
    (path / "a.md").write_text("first\n", encoding="utf-8")
    _git(path, "add", "a.md")
    _git(path, "commit", "-q", "-m", "one")
    return path


def test_a_loose_ref_is_read_as_git_reads_it(repo: Path) -> None:
    g = Git(repo)
    assert g.ref("refs/heads/main") == _git(repo, "rev-parse", "main")
    assert g.ref("refs/heads/nope") is None


def test_a_packed_ref_is_found_and_a_newer_loose_one_wins(repo: Path) -> None:
    first = _git(repo, "rev-parse", "main")
    _git(repo, "pack-refs", "--all")
    assert not (repo / ".git/refs/heads/main").exists()
    g = Git(repo)
    assert g.ref("refs/heads/main") == first
    (repo / "a.md").write_text("second\n", encoding="utf-8")
    _git(repo, "commit", "-q", "-am", "two")  # a loose ref again, newer than packed-refs
    second = _git(repo, "rev-parse", "main")
    assert second != first
    assert g.ref("refs/heads/main") == second


def test_a_new_repository_has_no_branch_tip_yet(tmp_path: Path) -> None:
    Git.init(tmp_path / "empty")
    g = Git(tmp_path / "empty")
    assert g.ref("refs/heads/main") is None
    assert (tmp_path / "empty" / ".git" / "HEAD").read_text().strip() == "ref: refs/heads/main"


def test_only_full_ref_names_are_read(repo: Path) -> None:
    with pytest.raises(ValueError, match="full ref name"):
        Git(repo).ref("main")
    with pytest.raises(ValueError, match="full ref name"):
        Git(repo).ref("refs/../../etc/passwd")


def test_objects_come_through_one_reader_that_survives_being_killed(repo: Path) -> None:
    g = Git(repo)
    assert g.read_object("main:a.md") == b"first\n"
    assert g.read_object("main:missing.md") is None
    assert g._batch is not None
    reader = g._batch
    reader.kill()
    reader.wait()
    assert g.read_object("HEAD:a.md") == b"first\n"  # restarted once, transparently
    assert g._batch is not reader
    g.close()
    assert g._batch is None
    assert reader.returncode is not None


def test_binary_and_empty_objects_round_trip(repo: Path) -> None:
    data = bytes(range(256)) * 3 + b"\n\n"
    (repo / "b.bin").write_bytes(data)
    (repo / "empty").write_bytes(b"")
    _git(repo, "add", "b.bin", "empty")
    _git(repo, "commit", "-q", "-m", "bin")
    g = Git(repo)
    assert g.read_object("main:b.bin") == data
    assert g.read_object("main:empty") == b""
    assert g.read_object("main:a.md") == b"first\n"  # the stream stays in step after both
    g.close()


def test_a_failing_command_says_what_git_said(repo: Path) -> None:
    with pytest.raises(GitFailed) as caught:
        Git(repo).run("rev-parse", "--verify", "no-such-thing")
    assert caught.value.command == "rev-parse"
    assert "no-such-thing" in caught.value.message or "fatal" in caught.value.message


def test_output_loses_only_its_last_newline(repo: Path) -> None:
    assert Git(repo).run("cat-file", "-p", "main:a.md") == "first"
    (repo / "c.md").write_text("x\n\n", encoding="utf-8")
    _git(repo, "add", "c.md")
    _git(repo, "commit", "-q", "-m", "c")
    assert Git(repo).run("cat-file", "-p", "main:c.md") == "x\n"


def test_what_is_not_a_repository_is_told_apart(tmp_path: Path) -> None:
    with pytest.raises(NotARepository) as missing:
        Git(tmp_path / "nowhere")
    assert missing.value.missing
    (tmp_path / "plain").mkdir()
    with pytest.raises(NotARepository) as plain:
        Git(tmp_path / "plain")
    assert not plain.value.missing


def test_bare_repositories_and_linked_worktrees_are_opened(repo: Path, tmp_path: Path) -> None:
    tip = _git(repo, "rev-parse", "main")
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    g = Git(bare)
    assert g.bare and g.git_dir == bare
    assert g.ref("refs/heads/main") == tip
    linked = tmp_path / "linked"
    _git(repo, "worktree", "add", "-q", "-b", "side", str(linked))
    w = Git(linked)
    assert not w.bare
    assert w.git_dir != w.common_dir  # HEAD here, refs in the main repository
    assert w.ref("refs/heads/main") == tip
    assert w.ref("refs/heads/side") == tip
