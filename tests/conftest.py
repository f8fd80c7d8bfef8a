"""Shared fixtures: real files, real git repositories, a real copy of the example site."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_git_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests build git repositories: never read the developer's ~/.gitconfig, never need one."""
    home = tmp_path / "_home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(var, "Test Author")
    for var in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(var, "test@example.org")
    monkeypatch.delenv("POLICYWATCH_CONFIG", raising=False)
    monkeypatch.delenv("POLICYWATCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    """A copy of the repository's example site (config.toml + policies/) in a temp folder."""
    root = tmp_path / "site"
    root.mkdir()
    shutil.copy(REPO_ROOT / "config.toml", root / "config.toml")
    shutil.copytree(REPO_ROOT / "policies", root / "policies")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        yield root
    finally:
        os.chdir(cwd)
