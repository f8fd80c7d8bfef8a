"""``policywatch init``: a working site in one command.

The files written are the ones this repository's own ``config.toml`` and ``policies/`` hold (a test
keeps them identical), so what a newcomer gets from ``init`` is exactly what the README runs.
Everything is checked before the first byte is written: an existing config is never clobbered
without ``--force``, and a failure part-way leaves no half-written file (temp file + rename).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import InputError
from .files import write_atomic

__all__ = ["SKELETON_FILES", "scaffold"]

#: package resource name -> path written relative to the target directory
SKELETON_FILES: dict[str, str] = {
    "config.toml": "config.toml",
    "privacy.md": "policies/privacy.md",
}


def skeleton_text(name: str) -> str:
    return (resources.files("policywatch") / "skeleton" / name).read_text(encoding="utf-8")


def scaffold(directory: Path, *, force: bool = False) -> list[Path]:
    """Write the sample site into ``directory``; return what was written."""
    if directory.exists() and not directory.is_dir():
        raise InputError("exists and is not a directory", path=str(directory))
    targets = {name: directory / rel for name, rel in SKELETON_FILES.items()}
    if not force:
        existing = [str(p) for p in targets.values() if p.exists()]
        if existing:
            raise InputError(
                f"already exists: {', '.join(existing)} (use --force to overwrite)",
                path=str(directory),
            )
    contents = {name: skeleton_text(name) for name in targets}
    written: list[Path] = []
    for name, path in targets.items():
        write_atomic(path, contents[name])
        written.append(path)
    feeds = directory / "feeds"
    feeds.mkdir(parents=True, exist_ok=True)
    written.append(feeds)

    from .archive import GitArchive
    from .tokens import load_or_create_secret

    archive_dir = directory / "archive"
    GitArchive.open(archive_dir, create=True)
    written.append(archive_dir)
    secret = directory / "policywatch.secret"
    if not secret.exists():
        # the HMAC key of the links in emails; never committed, mode 0600
        load_or_create_secret(secret, environ={})
        written.append(secret)
    return written
