"""Writing a file so that a reader (or a crash) sees the old content or the new, never half.

Every file policywatch rewrites in place (the source state, the saved history, the reconcile
marker, cached clause lists, a scaffolded site) goes through :func:`write_atomic`: the text is
written to a temporary file in the same directory, then renamed over the target.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` in one rename; the temporary file never outlives a failure.

    The temporary file is made by :func:`tempfile.mkstemp` (a unique name, so two processes
    writing the same file at once do not clobber each other's half-written copy; mode 0600).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding=encoding) as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
